//===- Cuda.cpp - The CUDA driver API, loaded at run time -----------------===//

#include "xfc/runtime/Cuda.h"

#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <mutex>
#include <type_traits>

namespace xfc::runtime {

namespace {

// The driver API's types, spelled out so that no CUDA header is needed.
using CuResult = int;
using CuDevice = int;
using CuDevicePtr = unsigned long long;
using CuHandle = void *;

constexpr CuResult kCudaSuccess = 0;

const char *const kNoDriverMessage =
    "no CUDA driver found (libcuda.so.1): running kernels needs an NVIDIA GPU";

CuDevicePtr toDevicePtr(const void *pointer) {
  return static_cast<CuDevicePtr>(reinterpret_cast<std::uintptr_t>(pointer));
}

void *fromDevicePtr(CuDevicePtr pointer) {
  return reinterpret_cast<void *>(static_cast<std::uintptr_t>(pointer));
}

} // namespace

/// The entry points the runtime uses, bound with dlsym. Versioned names
/// (`_v2`) are the ones cuda.h maps the plain names to.
struct CudaDriver::Api {
  CuResult (*init)(unsigned);
  CuResult (*driverGetVersion)(int *);
  CuResult (*getErrorName)(CuResult, const char **);
  CuResult (*getErrorString)(CuResult, const char **);
  CuResult (*deviceGetCount)(int *);
  CuResult (*deviceGet)(CuDevice *, int);
  CuResult (*deviceGetAttribute)(int *, int, CuDevice);
  CuResult (*deviceGetName)(char *, int, CuDevice);
  CuResult (*primaryCtxRetain)(CuHandle *, CuDevice);
  CuResult (*ctxGetCurrent)(CuHandle *);
  CuResult (*ctxSetCurrent)(CuHandle);
  CuResult (*ctxGetDevice)(CuDevice *);
  CuResult (*moduleLoadData)(CuHandle *, const void *);
  CuResult (*moduleUnload)(CuHandle);
  CuResult (*moduleGetFunction)(CuHandle *, CuHandle, const char *);
  CuResult (*moduleGetGlobal)(CuDevicePtr *, std::size_t *, CuHandle,
                              const char *);
  CuResult (*funcSetAttribute)(CuHandle, int, int);
  CuResult (*funcGetAttribute)(int *, int, CuHandle);
  CuResult (*occupancyMaxActiveBlocksPerMultiprocessor)(int *, CuHandle, int,
                                                        std::size_t);
  CuResult (*launchKernel)(CuHandle, unsigned, unsigned, unsigned, unsigned,
                           unsigned, unsigned, unsigned, CuHandle, void **,
                           void **);
  CuResult (*memAlloc)(CuDevicePtr *, std::size_t);
  CuResult (*memFree)(CuDevicePtr);
  CuResult (*memcpyHtoD)(CuDevicePtr, const void *, std::size_t);
  CuResult (*memcpyDtoH)(void *, CuDevicePtr, std::size_t);
  CuResult (*memsetD8)(CuDevicePtr, unsigned char, std::size_t);
  CuResult (*streamCreate)(CuHandle *, unsigned);
  CuResult (*streamDestroy)(CuHandle);
  CuResult (*streamSynchronize)(CuHandle);
  /// Optional (CUDA 12.0): without it, no TMA loads.
  CuResult (*tensorMapEncodeTiled)(void *, int, unsigned, void *,
                                   const unsigned long long *,
                                   const unsigned long long *, const unsigned *,
                                   const unsigned *, int, int, int, int);
};

StatusOr<const CudaDriver *> getDriver() {
  static CudaDriver::Api api;
  static CudaDriver driver;
  static std::string loadError;
  static std::once_flag once;
  std::call_once(once, [] {
    const char *override = std::getenv("XFC_CUDA_LIBRARY");
    std::string library = override && *override ? override : "libcuda.so.1";
    void *handle = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
      loadError = override && *override
                      ? "no CUDA driver found (" + library +
                            ", from XFC_CUDA_LIBRARY): running kernels needs "
                            "an NVIDIA GPU"
                      : kNoDriverMessage;
      return;
    }
    std::string missing;
    auto bind = [&](auto &fn, const char *symbol) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(
          dlsym(handle, symbol));
      if (!fn && missing.empty())
        missing = symbol;
    };
    bind(api.init, "cuInit");
    bind(api.driverGetVersion, "cuDriverGetVersion");
    bind(api.getErrorName, "cuGetErrorName");
    bind(api.getErrorString, "cuGetErrorString");
    bind(api.deviceGetCount, "cuDeviceGetCount");
    bind(api.deviceGet, "cuDeviceGet");
    bind(api.deviceGetAttribute, "cuDeviceGetAttribute");
    bind(api.deviceGetName, "cuDeviceGetName");
    bind(api.primaryCtxRetain, "cuDevicePrimaryCtxRetain");
    bind(api.ctxGetCurrent, "cuCtxGetCurrent");
    bind(api.ctxSetCurrent, "cuCtxSetCurrent");
    bind(api.ctxGetDevice, "cuCtxGetDevice");
    bind(api.moduleLoadData, "cuModuleLoadData");
    bind(api.moduleUnload, "cuModuleUnload");
    bind(api.moduleGetFunction, "cuModuleGetFunction");
    bind(api.moduleGetGlobal, "cuModuleGetGlobal_v2");
    bind(api.funcSetAttribute, "cuFuncSetAttribute");
    bind(api.funcGetAttribute, "cuFuncGetAttribute");
    bind(api.occupancyMaxActiveBlocksPerMultiprocessor,
         "cuOccupancyMaxActiveBlocksPerMultiprocessor");
    bind(api.launchKernel, "cuLaunchKernel");
    bind(api.memAlloc, "cuMemAlloc_v2");
    bind(api.memFree, "cuMemFree_v2");
    bind(api.memcpyHtoD, "cuMemcpyHtoD_v2");
    bind(api.memcpyDtoH, "cuMemcpyDtoH_v2");
    bind(api.memsetD8, "cuMemsetD8_v2");
    bind(api.streamCreate, "cuStreamCreate");
    bind(api.streamDestroy, "cuStreamDestroy_v2");
    bind(api.streamSynchronize, "cuStreamSynchronize");
    api.tensorMapEncodeTiled =
        reinterpret_cast<decltype(api.tensorMapEncodeTiled)>(
            dlsym(handle, "cuTensorMapEncodeTiled"));
    if (!missing.empty()) {
      loadError = "the CUDA driver (" + library + ") lacks " + missing +
                  ": it is too old for xfc (CUDA 12 or newer is needed)";
      return;
    }
    driver.api = &api;
    CuResult result = api.init(0);
    if (result != kCudaSuccess) {
      loadError = "the CUDA driver (" + library +
                  ") failed to initialise: " + driver.describeError(result) +
                  ": running kernels needs an NVIDIA GPU";
      driver.api = nullptr;
      return;
    }
    api.driverGetVersion(&driver.version);
  });
  if (!loadError.empty())
    return Status::error(loadError);
  return &driver;
}

std::string CudaDriver::describeError(int result) const {
  const char *name = nullptr;
  const char *text = nullptr;
  if (api) {
    api->getErrorName(result, &name);
    api->getErrorString(result, &text);
  }
  std::string message = name ? name : "CUDA error " + std::to_string(result);
  if (text)
    message += std::string(" (") + text + ")";
  return message;
}

Status CudaDriver::check(int result, const char *what) const {
  if (result == kCudaSuccess)
    return Status::ok();
  return Status::error(std::string(what) + " failed: " + describeError(result));
}

StatusOr<int> CudaDriver::getDeviceCount() const {
  int count = 0;
  if (Status status = check(api->deviceGetCount(&count), "cuDeviceGetCount");
      !status)
    return status;
  return count;
}

StatusOr<int> CudaDriver::getAttribute(int device,
                                       CudaDeviceAttribute attribute) const {
  CuDevice handle = 0;
  if (Status status = check(api->deviceGet(&handle, device), "cuDeviceGet");
      !status)
    return status;
  int value = 0;
  if (Status status = check(
          api->deviceGetAttribute(&value, static_cast<int>(attribute), handle),
          "cuDeviceGetAttribute");
      !status)
    return status;
  return value;
}

StatusOr<ComputeCapability> CudaDriver::getComputeCapability(int device) const {
  StatusOr<int> major =
      getAttribute(device, CudaDeviceAttribute::ComputeCapabilityMajor);
  if (!major)
    return major.getStatus();
  StatusOr<int> minor =
      getAttribute(device, CudaDeviceAttribute::ComputeCapabilityMinor);
  if (!minor)
    return minor.getStatus();
  return ComputeCapability{*major, *minor};
}

StatusOr<std::string> CudaDriver::getDeviceName(int device) const {
  CuDevice handle = 0;
  if (Status status = check(api->deviceGet(&handle, device), "cuDeviceGet");
      !status)
    return status;
  char name[256] = {};
  if (Status status = check(api->deviceGetName(name, sizeof(name) - 1, handle),
                            "cuDeviceGetName");
      !status)
    return status;
  return std::string(name);
}

StatusOr<std::string> CudaDriver::getDeviceArch(int device) const {
  StatusOr<ComputeCapability> capability = getComputeCapability(device);
  if (!capability)
    return capability.getStatus();
  StatusOr<std::string> arch = archForComputeCapability(*capability);
  if (!arch)
    return Status::error("device " + std::to_string(device) + ": " +
                         arch.getStatus().getMessage());
  return arch;
}

StatusOr<CudaContext> CudaDriver::ensureContext(int device) const {
  CuHandle current = nullptr;
  if (Status status = check(api->ctxGetCurrent(&current), "cuCtxGetCurrent");
      !status)
    return status;
  if (current) {
    CuDevice currentDevice = 0;
    if (Status status =
            check(api->ctxGetDevice(&currentDevice), "cuCtxGetDevice");
        !status)
      return status;
    return CudaContext{current, currentDevice};
  }

  StatusOr<int> count = getDeviceCount();
  if (!count)
    return count.getStatus();
  if (*count == 0)
    return Status::error(
        "the CUDA driver sees no device: running kernels needs an NVIDIA GPU");
  if (device < 0 || device >= *count)
    return Status::error("device: expected an index in [0, " +
                         std::to_string(*count) + "), got " +
                         std::to_string(device));

  // Each device's primary context is retained once and kept for the life of
  // the process: modules loaded into it stay valid.
  static std::mutex mutex;
  static std::vector<CuHandle> retained;
  CuHandle context = nullptr;
  {
    std::lock_guard<std::mutex> lock(mutex);
    if (retained.size() < static_cast<std::size_t>(*count))
      retained.resize(*count, nullptr);
    if (!retained[device]) {
      CuDevice handle = 0;
      if (Status status = check(api->deviceGet(&handle, device), "cuDeviceGet");
          !status)
        return status;
      if (Status status = check(api->primaryCtxRetain(&context, handle),
                                "cuDevicePrimaryCtxRetain");
          !status)
        return status;
      retained[device] = context;
    }
    context = retained[device];
  }
  if (Status status = check(api->ctxSetCurrent(context), "cuCtxSetCurrent");
      !status)
    return status;
  return CudaContext{context, device};
}

StatusOr<void *> CudaDriver::loadModule(const void *image) const {
  CuHandle module = nullptr;
  if (Status status =
          check(api->moduleLoadData(&module, image), "cuModuleLoadData");
      !status)
    return status;
  return module;
}

void CudaDriver::unloadModule(void *module) const {
  if (module)
    (void)api->moduleUnload(module);
}

StatusOr<void *> CudaDriver::getFunction(void *module,
                                         const std::string &symbol) const {
  CuHandle function = nullptr;
  if (Status status =
          check(api->moduleGetFunction(&function, module, symbol.c_str()),
                ("cuModuleGetFunction(" + symbol + ")").c_str());
      !status)
    return status;
  return function;
}

StatusOr<DeviceGlobal> CudaDriver::getGlobal(void *module,
                                             const std::string &symbol) const {
  CuDevicePtr pointer = 0;
  std::size_t bytes = 0;
  if (Status status =
          check(api->moduleGetGlobal(&pointer, &bytes, module, symbol.c_str()),
                ("cuModuleGetGlobal(" + symbol + ")").c_str());
      !status)
    return status;
  return DeviceGlobal{fromDevicePtr(pointer), bytes};
}

Status CudaDriver::setFunctionAttribute(void *function,
                                        CudaFunctionAttribute attribute,
                                        int value) const {
  return check(
      api->funcSetAttribute(function, static_cast<int>(attribute), value),
      "cuFuncSetAttribute");
}

StatusOr<int>
CudaDriver::getFunctionAttribute(void *function,
                                 CudaFunctionAttribute attribute) const {
  int value = 0;
  if (Status status = check(
          api->funcGetAttribute(&value, static_cast<int>(attribute), function),
          "cuFuncGetAttribute");
      !status)
    return status;
  return value;
}

StatusOr<int>
CudaDriver::getMaxActiveBlocksPerSm(void *function, int blockThreads,
                                    std::size_t sharedBytes) const {
  int blocks = 0;
  if (Status status = check(api->occupancyMaxActiveBlocksPerMultiprocessor(
                                &blocks, function, blockThreads, sharedBytes),
                            "cuOccupancyMaxActiveBlocksPerMultiprocessor");
      !status)
    return status;
  return blocks;
}

Status CudaDriver::launch(void *function, Dim3 grid, Dim3 block,
                          unsigned sharedBytes, void *stream,
                          void **args) const {
  return check(api->launchKernel(function, grid.x, grid.y, grid.z, block.x,
                                 block.y, block.z, sharedBytes, stream, args,
                                 nullptr),
               "cuLaunchKernel");
}

Status CudaDriver::encodeTensorMap16(void *map, bool bfloat16, int rank,
                                     const void *address,
                                     const unsigned long long *dims,
                                     const unsigned long long *strides,
                                     const unsigned *box) const {
  if (!api->tensorMapEncodeTiled)
    return Status::error("the CUDA driver lacks cuTensorMapEncodeTiled");
  // cuda.h's enums: FLOAT16 6, BFLOAT16 9; interleave none 0; 128-byte
  // swizzle 3; L2 promotion 256B 3; out-of-bounds fill none (zeros) 0.
  constexpr int kFloat16 = 6, kBFloat16 = 9, kInterleaveNone = 0,
                kSwizzle128B = 3, kL2Promotion256B = 3, kOobFillZeros = 0;
  const unsigned elementStrides[5] = {1, 1, 1, 1, 1};
  return check(api->tensorMapEncodeTiled(
                   map, bfloat16 ? kBFloat16 : kFloat16,
                   static_cast<unsigned>(rank), const_cast<void *>(address),
                   dims, strides, box, elementStrides, kInterleaveNone,
                   kSwizzle128B, kL2Promotion256B, kOobFillZeros),
               "cuTensorMapEncodeTiled");
}

StatusOr<void *> CudaDriver::allocate(std::size_t bytes) const {
  StatusOr<CudaContext> context = ensureContext();
  if (!context)
    return context.getStatus();
  CuDevicePtr pointer = 0;
  if (Status status =
          check(api->memAlloc(&pointer, bytes ? bytes : 1), "cuMemAlloc");
      !status)
    return status;
  return fromDevicePtr(pointer);
}

Status CudaDriver::free(void *pointer) const {
  if (!pointer)
    return Status::ok();
  return check(api->memFree(toDevicePtr(pointer)), "cuMemFree");
}

Status CudaDriver::copyToDevice(void *device, const void *host,
                                std::size_t bytes) const {
  return check(api->memcpyHtoD(toDevicePtr(device), host, bytes),
               "cuMemcpyHtoD");
}

Status CudaDriver::copyToHost(void *host, const void *device,
                              std::size_t bytes) const {
  return check(api->memcpyDtoH(host, toDevicePtr(device), bytes),
               "cuMemcpyDtoH");
}

Status CudaDriver::fill(void *device, unsigned char value,
                        std::size_t bytes) const {
  return check(api->memsetD8(toDevicePtr(device), value, bytes), "cuMemsetD8");
}

StatusOr<void *> CudaDriver::createStream() const {
  StatusOr<CudaContext> context = ensureContext();
  if (!context)
    return context.getStatus();
  CuHandle stream = nullptr;
  if (Status status =
          check(api->streamCreate(&stream, /*CU_STREAM_NON_BLOCKING=*/1),
                "cuStreamCreate");
      !status)
    return status;
  return stream;
}

Status CudaDriver::destroyStream(void *stream) const {
  if (!stream)
    return Status::ok();
  return check(api->streamDestroy(stream), "cuStreamDestroy");
}

Status CudaDriver::synchronize(void *stream) const {
  return check(api->streamSynchronize(stream), "cuStreamSynchronize");
}

StatusOr<std::string> archForComputeCapability(ComputeCapability capability) {
  if (capability.major == 9 && capability.minor == 0)
    return std::string("sm_90a");
  if (capability.major == 8) {
    if (capability.minor == 6)
      return std::string("sm_86");
    if (capability.minor == 9)
      return std::string("sm_89");
    // 8.0, and 8.7 (which runs sm_80 cubins).
    return std::string("sm_80");
  }
  return Status::error(
      "compute capability " + std::to_string(capability.major) + "." +
      std::to_string(capability.minor) +
      " is not supported: xfc supports 8.0 (sm_80), 8.6 (sm_86), "
      "8.9 (sm_89) and 9.0 (sm_90a)");
}

Status checkArchRunsOn(const std::string &arch, ComputeCapability capability,
                       bool isPtx) {
  // "sm_" digits [a].
  int major = 0, minor = 0;
  bool archSpecific = false;
  bool wellFormed = arch.size() >= 5 && arch.compare(0, 3, "sm_") == 0;
  std::string digits = wellFormed ? arch.substr(3) : "";
  if (!digits.empty() && digits.back() == 'a') {
    archSpecific = true;
    digits.pop_back();
  }
  wellFormed = wellFormed && digits.size() >= 2 && digits.size() <= 3;
  for (char c : digits)
    wellFormed = wellFormed && c >= '0' && c <= '9';
  if (!wellFormed)
    return Status::error("arch: expected the form sm_XY or sm_XYa (e.g. sm_80, "
                         "sm_90a), got '" +
                         arch + "'");
  major = std::atoi(digits.substr(0, digits.size() - 1).c_str());
  minor = digits.back() - '0';

  bool runs;
  if (archSpecific)
    runs = capability.major == major && capability.minor == minor;
  else if (isPtx)
    runs = capability.major > major ||
           (capability.major == major && capability.minor >= minor);
  else
    runs = capability.major == major && capability.minor >= minor;
  if (runs)
    return Status::ok();
  std::string device =
      std::to_string(capability.major) + "." + std::to_string(capability.minor);
  StatusOr<std::string> wanted = archForComputeCapability(capability);
  return Status::error(std::string(isPtx ? "PTX" : "a cubin") + " for " + arch +
                       " does not run on a device of compute capability " +
                       device +
                       (wanted ? ": compile with --arch " + *wanted
                               : ": " + wanted.getStatus().getMessage()));
}

CudaModule::CudaModule(CudaModule &&other) noexcept
    : driver(other.driver), handle(other.handle), name(std::move(other.name)) {
  other.handle = nullptr;
}

CudaModule &CudaModule::operator=(CudaModule &&other) noexcept {
  if (this != &other) {
    if (handle)
      driver->unloadModule(handle);
    driver = other.driver;
    handle = other.handle;
    name = std::move(other.name);
    other.handle = nullptr;
  }
  return *this;
}

CudaModule::~CudaModule() {
  if (handle)
    driver->unloadModule(handle);
}

StatusOr<CudaModule> CudaModule::load(const CudaDriver &driver,
                                      const std::vector<char> &image,
                                      const std::string &name) {
  if (image.empty())
    return Status::error(name + ": the module image is empty");
  // The driver reads the ELF image in place: give it an 8-byte aligned,
  // NUL-terminated copy (PTX must end with a NUL; a cubin ignores it).
  std::vector<std::uint64_t> aligned((image.size() + 8) / 8, 0);
  std::memcpy(aligned.data(), image.data(), image.size());
  StatusOr<void *> handle = driver.loadModule(aligned.data());
  if (!handle)
    return Status::error(name + ": " + handle.getStatus().getMessage());
  CudaModule module;
  module.driver = &driver;
  module.handle = *handle;
  module.name = name;
  return module;
}

StatusOr<DeviceGlobal> CudaModule::getGlobal(const std::string &symbol) const {
  if (!handle)
    return Status::error(name + ": the module is not loaded");
  StatusOr<DeviceGlobal> global = driver->getGlobal(handle, symbol);
  if (!global)
    return Status::error(name + ": " + global.getStatus().getMessage());
  return global;
}

StatusOr<void *> CudaModule::getFunction(const std::string &symbol) const {
  if (!handle)
    return Status::error(name + ": the module is not loaded");
  StatusOr<void *> function = driver->getFunction(handle, symbol);
  if (!function)
    return Status::error(name + ": " + function.getStatus().getMessage());
  return function;
}

DeviceBuffer::DeviceBuffer(DeviceBuffer &&other) noexcept
    : driver(other.driver), pointer(other.pointer), bytes(other.bytes) {
  other.pointer = nullptr;
  other.bytes = 0;
}

DeviceBuffer &DeviceBuffer::operator=(DeviceBuffer &&other) noexcept {
  if (this != &other) {
    if (pointer)
      (void)driver->free(pointer);
    driver = other.driver;
    pointer = other.pointer;
    bytes = other.bytes;
    other.pointer = nullptr;
    other.bytes = 0;
  }
  return *this;
}

DeviceBuffer::~DeviceBuffer() {
  if (pointer)
    (void)driver->free(pointer);
}

StatusOr<DeviceBuffer> DeviceBuffer::allocate(std::size_t bytes) {
  StatusOr<const CudaDriver *> driver = getDriver();
  if (!driver)
    return driver.getStatus();
  StatusOr<void *> pointer = (*driver)->allocate(bytes);
  if (!pointer)
    return pointer.getStatus();
  DeviceBuffer buffer;
  buffer.driver = *driver;
  buffer.pointer = *pointer;
  buffer.bytes = bytes;
  return buffer;
}

Status DeviceBuffer::upload(const void *host, std::size_t count) const {
  if (count > bytes)
    return Status::error("upload: " + std::to_string(count) +
                         " bytes do not fit a buffer of " +
                         std::to_string(bytes));
  return count ? driver->copyToDevice(pointer, host, count) : Status::ok();
}

Status DeviceBuffer::download(void *host, std::size_t count) const {
  if (count > bytes)
    return Status::error("download: asked for " + std::to_string(count) +
                         " bytes of a buffer of " + std::to_string(bytes));
  return count ? driver->copyToHost(host, pointer, count) : Status::ok();
}

Status DeviceBuffer::fill(unsigned char value) const {
  return bytes ? driver->fill(pointer, value, bytes) : Status::ok();
}

} // namespace xfc::runtime
