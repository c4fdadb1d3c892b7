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
  /// Block-sparse: the gathered K/V tiles (two layout blocks each) when
  /// query-block rows are paired (a tile of rows 2i and 2i + 1 takes the
  /// union of their blocks) over those when each row has its own; 0 when
  /// unknown (the configuration pass computes it for 64-blocks). 0.5 where
  /// neighbouring rows have the same blocks.
  double pairedRowTileRatio = 0.0;
  /// Query length when the config fixes it (seq_len), else 0: the tiles
  /// may then fit the length (BlockM 192 at D=64).
  int64_t qLen = 0;
  /// Per-element masking, as the kernel traits will express it
  /// (xfa-outline-kernels derives them from the same mask and dropout): they
  /// pick the tiles of the sm_90a kernel (KernelConfig.cpp).
  bool attnMask = false;      ///< A run-time additive mask (HasAttnMask).
  bool keyPadding = false;    ///< A run-time key padding mask.
  bool dropout = false;       ///< Dropout probability > 0 (HasDropout).
  bool window = false;        ///< A sliding window (WindowLeft/Right).
  bool randomPattern = false; ///< A random pattern (RandomThreshold).
  bool globalTokens = false;  ///< Global tokens (GlobalBits).

  /// True when any component masks or drops individual elements.
  bool hasElementMasks() const {
    return attnMask || keyPadding || dropout || window || randomPattern ||
           globalTokens;
  }
};

/// The chosen configuration; mirrors #xfa.kernel_config.
struct KernelChoice {
  /// "mma_sync" (16-bit tensor-core kernels) or "simt" (fp32).
  std::string path;
  int64_t blockM = 0, blockN = 0, warps = 0, stages = 0, sharedBytes = 0;
  /// The 16-bit kernel is the sm_90a warp-specialized wgmma one: a producer
  /// warpgroup plus one consumer warpgroup per 64 query rows, so warps ==
  /// 4 * (blockM / 64 + 1). The templates pick it from that warp count;
  /// #xfa.kernel_config records it as path "mma_sync" with those warps.
  bool wgmma = false;
};

/// Dynamic shared memory the templates need, the formula documented in
/// templates/README.md (the emitted code static_asserts the same number):
/// 16-bit tiles on the mma_sync path, fp32 ones on the simt path.
/// `wgmma`: the sm_90a kernel, whose tiles take 1024 more bytes (alignment
/// of the 128-byte swizzle atoms) and a second Q tile where it fits in 227
/// KiB.
int64_t computeSharedBytes(llvm::StringRef path, int64_t blockM, int64_t blockN,
                           int64_t stages, int64_t headDim, bool wgmma = false);

/// Whether the sm_90a wgmma kernel serves `problem` (sm_90a, 16-bit
/// elements, a head dim it supports); otherwise mma.sync does.
bool usesWgmmaKernel(const KernelProblem &problem);

/// Chooses a configuration, or explains why the problem is unsupported.
llvm::Expected<KernelChoice> selectKernelConfig(const KernelProblem &problem);

/// Replaces the tiles of `choice` (a wgmma configuration for `problem`) by
/// blockM x blockN, with the warps and shared memory that go with them, and
/// `stages` K/V stages (0: as the configuration pass would take for those
/// tiles); for benchmarks (xfc compile --tile). Explains why when the
/// template cannot take those tiles.
llvm::Error applyTileOverride(const KernelProblem &problem,
                              KernelChoice &choice, int64_t blockM,
                              int64_t blockN, int64_t stages = 0);

} // namespace xfc

#endif // XFC_TRANSFORMS_KERNELCONFIG_H
