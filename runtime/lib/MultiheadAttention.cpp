//===- MultiheadAttention.cpp - FairSeq-compatible attention module -------===//
//
// Projections through cuBLAS (dlopen'd, GemmEx with fp32 compute), bias adds
// and mask conversion through the kernels of xfc/mha_helpers.cuh (NVRTC and
// the kernel cache), the attention through an xfc::Compiler plan run on
// strided views of the projected [T, B, C] buffers.
//
//===----------------------------------------------------------------------===//

#include "xfc/runtime/MultiheadAttention.h"

#include "xfc/runtime/AttentionPlan.h"
#include "xfc/runtime/CachedCompile.h"
#include "xfc/runtime/Compiler.h"
#include "xfc/runtime/Cuda.h"
#include "xfc/runtime/KernelCache.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <dlfcn.h>
#include <mutex>

using namespace xfc;
using namespace xfc::runtime;

namespace {

//===----------------------------------------------------------------------===//
// cuBLAS, opened at run time
//===----------------------------------------------------------------------===//

/// The few cuBLAS entry points the projections need. Handles and streams are
/// void *; enums are the library's integer values.
struct Cublas {
  using CreateFn = int (*)(void **);
  using DestroyFn = int (*)(void *);
  using SetStreamFn = int (*)(void *, void *);
  using GemmExFn = int (*)(void *, int, int, int, int, int, const void *,
                           const void *, int, int, const void *, int, int,
                           const void *, void *, int, int, int, int);
  CreateFn create = nullptr;
  DestroyFn destroy = nullptr;
  SetStreamFn setStream = nullptr;
  GemmExFn gemmEx = nullptr;
};

// cublasOperation_t, cudaDataType_t, cublasComputeType_t, cublasGemmAlgo_t.
constexpr int kOpN = 0, kOpT = 1;
constexpr int kCudaR32F = 0, kCudaR16F = 2, kCudaR16BF = 14;
constexpr int kComputeF32 = 68;
constexpr int kGemmDefault = -1;

StatusOr<const Cublas *> getCublas() {
  static StatusOr<const Cublas *> result = []() -> StatusOr<const Cublas *> {
    std::vector<std::string> names;
    if (const char *env = std::getenv("XFC_CUBLAS_LIBRARY"); env && *env)
      names.push_back(env);
    names.push_back("libcublas.so.13");
    names.push_back("libcublas.so.12");
    void *handle = nullptr;
    std::string tried;
    for (const std::string &name : names) {
      handle = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (handle)
        break;
      tried += (tried.empty() ? "" : ", ") + name;
    }
    if (!handle)
      return Status::error(
          "no cuBLAS found (" + tried +
          "): MultiheadAttention's projections need it; add its directory "
          "(e.g. /usr/local/cuda/lib64) to LD_LIBRARY_PATH or name the "
          "library in XFC_CUBLAS_LIBRARY");
    static Cublas api;
    api.create =
        reinterpret_cast<Cublas::CreateFn>(dlsym(handle, "cublasCreate_v2"));
    api.destroy =
        reinterpret_cast<Cublas::DestroyFn>(dlsym(handle, "cublasDestroy_v2"));
    api.setStream = reinterpret_cast<Cublas::SetStreamFn>(
        dlsym(handle, "cublasSetStream_v2"));
    api.gemmEx =
        reinterpret_cast<Cublas::GemmExFn>(dlsym(handle, "cublasGemmEx"));
    if (!api.create || !api.destroy || !api.setStream || !api.gemmEx)
      return Status::error("cuBLAS (" + names.back() +
                           ") lacks cublasCreate_v2, cublasDestroy_v2, "
                           "cublasSetStream_v2 or cublasGemmEx");
    return &api;
  }();
  return result;
}

int getCudaDataType(DType dtype) {
  switch (dtype) {
  case DType::F16:
    return kCudaR16F;
  case DType::BF16:
    return kCudaR16BF;
  default:
    return kCudaR32F;
  }
}

//===----------------------------------------------------------------------===//
// Initialization
//===----------------------------------------------------------------------===//

/// SplitMix64: a small, portable, seeded stream of uniform doubles.
class SplitMix64 {
public:
  explicit SplitMix64(uint64_t seed) : state(seed) {}
  uint64_t next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  /// Uniform in [lo, hi).
  double uniform(double lo, double hi) {
    return lo + (hi - lo) * static_cast<double>(next() >> 11) * 0x1.0p-53;
  }
  /// Normal with mean 0 and standard deviation `std` (Box-Muller).
  double normal(double std) {
    double u1 = uniform(0x1.0p-53, 1.0), u2 = uniform(0.0, 1.0);
    return std * std::sqrt(-2.0 * std::log(u1)) *
           std::cos(6.283185307179586 * u2);
  }

private:
  uint64_t state;
};

/// One parameter, kept on the host in fp32.
struct Parameter {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> values;
};

std::string formatShape(const std::vector<int64_t> &shape) {
  std::string text = "[";
  for (std::size_t i = 0; i < shape.size(); ++i)
    text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

bool isEmptyView(const TensorView &view) {
  return view.data == nullptr && view.rank == 0;
}

constexpr const char *kProjections[4] = {"q_proj", "k_proj", "v_proj",
                                         "out_proj"};

} // namespace

//===----------------------------------------------------------------------===//
// The module
//===----------------------------------------------------------------------===//

struct MultiheadAttention::IncrementalState::Impl {
  /// [batch, heads, capacity, headDim] in the module's dtype.
  DeviceBuffer key, value;
  int64_t batch = 0, heads = 0, headDim = 0, length = 0, capacity = 0;
  DType dtype = DType::F32;
  const MultiheadAttention *owner = nullptr;

  /// The cached [B, H, length, D] of `buffer`.
  TensorView view(const DeviceBuffer &buffer) const {
    return TensorView(
        buffer.data(), dtype, {batch, heads, length, headDim},
        {heads * capacity * headDim, capacity * headDim, headDim, 1});
  }
};

MultiheadAttention::IncrementalState::IncrementalState()
    : impl(std::make_unique<Impl>()) {}
MultiheadAttention::IncrementalState::~IncrementalState() = default;
MultiheadAttention::IncrementalState::IncrementalState(
    IncrementalState &&) noexcept = default;
MultiheadAttention::IncrementalState &
MultiheadAttention::IncrementalState::operator=(IncrementalState &&) noexcept =
    default;
int64_t MultiheadAttention::IncrementalState::getLength() const {
  return impl ? impl->length : 0;
}
int64_t MultiheadAttention::IncrementalState::getBatch() const {
  return impl && impl->length > 0 ? impl->batch : 0;
}
TensorView MultiheadAttention::IncrementalState::getPrevKey() const {
  return impl && impl->length > 0 ? impl->view(impl->key) : TensorView();
}
TensorView MultiheadAttention::IncrementalState::getPrevValue() const {
  return impl && impl->length > 0 ? impl->view(impl->value) : TensorView();
}
void MultiheadAttention::IncrementalState::reset() {
  if (!impl)
    impl = std::make_unique<Impl>();
  impl->length = 0;
  impl->owner = nullptr;
}

struct MultiheadAttention::Impl {
  Options options;
  int64_t kdim = 0, vdim = 0, headDim = 0;
  float scaling = 1;
  std::string configText;
  /// The config's "name" (after the rewriting); need_weights and
  /// incremental decoding know the structure of scaled_dot_product (causal)
  /// and blocksparse (causal, layout) only.
  std::string variantName;
  /// Weights then biases per projection, in kProjections order: [2 * p] is
  /// the weight of projection p, [2 * p + 1] its bias (empty without bias);
  /// then bias_k, bias_v ([1, 1, embed_dim]; empty without add_bias_kv).
  std::vector<Parameter> parameters;

  std::mutex mutex;
  Compiler compiler;
  /// Plans by (attn_mask ? 1 : 0) | (key_padding_mask ? 2 : 0) |
  /// (training dropout ? 4 : 0).
  std::shared_ptr<AttentionPlan> plans[8];
  /// Forwards that drew random numbers so far (training dropout, or a random
  /// pattern redrawn per call): the offset of the next one, so that a
  /// module's masks are reproducible from its seed and differ between calls.
  uint64_t dropoutCalls = 0;
  /// The block layout bits of plans[i] on the device (for the weights).
  DeviceBuffer layoutBits[4];
  /// Dense plans with an attn_mask for incremental steps, by key padding.
  std::shared_ptr<AttentionPlan> incrementalPlans[2];
  DeviceBuffer stepMaskBuffer;

  // Device state, made on the first forward().
  bool weightsDirty = true;
  DeviceBuffer weights[4], biases[4], biasKv[2], paddingBuffer;
  /// The variant's own parameters: parameters[variantParameterBegin + i] is
  /// the plan's parameter variantParameterNames[i] (fp32 on the device).
  std::size_t variantParameterBegin = 0;
  std::vector<std::string> variantParameterNames;
  std::vector<DeviceBuffer> variantParameterBuffers;
  DeviceBuffer qBuffer, kBuffer, vBuffer, attnBuffer, maskBuffer, weightsBuffer;
  void *cublasHandle = nullptr;
  CudaModule helpers;
  void *addBiasFunction = nullptr;
  void *maskFromBytesFunction = nullptr;
  void *maskFromF16Function = nullptr;
  void *maskFromBF16Function = nullptr;
  void *weightsFunction = nullptr;
  void *maskFromF32Function = nullptr;
  void *padKeyPaddingFunction = nullptr;
  void *fillRowsFunction = nullptr;
  void *incrementalMaskFunction = nullptr;
  void *copyFunction = nullptr;
  void *averageHeadsFunction = nullptr;

  ~Impl() {
    if (cublasHandle) {
      StatusOr<const Cublas *> cublas = getCublas();
      if (cublas)
        (*cublas)->destroy(cublasHandle);
    }
  }

  Parameter *findParameter(const std::string &name);
  StatusOr<std::shared_ptr<AttentionPlan>>
  getPlan(bool attnMask, bool keyPadding, bool dropout = false);
  /// The module's head dim, heads and dtype with the given mask inputs.
  /// compositional attention owns its projections (xFormers'
  /// requires_skip_multi_head): the module hands it the raw query, key and
  /// value and returns its output; q/k/v/out_proj are not used.
  /// pooling and visual skip the multi-head machinery the same way
  /// (requires_skip_multi_head, requires_input_projection=False).
  bool ownsProjections() const {
    return variantName == "compositional" || variantName == "pooling" ||
           variantName == "visual";
  }

  Specialization getSpecialization(bool attnMask, bool keyPadding) const {
    Specialization specialization;
    specialization.headDim = ownsProjections() ? options.embedDim : headDim;
    // These variants see one [batch, 1, seq, embed_dim] tensor; their own
    // config says how many heads or searches they use.
    if (!ownsProjections())
      specialization.numHeads = options.numHeads;
    specialization.dtype = getDTypeName(options.dtype);
    specialization.attnMask = attnMask;
    specialization.keyPadding = keyPadding;
    return specialization;
  }
  Status prepareDevice(const CudaDriver &driver, int device);
  Status uploadWeights();
  Status launchElementwise(const CudaDriver &driver, void *function,
                           int64_t count, void *stream, void **args);
  Status linear(const CudaDriver &driver, const void *input, int64_t rows,
                int projection, void *output, void *stream);
  Status attentionWeights(const CudaDriver &driver, int planIndex,
                          const AttentionPlan &plan, const ForwardArgs &args,
                          const AttentionArgs &attention, int64_t tgtLen,
                          int64_t srcLen, int64_t batch, void *stream);
  Status describeStructure(int planIndex, const AttentionPlan &plan,
                           void *masks);
  Status appendToState(const CudaDriver &driver, IncrementalState::Impl &state,
                       const MultiheadAttention *owner, int64_t srcLen,
                       int64_t batch, bool staticKv, void *stream);
  Status runIncremental(const CudaDriver &driver, AttentionArgs &attention,
                        int64_t queryOffset, int64_t tgtLen, int64_t keyLen,
                        bool keyPadding, void *stream);
};

Parameter *MultiheadAttention::Impl::findParameter(const std::string &name) {
  for (Parameter &parameter : parameters)
    if (parameter.name == name)
      return &parameter;
  return nullptr;
}

namespace {

/// The config text after FairSeq's rewriting: with a blocksparse layout, the
/// variant becomes blocksparse with that layout and block size.
StatusOr<std::string> rewriteConfig(const MultiheadAttention::Options &o) {
  bool hasLayout = o.xformersBlocksparseLayout.has_value() ||
                   o.xformersBlocksparseLayoutPerHead.has_value();
  if (!hasLayout)
    return o.xformersAttConfig;
  nlohmann::json config =
      nlohmann::json::parse(o.xformersAttConfig, nullptr, false);
  // Malformed text goes to the compiler as is, for its line:column message.
  if (config.is_discarded() || !config.is_object())
    return o.xformersAttConfig;
  // FairSeq hands the whole dict to xFormers, which ignores what the
  // blocksparse attention does not take; xfc rejects unknown keys, so only
  // blocksparse's own fields are kept.
  nlohmann::json rewritten = nlohmann::json::object();
  for (const char *key : {"dropout", "causal", "num_heads"})
    if (config.contains(key))
      rewritten[key] = config[key];
  rewritten["name"] = "blocksparse";
  rewritten["block_size"] = o.xformersBlocksparseBlocksize;
  if (o.xformersBlocksparseLayout)
    rewritten["layout"] = *o.xformersBlocksparseLayout;
  else
    rewritten["layout"] = *o.xformersBlocksparseLayoutPerHead;
  return rewritten.dump(-1, ' ', false,
                        nlohmann::json::error_handler_t::replace);
}

Status checkOptions(const MultiheadAttention::Options &o) {
  if (o.embedDim <= 0)
    return Status::error("embed_dim: expected a positive integer, got " +
                         std::to_string(o.embedDim));
  if (o.numHeads <= 0)
    return Status::error("num_heads: expected a positive integer, got " +
                         std::to_string(o.numHeads));
  if (o.embedDim % o.numHeads != 0)
    return Status::error("embed_dim: must be divisible by num_heads (" +
                         std::to_string(o.embedDim) + " is not a multiple of " +
                         std::to_string(o.numHeads) + ")");
  if (o.kdim && *o.kdim <= 0)
    return Status::error("kdim: expected a positive integer, got " +
                         std::to_string(*o.kdim));
  if (o.vdim && *o.vdim <= 0)
    return Status::error("vdim: expected a positive integer, got " +
                         std::to_string(*o.vdim));
  int64_t kdim = o.kdim.value_or(o.embedDim);
  int64_t vdim = o.vdim.value_or(o.embedDim);
  if (o.selfAttention && (kdim != o.embedDim || vdim != o.embedDim))
    return Status::error("self_attention: requires query, key and value of "
                         "the same size (kdim == vdim == embed_dim = " +
                         std::to_string(o.embedDim) + "), got kdim " +
                         std::to_string(kdim) + ", vdim " +
                         std::to_string(vdim));
  if (!(o.dropout >= 0 && o.dropout < 1))
    return Status::error("dropout: expected a probability in [0, 1), got " +
                         std::to_string(o.dropout));

  if (o.dtype != DType::F16 && o.dtype != DType::BF16 && o.dtype != DType::F32)
    return Status::error(std::string("dtype: expected fp16, bf16 or fp32, "
                                     "got ") +
                         getDTypeName(o.dtype));
  if (o.xformersBlocksparseLayout && o.xformersBlocksparseLayoutPerHead)
    return Status::error("xformers_blocksparse_layout: give one layout, "
                         "[nb][nb] or [H][nb][nb], not both");
  if (o.xformersBlocksparseBlocksize <= 0)
    return Status::error("xformers_blocksparse_blocksize: expected a "
                         "positive integer (16, 32, 64 or 128), got " +
                         std::to_string(o.xformersBlocksparseBlocksize));
  return Status::ok();
}

} // namespace

StatusOr<std::unique_ptr<MultiheadAttention>>
MultiheadAttention::create(const Options &options) {
  if (Status status = checkOptions(options); !status)
    return status;
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->kdim = options.kdim.value_or(options.embedDim);
  impl->vdim = options.vdim.value_or(options.embedDim);
  impl->headDim = options.embedDim / options.numHeads;
  impl->scaling = static_cast<float>(1.0 / std::sqrt(double(impl->headDim)));
  StatusOr<std::string> config = rewriteConfig(options);
  if (!config)
    return config.getStatus();
  impl->configText = *config;
  nlohmann::json parsed = nlohmann::json::parse(*config, nullptr, false);
  if (!parsed.is_discarded() && parsed.is_object() && parsed.contains("name") &&
      parsed["name"].is_string())
    impl->variantName = parsed["name"].get<std::string>();

  // FairSeq's reset_parameters(): xavier_uniform_ with gain 1/sqrt(2) on
  // q/k/v when kdim == vdim == embed_dim (else 1), gain 1 on out_proj, whose
  // bias is zeroed; the q/k/v biases keep nn.Linear's uniform(+-1/sqrt(in)).
  bool qkvSameDim =
      impl->kdim == options.embedDim && impl->vdim == options.embedDim;
  int64_t inputs[4] = {options.embedDim, impl->kdim, impl->vdim,
                       options.embedDim};
  SplitMix64 random(options.seed);
  for (int p = 0; p < 4; ++p) {
    int64_t in = inputs[p], out = options.embedDim;
    double gain = (p < 3 && qkvSameDim) ? 1.0 / std::sqrt(2.0) : 1.0;
    double bound = gain * std::sqrt(6.0 / double(in + out));
    Parameter weight{std::string(kProjections[p]) + ".weight", {out, in}, {}};
    weight.values.resize(out * in);
    for (float &value : weight.values)
      value = static_cast<float>(random.uniform(-bound, bound));
    impl->parameters.push_back(std::move(weight));
    Parameter bias{std::string(kProjections[p]) + ".bias", {out}, {}};
    if (options.bias) {
      bias.values.assign(out, 0.0f);
      if (p < 3) {
        double biasBound = 1.0 / std::sqrt(double(in));
        for (float &value : bias.values)
          value = static_cast<float>(random.uniform(-biasBound, biasBound));
      }
    }
    impl->parameters.push_back(std::move(bias));
  }

  // FairSeq's bias_k / bias_v: xavier_normal_ on [1, 1, embed_dim]
  // (fan_in = fan_out = embed_dim, so std = 1 / sqrt(embed_dim)).
  for (const char *name : {"bias_k", "bias_v"}) {
    Parameter parameter{name, {1, 1, options.embedDim}, {}};
    if (options.addBiasKv) {
      parameter.values.resize(options.embedDim);
      double std = 1.0 / std::sqrt(double(options.embedDim));
      for (float &value : parameter.values)
        value = static_cast<float>(random.normal(std));
    }
    impl->parameters.push_back(std::move(parameter));
  }

  // The plan without masks now, so that a bad config is reported here.
  auto plan = impl->getPlan(false, false);
  if (!plan)
    return plan.getStatus();
  // A graph variant's learned parameters (linformer's E and F, ...) belong
  // to the module, as in FairSeq (the attention is its submodule
  // "attention"): weights "attention.<name>", initialised as the plan
  // initialises them, passed to every plan run.
  impl->variantParameterBegin = impl->parameters.size();
  for (const ManifestParameter &parameter : (*plan)->getParameters()) {
    StatusOr<std::vector<float>> values = (*plan)->getParameter(parameter.name);
    if (!values)
      return values.getStatus();
    impl->parameters.push_back(Parameter{"attention." + parameter.name,
                                         {parameter.rows, parameter.cols},
                                         std::move(*values)});
    impl->variantParameterNames.push_back(parameter.name);
  }
  impl->variantParameterBuffers.resize(impl->variantParameterNames.size());
  return std::unique_ptr<MultiheadAttention>(
      new MultiheadAttention(std::move(impl)));
}

MultiheadAttention::MultiheadAttention(std::unique_ptr<Impl> impl)
    : impl(std::move(impl)) {}
MultiheadAttention::~MultiheadAttention() = default;

const MultiheadAttention::Options &MultiheadAttention::getOptions() const {
  return impl->options;
}
int64_t MultiheadAttention::getHeadDim() const { return impl->headDim; }
float MultiheadAttention::getScaling() const { return impl->scaling; }
const std::string &MultiheadAttention::getAttentionConfig() const {
  return impl->configText;
}

StatusOr<std::shared_ptr<AttentionPlan>>
MultiheadAttention::Impl::getPlan(bool attnMask, bool keyPadding,
                                  bool dropout) {
  std::shared_ptr<AttentionPlan> &slot =
      plans[(attnMask ? 1 : 0) | (keyPadding ? 2 : 0) | (dropout ? 4 : 0)];
  if (slot)
    return slot;
  std::string text = configText;
  if (dropout) {
    // The module's dropout goes into the config, as FairSeq passes it to
    // xFormers; a variant without dropout says so through the compiler.
    nlohmann::json config = nlohmann::json::parse(text, nullptr, false);
    if (config.is_discarded() || !config.is_object())
      return Status::error("dropout: the attention config is not a JSON "
                           "object");
    config["dropout"] = options.dropout;
    text =
        config.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  auto plan = compiler.compile(text, getSpecialization(attnMask, keyPadding),
                               "xformers_att_config");
  if (!plan)
    return plan.getStatus();
  slot = *plan;
  return slot;
}

//===----------------------------------------------------------------------===//
// Weights
//===----------------------------------------------------------------------===//

std::vector<std::string> MultiheadAttention::getWeightNames() const {
  std::vector<std::string> names;
  for (const Parameter &parameter : impl->parameters)
    if (!parameter.values.empty())
      names.push_back(parameter.name);
  return names;
}

namespace {

Status unknownWeight(const std::string &name,
                     const std::vector<std::string> &names) {
  std::string list;
  for (const std::string &known : names)
    list += (list.empty() ? "" : ", ") + known;
  if (name == "bias_k" || name == "bias_v")
    return Status::error(
        name + ": the module has no bias_k/bias_v (add_bias_kv=false)");
  if (name.size() > 5 && name.compare(name.size() - 5, 5, ".bias") == 0)
    for (const char *projection : kProjections)
      if (name == std::string(projection) + ".bias")
        return Status::error(name + ": the module has no biases (bias=false)");
  return Status::error(name + ": unknown weight; expected one of " + list);
}

} // namespace

StatusOr<std::vector<int64_t>>
MultiheadAttention::getWeightShape(const std::string &name) const {
  Parameter *parameter = impl->findParameter(name);
  if (!parameter || parameter->values.empty())
    return unknownWeight(name, getWeightNames());
  return parameter->shape;
}

Status MultiheadAttention::setWeight(const std::string &name, const float *data,
                                     std::size_t count) {
  Parameter *parameter = impl->findParameter(name);
  if (!parameter || parameter->values.empty())
    return unknownWeight(name, getWeightNames());
  if (count != parameter->values.size())
    return Status::error(name + ": expected " +
                         std::to_string(parameter->values.size()) +
                         " values (shape " + formatShape(parameter->shape) +
                         "), got " + std::to_string(count));
  if (!data)
    return Status::error(name + ": the data pointer is null");
  std::lock_guard<std::mutex> lock(impl->mutex);
  std::copy(data, data + count, parameter->values.begin());
  impl->weightsDirty = true;
  return Status::ok();
}

StatusOr<std::vector<float>>
MultiheadAttention::getWeight(const std::string &name) const {
  Parameter *parameter = impl->findParameter(name);
  if (!parameter || parameter->values.empty())
    return unknownWeight(name, getWeightNames());
  std::lock_guard<std::mutex> lock(impl->mutex);
  return parameter->values;
}

//===----------------------------------------------------------------------===//
// Device work
//===----------------------------------------------------------------------===//

Status MultiheadAttention::Impl::prepareDevice(const CudaDriver &driver,
                                               int device) {
  if (!cublasHandle) {
    StatusOr<const Cublas *> cublas = getCublas();
    if (!cublas)
      return cublas.getStatus();
    void *handle = nullptr;
    if (int rc = (*cublas)->create(&handle); rc != 0)
      return Status::error("cublasCreate failed: status " + std::to_string(rc));
    cublasHandle = handle;
  }
  if (!addBiasFunction) {
    StatusOr<std::string> arch = driver.getDeviceArch(device);
    if (!arch)
      return arch.getStatus();
    NvrtcOptions nvrtcOptions;
    nvrtcOptions.arch = *arch;
    auto cubin = compileCubinCached("#include \"xfc/mha_helpers.cuh\"\n",
                                    "mha_helpers.cu", nvrtcOptions,
                                    &KernelCache::getGlobal());
    if (!cubin)
      return cubin.getStatus();
    StatusOr<CudaModule> module =
        CudaModule::load(driver, **cubin, "mha_helpers");
    if (!module)
      return module.getStatus();
    helpers = std::move(*module);
    const char *addBias = options.dtype == DType::F16 ? "xfc_mha_add_bias_fp16"
                          : options.dtype == DType::BF16
                              ? "xfc_mha_add_bias_bf16"
                              : "xfc_mha_add_bias_fp32";
    const char *weights = options.dtype == DType::F16 ? "xfc_mha_weights_fp16"
                          : options.dtype == DType::BF16
                              ? "xfc_mha_weights_bf16"
                              : "xfc_mha_weights_fp32";
    const char *fillRows =
        options.dtype == DType::F16    ? "xfc_mha_fill_rows_fp16"
        : options.dtype == DType::BF16 ? "xfc_mha_fill_rows_bf16"
                                       : "xfc_mha_fill_rows_fp32";
    void **slots[11] = {
        &addBiasFunction,         &maskFromBytesFunction, &maskFromF16Function,
        &maskFromBF16Function,    &weightsFunction,       &averageHeadsFunction,
        &maskFromF32Function,     &padKeyPaddingFunction, &fillRowsFunction,
        &incrementalMaskFunction, &copyFunction};
    const char *symbols[11] = {addBias,
                               "xfc_mha_mask_from_bytes",
                               "xfc_mha_mask_from_fp16",
                               "xfc_mha_mask_from_bf16",
                               weights,
                               "xfc_mha_average_heads",
                               "xfc_mha_mask_from_fp32",
                               "xfc_mha_pad_key_padding",
                               fillRows,
                               "xfc_mha_incremental_mask",
                               options.dtype == DType::F32 ? "xfc_mha_copy_32"
                                                           : "xfc_mha_copy_16"};
    for (int i = 10; i >= 0; --i) {
      StatusOr<void *> function = helpers.getFunction(symbols[i]);
      if (!function)
        return function.getStatus();
      *slots[i] = *function;
    }
  }
  return Status::ok();
}

Status MultiheadAttention::Impl::uploadWeights() {
  std::size_t elementSize = getDTypeSize(options.dtype);
  for (int p = 0; p < 4; ++p) {
    const Parameter &weight = parameters[2 * p];
    std::size_t bytes = weight.values.size() * elementSize;
    if (!weights[p].data()) {
      StatusOr<DeviceBuffer> buffer = DeviceBuffer::allocate(bytes);
      if (!buffer)
        return buffer.getStatus();
      weights[p] = std::move(*buffer);
    }
    Status status = Status::ok();
    if (options.dtype == DType::F32) {
      status = weights[p].upload(weight.values.data(), bytes);
    } else {
      std::vector<uint16_t> converted(weight.values.size());
      for (std::size_t i = 0; i < converted.size(); ++i)
        converted[i] = options.dtype == DType::F16
                           ? floatToF16(weight.values[i])
                           : floatToBF16(weight.values[i]);
      status = weights[p].upload(converted.data(), bytes);
    }
    if (!status)
      return status;
    const Parameter &bias = parameters[2 * p + 1];
    if (bias.values.empty())
      continue;
    if (!biases[p].data()) {
      StatusOr<DeviceBuffer> buffer =
          DeviceBuffer::allocate(bias.values.size() * sizeof(float));
      if (!buffer)
        return buffer.getStatus();
      biases[p] = std::move(*buffer);
    }
    if (Status upload = biases[p].upload(bias.values.data(),
                                         bias.values.size() * sizeof(float));
        !upload)
      return upload;
  }
  for (int i = 0; i < 2; ++i) {
    const Parameter &parameter = parameters[8 + i];
    if (parameter.values.empty())
      continue;
    std::size_t bytes = parameter.values.size() * sizeof(float);
    if (!biasKv[i].data()) {
      StatusOr<DeviceBuffer> buffer = DeviceBuffer::allocate(bytes);
      if (!buffer)
        return buffer.getStatus();
      biasKv[i] = std::move(*buffer);
    }
    if (Status upload = biasKv[i].upload(parameter.values.data(), bytes);
        !upload)
      return upload;
  }
  for (std::size_t i = 0; i < variantParameterBuffers.size(); ++i) {
    const Parameter &parameter = parameters[variantParameterBegin + i];
    std::size_t bytes = parameter.values.size() * sizeof(float);
    DeviceBuffer &buffer = variantParameterBuffers[i];
    if (!buffer.data()) {
      StatusOr<DeviceBuffer> allocated = DeviceBuffer::allocate(bytes);
      if (!allocated)
        return allocated.getStatus();
      buffer = std::move(*allocated);
    }
    if (Status upload = buffer.upload(parameter.values.data(), bytes); !upload)
      return upload;
  }
  weightsDirty = false;
  return Status::ok();
}

Status MultiheadAttention::Impl::launchElementwise(const CudaDriver &driver,
                                                   void *function,
                                                   int64_t count, void *stream,
                                                   void **args) {
  if (count == 0)
    return Status::ok();
  int64_t blocks = std::min<int64_t>((count + 255) / 256, 4096);
  Dim3 grid{static_cast<unsigned>(blocks), 1, 1};
  Dim3 block{256, 1, 1};
  return driver.launch(function, grid, block, 0, stream, args);
}

Status MultiheadAttention::Impl::linear(const CudaDriver &driver,
                                        const void *input, int64_t rows,
                                        int projection, void *output,
                                        void *stream) {
  const Parameter &weight = parameters[2 * projection];
  int64_t out = weight.shape[0], in = weight.shape[1];
  if (rows > INT_MAX)
    return Status::error(std::string(kProjections[projection]) +
                         ": too many rows for one GEMM (" +
                         std::to_string(rows) + ")");
  const Cublas *cublas = *getCublas();
  if (int rc = cublas->setStream(cublasHandle, stream); rc != 0)
    return Status::error("cublasSetStream failed: status " +
                         std::to_string(rc));
  // Row-major y[rows, out] = x[rows, in] W[out, in]^T is, column-major,
  // y^T = W^T-as-stored(transposed) * x^T.
  float alpha = 1, beta = 0;
  int type = getCudaDataType(options.dtype);
  int rc = cublas->gemmEx(
      cublasHandle, kOpT, kOpN, static_cast<int>(out), static_cast<int>(rows),
      static_cast<int>(in), &alpha, weights[projection].data(), type,
      static_cast<int>(in), input, type, static_cast<int>(in), &beta, output,
      type, static_cast<int>(out), kComputeF32, kGemmDefault);
  if (rc != 0)
    return Status::error(std::string(kProjections[projection]) +
                         ": cublasGemmEx failed: status " + std::to_string(rc));
  if (parameters[2 * projection + 1].values.empty())
    return Status::ok();
  void *x = output;
  const void *bias = biases[projection].data();
  long long rowCount = rows, colCount = out;
  void *args[] = {&x, &bias, &rowCount, &colCount};
  return launchElementwise(driver, addBiasFunction, rows * out, stream, args);
}

namespace {

/// The host twin of xfc::mha::WeightMasks (mha_helpers.cuh), field by field.
struct WeightMasks {
  const float *attnMask = nullptr;
  const unsigned char *keyPadding = nullptr;
  long long paddingStrideB = 0, paddingStrideS = 0;
  const unsigned char *layout = nullptr;
  int layoutBlock = 1, numBlocks = 0, layoutHeads = 1;
  int causal = 0;
  long long causalOffset = 0;
};

/// The host twin of xfc::mha::Copy4.
struct Copy4 {
  long long shape[4], srcStrides[4], dstStrides[4];
};

Status ensureSize(DeviceBuffer &buffer, std::size_t bytes);

} // namespace

Status MultiheadAttention::Impl::describeStructure(int planIndex,
                                                   const AttentionPlan &plan,
                                                   void *out) {
  WeightMasks &masks = *static_cast<WeightMasks *>(out);
  masks.causal = plan.getTraits().causal ? 1 : 0;
  if (const std::optional<BlockLayout> &layout = plan.getKernel().layout) {
    DeviceBuffer &bits = layoutBits[planIndex];
    if (!bits.data()) {
      StatusOr<DeviceBuffer> buffer = DeviceBuffer::allocate(
          std::max<std::size_t>(layout->blockBits.size(), 1));
      if (!buffer)
        return buffer.getStatus();
      if (Status status = buffer->upload(layout->blockBits.data(),
                                         layout->blockBits.size());
          !status)
        return status;
      bits = std::move(*buffer);
    }
    masks.layout = static_cast<const unsigned char *>(bits.data());
    masks.layoutBlock = layout->layoutBlock;
    masks.numBlocks = layout->numBlocks;
    masks.layoutHeads = layout->layoutHeads;
  }
  return Status::ok();
}

Status MultiheadAttention::Impl::appendToState(const CudaDriver &driver,
                                               IncrementalState::Impl &state,
                                               const MultiheadAttention *owner,
                                               int64_t srcLen, int64_t batch,
                                               bool staticKv, void *stream) {
  if (srcLen == 0) // static_kv reusing the stored key/value
    return Status::ok();
  int64_t heads = options.numHeads, dim = headDim;
  std::size_t elementSize = getDTypeSize(options.dtype);
  int64_t old = staticKv || state.owner != owner ? 0 : state.length;
  int64_t length = old + srcLen;
  bool sameShape = state.batch == batch && state.heads == heads &&
                   state.headDim == dim && state.dtype == options.dtype;
  if (!sameShape || state.capacity < length || !state.key.data()) {
    int64_t capacity = std::max<int64_t>(length, 16);
    if (sameShape)
      capacity = std::max(capacity, 2 * state.capacity);
    std::size_t bytes = batch * heads * capacity * dim * elementSize;
    IncrementalState::Impl grown;
    for (DeviceBuffer *buffer : {&grown.key, &grown.value}) {
      StatusOr<DeviceBuffer> allocated =
          DeviceBuffer::allocate(std::max<std::size_t>(bytes, 256));
      if (!allocated)
        return allocated.getStatus();
      *buffer = std::move(*allocated);
    }
    if (old > 0) {
      // Keep the cached steps: [B, H, old, D] into the new capacity.
      for (int kv = 0; kv < 2; ++kv) {
        const void *src = kv ? state.value.data() : state.key.data();
        void *dst = kv ? grown.value.data() : grown.key.data();
        Copy4 copy = {
            {batch, heads, old, dim},
            {heads * state.capacity * dim, state.capacity * dim, dim, 1},
            {heads * capacity * dim, capacity * dim, dim, 1}};
        void *kernelArgs[] = {&src, &dst, &copy};
        if (Status status = launchElementwise(driver, copyFunction,
                                              batch * heads * old * dim, stream,
                                              kernelArgs);
            !status)
          return status;
      }
      // The old buffers are freed below while the copy may still run.
      if (Status status = driver.synchronize(stream); !status)
        return status;
    }
    state.key = std::move(grown.key);
    state.value = std::move(grown.value);
    state.capacity = capacity;
  }
  state.batch = batch;
  state.heads = heads;
  state.headDim = dim;
  state.dtype = options.dtype;
  state.owner = owner;
  // The step's [S, B, H, D] projections after the cached positions.
  int64_t cap = state.capacity;
  for (int kv = 0; kv < 2; ++kv) {
    const void *src = kv ? vBuffer.data() : kBuffer.data();
    void *dst =
        static_cast<char *>(kv ? state.value.data() : state.key.data()) +
        old * dim * elementSize;
    Copy4 copy = {{batch, heads, srcLen, dim},
                  {heads * dim, dim, batch * heads * dim, 1},
                  {heads * cap * dim, cap * dim, dim, 1}};
    void *kernelArgs[] = {&src, &dst, &copy};
    if (Status status =
            launchElementwise(driver, copyFunction,
                              batch * heads * srcLen * dim, stream, kernelArgs);
        !status)
      return status;
  }
  state.length = length;
  return Status::ok();
}

Status MultiheadAttention::Impl::runIncremental(const CudaDriver &driver,
                                                AttentionArgs &attention,
                                                int64_t queryOffset,
                                                int64_t tgtLen, int64_t keyLen,
                                                bool keyPadding, void *stream) {
  std::shared_ptr<AttentionPlan> &plan = incrementalPlans[keyPadding ? 1 : 0];
  if (!plan) {
    auto compiled = compiler.compile(R"({"name": "scaled_dot_product"})",
                                     getSpecialization(true, keyPadding),
                                     "xformers_att_config");
    if (!compiled)
      return compiled.getStatus();
    plan = *compiled;
  }
  // The config's structure (from the mask-free plan) as an additive mask.
  auto structure = getPlan(false, false);
  if (!structure)
    return structure.getStatus();
  WeightMasks masks;
  if (Status status = describeStructure(0, **structure, &masks); !status)
    return status;
  if (attention.attnMask)
    masks.attnMask = static_cast<const float *>(attention.attnMask->data);
  masks.causalOffset = queryOffset;
  int heads = masks.layout && masks.layoutHeads > 1
                  ? static_cast<int>(options.numHeads)
                  : 1;
  int64_t count = heads * tgtLen * keyLen;
  if (Status status = ensureSize(stepMaskBuffer, count * sizeof(float));
      !status)
    return status;
  float *out = static_cast<float *>(stepMaskBuffer.data());
  long long rows = tgtLen, cols = keyLen;
  void *kernelArgs[] = {&out, &rows, &cols, &heads, &masks};
  if (Status status = launchElementwise(driver, incrementalMaskFunction, count,
                                        stream, kernelArgs);
      !status)
    return status;
  attention.attnMask =
      TensorView(stepMaskBuffer.data(), DType::F32, {1, heads, tgtLen, keyLen});
  return plan->run(attention, stream);
}

Status MultiheadAttention::Impl::attentionWeights(
    const CudaDriver &driver, int planIndex, const AttentionPlan &plan,
    const ForwardArgs &args, const AttentionArgs &attention, int64_t tgtLen,
    int64_t srcLen, int64_t batch, void *stream) {
  WeightMasks masks;
  if (attention.attnMask)
    masks.attnMask = static_cast<const float *>(attention.attnMask->data);
  if (attention.keyPadding) {
    masks.keyPadding =
        static_cast<const unsigned char *>(attention.keyPadding->data);
    masks.paddingStrideB = attention.keyPadding->strides[0];
    masks.paddingStrideS = attention.keyPadding->strides[1];
  }
  if (Status status = describeStructure(planIndex, plan, &masks); !status)
    return status;
  int64_t heads = options.numHeads;
  float *perHead = static_cast<float *>(args.attnWeights->data);
  if (!args.needHeadWeights) {
    std::size_t bytes = heads * batch * tgtLen * srcLen * sizeof(float);
    if (weightsBuffer.size() < bytes || !weightsBuffer.data()) {
      StatusOr<DeviceBuffer> grown =
          DeviceBuffer::allocate(std::max<std::size_t>(bytes, 256));
      if (!grown)
        return grown.getStatus();
      weightsBuffer = std::move(*grown);
    }
    perHead = static_cast<float *>(weightsBuffer.data());
  }
  const void *q = qBuffer.data(), *k = kBuffer.data();
  long long tLen = tgtLen, sLen = srcLen;
  int b = static_cast<int>(batch), h = static_cast<int>(heads),
      d = static_cast<int>(headDim);
  float scale = scaling;
  void *kernelArgs[] = {&q, &k, &perHead, &tLen,  &sLen,
                        &b, &h, &d,       &scale, &masks};
  Dim3 grid{static_cast<unsigned>(tgtLen), static_cast<unsigned>(heads),
            static_cast<unsigned>(batch)};
  Dim3 block{128, 1, 1};
  if (Status status =
          driver.launch(weightsFunction, grid, block, 0, stream, kernelArgs);
      !status)
    return status;
  if (args.needHeadWeights)
    return Status::ok();
  const float *in = perHead;
  void *out = args.attnWeights->data;
  long long count = batch * tgtLen * srcLen;
  int headCount = h;
  void *averageArgs[] = {&in, &out, &count, &headCount};
  return launchElementwise(driver, averageHeadsFunction, count, stream,
                           averageArgs);
}

namespace {

/// Grows `buffer` to at least `bytes`.
Status ensureSize(DeviceBuffer &buffer, std::size_t bytes) {
  if (buffer.size() >= bytes && buffer.data())
    return Status::ok();
  StatusOr<DeviceBuffer> grown =
      DeviceBuffer::allocate(std::max<std::size_t>(bytes, 256));
  if (!grown)
    return grown.getStatus();
  buffer = std::move(*grown);
  return Status::ok();
}

Status checkSequenceFirst(const TensorView &view, const std::string &name,
                          DType dtype, const std::string &dimNames,
                          int64_t features, const std::string &featureName) {
  if (Status status = checkWellFormed(view, name); !status)
    return status;
  if (Status status = checkRank(view, name, 3, dimNames); !status)
    return status;
  if (Status status = checkDType(view, name, dtype); !status)
    return status;
  if (Status status = checkDim(view, name, 2, featureName, features); !status)
    return status;
  if (!view.isContiguous())
    return Status::error(name + ": expected a contiguous " + dimNames +
                         " tensor, got strides [" +
                         std::to_string(view.strides[0]) + ", " +
                         std::to_string(view.strides[1]) + ", " +
                         std::to_string(view.strides[2]) + "]");
  return Status::ok();
}

} // namespace

Status MultiheadAttention::forward(const ForwardArgs &args, void *stream) {
  Impl &m = *impl;
  const Options &o = m.options;
  IncrementalState::Impl *state =
      args.incrementalState ? args.incrementalState->impl.get() : nullptr;
  if (args.staticKv && !state)
    return Status::error("static_kv: needs incremental_state (where the "
                         "key/value to reuse are kept)");
  if (state) {
    if (o.addBiasKv || o.addZeroAttn)
      return Status::error(
          std::string(o.addBiasKv ? "add_bias_kv" : "add_zero_attn") +
          ": not supported with incremental_state yet");
    if (args.needWeights || args.needHeadWeights)
      return Status::error(std::string(args.needHeadWeights
                                           ? "need_head_weights"
                                           : "need_weights") +
                           ": not supported with incremental_state yet");
    if (state->length > 0 && state->owner != this)
      return Status::error("incremental_state: holds another module's keys "
                           "and values (one state per module; reset() it "
                           "first)");
  }
  bool knownStructure =
      m.variantName == "scaled_dot_product" || m.variantName == "blocksparse";
  if (!knownStructure && (args.needWeights || args.needHeadWeights || state))
    return Status::error(
        std::string(state                  ? "incremental_state"
                    : args.needHeadWeights ? "need_head_weights"
                                           : "need_weights") +
        ": not supported yet for the \"" + m.variantName +
        "\" attention (only scaled_dot_product and blocksparse)");
  // static_kv with a filled state: the stored key/value are reused and the
  // call's key/value ignored, as FairSeq does.
  bool reuseKv = state && args.staticKv && state->length > 0;
  bool dropoutActive = args.training && o.dropout > 0;
  if (dropoutActive && state)
    return Status::error("dropout: training-time dropout with "
                         "incremental_state is not supported (use training "
                         "= false when decoding)");

  // Shapes and dtypes.
  const TensorView &query = args.query;
  if (Status status = checkSequenceFirst(query, "query", o.dtype,
                                         "[tgt_len, batch, embed_dim]",
                                         o.embedDim, "embed_dim");
      !status)
    return status;
  int64_t tgtLen = query.shape[0], batch = query.shape[1];
  TensorView key = args.key, value = args.value;
  int64_t srcLen = 0;
  if (reuseKv && state->batch != batch)
    return Status::error("incremental_state: holds batch " +
                         std::to_string(state->batch) + ", got batch " +
                         std::to_string(batch) +
                         " (reset() it for a new batch)");
  if (!reuseKv) {
    if (isEmptyView(key)) {
      if (!o.selfAttention)
        return Status::error("key: required unless the module is "
                             "self_attention (expected [src_len, batch, "
                             "kdim])");
      key = query;
    }
    if (isEmptyView(value)) {
      if (o.selfAttention && isEmptyView(args.key))
        value = query;
      else if (o.encoderDecoderAttention || o.selfAttention)
        value = key;
      else
        return Status::error("value: required unless the module is "
                             "self_attention or encoder_decoder_attention "
                             "(expected [src_len, batch, vdim])");
    }
    if (Status status = checkSequenceFirst(
            key, "key", o.dtype, "[src_len, batch, kdim]", m.kdim, "kdim");
        !status)
      return status;
    if (Status status = checkDim(key, "key", 1, "batch", batch); !status)
      return status;
    srcLen = key.shape[0];
    if (Status status = checkSequenceFirst(
            value, "value", o.dtype, "[src_len, batch, vdim]", m.vdim, "vdim");
        !status)
      return status;
    if (Status status = checkShape(value, "value", {srcLen, batch, m.vdim});
        !status)
      return status;
  }
  // The keys the attention sees: with incremental_state the whole cache
  // after this step (the masks cover it), else src_len plus add_bias_kv /
  // add_zero_attn's positions.
  int64_t cached = state && !args.staticKv ? state->length : 0;
  if (cached > 0 && state->batch != batch)
    return Status::error("incremental_state: holds batch " +
                         std::to_string(state->batch) + ", got batch " +
                         std::to_string(batch) +
                         " (reset() it for a new batch)");
  int64_t maskLen = reuseKv ? state->length : cached + srcLen;
  if (Status status = checkSequenceFirst(args.output, "output", o.dtype,
                                         "[tgt_len, batch, embed_dim]",
                                         o.embedDim, "embed_dim");
      !status)
    return status;
  if (Status status =
          checkShape(args.output, "output", {tgtLen, batch, o.embedDim});
      !status)
    return status;
  if (args.keyPaddingMask) {
    const TensorView &mask = *args.keyPaddingMask;
    if (Status status = checkWellFormed(mask, "key_padding_mask"); !status)
      return status;
    if (mask.dtype != DType::U8 && mask.dtype != DType::Bool)
      return Status::error(
          std::string("key_padding_mask: expected dtype u8 or bool, got ") +
          getDTypeName(mask.dtype));
    if (Status status = checkShape(mask, "key_padding_mask", {batch, maskLen});
        !status)
      return status;
  }
  if (args.attnMask) {
    const TensorView &mask = *args.attnMask;
    if (Status status = checkWellFormed(mask, "attn_mask"); !status)
      return status;
    if (Status status = checkShape(mask, "attn_mask", {tgtLen, maskLen});
        !status)
      return status;
    if (!mask.isContiguous())
      return Status::error("attn_mask: expected a contiguous [tgt_len, "
                           "src_len] tensor");
  }
  // add_bias_kv, then add_zero_attn, each append one key/value position.
  int64_t extraKeys = (o.addBiasKv ? 1 : 0) + (o.addZeroAttn ? 1 : 0);
  int64_t keyLen = maskLen + extraKeys;
  bool wantWeights = args.needWeights || args.needHeadWeights;
  if (wantWeights) {
    const char *flag =
        args.needHeadWeights ? "need_head_weights" : "need_weights";
    if (!args.attnWeights)
      return Status::error(std::string("attn_weights: required with ") + flag +
                           " (an fp32 device view to write the weights to)");
    const TensorView &weights = *args.attnWeights;
    if (Status status = checkWellFormed(weights, "attn_weights"); !status)
      return status;
    if (Status status = checkDType(weights, "attn_weights", DType::F32);
        !status)
      return status;
    std::vector<int64_t> shape = {batch, tgtLen, keyLen};
    if (args.needHeadWeights)
      shape.insert(shape.begin(), o.numHeads);
    if (Status status = checkShape(weights, "attn_weights", shape); !status)
      return status;
    if (!weights.isContiguous())
      return Status::error(std::string("attn_weights: expected a contiguous ") +
                           (args.needHeadWeights
                                ? "[heads, batch, tgt_len, src_len]"
                                : "[batch, tgt_len, src_len]") +
                           " tensor");
    if (batch > 65535)
      return Status::error("attn_weights: batch " + std::to_string(batch) +
                           " is over 65535, the most the weights kernel "
                           "launches");
  }
  if (tgtLen == 0 || batch == 0)
    return Status::ok();
  if (maskLen == 0)
    return Status::error("key: src_len is 0, there is nothing to attend to");

  std::lock_guard<std::mutex> lock(m.mutex);
  auto plan = m.getPlan(args.attnMask.has_value(),
                        args.keyPaddingMask.has_value(), dropoutActive);
  if (!plan)
    return plan.getStatus();

  StatusOr<const CudaDriver *> driverOr = getDriver();
  if (!driverOr)
    return driverOr.getStatus();
  const CudaDriver &driver = **driverOr;
  StatusOr<CudaContext> context = driver.ensureContext();
  if (!context)
    return context.getStatus();
  if (Status status = m.prepareDevice(driver, context->device); !status)
    return status;
  if (m.weightsDirty)
    if (Status status = m.uploadWeights(); !status)
      return status;

  std::size_t elementSize = getDTypeSize(o.dtype);
  std::size_t qBytes = tgtLen * batch * o.embedDim * elementSize;
  // The step's projections only: the cache holds the earlier ones.
  int64_t kvRows = state ? srcLen : keyLen;
  std::size_t kvBytes =
      std::max(kvRows, int64_t(1)) * batch * o.embedDim * elementSize;
  for (auto [buffer, bytes] :
       {std::pair<DeviceBuffer *, std::size_t>{&m.qBuffer, qBytes},
        {&m.kBuffer, kvBytes},
        {&m.vBuffer, kvBytes},
        {&m.attnBuffer, qBytes}})
    if (Status status = ensureSize(*buffer, bytes); !status)
      return status;

  if (m.ownsProjections()) {
    // The variant's graph does everything, on [batch, 1, seq, embed_dim]
    // views of the sequence-first tensors.
    if (o.kdim.value_or(o.embedDim) != o.embedDim ||
        o.vdim.value_or(o.embedDim) != o.embedDim)
      return Status::error("kdim/vdim: " + m.variantName +
                           " projects key and value itself and takes them "
                           "with embed_dim features (kdim = vdim = " +
                           std::to_string(o.embedDim) + ")");
    if (o.addBiasKv || o.addZeroAttn)
      return Status::error("add_bias_kv/add_zero_attn: not supported by " +
                           m.variantName + ", which owns its projections");
    if (m.variantName != "compositional" && keyLen != tgtLen)
      return Status::error("key: " + m.variantName +
                           " mixes the query's own token grid; expected "
                           "src_len " +
                           std::to_string(tgtLen) + " (= tgt_len), got " +
                           std::to_string(keyLen));
    AttentionArgs whole;
    whole.query = TensorView::fromSeqFirst(query.data, o.dtype, tgtLen, batch,
                                           1, o.embedDim);
    whole.key = TensorView::fromSeqFirst(key.data, o.dtype, keyLen, batch, 1,
                                         o.embedDim);
    whole.value = TensorView::fromSeqFirst(value.data, o.dtype, keyLen, batch,
                                           1, o.embedDim);
    whole.output = TensorView::fromSeqFirst(args.output.data, o.dtype, tgtLen,
                                            batch, 1, o.embedDim);
    for (std::size_t i = 0; i < m.variantParameterNames.size(); ++i)
      whole.parameters[m.variantParameterNames[i]] =
          static_cast<const float *>(m.variantParameterBuffers[i].data());
    return (*plan)->run(whole, stream);
  }

  // Projections (no scaling here: the attention scales by head_dim^-1/2).
  if (Status status = m.linear(driver, query.data, tgtLen * batch, 0,
                               m.qBuffer.data(), stream);
      !status)
    return status;
  if (srcLen > 0) {
    if (Status status = m.linear(driver, key.data, srcLen * batch, 1,
                                 m.kBuffer.data(), stream);
        !status)
      return status;
    if (Status status = m.linear(driver, value.data, srcLen * batch, 2,
                                 m.vBuffer.data(), stream);
        !status)
      return status;
  }

  // The extra positions: bias_k / bias_v, then zeros, in every batch entry.
  for (int64_t i = 0; i < extraKeys; ++i) {
    bool isBias = o.addBiasKv && i == 0;
    std::size_t offset = (srcLen + i) * batch * o.embedDim * elementSize;
    for (int kv = 0; kv < 2; ++kv) {
      void *x = static_cast<char *>(kv ? m.vBuffer.data() : m.kBuffer.data()) +
                offset;
      const void *values = isBias ? m.biasKv[kv].data() : nullptr;
      long long rows = batch, cols = o.embedDim;
      void *kernelArgs[] = {&x, &values, &rows, &cols};
      if (Status status = m.launchElementwise(driver, m.fillRowsFunction,
                                              rows * cols, stream, kernelArgs);
          !status)
        return status;
    }
  }

  AttentionArgs attention;
  attention.query = TensorView::fromSeqFirst(m.qBuffer.data(), o.dtype, tgtLen,
                                             batch, o.numHeads, m.headDim);
  for (std::size_t i = 0; i < m.variantParameterNames.size(); ++i)
    attention.parameters[m.variantParameterNames[i]] =
        static_cast<const float *>(m.variantParameterBuffers[i].data());
  if (state) {
    if (Status status = m.appendToState(driver, *state, this, srcLen, batch,
                                        args.staticKv, stream);
        !status)
      return status;
    attention.key = state->view(state->key);
    attention.value = state->view(state->value);
  } else {
    attention.key = TensorView::fromSeqFirst(m.kBuffer.data(), o.dtype, keyLen,
                                             batch, o.numHeads, m.headDim);
    attention.value = TensorView::fromSeqFirst(
        m.vBuffer.data(), o.dtype, keyLen, batch, o.numHeads, m.headDim);
  }
  attention.output = TensorView::fromSeqFirst(
      m.attnBuffer.data(), o.dtype, tgtLen, batch, o.numHeads, m.headDim);
  attention.scale = m.scaling;
  // A random pattern drawn per call (random with constant_masking = false)
  // takes the call's random stream as dropout does: a new one every forward.
  bool perCallMask = (*plan)->getTraits().randomPerCall;
  if (dropoutActive || perCallMask) {
    attention.seed = o.seed;
    attention.offset = m.dropoutCalls++;
  }
  if (dropoutActive)
    attention.dropout = o.dropout;
  if (args.keyPaddingMask && extraKeys == 0) {
    attention.keyPadding = *args.keyPaddingMask;
  } else if (args.keyPaddingMask) {
    // Padded with "not padding" columns for the extra positions.
    const TensorView &mask = *args.keyPaddingMask;
    int64_t count = batch * keyLen;
    if (Status status = ensureSize(m.paddingBuffer, count); !status)
      return status;
    const void *in = mask.data;
    long long strideB = mask.strides[0], strideS = mask.strides[1];
    void *out = m.paddingBuffer.data();
    long long total = count, cols = maskLen, outCols = keyLen;
    void *kernelArgs[] = {&in,    &strideB, &strideS, &out,
                          &total, &cols,    &outCols};
    if (Status status = m.launchElementwise(driver, m.padKeyPaddingFunction,
                                            count, stream, kernelArgs);
        !status)
      return status;
    attention.keyPadding =
        TensorView(m.paddingBuffer.data(), DType::U8, {batch, keyLen});
  }
  if (args.attnMask) {
    const TensorView &mask = *args.attnMask;
    int64_t count = tgtLen * keyLen;
    if (mask.dtype == DType::F32 && extraKeys == 0) {
      attention.attnMask = TensorView(mask.data, DType::F32, {tgtLen, maskLen});
    } else {
      // Converted to additive fp32, with 0 (not masked) columns for the
      // extra positions.
      if (Status status = ensureSize(m.maskBuffer, count * sizeof(float));
          !status)
        return status;
      void *function = mask.dtype == DType::F32    ? m.maskFromF32Function
                       : mask.dtype == DType::F16  ? m.maskFromF16Function
                       : mask.dtype == DType::BF16 ? m.maskFromBF16Function
                                                   : m.maskFromBytesFunction;
      const void *in = mask.data;
      void *out = m.maskBuffer.data();
      long long total = count, cols = maskLen, outCols = keyLen;
      void *kernelArgs[] = {&in, &out, &total, &cols, &outCols};
      if (Status status =
              m.launchElementwise(driver, function, count, stream, kernelArgs);
          !status)
        return status;
      attention.attnMask =
          TensorView(m.maskBuffer.data(), DType::F32, {tgtLen, keyLen});
    }
  }
  if (state) {
    // A dense plan with the structure of the config (causal, block layout)
    // as an additive mask, the query at the last positions of the cache.
    if (Status status = m.runIncremental(
            driver, attention, args.staticKv ? 0 : keyLen - tgtLen, tgtLen,
            keyLen, args.keyPaddingMask.has_value(), stream);
        !status)
      return status;
    return m.linear(driver, m.attnBuffer.data(), tgtLen * batch, 3,
                    args.output.data, stream);
  }
  if (Status status = (*plan)->run(attention, stream); !status)
    return status;
  if (wantWeights) {
    int planIndex = (args.attnMask ? 1 : 0) | (args.keyPaddingMask ? 2 : 0);
    if (Status status =
            m.attentionWeights(driver, planIndex, **plan, args, attention,
                               tgtLen, keyLen, batch, stream);
        !status)
      return status;
  }
  return m.linear(driver, m.attnBuffer.data(), tgtLen * batch, 3,
                  args.output.data, stream);
}
