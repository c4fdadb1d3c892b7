//===- Nvrtc.h - Compiling emitted CUDA with NVRTC --------------*- C++ -*-===//
//
// NVRTC is loaded with dlopen on first use, so programs start, and
// compile-free paths work, on machines without the CUDA toolkit or a driver.
//
//===----------------------------------------------------------------------===//

#ifndef XFC_RUNTIME_NVRTC_H
#define XFC_RUNTIME_NVRTC_H

#include "xfc/runtime/Status.h"

#include <string>
#include <vector>

namespace xfc::runtime {

/// What to produce.
struct NvrtcOptions {
  /// "sm_80", "sm_90a", ...
  std::string arch = "sm_90a";
  /// PTX (compiled for the virtual arch) and/or a cubin (for the real arch).
  bool wantPtx = false;
  bool wantCubin = true;
  /// Fail on register spills and on ptxas ignoring setmaxnreg (C7507/C7508),
  /// which mean a kernel far slower than designed.
  bool rejectSpills = true;
};

/// Outputs of one compilation.
struct NvrtcOutput {
  std::string ptx;
  std::vector<char> cubin;
  /// Warnings and ptxas resource usage, empty when there were none.
  std::string log;
};

/// Compiles `source` (named `name` in messages) against the embedded template
/// headers. On failure the status carries NVRTC's log.
StatusOr<NvrtcOutput> compileWithNvrtc(const std::string &source,
                                       const std::string &name,
                                       const NvrtcOptions &options);

/// What in a ptxas `-v` log makes a kernel far slower than designed
/// (register spills, setmaxnreg ignored), or "" when nothing does.
std::string findPtxasResourceProblem(const std::string &log);

/// The lines of a ptxas `-v` log where ptxas slowed the wgmma pipeline down:
/// its C75xx remarks on wgmma or warpgroup instructions, e.g. C7511 (wgmma
/// serialized for lack of registers), C7515 (serialized: accumulators
/// defined by other instructions while a wgmma is in flight), C7517 and
/// C7519 (warpgroup waits and fences injected). The kernel is correct but
/// slower; "" when none.
std::string findPtxasWgmmaRemarks(const std::string &log);

/// "13.0" etc., or an error when NVRTC cannot be loaded.
StatusOr<std::string> getNvrtcVersion();

/// The options passed to NVRTC for `options`, in order (part of cache keys).
std::vector<std::string> getNvrtcFlags(const NvrtcOptions &options,
                                       bool forPtx);

} // namespace xfc::runtime

#endif // XFC_RUNTIME_NVRTC_H
