//===- KernelConfig.h - Kernel configuration heuristics ---------*- C++ -*-===//
//
// The decision table behind xfa-select-kernel-config, apart from the pass so
// that it can be tested on its own.
//
//===----------------------------------------------------------------------===//

#ifndef XFC_TRANSFORMS_KERNELCONFIG_H
#define XFC_TRANSFORMS_KERNELCONFIG_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <string>

namespace xfc {

/// Architectures xfc generates code for.
llvm::ArrayRef<llvm::StringRef> getSupportedArchs();

/// What the configuration depends on.
struct KernelProblem {
  std::string arch;          ///< e.g. "sm_90a".
  int64_t headDim = 64;      ///< Query/key head dimension.
  unsigned elementBits = 16; ///< 16 (fp16/bf16) or 32 (fp32).
  bool causal = false;
  int64_t layoutBlockSize = 0; ///< 0 for dense attention.
};

/// The chosen configuration; mirrors #xfa.kernel_config.
struct KernelChoice {
  std::string path; ///< "mma_sync" or "simt".
  int64_t blockM = 0, blockN = 0, warps = 0, stages = 0, sharedBytes = 0;
};

/// Dynamic shared memory the templates need, the formula documented in
/// templates/README.md (the emitted code static_asserts the same number).
int64_t computeSharedBytes(llvm::StringRef path, int64_t blockM, int64_t blockN,
                           int64_t stages, int64_t headDim,
                           unsigned elementBits);

/// Chooses a configuration, or explains why the problem is unsupported.
llvm::Expected<KernelChoice> selectKernelConfig(const KernelProblem &problem);

} // namespace xfc

#endif // XFC_TRANSFORMS_KERNELCONFIG_H
