//===- AttentionPlan.cpp - Running a compiled attention -------------------===//

#include "xfc/runtime/AttentionPlan.h"

#include "GraphPlan.h"
#include "xfc/runtime/Cuda.h"
#include "xfc/types.cuh"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>

namespace xfc::runtime {

namespace {

constexpr int64_t kMaxInt = std::numeric_limits<int>::max();
constexpr int kDefaultSharedLimit = 48 * 1024;
const char *const kDims = "[batch, heads, seq, head_dim]";
const char *const kDimNames[4] = {"batch", "heads", "seq_len", "head_dim"};

std::string formatShape(const std::vector<int64_t> &shape) {
  std::string text = "[";
  for (std::size_t d = 0; d < shape.size(); ++d)
    text += (d ? ", " : "") +
            (shape[d] < 0 ? std::string("?") : std::to_string(shape[d]));
  return text + "]";
}

/// Whether `kernel` is the sm_90a wgmma kernel, which loads its tiles with
/// TMA when the launch carries tensor maps (templates/xfc/flash_fwd_sm90.cuh).
bool takesTensorMaps(const ManifestKernel &kernel) {
  const AttentionTraits &traits = *kernel.attention;
  return kernel.arch == "sm_90a" &&
         (traits.element == DType::F16 || traits.element == DType::BF16) &&
         wgmmaTakesHeadDim(traits.headDim) &&
         isWgmmaTile(traits.blockM, traits.numWarps);
}

/// Whether XFC_NO_TMA (set to anything but 0) turns TMA off: the kernel
/// then copies with cp.async and stores with its threads.
bool tensorMapsTurnedOff() {
  const char *off = std::getenv("XFC_NO_TMA");
  return off && *off && std::strcmp(off, "0") != 0;
}

/// Encodes the tensor maps of q, k and v (and, with `output`, o) into
/// `params`, boxes of BlockM query rows and kvBoxRows key rows (BlockN, or
/// a layout block for gathered tiles), and sets tmaLoads (tmaStores);
/// leaves them 0 (the kernel copies with cp.async, stores with its threads)
/// where the driver rejects a tensor (e.g. strides that are not multiples of
/// 16 bytes).
void encodeTensorMaps(const CudaDriver &driver, const AttentionTraits &traits,
                      int kvBoxRows, bool output, AttentionParams &params) {
  params.tmaLoads = 0;
  params.tmaStores = 0;
  auto encode = [&](unsigned char *map, const void *data, int len,
                    long long batchStride, long long headStride,
                    long long seqStride, int boxRows) {
    const unsigned long long dims[4] = {
        static_cast<unsigned long long>(traits.headDim),
        static_cast<unsigned long long>(len),
        static_cast<unsigned long long>(params.heads),
        static_cast<unsigned long long>(params.batch)};
    // A dimension of size 1 is never stepped: give it the packed stride, so
    // that whatever stride the view has there (0, say) cannot fail it.
    const long long elementStrides[3] = {seqStride, headStride, batchStride};
    unsigned long long strides[3];
    unsigned long long packed = dims[0] * 2;
    for (int d = 0; d < 3; ++d) {
      strides[d] = dims[d + 1] == 1
                       ? packed
                       : static_cast<unsigned long long>(elementStrides[d]) * 2;
      packed = strides[d] * dims[d + 1];
    }
    const unsigned box[4] = {64, static_cast<unsigned>(boxRows), 1, 1};
    return static_cast<bool>(driver.encodeTensorMap16(
        map, traits.element == DType::BF16, 4, data, dims, strides, box));
  };
  if (encode(params.tmaQ, params.q, params.qLen, params.qBatchStride,
             params.qHeadStride, params.qSeqStride, traits.blockM) &&
      encode(params.tmaK, params.k, params.kvLen, params.kBatchStride,
             params.kHeadStride, params.kSeqStride, kvBoxRows) &&
      encode(params.tmaV, params.v, params.kvLen, params.vBatchStride,
             params.vHeadStride, params.vSeqStride, kvBoxRows))
    params.tmaLoads = 1;
  // The output: one consumer warpgroup's 64 rows a box. Without it the
  // kernel stores with its threads.
  params.tmaStores =
      output && params.tmaLoads &&
      encode(params.tmaO, params.o, params.qLen, params.oBatchStride,
             params.oHeadStride, params.oSeqStride, 64);
}

std::string formatFloat(double value) {
  char text[32];
  std::snprintf(text, sizeof(text), "%g", value);
  return text;
}

/// Checks common to query, key, value and output: a well-formed rank-4 view
/// of the element type and head dim, last dimension contiguous, rows aligned.
Status checkQkvView(const TensorView &view, const std::string &name,
                    const AttentionTraits &traits) {
  if (Status status = checkWellFormed(view, name); !status)
    return status;
  if (Status status = checkRank(view, name, 4, kDims); !status)
    return status;
  if (Status status = checkDType(view, name, traits.element); !status)
    return status;
  if (Status status = checkDim(view, name, 3, "head_dim", traits.headDim);
      !status)
    return status;
  if (Status status = checkLastDimContiguous(view, name); !status)
    return status;
  return checkRowAlignment(view, name, 16);
}

/// The static sizes the manifest recorded for a tensor (-1 = any).
Status checkManifestShape(const TensorView &view, const std::string &name,
                          const ManifestTensor *tensor) {
  if (!tensor || tensor->shape.size() != 4)
    return Status::ok();
  for (int d = 0; d < 4; ++d)
    if (tensor->shape[d] >= 0)
      if (Status status =
              checkDim(view, name, d, kDimNames[d], tensor->shape[d]);
          !status)
        return Status::error(status.getMessage() +
                             " (the plan was compiled for " +
                             formatShape(tensor->shape) + ")");
  return Status::ok();
}

/// `view` has the batch, heads (and seq) of `reference`.
Status checkSameSizes(const TensorView &view, const std::string &name,
                      const TensorView &reference,
                      const std::string &referenceName, int dims) {
  for (int d = 0; d < dims; ++d)
    if (view.shape[d] != reference.shape[d])
      return Status::error(name + ": expected " + kDimNames[d] + " " +
                           std::to_string(reference.shape[d]) + " (as " +
                           referenceName + "), got " +
                           std::to_string(view.shape[d]));
  return Status::ok();
}

} // namespace

/// The module of one CUDA context.
/// Copies the layout tables of a `tables_at_load` kernel into the module's
/// `<symbol>_<table>` arrays (int32 or byte entries, as the emitter declares
/// them), checking each array's size against the manifest.
Status uploadTables(const CudaDriver &driver, const CudaModule &module,
                    const ManifestKernel &kernel) {
  for (const LayoutArrayTable &table : kLayoutArrayTables) {
    const std::string name = table.name;
    const std::size_t elementBytes = table.elementBytes;
    auto it = kernel.tables.find(name);
    if (it == kernel.tables.end())
      continue;
    const std::vector<int64_t> &values = it->second.listValue;
    std::string symbol = kernel.symbol + "_" + name;
    StatusOr<DeviceGlobal> global = module.getGlobal(symbol);
    if (!global)
      return global.getStatus();
    // An empty table is declared with one unused entry.
    std::size_t expected =
        std::max<std::size_t>(1, values.size()) * elementBytes;
    if (global->bytes != expected)
      return Status::error("kernel " + kernel.symbol + ": table " + name +
                           " holds " + std::to_string(global->bytes) +
                           " bytes in the module, the manifest gives " +
                           std::to_string(expected));
    std::vector<unsigned char> bytes(expected, 0);
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (elementBytes == 4) {
        int32_t value = static_cast<int32_t>(values[i]);
        std::memcpy(bytes.data() + 4 * i, &value, 4);
      } else {
        bytes[i] = static_cast<unsigned char>(values[i]);
      }
    }
    if (Status status =
            driver.copyToDevice(global->pointer, bytes.data(), bytes.size());
        !status)
      return Status::error("kernel " + kernel.symbol + ": table " + name +
                           ": " + status.getMessage());
  }
  return Status::ok();
}

struct LoadedKernel {
  void *context = nullptr;
  CudaModule module;
  void *function = nullptr;
  /// CTAs of the kernel that fit on the device at once: the stride of a
  /// persistent launch (AttentionParams::persistentCtas).
  int residentCtas = 0;
  /// AttentionParams::workCounter of the launches on each stream (a pair
  /// of ints, zeroed when allocated; each launch leaves it zero): launches
  /// on one stream run one after the other, so they can share one.
  mutable std::mutex counterMutex;
  mutable std::map<void *, DeviceBuffer> workCounters;

  /// The work counter of launches on `stream`, allocated on first use.
  StatusOr<int *> getWorkCounter(void *stream) const;
};

StatusOr<int *> LoadedKernel::getWorkCounter(void *stream) const {
  std::lock_guard<std::mutex> lock(counterMutex);
  auto it = workCounters.find(stream);
  if (it == workCounters.end()) {
    StatusOr<DeviceBuffer> buffer = DeviceBuffer::allocate(2 * sizeof(int));
    if (!buffer)
      return buffer.getStatus();
    if (Status status = buffer->fill(0); !status)
      return status;
    // The fill runs on the legacy stream; `stream` may not wait for it.
    StatusOr<const CudaDriver *> driver = getDriver();
    if (!driver)
      return driver.getStatus();
    if (Status status = (*driver)->synchronize(nullptr); !status)
      return status;
    it = workCounters.emplace(stream, std::move(*buffer)).first;
  }
  return static_cast<int *>(it->second.data());
}

/// What a launch's tensor maps are a function of (with the plan's traits):
/// the tensors' addresses, shapes and strides and the boxes. No padding, so
/// that keys compare byte by byte.
struct TensorMapKey {
  const void *q, *k, *v, *o;
  long long strides[12];
  int batch, heads, qLen, kvLen, kvBoxRows, output;

  static TensorMapKey of(const AttentionParams &params, int kvBoxRows,
                         bool output) {
    return {params.q,
            params.k,
            params.v,
            params.o,
            {params.qBatchStride, params.qHeadStride, params.qSeqStride,
             params.kBatchStride, params.kHeadStride, params.kSeqStride,
             params.vBatchStride, params.vHeadStride, params.vSeqStride,
             params.oBatchStride, params.oHeadStride, params.oSeqStride},
            params.batch,
            params.heads,
            params.qLen,
            params.kvLen,
            kvBoxRows,
            output ? 1 : 0};
  }
  bool operator==(const TensorMapKey &other) const {
    return std::memcmp(this, &other, sizeof(TensorMapKey)) == 0;
  }
};
static_assert(sizeof(TensorMapKey) == 4 * 8 + 12 * 8 + 6 * 4,
              "TensorMapKey must have no padding (keys compare as bytes)");

/// A launch's encoded maps and flags (AttentionParams::tmaLoads, tmaStores,
/// tmaQ..tmaO).
struct CachedTensorMaps {
  TensorMapKey key;
  int tmaLoads = 0, tmaStores = 0;
  unsigned char maps[4][128];
};

struct AttentionPlan::Impl {
  Manifest manifest;
  /// Set when the manifest is a graph of launches (linformer, ...): it runs
  /// everything, and the members below stay unused.
  std::unique_ptr<GraphPlan> graph;
  std::size_t kernelIndex = 0;
  std::size_t launchIndex = 0;
  std::vector<char> image;
  bool imageIsPtx = false;

  std::mutex mutex;
  std::vector<std::unique_ptr<LoadedKernel>> loaded;

  /// The tensor maps of the last launches, newest last: encoding takes
  /// about 1.25 us a map on the host (bench/tensormap_encode_cost.py), four
  /// a launch, and a plan usually runs on the same tensors again.
  static constexpr std::size_t TensorMapEntries = 8;
  std::mutex tensorMapMutex;
  std::vector<CachedTensorMaps> tensorMaps;

  /// Sets `params`' tensor maps and TMA flags (see encodeTensorMaps),
  /// from the cache when the same tensors were launched lately.
  void setTensorMaps(const CudaDriver &driver, int kvBoxRows, bool output,
                     AttentionParams &params);

  const ManifestKernel &kernel() const { return manifest.kernels[kernelIndex]; }
  const ManifestLaunch &launch() const {
    return manifest.launches[launchIndex];
  }
  const AttentionTraits &traits() const { return *kernel().attention; }

  /// The kernel in the current context, loaded on first use.
  StatusOr<const LoadedKernel *> getFunction(const CudaDriver &driver,
                                             const CudaContext &context);
};

void AttentionPlan::Impl::setTensorMaps(const CudaDriver &driver, int kvBoxRows,
                                        bool output, AttentionParams &params) {
  unsigned char *maps[4] = {params.tmaQ, params.tmaK, params.tmaV, params.tmaO};
  if (tensorMapsTurnedOff()) {
    params.tmaLoads = 0;
    params.tmaStores = 0;
    return;
  }
  const TensorMapKey key = TensorMapKey::of(params, kvBoxRows, output);
  {
    std::lock_guard<std::mutex> lock(tensorMapMutex);
    for (const CachedTensorMaps &entry : tensorMaps)
      if (entry.key == key) {
        params.tmaLoads = entry.tmaLoads;
        params.tmaStores = entry.tmaStores;
        for (int m = 0; m < 4; ++m)
          std::memcpy(maps[m], entry.maps[m], 128);
        return;
      }
  }
  encodeTensorMaps(driver, traits(), kvBoxRows, output, params);
  CachedTensorMaps entry;
  entry.key = key;
  entry.tmaLoads = params.tmaLoads;
  entry.tmaStores = params.tmaStores;
  for (int m = 0; m < 4; ++m)
    std::memcpy(entry.maps[m], maps[m], 128);
  std::lock_guard<std::mutex> lock(tensorMapMutex);
  if (tensorMaps.size() == TensorMapEntries)
    tensorMaps.erase(tensorMaps.begin());
  tensorMaps.push_back(entry);
}

StatusOr<const LoadedKernel *>
AttentionPlan::Impl::getFunction(const CudaDriver &driver,
                                 const CudaContext &context) {
  std::lock_guard<std::mutex> lock(mutex);
  for (const std::unique_ptr<LoadedKernel> &entry : loaded)
    if (entry->context == context.handle)
      return entry.get();

  const ManifestKernel &k = kernel();
  std::string device = "device " + std::to_string(context.device);
  StatusOr<std::string> name = driver.getDeviceName(context.device);
  if (name)
    device += " (" + *name + ")";
  StatusOr<ComputeCapability> capability =
      driver.getComputeCapability(context.device);
  if (!capability)
    return capability.getStatus();
  if (Status status = checkArchRunsOn(k.arch, *capability, imageIsPtx); !status)
    return Status::error("kernel " + k.symbol + " cannot run on " + device +
                         ": " + status.getMessage());

  StatusOr<CudaModule> module =
      CudaModule::load(driver, image, "kernel " + k.symbol);
  if (!module)
    return module.getStatus();
  StatusOr<void *> function = module->getFunction(k.symbol);
  if (!function)
    return function.getStatus();
  if (k.tablesAtLoad)
    if (Status status = uploadTables(driver, *module, k); !status)
      return status;
  if (k.sharedBytes > kDefaultSharedLimit) {
    StatusOr<int> limit = driver.getAttribute(
        context.device, CudaDeviceAttribute::MaxSharedMemoryPerBlockOptin);
    if (!limit)
      return limit.getStatus();
    if (k.sharedBytes > *limit)
      return Status::error("kernel " + k.symbol + " needs " +
                           std::to_string(k.sharedBytes) +
                           " bytes of shared memory; " + device + " allows " +
                           std::to_string(*limit) + " per block");
    if (Status status = driver.setFunctionAttribute(
            *function, CudaFunctionAttribute::MaxDynamicSharedSizeBytes,
            static_cast<int>(k.sharedBytes));
        !status)
      return Status::error("kernel " + k.symbol + ": " + status.getMessage());
  }
  StatusOr<int> sms = driver.getAttribute(
      context.device, CudaDeviceAttribute::MultiprocessorCount);
  if (!sms)
    return sms.getStatus();
  StatusOr<int> perSm = driver.getMaxActiveBlocksPerSm(
      *function, static_cast<int>(k.block[0] * k.block[1] * k.block[2]),
      static_cast<std::size_t>(k.sharedBytes));
  if (!perSm)
    return Status::error("kernel " + k.symbol + ": " +
                         perSm.getStatus().getMessage());
  auto entry = std::make_unique<LoadedKernel>();
  entry->context = context.handle;
  entry->module = std::move(*module);
  entry->function = *function;
  entry->residentCtas = *sms * *perSm;
  loaded.push_back(std::move(entry));
  return loaded.back().get();
}

AttentionPlan::AttentionPlan(std::unique_ptr<Impl> impl)
    : impl(std::move(impl)) {}
AttentionPlan::AttentionPlan(AttentionPlan &&) noexcept = default;
AttentionPlan &AttentionPlan::operator=(AttentionPlan &&) noexcept = default;
AttentionPlan::~AttentionPlan() = default;

const Manifest &AttentionPlan::getManifest() const { return impl->manifest; }
const ManifestKernel &AttentionPlan::getKernel() const {
  return impl->graph ? impl->graph->getKernel() : impl->kernel();
}
const AttentionTraits &AttentionPlan::getTraits() const {
  return impl->graph ? impl->graph->getTraits() : impl->traits();
}
bool AttentionPlan::isGraph() const { return impl->graph != nullptr; }
const std::vector<ManifestParameter> &AttentionPlan::getParameters() const {
  return impl->manifest.parameters;
}
Status AttentionPlan::setParameter(const std::string &name,
                                   const std::vector<float> &values) {
  if (!impl->graph)
    return Status::error("parameter \"" + name +
                         "\": this plan has no parameters");
  return impl->graph->setParameter(name, values);
}
StatusOr<std::vector<float>>
AttentionPlan::getParameter(const std::string &name) const {
  if (!impl->graph)
    return Status::error("parameter \"" + name +
                         "\": this plan has no parameters");
  return impl->graph->getParameter(name);
}

StatusOr<AttentionPlan> AttentionPlan::create(const Manifest &manifest,
                                              const ImageProvider &cubinFor) {
  if (GraphPlan::isGraph(manifest)) {
    StatusOr<std::unique_ptr<GraphPlan>> graph =
        GraphPlan::create(manifest, cubinFor);
    if (!graph)
      return graph.getStatus();
    auto impl = std::make_unique<Impl>();
    impl->manifest = manifest;
    impl->graph = std::move(*graph);
    return AttentionPlan(std::move(impl));
  }
  if (manifest.launches.size() != 1)
    return Status::error(
        "manifest: expected exactly one launch, got " +
        std::to_string(manifest.launches.size()) +
        " (this runtime runs attention plans of one attention_forward "
        "kernel)");
  auto impl = std::make_unique<Impl>();
  impl->manifest = manifest;
  const ManifestLaunch &launch = impl->manifest.launches[0];
  const ManifestKernel *kernel = impl->manifest.findKernel(launch.kernel);
  if (!kernel)
    return Status::error("manifest: launches[0].kernel: \"" + launch.kernel +
                         "\" is not among \"kernels\"");
  impl->kernelIndex = kernel - impl->manifest.kernels.data();
  std::string what = "kernel " + kernel->symbol + ": ";

  if (kernel->templateName != "attention_forward" || !kernel->attention)
    return Status::error(what + "template \"" + kernel->templateName +
                         "\" is not one this runtime launches "
                         "(attention_forward)");
  if (kernel->params != "xfc::AttentionParams")
    return Status::error(what + "params \"" + kernel->params +
                         "\" is not one this runtime passes "
                         "(xfc::AttentionParams)");
  const AttentionTraits &traits = *kernel->attention;
  if (kernel->block[0] != traits.numWarps * 32 || kernel->block[1] != 1 ||
      kernel->block[2] != 1)
    return Status::error(what + "block [" + std::to_string(kernel->block[0]) +
                         ", " + std::to_string(kernel->block[1]) + ", " +
                         std::to_string(kernel->block[2]) +
                         "] does not match NumWarps " +
                         std::to_string(traits.numWarps) + " (expected [" +
                         std::to_string(traits.numWarps * 32) + ", 1, 1])");
  if (kernel->sharedBytes != traits.sharedBytes)
    return Status::error(what + "shared_bytes " +
                         std::to_string(kernel->sharedBytes) +
                         " differs from the SharedBytes trait " +
                         std::to_string(traits.sharedBytes));
  if (kernel->grid.size() != 3)
    return Status::error(what + "expected 3 grid terms, got " +
                         std::to_string(kernel->grid.size()));

  // The launch's tensors agree with the traits.
  for (const char *role : {"q", "k", "v"}) {
    const ManifestTensor *input = launch.findInput(role);
    if (!input)
      return Status::error("manifest: launches[0].inputs: missing the \"" +
                           std::string(role) + "\" tensor");
    if (input->shape.size() != 4 || input->dtype != traits.element ||
        (input->shape[3] >= 0 && input->shape[3] != traits.headDim))
      return Status::error(
          "manifest: launches[0]: the \"" + std::string(role) + "\" tensor " +
          formatShape(input->shape) + " " + getDTypeName(input->dtype) +
          " does not match the kernel's " + getDTypeName(traits.element) +
          " [batch, heads, seq, " + std::to_string(traits.headDim) + "]");
  }
  if ((launch.findInput("attn_mask") != nullptr) != traits.hasAttnMask)
    return Status::error(
        what + "HasAttnMask is " + (traits.hasAttnMask ? "true" : "false") +
        " but the launch " + (traits.hasAttnMask ? "has no" : "has an") +
        " attn_mask input");
  if ((launch.findInput("key_padding") != nullptr) != traits.hasKeyPadding)
    return Status::error(
        what + "HasKeyPadding is " + (traits.hasKeyPadding ? "true" : "false") +
        " but the launch " + (traits.hasKeyPadding ? "has no" : "has a") +
        " key_padding input");

  StatusOr<std::vector<char>> image = cubinFor(*kernel);
  if (!image)
    return Status::error(what + image.getStatus().getMessage());
  if (image->empty())
    return Status::error(what + "the kernel image is empty");
  impl->image = std::move(*image);
  static const char kElfMagic[4] = {0x7f, 'E', 'L', 'F'};
  impl->imageIsPtx = impl->image.size() < 4 ||
                     std::memcmp(impl->image.data(), kElfMagic, 4) != 0;
  return AttentionPlan(std::move(impl));
}

StatusOr<AttentionPlan> AttentionPlan::loadAot(const std::string &directory) {
  std::string dir = directory.empty() ? "." : directory;
  while (dir.size() > 1 && dir.back() == '/')
    dir.pop_back();
  StatusOr<Manifest> manifest = Manifest::load(dir + "/manifest.json");
  if (!manifest)
    return manifest.getStatus();
  return create(
      *manifest,
      [&](const ManifestKernel &kernel) -> StatusOr<std::vector<char>> {
        if (!kernel.cubin.empty())
          return readBinaryFile(dir + "/" + kernel.cubin);
        if (kernel.ptx.empty())
          return Status::error(
              "the manifest names neither a cubin nor a ptx file; "
              "compile with --emit=cubin (the default)");
        StatusOr<std::vector<char>> ptx =
            readBinaryFile(dir + "/" + kernel.ptx);
        if (ptx)
          ptx->push_back('\0');
        return ptx;
      });
}

StatusOr<AttentionParams>
AttentionPlan::prepare(const AttentionArgs &args) const {
  if (impl->graph)
    return Status::error(
        "prepare(): this plan is a graph of " +
        std::to_string(impl->manifest.launches.size()) +
        " launches; only single-launch plans have one set of kernel "
        "parameters (use run())");
  const AttentionTraits &traits = impl->traits();
  const ManifestLaunch &launch = impl->launch();
  const std::optional<BlockLayout> &layout = impl->kernel().layout;

  // Query, key, value, output: each alone, then against each other.
  if (Status status = checkQkvView(args.query, "query", traits); !status)
    return status;
  if (Status status = checkQkvView(args.key, "key", traits); !status)
    return status;
  if (Status status = checkQkvView(args.value, "value", traits); !status)
    return status;
  if (Status status = checkSameSizes(args.key, "key", args.query, "query", 2);
      !status)
    return status;
  if (Status status = checkSameSizes(args.value, "value", args.key, "key", 3);
      !status)
    return status;
  const int64_t batch = args.query.shape[0], heads = args.query.shape[1],
                qLen = args.query.shape[2], kvLen = args.key.shape[2];
  // Global tokens fix the sequence: the kernel's token table is that long.
  if (layout && !layout->globalBits.empty()) {
    int64_t length = static_cast<int64_t>(layout->globalBits.size());
    for (auto [name, size] :
         {std::pair<const char *, int64_t>{"query", qLen}, {"key", kvLen}})
      if (size != length)
        return Status::error(
            std::string(name) + ": seq_len " + std::to_string(size) +
            " differs from the " + std::to_string(length) +
            " tokens of attention_query_mask (global attention is "
            "specialized to that length; pad or compile another mask)");
  }

  if (Status status = checkQkvView(args.output, "output", traits); !status)
    return status;
  if (Status status = checkShape(args.output, "output",
                                 {batch, heads, qLen, traits.headDim});
      !status)
    return status;
  for (int d = 0; d < 3; ++d)
    if (args.output.shape[d] > 1 && args.output.strides[d] == 0)
      return Status::error(std::string("output: dimension ") + kDimNames[d] +
                           " has stride 0 but size " +
                           std::to_string(args.output.shape[d]) +
                           " (output elements must not overlap)");

  if (Status status =
          checkManifestShape(args.query, "query", launch.findInput("q"));
      !status)
    return status;
  if (Status status =
          checkManifestShape(args.key, "key", launch.findInput("k"));
      !status)
    return status;
  if (Status status =
          checkManifestShape(args.value, "value", launch.findInput("v"));
      !status)
    return status;

  for (auto [name, size] : {std::pair<const char *, int64_t>{"batch", batch},
                            {"heads", heads},
                            {"seq_len", qLen}})
    if (size > kMaxInt)
      return Status::error(std::string("query: ") + name + " " +
                           std::to_string(size) + " exceeds " +
                           std::to_string(kMaxInt));
  if (kvLen > kMaxInt)
    return Status::error("key: seq_len " + std::to_string(kvLen) + " exceeds " +
                         std::to_string(kMaxInt));
  if (kvLen == 0 && batch * heads * qLen > 0)
    return Status::error("key: expected seq_len >= 1, got 0");

  if (layout) {
    int64_t coverage = layout->getCoverage();
    std::string covers = "the block layout covers " + std::to_string(coverage) +
                         " (" + std::to_string(layout->numBlocks) +
                         " blocks of " + std::to_string(layout->layoutBlock) +
                         ")";
    if (qLen > coverage)
      return Status::error("query: seq_len " + std::to_string(qLen) +
                           " is longer than " + covers);
    if (kvLen > coverage)
      return Status::error("key: seq_len " + std::to_string(kvLen) +
                           " is longer than " + covers);
    if (layout->layoutHeads > 1 && heads != layout->layoutHeads)
      return Status::error(
          "query: expected heads " + std::to_string(layout->layoutHeads) +
          " (the block layout has one per head), got " + std::to_string(heads));
  }

  AttentionParams params;
  std::memset(&params, 0, sizeof(params));
  params.q = args.query.data;
  params.k = args.key.data;
  params.v = args.value.data;
  params.o = args.output.data;
  auto strides = [](const TensorView &view, long long &batchStride,
                    long long &headStride, long long &seqStride) {
    batchStride = view.strides[0];
    headStride = view.strides[1];
    seqStride = view.strides[2];
  };
  strides(args.query, params.qBatchStride, params.qHeadStride,
          params.qSeqStride);
  strides(args.key, params.kBatchStride, params.kHeadStride, params.kSeqStride);
  strides(args.value, params.vBatchStride, params.vHeadStride,
          params.vSeqStride);
  strides(args.output, params.oBatchStride, params.oHeadStride,
          params.oSeqStride);
  params.batch = static_cast<int>(batch);
  params.heads = static_cast<int>(heads);
  params.qLen = static_cast<int>(qLen);
  params.kvLen = static_cast<int>(kvLen);

  // Attention mask: fp32 [T, S] or [B|1, H|1, T, S].
  if (args.attnMask && !traits.hasAttnMask)
    return Status::error("attn_mask: this plan was compiled without an "
                         "attention mask; compile with --attn-mask (or "
                         "\"attn_mask\" in the API) to pass one");
  if (!args.attnMask && traits.hasAttnMask)
    return Status::error(
        "attn_mask: this plan was compiled with an attention mask "
        "(HasAttnMask): pass one, fp32 [q_len, kv_len] or [batch or 1, "
        "heads or 1, q_len, kv_len]");
  if (args.attnMask) {
    const TensorView &mask = *args.attnMask;
    if (Status status = checkWellFormed(mask, "attn_mask"); !status)
      return status;
    if (Status status = checkDType(mask, "attn_mask", DType::F32); !status)
      return status;
    if (mask.rank != 2 && mask.rank != 4)
      return Status::error("attn_mask: expected 2 dimensions [q_len, kv_len] "
                           "or 4 [batch or 1, heads or 1, q_len, kv_len], "
                           "got " +
                           std::to_string(mask.rank));
    int rows = mask.rank - 2;
    if (mask.shape[rows] != qLen || mask.shape[rows + 1] != kvLen)
      return Status::error("attn_mask: expected [..., " + std::to_string(qLen) +
                           ", " + std::to_string(kvLen) +
                           "] (q_len, kv_len), got " + mask.getShapeString());
    if (mask.rank == 4) {
      if (mask.shape[0] != batch && mask.shape[0] != 1)
        return Status::error("attn_mask: expected batch " +
                             std::to_string(batch) + " or 1, got " +
                             std::to_string(mask.shape[0]));
      if (mask.shape[1] != heads && mask.shape[1] != 1)
        return Status::error("attn_mask: expected heads " +
                             std::to_string(heads) + " or 1, got " +
                             std::to_string(mask.shape[1]));
    }
    if (Status status = checkLastDimContiguous(mask, "attn_mask"); !status)
      return status;
    if (reinterpret_cast<std::uintptr_t>(mask.data) % 4)
      return Status::error("attn_mask: the data pointer must be 4-byte "
                           "aligned (fp32)");
    params.attnMask = static_cast<const float *>(mask.data);
    if (mask.rank == 4) {
      params.attnMaskBatchStride = mask.shape[0] == 1 ? 0 : mask.strides[0];
      params.attnMaskHeadStride = mask.shape[1] == 1 ? 0 : mask.strides[1];
    }
    params.attnMaskRowStride = mask.strides[rows];
  }

  // Key padding: u8/bool [B, S].
  if (args.keyPadding && !traits.hasKeyPadding)
    return Status::error("key_padding_mask: this plan was compiled without a "
                         "key padding mask; compile with --key-padding-mask "
                         "to pass one");
  if (!args.keyPadding && traits.hasKeyPadding)
    return Status::error("key_padding_mask: this plan was compiled with a key "
                         "padding mask (HasKeyPadding): pass one, u8 or bool "
                         "[batch, kv_len], nonzero = padding");
  if (args.keyPadding) {
    const TensorView &padding = *args.keyPadding;
    if (Status status = checkWellFormed(padding, "key_padding_mask"); !status)
      return status;
    if (padding.dtype != DType::U8 && padding.dtype != DType::Bool)
      return Status::error("key_padding_mask: expected dtype u8 or bool, got " +
                           std::string(getDTypeName(padding.dtype)));
    if (Status status = checkShape(padding, "key_padding_mask", {batch, kvLen});
        !status)
      return status;
    if (Status status = checkLastDimContiguous(padding, "key_padding_mask");
        !status)
      return status;
    params.keyPadding = static_cast<const unsigned char *>(padding.data);
    params.keyPaddingBatchStride = batch == 1 ? 0 : padding.strides[0];
  }

  // Scale, dropout, lse.
  float scale = args.scale
                    ? *args.scale
                    : 1.0f / std::sqrt(static_cast<float>(traits.headDim));
  if (!std::isfinite(scale))
    return Status::error("scale: expected a finite number, got " +
                         formatFloat(scale));
  params.scaleLog2 = scale * 1.4426950408889634f;

  float planDropout = static_cast<float>(launch.dropout);
  if (!(args.dropout >= 0.0f && args.dropout < 1.0f))
    return Status::error("dropout: expected a probability in [0, 1), got " +
                         formatFloat(args.dropout));
  if (args.dropout != 0.0f) {
    if (!traits.hasDropout)
      return Status::error(
          "dropout: this plan was compiled without dropout, so it takes only "
          "0; got " +
          formatFloat(args.dropout) + " (compile a config with \"dropout\": " +
          formatFloat(args.dropout) + ")");
    if (args.dropout != planDropout)
      return Status::error("dropout: expected 0 or " +
                           formatFloat(planDropout) + " (the plan's), got " +
                           formatFloat(args.dropout));
  }
  params.dropoutP = traits.hasDropout ? args.dropout : 0.0f;
  params.dropoutSeed = args.seed;
  params.dropoutOffset = args.offset;

  if (traits.writeLse && !args.lse)
    return Status::error("lse: this plan's kernel writes the log-sum-exp "
                         "(WriteLse): pass an fp32 buffer of batch * heads * "
                         "q_len elements");
  if (!traits.writeLse && args.lse)
    return Status::error("lse: this plan's kernel does not write the "
                         "log-sum-exp (WriteLse is false); pass nullptr");
  if (args.lse && reinterpret_cast<std::uintptr_t>(args.lse) % 4)
    return Status::error("lse: the pointer must be 4-byte aligned (fp32)");
  params.lse = args.lse;
  return params;
}

StatusOr<std::array<unsigned, 3>>
AttentionPlan::computeGrid(const AttentionParams &params) const {
  const ManifestKernel &kernel = impl->kernel();
  std::array<unsigned, 3> grid = {1, 1, 1};
  const int64_t limits[3] = {kMaxInt, 65535, 65535};
  const char *axes[3] = {"x", "y", "z"};
  for (int i = 0; i < 3; ++i) {
    const GridTerm &term = kernel.grid[i];
    int64_t size;
    if (term.constant) {
      size = *term.constant;
    } else {
      int64_t value = term.symbol == "batch"   ? params.batch
                      : term.symbol == "heads" ? params.heads
                      : term.symbol == "q_len" ? params.qLen
                                               : params.kvLen;
      size = (value + term.ceilDiv - 1) / term.ceilDiv;
    }
    if (size > limits[i])
      return Status::error(
          "grid " + std::string(axes[i]) + " = " +
          (term.constant ? std::string("constant")
                         : "ceil(" + term.symbol + " / " +
                               std::to_string(term.ceilDiv) + ")") +
          " = " + std::to_string(size) + " exceeds the device limit of " +
          std::to_string(limits[i]));
    grid[i] = static_cast<unsigned>(size);
  }
  return grid;
}

Status AttentionPlan::run(const AttentionArgs &args, void *stream) const {
  if (impl->graph)
    return impl->graph->run(args, stream);
  StatusOr<AttentionParams> params = prepare(args);
  if (!params)
    return params.getStatus();
  if (params->batch == 0 || params->heads == 0 || params->qLen == 0)
    return Status::ok();
  StatusOr<std::array<unsigned, 3>> grid = computeGrid(*params);
  if (!grid)
    return grid.getStatus();
  if ((*grid)[0] == 0 || (*grid)[1] == 0 || (*grid)[2] == 0)
    return Status::ok();

  StatusOr<const CudaDriver *> driver = getDriver();
  if (!driver)
    return driver.getStatus();
  StatusOr<CudaContext> context = (*driver)->ensureContext();
  if (!context)
    return context.getStatus();
  StatusOr<const LoadedKernel *> loadedKernel =
      impl->getFunction(**driver, *context);
  if (!loadedKernel)
    return loadedKernel.getStatus();
  void *function = (*loadedKernel)->function;

  const ManifestKernel &kernel = impl->kernel();
  AttentionParams launchParams = *params;
  // Kernels that take persistent launches keep only the CTAs that fit at
  // once, each walking work items; the others ignore it.
  launchParams.persistentCtas = (*loadedKernel)->residentCtas;
  if (takesTensorMaps(kernel)) {
    // O's map too: the kernel decides whether it stores with TMA
    // (templates/xfc/flash_fwd_sm90.cuh: block-sparse kernels and dense
    // non-causal HeadDim 128 ones) and ignores the map otherwise. Gathered
    // tiles load each half with boxes of its own.
    int kvBoxRows =
        impl->traits().blockN / (kernel.layout ? kernel.layout->tileBlocks : 1);
    impl->setTensorMaps(**driver, kvBoxRows, /*output=*/true, launchParams);
    // The wgmma kernel's persistent launches take items from a counter.
    StatusOr<int *> counter = (*loadedKernel)->getWorkCounter(stream);
    if (!counter)
      return Status::error("kernel " + kernel.symbol + ": work counter: " +
                           counter.getStatus().getMessage());
    launchParams.workCounter = *counter;
  }
  void *kernelArgs[] = {&launchParams};
  Dim3 gridDim{(*grid)[0], (*grid)[1], (*grid)[2]};
  Dim3 blockDim{static_cast<unsigned>(kernel.block[0]),
                static_cast<unsigned>(kernel.block[1]),
                static_cast<unsigned>(kernel.block[2])};
  if (Status status = (*driver)->launch(
          function, gridDim, blockDim,
          static_cast<unsigned>(kernel.sharedBytes), stream, kernelArgs);
      !status)
    return Status::error("kernel " + kernel.symbol + ": " +
                         status.getMessage());
  return Status::ok();
}

} // namespace xfc::runtime
