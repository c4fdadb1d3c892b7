//===- CachedCompile.cpp - NVRTC through the kernel cache -----------------===//

#include "xfc/runtime/CachedCompile.h"

namespace xfc::runtime {

const char *getXfcVersion() { return XFC_VERSION; }

StatusOr<std::string> getCubinCacheKey(const std::string &source,
                                       const NvrtcOptions &options) {
  StatusOr<std::string> nvrtcVersion = getNvrtcVersion();
  if (!nvrtcVersion)
    return nvrtcVersion.getStatus();
  CacheKeyParts parts;
  parts.source = source;
  parts.flags = getNvrtcFlags(options, /*forPtx=*/false);
  // Not an NVRTC flag, but a cubin accepted with spills must not be served
  // to a caller that rejects them.
  parts.flags.push_back(options.rejectSpills ? "xfc:reject-spills"
                                             : "xfc:allow-spills");
  parts.arch = options.arch;
  parts.nvrtcVersion = *nvrtcVersion;
  parts.xfcVersion = getXfcVersion();
  return computeCacheKey(parts);
}

StatusOr<std::shared_ptr<const std::vector<char>>>
compileCubinCached(const std::string &source, const std::string &name,
                   const NvrtcOptions &options, KernelCache *cache,
                   CacheOutcome *outcome,
                   const std::function<void(const std::string &)> &onNvrtcLog) {
  NvrtcOptions cubinOptions = options;
  cubinOptions.wantCubin = true;
  cubinOptions.wantPtx = false;
  auto compile = [&]() -> StatusOr<std::vector<char>> {
    StatusOr<NvrtcOutput> compiled =
        compileWithNvrtc(source, name, cubinOptions);
    if (!compiled)
      return compiled.getStatus();
    if (onNvrtcLog)
      onNvrtcLog(compiled->log);
    return std::move(compiled->cubin);
  };
  // Without NVRTC there is no version to key on; compiling then says why.
  StatusOr<std::string> key = getCubinCacheKey(source, cubinOptions);
  if (!cache || !key) {
    if (outcome)
      *outcome = CacheOutcome::Compiled;
    StatusOr<std::vector<char>> cubin = compile();
    if (!cubin)
      return cubin.getStatus();
    return std::make_shared<const std::vector<char>>(std::move(*cubin));
  }
  return cache->getOrCompile(*key, compile, outcome);
}

} // namespace xfc::runtime
