//===- Cuda.h - The CUDA driver API, loaded at run time ---------*- C++ -*-===//
//
// The driver (libcuda.so.1) is opened with dlopen on first use, so programs
// that link the runtime start, and compile-only paths work, on machines
// without an NVIDIA driver; only running a kernel needs one. Handles are the
// driver's own (CUcontext, CUmodule, CUfunction, CUstream) spelled as void *,
// so that no CUDA header is needed to build or to use this header: a CUstream
// or a cudaStream_t from another library can be passed as is.
//
//===----------------------------------------------------------------------===//

#ifndef XFC_RUNTIME_CUDA_H
#define XFC_RUNTIME_CUDA_H

#include "xfc/runtime/Status.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace xfc::runtime {

/// The driver's CUdevice_attribute values that the runtime reads.
enum class CudaDeviceAttribute : int {
  MaxGridDimX = 5,
  MaxGridDimY = 6,
  MaxGridDimZ = 7,
  MultiprocessorCount = 16,
  ComputeCapabilityMajor = 75,
  ComputeCapabilityMinor = 76,
  MaxSharedMemoryPerBlockOptin = 97,
};

/// The driver's CUfunction_attribute values that the runtime reads or sets.
enum class CudaFunctionAttribute : int {
  MaxThreadsPerBlock = 0,
  SharedSizeBytes = 1,
  NumRegs = 4,
  LocalSizeBytes = 3,
  MaxDynamicSharedSizeBytes = 8,
};

/// A context made current on the calling thread, and its device.
struct CudaContext {
  void *handle = nullptr;
  int device = 0;
};

/// A `__device__` variable of a loaded module.
struct DeviceGlobal {
  void *pointer = nullptr;
  std::size_t bytes = 0;
};

/// A compute capability, e.g. {9, 0}.
struct ComputeCapability {
  int major = 0;
  int minor = 0;
};

/// Three launch dimensions.
struct Dim3 {
  unsigned x = 1, y = 1, z = 1;
};

/// The loaded driver. Every call returns a Status whose message names the
/// driver function and its error (e.g. "cuModuleLoadData failed:
/// CUDA_ERROR_INVALID_IMAGE (device kernel image is invalid)"). Thread-safe.
class CudaDriver {
public:
  struct Api;

  /// The driver's version as an integer, e.g. 13000 for CUDA 13.0.
  int getVersion() const { return version; }

  /// Number of CUDA devices.
  StatusOr<int> getDeviceCount() const;
  /// One attribute of `device`.
  StatusOr<int> getAttribute(int device, CudaDeviceAttribute attribute) const;
  /// The device's compute capability.
  StatusOr<ComputeCapability> getComputeCapability(int device) const;
  /// The device's marketing name, e.g. "NVIDIA H100 80GB HBM3".
  StatusOr<std::string> getDeviceName(int device) const;
  /// The `--arch` xfc compiles for on `device`: "sm_90a" for 9.0, "sm_80",
  /// "sm_86" or "sm_89" for 8.x; an error naming the supported ones otherwise.
  StatusOr<std::string> getDeviceArch(int device) const;

  /// The context current on this thread if there is one (made by this
  /// runtime or by another library, e.g. PyTorch), else the primary context
  /// of `device`, retained once per process and made current.
  StatusOr<CudaContext> ensureContext(int device = 0) const;

  /// The device address and size of the global `symbol` of `module`.
  StatusOr<DeviceGlobal> getGlobal(void *module,
                                   const std::string &symbol) const;

  /// CTAs of `function` that fit on one SM at once with `blockThreads`
  /// threads and `sharedBytes` of dynamic shared memory.
  StatusOr<int> getMaxActiveBlocksPerSm(void *function, int blockThreads,
                                        std::size_t sharedBytes) const;

  /// Loads a cubin (or NUL-terminated PTX) into the current context.
  StatusOr<void *> loadModule(const void *image) const;
  /// Unloads a module; errors are ignored (the context may be gone).
  void unloadModule(void *module) const;
  /// The `extern "C"` kernel `symbol` of `module`.
  StatusOr<void *> getFunction(void *module, const std::string &symbol) const;
  /// Sets an attribute of a kernel.
  Status setFunctionAttribute(void *function, CudaFunctionAttribute attribute,
                              int value) const;
  /// Reads an attribute of a kernel.
  StatusOr<int> getFunctionAttribute(void *function,
                                     CudaFunctionAttribute attribute) const;
  /// Launches `function` on `stream` (nullptr: the legacy default stream).
  /// `args` points at one pointer per kernel parameter.
  Status launch(void *function, Dim3 grid, Dim3 block, unsigned sharedBytes,
                void *stream, void **args) const;

  /// Encodes a tiled TMA tensor map (a 128-byte CUtensorMap at `map`,
  /// 64-byte aligned) of 16-bit elements: `rank` dims (innermost first),
  /// rank - 1 byte strides, box sizes; 128-byte swizzle, rows outside the
  /// tensor read as zeros. Fails where the driver rejects the shape
  /// (pointer not 16-byte aligned, strides not multiples of 16 bytes) or
  /// lacks the entry point.
  Status encodeTensorMap16(void *map, bool bfloat16, int rank,
                           const void *address, const unsigned long long *dims,
                           const unsigned long long *strides,
                           const unsigned *box) const;

  /// Device memory, for tests, examples and host programs. A context is made
  /// current first (ensureContext()) when none is.
  StatusOr<void *> allocate(std::size_t bytes) const;
  /// Frees memory from allocate(); nullptr is ignored.
  Status free(void *pointer) const;
  Status copyToDevice(void *device, const void *host, std::size_t bytes) const;
  Status copyToHost(void *host, const void *device, std::size_t bytes) const;
  /// Sets `bytes` bytes at `device` to `value`.
  Status fill(void *device, unsigned char value, std::size_t bytes) const;

  /// Streams: nullptr is the legacy default stream.
  StatusOr<void *> createStream() const;
  Status destroyStream(void *stream) const;
  Status synchronize(void *stream) const;

  /// "CUDA_ERROR_X (description)" for a CUresult.
  std::string describeError(int result) const;

private:
  friend StatusOr<const CudaDriver *> getDriver();
  CudaDriver() = default;
  Status check(int result, const char *what) const;

  const Api *api = nullptr;
  int version = 0;
};

/// The process's driver, loaded and initialised (cuInit) on the first call.
/// Without libcuda.so.1: "no CUDA driver found (libcuda.so.1): running kernels
/// needs an NVIDIA GPU". The environment variable XFC_CUDA_LIBRARY names
/// another library to open instead.
StatusOr<const CudaDriver *> getDriver();

/// The `--arch` xfc compiles for on a device of this compute capability, or
/// an error naming the supported ones.
StatusOr<std::string> archForComputeCapability(ComputeCapability capability);

/// Whether a module built for `arch` ("sm_80", "sm_90a", ...) runs on a
/// device of `capability`: a cubin needs the same major version and at least
/// the minor one (exactly it for the "a" targets); PTX needs at least the
/// version (exactly it for "a"). An error saying why not, or what `arch`
/// should look like when it is malformed.
Status checkArchRunsOn(const std::string &arch, ComputeCapability capability,
                       bool isPtx);

/// A module loaded into the context current at load time, unloaded when this
/// object dies. Move-only.
class CudaModule {
public:
  CudaModule() = default;
  CudaModule(CudaModule &&other) noexcept;
  CudaModule &operator=(CudaModule &&other) noexcept;
  CudaModule(const CudaModule &) = delete;
  CudaModule &operator=(const CudaModule &) = delete;
  ~CudaModule();

  /// Loads a cubin, or PTX text, into the current context (which must
  /// exist: see CudaDriver::ensureContext). `name` appears in messages.
  static StatusOr<CudaModule> load(const CudaDriver &driver,
                                   const std::vector<char> &image,
                                   const std::string &name);

  /// The kernel `symbol` (a CUfunction).
  StatusOr<void *> getFunction(const std::string &symbol) const;
  /// The `__device__` variable `symbol`.
  StatusOr<DeviceGlobal> getGlobal(const std::string &symbol) const;
  /// The CUmodule.
  void *getHandle() const { return handle; }

private:
  const CudaDriver *driver = nullptr;
  void *handle = nullptr;
  std::string name;
};

/// Device memory owned by this object. Move-only.
class DeviceBuffer {
public:
  DeviceBuffer() = default;
  DeviceBuffer(DeviceBuffer &&other) noexcept;
  DeviceBuffer &operator=(DeviceBuffer &&other) noexcept;
  DeviceBuffer(const DeviceBuffer &) = delete;
  DeviceBuffer &operator=(const DeviceBuffer &) = delete;
  ~DeviceBuffer();

  /// `bytes` bytes of device memory (256-byte aligned) in the current
  /// context, which is made current first when there is none.
  static StatusOr<DeviceBuffer> allocate(std::size_t bytes);

  void *data() const { return pointer; }
  std::size_t size() const { return bytes; }
  /// Copies `count` bytes from the host to the start of the buffer.
  Status upload(const void *host, std::size_t count) const;
  /// Copies `count` bytes from the start of the buffer to the host.
  Status download(void *host, std::size_t count) const;
  /// Sets every byte to `value` (0xff makes every fp16/bf16/fp32 a NaN).
  Status fill(unsigned char value) const;

private:
  const CudaDriver *driver = nullptr;
  void *pointer = nullptr;
  std::size_t bytes = 0;
};

} // namespace xfc::runtime

#endif // XFC_RUNTIME_CUDA_H
