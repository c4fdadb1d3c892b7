//===- CachedCompile.h - NVRTC through the kernel cache ---------*- C++ -*-===//
//
// The one place that turns an emitted source into a cubin through the kernel
// cache, so that `xfc compile` and the JIT agree on keys.
//
//===----------------------------------------------------------------------===//

#ifndef XFC_RUNTIME_CACHEDCOMPILE_H
#define XFC_RUNTIME_CACHEDCOMPILE_H

#include "xfc/runtime/KernelCache.h"
#include "xfc/runtime/Nvrtc.h"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace xfc::runtime {

/// The version of xfc that keys its cache entries.
const char *getXfcVersion();

/// The cache key of `source` compiled for a cubin with `options`: the source,
/// NVRTC's flags and whether spills are rejected, the arch, and the NVRTC and
/// xfc versions (plus the embedded headers, through computeCacheKey).
StatusOr<std::string> getCubinCacheKey(const std::string &source,
                                       const NvrtcOptions &options);

/// NVRTC's cubin of `source` (`name` in messages) through `cache`, or
/// straight from NVRTC when `cache` is null. `onNvrtcLog` sees NVRTC's log
/// when NVRTC runs (not on cache hits); `outcome` says where the cubin came
/// from.
StatusOr<std::shared_ptr<const std::vector<char>>> compileCubinCached(
    const std::string &source, const std::string &name,
    const NvrtcOptions &options, KernelCache *cache,
    CacheOutcome *outcome = nullptr,
    const std::function<void(const std::string &)> &onNvrtcLog = nullptr);

} // namespace xfc::runtime

#endif // XFC_RUNTIME_CACHEDCOMPILE_H
