//===- GraphPlan.cpp - Running a plan of several launches -----------------===//

#include "GraphPlan.h"

#include "xfc/runtime/Cuda.h"

#include "xfc/graph_ops.cuh"
#include "xfc/nystrom_ops.cuh"

#include <cmath>
#include <cstdint>
#include <cstring>

namespace xfc::runtime {

namespace {

const char *const kCallerTensors[] = {"q", "k", "v", "attn_mask",
                                      "key_padding"};

bool isCallerTensor(const std::string &source) {
  for (const char *name : kCallerTensors)
    if (source == name)
      return true;
  return false;
}

/// SplitMix64: the parameters' reproducible initial values.
uint64_t splitMix64(uint64_t &state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/// Uniform in [0, 1) with 53 random bits.
double uniform01(uint64_t &state) {
  return static_cast<double>(splitMix64(state) >> 11) * 0x1.0p-53;
}

/// favor's random features ("orthogonal", "orthogonal_chi"): every block of
/// `cols` consecutive rows is orthonormal (modified Gram-Schmidt, applied
/// twice, of Gaussian rows: a uniformly random orthonormal frame, as the
/// sign-corrected QR of xFormers' _get_random_ortho_matrix), then row i is
/// scaled by init_scale, or for "orthogonal_chi" by the norm of the Gaussian
/// row it came from times init_scale (chi with `cols` degrees of freedom, as
/// xFormers' NormDistribution.Xi).
std::vector<float> orthogonalValues(const ManifestParameter &parameter) {
  const int64_t rows = parameter.rows, cols = parameter.cols;
  uint64_t state = static_cast<uint64_t>(parameter.seed);
  std::vector<double> basis(rows * cols);
  std::vector<float> values(rows * cols);
  for (int64_t i = 0; i < rows; ++i) {
    double *row = &basis[i * cols];
    double norm = 0;
    for (int64_t c = 0; c < cols; ++c) {
      double u1 = uniform01(state), u2 = uniform01(state);
      row[c] = std::sqrt(-2.0 * std::log(1.0 - u1)) *
               std::cos(6.283185307179586 * u2);
      norm += row[c] * row[c];
    }
    double gaussianNorm = std::sqrt(norm);
    for (int pass = 0; pass < 2; ++pass)
      for (int64_t j = i / cols * cols; j < i; ++j) {
        const double *other = &basis[j * cols];
        double dot = 0;
        for (int64_t c = 0; c < cols; ++c)
          dot += row[c] * other[c];
        for (int64_t c = 0; c < cols; ++c)
          row[c] -= dot * other[c];
      }
    norm = 0;
    for (int64_t c = 0; c < cols; ++c)
      norm += row[c] * row[c];
    norm = std::sqrt(norm);
    for (int64_t c = 0; c < cols; ++c)
      row[c] /= norm;
    double scale = parameter.initScale *
                   (parameter.init == "orthogonal_chi" ? gaussianNorm : 1.0);
    for (int64_t c = 0; c < cols; ++c)
      values[i * cols + c] = static_cast<float>(row[c] * scale);
  }
  return values;
}

std::vector<float> initialValues(const ManifestParameter &parameter) {
  if (parameter.init == "orthogonal" || parameter.init == "orthogonal_chi")
    return orthogonalValues(parameter);
  std::vector<float> values(parameter.rows * parameter.cols);
  uint64_t state = static_cast<uint64_t>(parameter.seed);
  for (float &value : values) {
    if (parameter.init == "uniform") {
      value = static_cast<float>((2.0 * uniform01(state) - 1.0) *
                                 parameter.initScale);
    } else { // normal: Box-Muller
      double u1 = uniform01(state), u2 = uniform01(state);
      value = static_cast<float>(std::sqrt(-2.0 * std::log(1.0 - u1)) *
                                 std::cos(6.283185307179586 * u2) *
                                 parameter.initScale);
    }
  }
  return values;
}

bool isElf(const std::vector<char> &image) {
  static const char kElfMagic[4] = {0x7f, 'E', 'L', 'F'};
  return image.size() >= 4 && std::memcmp(image.data(), kElfMagic, 4) == 0;
}

int getOpDType(DType dtype) {
  switch (dtype) {
  case DType::F16:
    return kOpF16;
  case DType::BF16:
    return kOpBF16;
  default:
    return kOpF32;
  }
}

OpTensor toOpTensor(const TensorView &view) {
  OpTensor t;
  std::memset(&t, 0, sizeof(t));
  t.data = view.data;
  t.dtype = getOpDType(view.dtype);
  int pad = 4 - view.rank;
  for (int d = 0; d < 4; ++d) {
    t.dims[d] = d < pad ? 1 : view.shape[d - pad];
    t.strides[d] = d < pad ? 0 : view.strides[d - pad];
  }
  return t;
}

bool getBoolTrait(const ManifestKernel &kernel, const std::string &name) {
  auto it = kernel.traits.find(name);
  if (it == kernel.traits.end())
    return false;
  return it->second.kind == ManifestValue::Kind::Bool
             ? it->second.boolValue
             : it->second.intValue != 0;
}

/// The roles of favor's and lambda's templates, or nullptr.
const std::vector<std::string> *
getFavorLambdaRoles(const std::string &templateName) {
  static const std::vector<std::string> kFeatureMap = {"x", "w"};
  static const std::vector<std::string> kOne = {"x"};
  static const std::vector<std::string> kNormalize = {"num", "qf", "ks"};
  static const std::vector<std::string> kScan = {"qf", "kf", "v"};
  static const std::vector<std::string> kPosition = {"q", "v", "e", "c"};
  if (templateName == "feature_map")
    return &kFeatureMap;
  if (templateName == "sum_rows" || templateName == "sequence_softmax")
    return &kOne;
  if (templateName == "linear_normalize")
    return &kNormalize;
  if (templateName == "causal_linear_attention")
    return &kScan;
  if (templateName == "lambda_position")
    return &kPosition;
  return nullptr;
}

/// Run-time requirements of favor's causal scan and lambda's position term:
/// as many queries as keys, and (lambda) no more than the embeddings cover.
Status checkFavorLambdaLaunch(const ManifestKernel &kernel,
                              const OpParams &params) {
  const std::string &name = kernel.templateName;
  if (name != "causal_linear_attention" && name != "lambda_position")
    return Status::ok();
  long long queries = params.in[0].dims[2], keys = params.in[1].dims[2];
  const char *variant = name == "lambda_position" ? "lambda" : "favor";
  if (queries != keys)
    return Status::error(
        std::string(variant) + ": query length " + std::to_string(queries) +
        " differs from key length " + std::to_string(keys) +
        (name == "lambda_position" ? " (lambda needs q_len == kv_len)"
                                   : " (causal favor needs q_len == kv_len)"));
  if (name == "lambda_position") {
    long long covered = (params.in[2].dims[2] + 1) / 2;
    if (queries > covered)
      return Status::error(
          "sequence length " + std::to_string(queries) +
          " is longer than the plan allows: parameter rel_pos_emb covers " +
          std::to_string(covered) + " positions (the config's seq_len)");
  }
  return Status::ok();
}

/// The roles of a graph-op template, in OpParams::in order.
const std::vector<std::string> *getOpRoles(const std::string &templateName) {
  if (const std::vector<std::string> *roles = getFavorLambdaRoles(templateName))
    return roles;
  static const std::vector<std::string> kMatmul = {"a", "b", "c"};
  static const std::vector<std::string> kSoftmax = {"x"};
  static const std::vector<std::string> kSelectRules = {"o",  "q",  "w1",
                                                        "b1", "w2", "b2"};
  static const std::vector<std::string> kLandmarkSelect = {"q", "k"};
  static const std::vector<std::string> kSequenceConv = {"x", "w", "c"};
  if (templateName == "sequence_conv")
    return &kSequenceConv;
  if (templateName == "landmark_pool" || templateName == "pinv_init")
    return &kSoftmax;
  if (templateName == "landmark_select")
    return &kLandmarkSelect;
  static const std::vector<std::string> kGridPool = {"x"};
  static const std::vector<std::string> kDepthwiseConv = {"x", "w", "bias"};
  static const std::vector<std::string> kElementwise = {"a", "b", "bias"};
  if (templateName == "grid_pool")
    return &kGridPool;
  if (templateName == "depthwise_conv2d")
    return &kDepthwiseConv;
  if (templateName == "elementwise")
    return &kElementwise;
  if (templateName == "matmul")
    return &kMatmul;
  if (templateName == "softmax" || templateName == "regroup_heads")
    return &kSoftmax;
  if (templateName == "select_rules")
    return &kSelectRules;
  return nullptr;
}

/// The sequence lengths nystrom's and orthoformer's landmark kernels need:
/// longer than the landmarks (both variants are exact attention otherwise,
/// which a plan compiled without seq_len does not compute), and few enough
/// samples for the selection's shared memory.
Status checkLandmarkLaunch(const ManifestKernel &kernel,
                           const OpParams &params) {
  if (kernel.templateName == "landmark_pool") {
    long long rows = params.in[0].dims[2], m = params.ints[0];
    bool longer = params.ints[1] != 0;
    if (rows < m || (longer && rows == m))
      return Status::error(
          "nystrom: sequence length " + std::to_string(rows) +
          " is not longer than num_landmarks " + std::to_string(m) +
          "; nystrom is exact attention there (as in xFormers), which this "
          "plan (compiled without seq_len) does not compute: compile with "
          "seq_len " +
          std::to_string(rows) + " for the exact plan");
  } else if (kernel.templateName == "sequence_conv") {
    long long heads = params.in[0].dims[1], rows = params.in[1].dims[2];
    if (heads != rows)
      return Status::error("nystrom: the convolution skip has weights for " +
                           std::to_string(rows) + " heads (num_heads), got " +
                           std::to_string(heads) + " heads");
  } else if (kernel.templateName == "landmark_select") {
    long long seq = params.in[0].dims[2];
    auto trait = kernel.traits.find("NumLandmarks");
    long long m = trait == kernel.traits.end() ? 0 : trait->second.intValue;
    auto selection = kernel.traits.find("Selection");
    bool random = selection != kernel.traits.end() &&
                  selection->second.intValue == kSelectRandom;
    if (seq == m || (seq < m && !random))
      return Status::error(
          "orthoformer: sequence length " + std::to_string(seq) +
          " is not longer than num_landmarks " + std::to_string(m) +
          (seq == m ? "; orthoformer is exact attention there (as in "
                      "xFormers), which this plan (compiled without "
                      "seq_len) does not compute: compile with seq_len " +
                          std::to_string(seq) + " for the exact plan"
                    : "; only \"random\" landmark selection can pick more "
                      "landmarks than queries (as in xFormers)"));
    double fraction;
    std::memcpy(&fraction, &params.ints[1], sizeof(fraction));
    long long samples = landmarkSampleCount(seq, fraction, m);
    if (!random && samples > kLandmarkMaxSamples)
      return Status::error(
          "orthoformer: landmark selection samples " + std::to_string(samples) +
          " queries, more than the " + std::to_string(kLandmarkMaxSamples) +
          " it supports; lower subsample_fraction to at most " +
          std::to_string(static_cast<double>(kLandmarkMaxSamples) /
                         static_cast<double>(seq)));
  }
  return Status::ok();
}

/// pooling's and visual's stencils read the sequence as a square H x H
/// token grid.
bool isGridTemplate(const std::string &templateName) {
  return templateName == "grid_pool" || templateName == "depthwise_conv2d";
}

/// The side of the square token grid of `seqLen` tokens, or an error.
StatusOr<long long> getGridSide(long long seqLen) {
  long long side = static_cast<long long>(
      std::llround(std::sqrt(static_cast<double>(seqLen))));
  while (side * side > seqLen)
    --side;
  while ((side + 1) * (side + 1) <= seqLen)
    ++side;
  if (side * side != seqLen)
    return Status::error(
        "sequence length " + std::to_string(seqLen) +
        " is not a square token grid: pooling and visual read the sequence "
        "as an H x W image with H = W (S = H * H, e.g. 64 = 8 x 8); the "
        "nearest squares are " +
        std::to_string(side * side) + " and " +
        std::to_string((side + 1) * (side + 1)));
  return side;
}

} // namespace

struct GraphPlan::Step {
  std::size_t launchIndex = 0;
  std::size_t kernelIndex = 0;
  /// Attention launches run through a single-launch AttentionPlan.
  std::unique_ptr<AttentionPlan> attention;
  /// Graph-op launches: the image, loaded per context.
  std::vector<char> image;
  bool imageIsPtx = false;
};

struct GraphPlan::ContextState {
  void *context = nullptr;
  /// Per step: the module and function of graph-op launches.
  std::vector<CudaModule> modules;
  std::vector<void *> functions;
  DeviceBuffer workspace;
  std::map<std::string, DeviceBuffer> parameters;
  uint64_t parameterVersion = 0;
};

GraphPlan::~GraphPlan() = default;

bool GraphPlan::isGraph(const Manifest &manifest) {
  if (manifest.launches.size() != 1 || !manifest.parameters.empty())
    return manifest.launches.size() != 1 || !manifest.parameters.empty();
  const ManifestLaunch &launch = manifest.launches[0];
  if (launch.output.name != "out")
    return true;
  for (const ManifestTensor &input : launch.inputs)
    if (input.source != input.role)
      return true;
  const ManifestKernel *kernel = manifest.findKernel(launch.kernel);
  return kernel && kernel->templateName != "attention_forward";
}

const ManifestKernel &GraphPlan::getKernel() const {
  for (const Step &step : steps)
    if (step.attention)
      return manifest.kernels[step.kernelIndex];
  return manifest.kernels[steps.front().kernelIndex];
}

StatusOr<std::unique_ptr<GraphPlan>>
GraphPlan::create(const Manifest &manifest,
                  const AttentionPlan::ImageProvider &images) {
  std::unique_ptr<GraphPlan> plan(new GraphPlan());
  plan->manifest = manifest;
  const Manifest &m = plan->manifest;
  if (m.launches.empty())
    return Status::error("manifest: expected at least one launch");
  for (const ManifestParameter &parameter : m.parameters) {
    if (plan->parameterValues.count(parameter.name))
      return Status::error("manifest: parameter \"" + parameter.name +
                           "\" appears twice");
    plan->parameterValues[parameter.name] = initialValues(parameter);
  }

  std::map<std::string, std::size_t> produced; // "t<N>" -> launch index
  bool wroteOut = false;
  for (std::size_t i = 0; i < m.launches.size(); ++i) {
    const ManifestLaunch &launch = m.launches[i];
    std::string where = "manifest: launches[" + std::to_string(i) + "]";
    const ManifestKernel *kernel = m.findKernel(launch.kernel);
    if (!kernel)
      return Status::error(where + ".kernel: \"" + launch.kernel +
                           "\" is not among \"kernels\"");
    for (const ManifestTensor &input : launch.inputs) {
      const std::string &source = input.source;
      if (isCallerTensor(source) || produced.count(source))
        continue;
      if (source.rfind("param:", 0) == 0 &&
          plan->parameterValues.count(source.substr(6)))
        continue;
      return Status::error(where + ": input \"" + input.role +
                           "\" comes from \"" + source +
                           "\", which is neither a caller tensor, an earlier "
                           "launch's result nor a parameter");
    }
    if (launch.output.name == "out") {
      if (i + 1 != m.launches.size())
        return Status::error(where + ": only the last launch may write the "
                                     "caller's output");
      wroteOut = true;
    } else {
      produced[launch.output.name] = i;
    }
    if (launch.output.sizes.size() != launch.output.shape.size() ||
        launch.output.shape.size() != 4)
      return Status::error(where + ".output: expected 4 named sizes");

    Step step;
    step.launchIndex = i;
    step.kernelIndex = kernel - m.kernels.data();
    if (kernel->templateName == "attention_forward") {
      // A manifest of this one launch, reading its inputs under their roles
      // and writing "out": AttentionPlan checks it as any other.
      Manifest single = m;
      single.parameters.clear();
      single.kernels = {*kernel};
      single.launches = {launch};
      for (ManifestTensor &input : single.launches[0].inputs)
        input.source = input.role;
      single.launches[0].output.name = "out";
      StatusOr<AttentionPlan> attention = AttentionPlan::create(single, images);
      if (!attention)
        return Status::error(where + ": " + attention.getStatus().getMessage());
      step.attention = std::make_unique<AttentionPlan>(std::move(*attention));
    } else {
      if (!getOpRoles(kernel->templateName))
        return Status::error(where + ": template \"" + kernel->templateName +
                             "\" is not one this runtime launches");
      if (kernel->params != "xfc::OpParams")
        return Status::error(where + ": kernel " + kernel->symbol +
                             " takes \"" + kernel->params +
                             "\", expected xfc::OpParams");
      for (const GridTerm &term : kernel->grid)
        if (!term.constant)
          return Status::error(where + ": kernel " + kernel->symbol +
                               ": graph ops have a constant grid");
      StatusOr<std::vector<char>> image = images(*kernel);
      if (!image)
        return Status::error("kernel " + kernel->symbol + ": " +
                             image.getStatus().getMessage());
      if (image->empty())
        return Status::error("kernel " + kernel->symbol +
                             ": the kernel image is empty");
      step.imageIsPtx = !isElf(*image);
      step.image = std::move(*image);
    }
    plan->steps.push_back(std::move(step));
  }
  if (!wroteOut)
    return Status::error("manifest: no launch writes the caller's output "
                         "(\"out\")");

  // What the caller passes: q's element type and head dim.
  const ManifestTensor *query = nullptr;
  for (const ManifestLaunch &launch : m.launches)
    for (const ManifestTensor &input : launch.inputs)
      if (input.source == "q" && !query)
        query = &input;
  if (!query || query->shape.size() != 4 || query->shape[3] < 1)
    return Status::error("manifest: no launch reads the query with a known "
                         "head dim");
  for (const Step &step : plan->steps)
    if (step.attention) {
      plan->traits = step.attention->getTraits();
      break;
    }
  plan->traits.element = query->dtype;
  plan->traits.headDim = static_cast<int>(query->shape[3]);
  return plan;
}

Status GraphPlan::setParameter(const std::string &name,
                               const std::vector<float> &data) {
  std::lock_guard<std::mutex> lock(mutex);
  auto it = parameterValues.find(name);
  if (it == parameterValues.end()) {
    std::string known;
    for (const ManifestParameter &parameter : manifest.parameters)
      known += (known.empty() ? "" : ", ") + parameter.name;
    return Status::error(
        "parameter \"" + name + "\": no such parameter (" +
        (known.empty() ? "this plan has none" : "this plan has " + known) +
        ")");
  }
  if (data.size() != it->second.size())
    return Status::error("parameter \"" + name + "\": expected " +
                         std::to_string(it->second.size()) + " values, got " +
                         std::to_string(data.size()));
  for (float value : data)
    if (!std::isfinite(value))
      return Status::error("parameter \"" + name + "\": values must be finite");
  it->second = data;
  ++parameterVersion;
  return Status::ok();
}

StatusOr<std::vector<float>>
GraphPlan::getParameter(const std::string &name) const {
  auto it = parameterValues.find(name);
  if (it == parameterValues.end())
    return Status::error("parameter \"" + name + "\": no such parameter");
  return it->second;
}

StatusOr<GraphPlan::ContextState *> GraphPlan::getContextState() {
  StatusOr<const CudaDriver *> driver = getDriver();
  if (!driver)
    return driver.getStatus();
  StatusOr<CudaContext> context = (*driver)->ensureContext();
  if (!context)
    return context.getStatus();
  for (const std::unique_ptr<ContextState> &state : contexts)
    if (state->context == context->handle)
      return state.get();

  auto state = std::make_unique<ContextState>();
  state->context = context->handle;
  state->modules.resize(steps.size());
  state->functions.assign(steps.size(), nullptr);
  for (std::size_t i = 0; i < steps.size(); ++i) {
    if (steps[i].attention)
      continue;
    const ManifestKernel &kernel = manifest.kernels[steps[i].kernelIndex];
    StatusOr<ComputeCapability> capability =
        (*driver)->getComputeCapability(context->device);
    if (!capability)
      return capability.getStatus();
    if (Status status =
            checkArchRunsOn(kernel.arch, *capability, steps[i].imageIsPtx);
        !status)
      return Status::error("kernel " + kernel.symbol + ": " +
                           status.getMessage());
    StatusOr<CudaModule> module =
        CudaModule::load(**driver, steps[i].image, "kernel " + kernel.symbol);
    if (!module)
      return module.getStatus();
    StatusOr<void *> function = module->getFunction(kernel.symbol);
    if (!function)
      return function.getStatus();
    state->modules[i] = std::move(*module);
    state->functions[i] = *function;
  }
  contexts.push_back(std::move(state));
  return contexts.back().get();
}

Status GraphPlan::run(const AttentionArgs &args, void *stream) {
  // The caller's query, key and value.
  const char *const dims = "[batch, heads, seq, head_dim]";
  for (auto [view, name] :
       {std::pair<const TensorView *, const char *>{&args.query, "query"},
        {&args.key, "key"},
        {&args.value, "value"},
        {&args.output, "output"}}) {
    if (Status status = checkWellFormed(*view, name); !status)
      return status;
    if (Status status = checkRank(*view, name, 4, dims); !status)
      return status;
    if (Status status = checkDType(*view, name, traits.element); !status)
      return status;
    if (Status status = checkDim(*view, name, 3, "head_dim", traits.headDim);
        !status)
      return status;
  }
  for (const auto &[name, pointer] : args.parameters) {
    if (!parameterValues.count(name))
      return Status::error("parameters: \"" + name +
                           "\" is not a parameter of this plan");
    if (!pointer || reinterpret_cast<std::uintptr_t>(pointer) % 4)
      return Status::error("parameters: \"" + name +
                           "\": expected a 4-byte aligned device pointer");
  }
  const int64_t batch = args.query.shape[0], heads = args.query.shape[1],
                qLen = args.query.shape[2], kvLen = args.key.shape[2];
  for (auto [view, name] :
       {std::pair<const TensorView *, const char *>{&args.key, "key"},
        {&args.value, "value"}}) {
    if (view->shape[0] != batch || view->shape[1] != heads)
      return Status::error(std::string(name) + ": expected batch " +
                           std::to_string(batch) + " and heads " +
                           std::to_string(heads) + " (as query), got " +
                           view->getShapeString());
    if (view->shape[2] != kvLen)
      return Status::error("value: expected seq_len " + std::to_string(kvLen) +
                           " (as key), got " + std::to_string(view->shape[2]));
  }
  // Plans compiled for one head (visual: it mixes all of the features)
  // take [batch, 1, seq, features]; token-grid plans take a square S.
  for (const ManifestLaunch &launch : manifest.launches)
    for (const ManifestTensor &input : launch.inputs)
      if ((input.source == "q" || input.source == "k" || input.source == "v") &&
          input.shape.size() == 4 && input.shape[1] == 1 && heads != 1)
        return Status::error(
            "query: expected heads 1 ([batch, 1, seq, features]: this plan "
            "mixes all of its " +
            std::to_string(traits.headDim) + " features), got heads " +
            std::to_string(heads));
  for (const Step &step : steps)
    if (isGridTemplate(manifest.kernels[step.kernelIndex].templateName)) {
      if (StatusOr<long long> side = getGridSide(qLen); !side)
        return side.getStatus();
      break;
    }
  if (batch * heads * qLen == 0)
    return Status::ok();
  if (kvLen == 0)
    return Status::error("key: expected seq_len >= 1, got 0");

  auto evaluate = [&](const std::string &size) -> int64_t {
    if (size == "batch")
      return batch;
    if (size == "heads")
      return heads;
    if (size == "q_len")
      return qLen;
    if (size == "kv_len")
      return kvLen;
    return std::stoll(size);
  };

  // Intermediates: one workspace, 256-byte aligned pieces.
  std::vector<std::vector<int64_t>> shapes(steps.size());
  std::vector<std::size_t> offsets(steps.size(), 0);
  std::size_t workspaceBytes = 0;
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const ManifestTensor &output = manifest.launches[i].output;
    for (const std::string &size : output.sizes)
      shapes[i].push_back(evaluate(size));
    if (output.name == "out") {
      if (Status status = checkShape(args.output, "output", shapes[i]); !status)
        return status;
      continue;
    }
    std::size_t bytes = getDTypeSize(output.dtype);
    for (int64_t size : shapes[i])
      bytes *= static_cast<std::size_t>(size);
    offsets[i] = workspaceBytes;
    workspaceBytes += (bytes + 255) / 256 * 256;
  }

  std::lock_guard<std::mutex> lock(mutex);
  StatusOr<ContextState *> stateOr = getContextState();
  if (!stateOr)
    return stateOr.getStatus();
  ContextState &state = **stateOr;
  StatusOr<const CudaDriver *> driver = getDriver();
  if (!driver)
    return driver.getStatus();
  if (state.workspace.size() < workspaceBytes) {
    // The stream may still read the old workspace.
    if (Status status = (*driver)->synchronize(stream); !status)
      return status;
    StatusOr<DeviceBuffer> buffer = DeviceBuffer::allocate(workspaceBytes);
    if (!buffer)
      return buffer.getStatus();
    state.workspace = std::move(*buffer);
  }
  if (state.parameterVersion != parameterVersion) {
    if (Status status = (*driver)->synchronize(stream); !status)
      return status;
    for (const auto &[name, values] : parameterValues) {
      DeviceBuffer &buffer = state.parameters[name];
      if (!buffer.data()) {
        StatusOr<DeviceBuffer> allocated =
            DeviceBuffer::allocate(values.size() * sizeof(float));
        if (!allocated)
          return allocated.getStatus();
        buffer = std::move(*allocated);
      }
      if (Status status =
              buffer.upload(values.data(), values.size() * sizeof(float));
          !status)
        return status;
    }
    state.parameterVersion = parameterVersion;
  }

  std::map<std::string, TensorView> tensors;
  auto viewOf = [&](const ManifestTensor &input) -> StatusOr<TensorView> {
    const std::string &source = input.source;
    if (source == "q")
      return args.query;
    if (source == "k")
      return args.key;
    if (source == "v")
      return args.value;
    if (source == "attn_mask") {
      if (!args.attnMask)
        return Status::error("attn_mask: this plan needs one");
      return *args.attnMask;
    }
    if (source == "key_padding") {
      if (!args.keyPadding)
        return Status::error("key_padding_mask: this plan needs one");
      return *args.keyPadding;
    }
    if (source.rfind("param:", 0) == 0) {
      std::string name = source.substr(6);
      auto given = args.parameters.find(name);
      for (const ManifestParameter &parameter : manifest.parameters)
        if (parameter.name == name)
          return TensorView(given != args.parameters.end()
                                ? const_cast<float *>(given->second)
                                : state.parameters[name].data(),
                            DType::F32, {parameter.rows, parameter.cols});
    }
    auto it = tensors.find(source);
    if (it == tensors.end())
      return Status::error("internal: no tensor \"" + source + "\"");
    return it->second;
  };

  for (std::size_t i = 0; i < steps.size(); ++i) {
    const Step &step = steps[i];
    const ManifestLaunch &launch = manifest.launches[i];
    const ManifestKernel &kernel = manifest.kernels[step.kernelIndex];
    TensorView output = args.output;
    if (launch.output.name != "out") {
      std::vector<int64_t> strides(shapes[i].size(), 1);
      for (int d = static_cast<int>(strides.size()) - 2; d >= 0; --d)
        strides[d] = strides[d + 1] * shapes[i][d + 1];
      output = TensorView::fromVectors(
          static_cast<char *>(state.workspace.data()) + offsets[i],
          launch.output.dtype, shapes[i], strides);
    }
    std::map<std::string, TensorView> inputs;
    for (const ManifestTensor &input : launch.inputs) {
      StatusOr<TensorView> view = viewOf(input);
      if (!view)
        return view.getStatus();
      inputs[input.role] = *view;
    }

    if (step.attention) {
      AttentionArgs call;
      call.query = inputs["q"];
      call.key = inputs["k"];
      call.value = inputs["v"];
      call.output = output;
      if (inputs.count("attn_mask"))
        call.attnMask = inputs["attn_mask"];
      if (inputs.count("key_padding"))
        call.keyPadding = inputs["key_padding"];
      call.scale = args.scale;
      call.dropout = launch.dropout > 0 ? args.dropout : 0.0f;
      call.seed = args.seed;
      call.offset = args.offset;
      if (Status status = step.attention->run(call, stream); !status)
        return Status::error("launch " + std::to_string(i) + ": " +
                             status.getMessage());
    } else {
      OpParams params;
      std::memset(&params, 0, sizeof(params));
      const std::vector<std::string> &roles = *getOpRoles(kernel.templateName);
      for (std::size_t r = 0; r < roles.size(); ++r) {
        auto it = inputs.find(roles[r]);
        if (it != inputs.end())
          params.in[r] = toOpTensor(it->second);
      }
      params.out = toOpTensor(output);
      params.alpha = static_cast<float>(launch.alpha);
      params.beta = static_cast<float>(launch.beta);
      for (std::size_t k = 0; k < launch.ints.size() && k < 4; ++k)
        params.ints[k] = launch.ints[k];
      if (isGridTemplate(kernel.templateName)) {
        StatusOr<long long> side = getGridSide(params.out.dims[2]);
        if (!side)
          return side.getStatus();
        params.ints[0] = *side;
      }
      if (Status status = checkFavorLambdaLaunch(kernel, params); !status)
        return Status::error("launch " + std::to_string(i) + ": " +
                             status.getMessage());
      if (kernel.templateName == "matmul") {
        // The contraction length; a parameter may be longer (it is sized
        // for the longest sequence) but never shorter.
        bool hasA = inputs.count("a"), hasB = inputs.count("b");
        const OpTensor &a = params.in[0], &b = params.in[1];
        int64_t ka = getBoolTrait(kernel, "TransA") ? a.dims[2] : a.dims[3];
        int64_t kb = getBoolTrait(kernel, "TransB") ? b.dims[3] : b.dims[2];
        if (hasA && hasB && kb > ka) {
          std::string lhs;
          for (const ManifestTensor &input : launch.inputs)
            if (input.role == "a")
              lhs = input.source;
          return Status::error("sequence length " + std::to_string(kb) +
                               " is longer than the plan allows: " +
                               (lhs.rfind("param:", 0) == 0
                                    ? "parameter " + lhs.substr(6)
                                    : lhs) +
                               " covers " + std::to_string(ka) +
                               " positions (the config's seq_len)");
        }
        params.ints[0] = hasB ? kb : ka;
      }
      if (Status status = checkLandmarkLaunch(kernel, params); !status)
        return status;
      std::array<unsigned, 3> grid;
      for (int d = 0; d < 3; ++d)
        grid[d] = static_cast<unsigned>(*kernel.grid[d].constant);
      void *kernelArgs[] = {&params};
      if (Status status = (*driver)->launch(
              state.functions[i], Dim3{grid[0], grid[1], grid[2]},
              Dim3{static_cast<unsigned>(kernel.block[0]),
                   static_cast<unsigned>(kernel.block[1]),
                   static_cast<unsigned>(kernel.block[2])},
              static_cast<unsigned>(kernel.sharedBytes), stream, kernelArgs);
          !status)
        return Status::error("kernel " + kernel.symbol + ": " +
                             status.getMessage());
    }
    if (launch.output.name != "out")
      tensors[launch.output.name] = output;
  }
  return Status::ok();
}

} // namespace xfc::runtime
