//===- Nvrtc.cpp - Compiling emitted CUDA with NVRTC ----------------------===//

#include "xfc/runtime/Nvrtc.h"
#include "xfc/runtime/EmbeddedHeaders.h"

#include <cstdlib>
#include <dlfcn.h>
#include <mutex>
#include <regex>

namespace xfc::runtime {
namespace {

// The few NVRTC entry points we use, with the C API's types spelled out so
// that no CUDA header is needed to build.
using NvrtcResultCode = int;
using NvrtcProgram = void *;

struct NvrtcApi {
  const char *(*getErrorString)(NvrtcResultCode);
  NvrtcResultCode (*version)(int *, int *);
  NvrtcResultCode (*createProgram)(NvrtcProgram *, const char *, const char *,
                                   int, const char *const *,
                                   const char *const *);
  NvrtcResultCode (*destroyProgram)(NvrtcProgram *);
  NvrtcResultCode (*compileProgram)(NvrtcProgram, int, const char *const *);
  NvrtcResultCode (*getPTXSize)(NvrtcProgram, size_t *);
  NvrtcResultCode (*getPTX)(NvrtcProgram, char *);
  NvrtcResultCode (*getCUBINSize)(NvrtcProgram, size_t *);
  NvrtcResultCode (*getCUBIN)(NvrtcProgram, char *);
  NvrtcResultCode (*getProgramLogSize)(NvrtcProgram, size_t *);
  NvrtcResultCode (*getProgramLog)(NvrtcProgram, char *);
};

/// Loads NVRTC once per process; later calls get the same answer.
const NvrtcApi *loadNvrtc(std::string &error) {
  static NvrtcApi api;
  static std::string loadError;
  static std::once_flag once;
  std::call_once(once, [] {
    std::vector<std::string> candidates;
    if (const char *path = std::getenv("XFC_NVRTC_LIBRARY"))
      candidates.push_back(path);
    for (const char *name : {"libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"})
      candidates.push_back(name);
    std::string cudaHome = "/usr/local/cuda";
    if (const char *home = std::getenv("CUDA_HOME"))
      cudaHome = home;
    for (const char *name : {"libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"})
      candidates.push_back(cudaHome + "/lib64/" + name);

    void *handle = nullptr;
    std::string tried;
    for (const std::string &candidate : candidates) {
      handle = dlopen(candidate.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (handle)
        break;
      tried += (tried.empty() ? "" : ", ") + candidate;
    }
    if (!handle) {
      loadError = "cannot load NVRTC (tried " + tried +
                  "); install the CUDA toolkit or set XFC_NVRTC_LIBRARY";
      return;
    }
    bool missing = false;
    auto bind = [&](auto &fn, const char *symbol) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(
          dlsym(handle, symbol));
      if (!fn && !missing) {
        missing = true;
        loadError = std::string("NVRTC library lacks ") + symbol;
      }
    };
    bind(api.getErrorString, "nvrtcGetErrorString");
    bind(api.version, "nvrtcVersion");
    bind(api.createProgram, "nvrtcCreateProgram");
    bind(api.destroyProgram, "nvrtcDestroyProgram");
    bind(api.compileProgram, "nvrtcCompileProgram");
    bind(api.getPTXSize, "nvrtcGetPTXSize");
    bind(api.getPTX, "nvrtcGetPTX");
    bind(api.getCUBINSize, "nvrtcGetCUBINSize");
    bind(api.getCUBIN, "nvrtcGetCUBIN");
    bind(api.getProgramLogSize, "nvrtcGetProgramLogSize");
    bind(api.getProgramLog, "nvrtcGetProgramLog");
  });
  error = loadError;
  return loadError.empty() ? &api : nullptr;
}

std::string getLog(const NvrtcApi &api, NvrtcProgram program) {
  size_t size = 0;
  if (api.getProgramLogSize(program, &size) != 0 || size <= 1)
    return "";
  std::string log(size, '\0');
  if (api.getProgramLog(program, log.data()) != 0)
    return "";
  log.resize(size - 1);
  return log;
}

/// Destroys the program on every return path.
struct ProgramGuard {
  const NvrtcApi &api;
  NvrtcProgram program = nullptr;
  ~ProgramGuard() {
    if (program)
      api.destroyProgram(&program);
  }
};

} // namespace

std::string findPtxasResourceProblem(const std::string &log) {
  static const std::regex spills("([1-9][0-9]*) bytes spill (stores|loads)");
  std::smatch match;
  if (std::regex_search(log, match, spills))
    return "ptxas reports " + match.str(0) +
           " (register spills are treated as errors)";
  for (const char *code : {"C7507", "C7508"})
    if (log.find(code) != std::string::npos)
      return std::string("ptxas warning ") + code +
             " (setmaxnreg ignored) is treated as an error";
  return "";
}

std::string findPtxasWgmmaRemarks(const std::string &log) {
  std::string remarks;
  size_t begin = 0;
  while (begin < log.size()) {
    size_t end = log.find('\n', begin);
    if (end == std::string::npos)
      end = log.size();
    std::string line = log.substr(begin, end - begin);
    // C7510-C7520: wgmma serialized (C7511, C7515, ...) or warpgroup
    // fences and waits injected (C7517, C7519).
    if (line.find("(C75") != std::string::npos &&
        (line.find("wgmma") != std::string::npos ||
         line.find("warpgroup") != std::string::npos))
      remarks += line + "\n";
    begin = end + 1;
  }
  return remarks;
}

namespace {

StatusOr<NvrtcOutput> compileOnce(const NvrtcApi &api,
                                  const std::string &source,
                                  const std::string &name,
                                  const NvrtcOptions &options, bool forPtx) {
  size_t headerCount = 0;
  const EmbeddedHeader *headers = getEmbeddedHeaders(headerCount);
  std::vector<const char *> headerTexts, headerNames;
  for (size_t i = 0; i < headerCount; ++i) {
    headerNames.push_back(headers[i].name);
    headerTexts.push_back(headers[i].content);
  }

  ProgramGuard guard{api};
  NvrtcResultCode code = api.createProgram(
      &guard.program, source.c_str(), name.c_str(),
      static_cast<int>(headerCount), headerTexts.data(), headerNames.data());
  if (code != 0)
    return Status::error(
        name + ": nvrtcCreateProgram failed: " + api.getErrorString(code));

  std::vector<std::string> flags = getNvrtcFlags(options, forPtx);
  std::vector<const char *> flagPointers;
  for (const std::string &flag : flags)
    flagPointers.push_back(flag.c_str());
  code =
      api.compileProgram(guard.program, static_cast<int>(flagPointers.size()),
                         flagPointers.data());
  std::string log = getLog(api, guard.program);
  if (code != 0)
    return Status::error(name + ": NVRTC failed to compile for " +
                         options.arch + ": " + api.getErrorString(code) + "\n" +
                         log);

  NvrtcOutput output;
  output.log = log;
  if (forPtx) {
    size_t size = 0;
    if (api.getPTXSize(guard.program, &size) != 0 || size == 0)
      return Status::error(name + ": NVRTC produced no PTX");
    output.ptx.resize(size);
    api.getPTX(guard.program, output.ptx.data());
    output.ptx.resize(size - 1); // drop the terminating NUL
  } else {
    size_t size = 0;
    if (api.getCUBINSize(guard.program, &size) != 0 || size == 0)
      return Status::error(name + ": NVRTC produced no cubin");
    output.cubin.resize(size);
    api.getCUBIN(guard.program, output.cubin.data());
    if (options.rejectSpills) {
      std::string problem = findPtxasResourceProblem(log);
      if (!problem.empty())
        return Status::error(name + ": " + problem + "\n" + log);
    }
  }
  return output;
}

} // namespace

std::vector<std::string> getNvrtcFlags(const NvrtcOptions &options,
                                       bool forPtx) {
  std::string arch = options.arch;
  if (forPtx && arch.rfind("sm_", 0) == 0)
    arch = "compute_" + arch.substr(3);
  std::vector<std::string> flags = {"--std=c++17", "-arch=" + arch,
                                    "-default-device", "-DXFC_NVRTC=1"};
  if (!forPtx)
    flags.push_back("--ptxas-options=-v");
  return flags;
}

StatusOr<NvrtcOutput> compileWithNvrtc(const std::string &source,
                                       const std::string &name,
                                       const NvrtcOptions &options) {
  std::string error;
  const NvrtcApi *api = loadNvrtc(error);
  if (!api)
    return Status::error(error);
  NvrtcOutput result;
  if (options.wantCubin) {
    StatusOr<NvrtcOutput> cubin =
        compileOnce(*api, source, name, options, /*forPtx=*/false);
    if (!cubin)
      return cubin.getStatus();
    result.cubin = std::move(cubin->cubin);
    result.log = std::move(cubin->log);
  }
  if (options.wantPtx) {
    StatusOr<NvrtcOutput> ptx =
        compileOnce(*api, source, name, options, /*forPtx=*/true);
    if (!ptx)
      return ptx.getStatus();
    result.ptx = std::move(ptx->ptx);
    if (result.log.empty())
      result.log = std::move(ptx->log);
  }
  return result;
}

StatusOr<std::string> getNvrtcVersion() {
  std::string error;
  const NvrtcApi *api = loadNvrtc(error);
  if (!api)
    return Status::error(error);
  int major = 0, minor = 0;
  if (api->version(&major, &minor) != 0)
    return Status::error("nvrtcVersion failed");
  return std::to_string(major) + "." + std::to_string(minor);
}

} // namespace xfc::runtime
