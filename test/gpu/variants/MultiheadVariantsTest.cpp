//===- MultiheadVariantsTest.cpp - variants through MultiheadAttention ----===//
//
// local, nystrom, favor, orthoformer, lambda, fourier_mix, pooling and visual
// run through xfc::MultiheadAttention (FairSeq's module with an xFormers
// config) on the GPU, against an fp64 reference of the whole module written
// from the math:
// - the variants on the multi-head path: q/k/v = x W^T + b (every weight set
//   through setWeight from seeded values), split into [B, H, seq, D] heads,
//   the variant's own reference (VariantTestSupport.h; local's below) with
//   its parameters (the module's weights "attention.<name>"), its output
//   rounded to the module's dtype as the module stores it, then out_proj;
// - pooling and visual, which take the raw query (the module's
//   ownsProjections()): the variant on the [B, 1, T, E] query, no
//   projections.
// Inputs and projection weights are n * 2^-p with |n| <= 127: exact in fp32,
// fp16 and bf16, with projections that sum exactly in fp32, so the
// reference's q/k/v (rounded to the dtype as the module stores them, before
// and after the bias) are the module's bit for bit and landmark selections
// see the same values. Every dtype, causal where the variant has it, an odd
// sequence length (a smaller square grid for pooling/visual), outputs
// poisoned with NaN first; ||out - ref|| / ||ref|| within SPEC.md §5's
// bounds (fp32 1e-5, fp16/bf16 1e-2). Tests skip where there is no GPU.
//
//===----------------------------------------------------------------------===//

#include "VariantTestSupport.h"

#include "xfc/runtime/MultiheadAttention.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <limits>

using namespace xfc;
using namespace xfc::runtime;
using namespace xfc::varianttest;

namespace {

constexpr DType kDTypes[] = {DType::F32, DType::F16, DType::BF16};

/// `count` values n 2^-p of spread `scale`: n = round(N(0, scale 2^p)) in
/// [-127, 127], p the largest with 4 scale 2^p <= 127. Seven significant
/// bits are exact in bf16, fp16 and fp32, and a projection of such inputs
/// (at most 128 features) sums to under 2^21 units of its products' 2^-p,
/// exactly in fp32 whatever the order of the sum; so does adding a bias of
/// spread 0.1 (a coarser unit) to it, rounded to the dtype or not.
std::vector<double> dyadicValues(std::size_t count, double scale,
                                 std::mt19937 &rng) {
  int p = static_cast<int>(std::floor(std::log2(127.0 / (4.0 * scale))));
  double unit = std::ldexp(1.0, -p);
  std::normal_distribution<double> normal(0.0, scale / unit);
  std::vector<double> values(count);
  for (double &x : values)
    x = std::clamp(std::nearbyint(normal(rng)), -127.0, 127.0) * unit;
  return values;
}

/// Spreads of the module's weights: the projections of unit inputs get
/// about q, k and v; biases `bias`.
struct WeightScales {
  double q = 1.0, k = 1.0, v = 1.0, bias = 0.1;
};

/// Values for the variant's parameter `name` (without "attention.") of
/// `shape`.
using ParameterFill = std::function<std::vector<float>(
    const std::string &name, const std::vector<int64_t> &shape,
    std::mt19937 &rng)>;

/// A module whose weights were all set through setWeight, and those weights
/// in fp64, by name.
struct Module {
  std::unique_ptr<MultiheadAttention> mha;
  std::map<std::string, std::vector<double>> weights;
  std::map<std::string, std::vector<int64_t>> shapes;
  int64_t embedDim = 0, numHeads = 0;
  DType dtype = DType::F32;
};

void makeModule(const std::string &config, int64_t embedDim, int64_t numHeads,
                DType dtype, const WeightScales &scales,
                const ParameterFill &fill, unsigned seed, Module &m) {
  MultiheadAttention::Options options;
  options.embedDim = embedDim;
  options.numHeads = numHeads;
  options.dtype = dtype;
  options.seed = seed;
  options.xformersAttConfig = config;
  auto mha = MultiheadAttention::create(options);
  ASSERT_TRUE(mha.isOk()) << config << ": " << mha.getStatus().getMessage();
  m.mha = std::move(*mha);
  m.embedDim = embedDim;
  m.numHeads = numHeads;
  m.dtype = dtype;
  std::mt19937 rng(seed);
  for (const std::string &name : m.mha->getWeightNames()) {
    auto shape = m.mha->getWeightShape(name);
    ASSERT_TRUE(shape.isOk()) << shape.getStatus().getMessage();
    std::size_t count = 1;
    for (int64_t dim : *shape)
      count *= static_cast<std::size_t>(dim);
    std::vector<float> values;
    if (name.rfind("attention.", 0) == 0) {
      values = fill(name.substr(10), *shape, rng);
    } else {
      double scale = 1.0 / std::sqrt(static_cast<double>(embedDim));
      if (name.find(".bias") != std::string::npos)
        scale = scales.bias;
      else if (name == "q_proj.weight")
        scale *= scales.q;
      else if (name == "k_proj.weight")
        scale *= scales.k;
      else if (name == "v_proj.weight")
        scale *= scales.v;
      std::vector<double> drawn = dyadicValues(count, scale, rng);
      values.assign(drawn.begin(), drawn.end());
    }
    ASSERT_EQ(values.size(), count) << name;
    Status status = m.mha->setWeight(name, values.data(), values.size());
    ASSERT_TRUE(status.isOk()) << status.getMessage();
    m.weights[name] = std::vector<double>(values.begin(), values.end());
    m.shapes[name] = *shape;
  }
}

/// Parameters drawn from N(0, scale), for variants whose parameters enter
/// the math freely (favor's features, lambda's embeddings).
ParameterFill normalParameters(double scale) {
  return [scale](const std::string &, const std::vector<int64_t> &shape,
                 std::mt19937 &rng) {
    std::normal_distribution<float> normal(0.0f, static_cast<float>(scale));
    std::vector<float> values(shape[0] * shape[1]);
    for (float &x : values)
      x = normal(rng);
    return values;
  };
}

/// For variants without parameters: any is a test failure.
std::vector<float> noParameters(const std::string &name,
                                const std::vector<int64_t> &shape,
                                std::mt19937 &) {
  ADD_FAILURE() << "unexpected variant parameter attention." << name;
  return std::vector<float>(shape[0] * shape[1], 0.0f);
}

/// One forward's sequence-first inputs: query [T, B, E], key and value
/// [S, B, E].
struct Inputs {
  int64_t tgtLen = 0, srcLen = 0, batch = 2;
  std::vector<double> query, key, value;
};

Inputs makeInputs(int64_t tgtLen, int64_t srcLen, int64_t embedDim,
                  unsigned seed) {
  Inputs in;
  in.tgtLen = tgtLen;
  in.srcLen = srcLen;
  std::mt19937 rng(seed);
  in.query = dyadicValues(tgtLen * in.batch * embedDim, 1.0, rng);
  in.key = dyadicValues(srcLen * in.batch * embedDim, 1.0, rng);
  in.value = dyadicValues(srcLen * in.batch * embedDim, 1.0, rng);
  return in;
}

/// The module's forward on `in`, into a NaN-poisoned output: [T, B, E] in
/// fp64, or {} after failing the test.
std::vector<double> runForward(const Module &m, const Inputs &in) {
  const int64_t e = m.embedDim, b = in.batch;
  DeviceBuffer query = uploadAs(in.query, m.dtype);
  DeviceBuffer key = uploadAs(in.key, m.dtype);
  DeviceBuffer value = uploadAs(in.value, m.dtype);
  StatusOr<DeviceBuffer> output =
      DeviceBuffer::allocate(in.tgtLen * b * e * getDTypeSize(m.dtype));
  EXPECT_TRUE(output.isOk()) << output.getStatus().getMessage();
  if (!output || !query.data())
    return {};
  EXPECT_TRUE(output->fill(0xff).isOk()); // NaN in every dtype
  MultiheadAttention::ForwardArgs args;
  args.query = TensorView(query.data(), m.dtype, {in.tgtLen, b, e});
  args.key = TensorView(key.data(), m.dtype, {in.srcLen, b, e});
  args.value = TensorView(value.data(), m.dtype, {in.srcLen, b, e});
  args.output = TensorView(output->data(), m.dtype, {in.tgtLen, b, e});
  Status status = m.mha->forward(args, nullptr);
  EXPECT_TRUE(status.isOk()) << status.getMessage();
  if (!status)
    return {};
  Status synced = (*getDriver())->synchronize(nullptr);
  EXPECT_TRUE(synced.isOk()) << synced.getMessage();
  return downloadAs(*output, in.tgtLen * b * e, m.dtype);
}

/// y = x W^T + b over [rows, in] as the module stores it: the product
/// rounded to `dtype` (cuBLAS's output), then the fp32 bias added and
/// rounded again (the bias kernel). No rounding when `dtype` is nullptr.
std::vector<double> linear(const std::vector<double> &x, int64_t rows,
                           const std::vector<double> &w,
                           const std::vector<double> &bias, int64_t out,
                           const DType *dtype) {
  const int64_t in = static_cast<int64_t>(w.size()) / out;
  std::vector<double> y(rows * out);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t o = 0; o < out; ++o) {
      double sum = 0;
      for (int64_t i = 0; i < in; ++i)
        sum += x[r * in + i] * w[o * in + i];
      if (dtype)
        sum = roundTo(*dtype, sum);
      if (!bias.empty())
        sum += bias[o];
      y[r * out + o] = dtype ? roundTo(*dtype, sum) : sum;
    }
  return y;
}

/// [len, B, H * D] sequence-first -> [B, H, len, D].
HostTensor splitHeads(const std::vector<double> &x, int64_t len, int64_t batch,
                      int64_t heads, int64_t dim) {
  HostTensor t(batch, heads, len, dim);
  for (int64_t s = 0; s < len; ++s)
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t h = 0; h < heads; ++h)
        for (int64_t d = 0; d < dim; ++d)
          t.at(b, h, s, d) = x[((s * batch + b) * heads + h) * dim + d];
  return t;
}

/// [B, H, len, D] -> [len, B, H * D].
std::vector<double> mergeHeads(const std::vector<double> &x, int64_t len,
                               int64_t batch, int64_t heads, int64_t dim) {
  std::vector<double> y(x.size());
  for (int64_t s = 0; s < len; ++s)
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t h = 0; h < heads; ++h)
        for (int64_t d = 0; d < dim; ++d)
          y[((s * batch + b) * heads + h) * dim + d] =
              x[((b * heads + h) * len + s) * dim + d];
  return y;
}

/// A variant's math on [B, H, seq, D] heads, giving [B, H, q.seq, D].
using VariantMath = std::function<std::vector<double>(
    const HostTensor &q, const HostTensor &k, const HostTensor &v)>;

/// The module on the multi-head path: projections, heads, the variant, its
/// output in the module's dtype, out_proj (fp64 from there on).
std::vector<double> moduleReference(const Module &m, const Inputs &in,
                                    const VariantMath &math) {
  const int64_t e = m.embedDim, h = m.numHeads, d = e / h, b = in.batch;
  auto weight = [&](const std::string &name) -> const std::vector<double> & {
    return m.weights.at(name);
  };
  auto project = [&](const std::vector<double> &x, int64_t len,
                     const std::string &proj) {
    return splitHeads(linear(x, len * b, weight(proj + ".weight"),
                             weight(proj + ".bias"), e, &m.dtype),
                      len, b, h, d);
  };
  HostTensor q = project(in.query, in.tgtLen, "q_proj");
  HostTensor k = project(in.key, in.srcLen, "k_proj");
  HostTensor v = project(in.value, in.srcLen, "v_proj");
  std::vector<double> heads = math(q, k, v);
  for (double &x : heads)
    x = roundTo(m.dtype, x);
  return linear(mergeHeads(heads, in.tgtLen, b, h, d), in.tgtLen * b,
                weight("out_proj.weight"), weight("out_proj.bias"), e, nullptr);
}

/// pooling and visual: the variant on the raw query as [B, 1, T, E]; its
/// output is the module's.
std::vector<double> rawQueryReference(const Module &m, const Inputs &in,
                                      const VariantMath &math) {
  HostTensor q = splitHeads(in.query, in.tgtLen, in.batch, 1, m.embedDim);
  return mergeHeads(math(q, q, q), in.tgtLen, in.batch, 1, m.embedDim);
}

double check(const std::string &what, DType dtype,
             const std::vector<double> &got, const std::vector<double> &ref) {
  double error = relativeError(got, ref);
  EXPECT_LE(error, tolerance(dtype)) << what << " " << dtypeName(dtype);
  std::printf("[mha-variant] %-44s %-4s relative error %.3g\n", what.c_str(),
              dtypeName(dtype), error);
  return error;
}

std::string lengths(const Inputs &in) {
  return " T " + std::to_string(in.tgtLen) + " S " + std::to_string(in.srcLen);
}

const char *flag(bool value) { return value ? "true" : "false"; }

/// local: softmax(Q K^T / sqrt(D)) V over keys |i - j| <= w / 2, or
/// (causal) i - w <= j <= i.
std::vector<double> localReference(const HostTensor &q, const HostTensor &k,
                                   const HostTensor &v, int64_t window,
                                   bool causal) {
  const int64_t t = q.seq, s = k.seq, d = q.dim;
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  std::vector<double> out(q.batch * q.heads * t * d, 0.0), p(s);
  for (int64_t b = 0; b < q.batch; ++b)
    for (int64_t h = 0; h < q.heads; ++h)
      for (int64_t i = 0; i < t; ++i) {
        for (int64_t j = 0; j < s; ++j) {
          bool visible = causal ? j <= i && j >= i - window
                                : std::abs(i - j) <= window / 2;
          double dot = 0;
          for (int64_t c = 0; c < d; ++c)
            dot += q.at(b, h, i, c) * k.at(b, h, j, c);
          p[j] =
              visible ? dot * scale : -std::numeric_limits<double>::infinity();
        }
        softmaxRows(p, 1, s);
        for (int64_t j = 0; j < s; ++j)
          for (int64_t c = 0; c < d; ++c)
            out[((b * q.heads + h) * t + i) * d + c] += p[j] * v.at(b, h, j, c);
      }
  return out;
}

TEST(MultiheadAttentionGpu, LocalRunsThroughTheModule) {
  XFC_REQUIRE_GPU();
  const int64_t window = 7;
  unsigned seed = 100;
  for (DType dtype : kDTypes)
    for (bool causal : {false, true}) {
      std::string config = R"({"name": "local", "window_size": )" +
                           std::to_string(window) + R"(, "causal": )" +
                           flag(causal) + "}";
      Module m;
      ASSERT_NO_FATAL_FAILURE(
          makeModule(config, 128, 4, dtype, {}, noParameters, seed++, m));
      std::vector<std::pair<int64_t, int64_t>> sizes = {{64, 64}, {37, 37}};
      if (!causal)
        sizes.push_back({37, 50}); // cross-attention, S != T
      for (auto [t, s] : sizes) {
        Inputs in = makeInputs(t, s, m.embedDim, seed++);
        std::vector<double> ref = moduleReference(
            m, in,
            [&](const HostTensor &q, const HostTensor &k, const HostTensor &v) {
              return localReference(q, k, v, window, causal);
            });
        check(std::string("local") + (causal ? " causal" : "") + lengths(in),
              dtype, runForward(m, in), ref);
      }
    }
}

TEST(MultiheadAttentionGpu, NystromRunsThroughTheModule) {
  XFC_REQUIRE_GPU();
  unsigned seed = 200;
  for (DType dtype : kDTypes)
    for (bool causal : {false, true})
      for (bool skip : {false, true}) {
        if (skip && !causal)
          continue;
        // conv_kernel_size: the module weight attention.skip_connection.weight
        // ([num_heads, 5]), as NystromGpu.ConvolutionSkip.
        std::string config = std::string(R"({"name": "nystrom", )") +
                             R"("num_heads": 2, "num_landmarks": 16, )" +
                             (skip ? R"("conv_kernel_size": 5, )" : "") +
                             R"("causal": )" + flag(causal) + "}";
        // q and k of spread 2, as NystromGpu.MatchesReference.
        WeightScales scales;
        scales.q = scales.k = 2.0;
        Module m;
        ASSERT_NO_FATAL_FAILURE(makeModule(config, 128, 2, dtype, scales,
                                           skip ? normalParameters(0.3)
                                                : ParameterFill(noParameters),
                                           seed++, m));
        std::vector<double> weight;
        if (skip) {
          ASSERT_EQ(m.shapes.at("attention.skip_connection.weight"),
                    (std::vector<int64_t>{2, 5}));
          weight = m.weights.at("attention.skip_connection.weight");
        }
        // 64: segments of 4; 37 = 16 * 2 + 5: 11 segments of 2, 5 of 3.
        for (int64_t len : {64, 37}) {
          Inputs in = makeInputs(len, len, m.embedDim, seed++);
          NystromOptions options;
          options.causal = causal;
          std::vector<double> ref =
              moduleReference(m, in,
                              [&](const HostTensor &q, const HostTensor &k,
                                  const HostTensor &v) {
                                std::vector<double> out =
                                    nystromReference(q, k, v, dtype, options);
                                if (skip) {
                                  // The attention's output is stored in the
                                  // element type before the skip is added.
                                  for (double &x : out)
                                    x = roundTo(dtype, x);
                                  addSkip(out, v, weight, 5);
                                }
                                return out;
                              });
          check(std::string("nystrom") + (causal ? " causal" : "") +
                    (skip ? " conv skip" : "") + lengths(in),
                dtype, runForward(m, in), ref);
        }
      }
}

TEST(MultiheadAttentionGpu, FavorRunsThroughTheModule) {
  XFC_REQUIRE_GPU();
  unsigned seed = 300;
  for (DType dtype : kDTypes)
    for (const std::string kind : {"sm_reg", "sm_orf"})
      for (bool causal : {false, true}) {
        if (kind == "sm_orf" && causal)
          continue;
        std::string config = R"({"name": "favor", "feature_map": ")" + kind +
                             R"(", "causal": )" + flag(causal) + "}";
        Module m;
        // The features [head_dim, m'] as FavorGpu.FeaturesAreSeededAndSettable
        // replaces them: N(0, 1).
        ASSERT_NO_FATAL_FAILURE(makeModule(config, 64, 2, dtype, {},
                                           normalParameters(1.0), seed++, m));
        ASSERT_EQ(m.shapes.count("attention.features"), 1u);
        const std::vector<double> &w = m.weights.at("attention.features");
        const int64_t half = m.shapes.at("attention.features")[1];
        ASSERT_EQ(m.shapes.at("attention.features")[0], 32);
        std::vector<std::pair<int64_t, int64_t>> sizes = {{64, 64}, {37, 37}};
        if (!causal)
          sizes.push_back({37, 50});
        for (auto [t, s] : sizes) {
          Inputs in = makeInputs(t, s, m.embedDim, seed++);
          std::vector<double> ref = moduleReference(
              m, in,
              [&](const HostTensor &q, const HostTensor &k,
                  const HostTensor &v) {
                return favorReference(q, k, v, w, half, kind, causal);
              });
          check("favor " + kind + (causal ? " causal" : "") + lengths(in),
                dtype, runForward(m, in), ref);
        }
      }
}

TEST(MultiheadAttentionGpu, OrthoformerRunsThroughTheModule) {
  XFC_REQUIRE_GPU();
  unsigned seed = 400;
  for (DType dtype : kDTypes)
    for (const char *selection :
         {"orthogonal", "random", "kmeans", "kmeans_spherical"}) {
      std::string config =
          std::string(R"({"name": "orthoformer", "num_landmarks": 15, )") +
          R"("landmark_selection": ")" + selection + "\"}";
      Module m;
      ASSERT_NO_FATAL_FAILURE(
          makeModule(config, 128, 2, dtype, {}, noParameters, seed++, m));
      for (int64_t len : {64, 37}) {
        Inputs in = makeInputs(len, len, m.embedDim, seed++);
        OrthoOptions options;
        options.selection = selection;
        options.landmarks = 15;
        std::vector<double> ref = moduleReference(
            m, in,
            [&](const HostTensor &q, const HostTensor &k, const HostTensor &v) {
              return orthoReference(q, k, v, dtype, options);
            });
        check(std::string("orthoformer ") + selection + lengths(in), dtype,
              runForward(m, in), ref);
      }
    }
}

TEST(MultiheadAttentionGpu, LambdaRunsThroughTheModule) {
  XFC_REQUIRE_GPU();
  const int64_t maxLen = 64;
  unsigned seed = 500;
  for (DType dtype : kDTypes) {
    // Small queries, as LambdaGpu.MatchesReference: the position term sums
    // seq products of q . E.
    WeightScales scales;
    scales.q = 0.25;
    Module m;
    ASSERT_NO_FATAL_FAILURE(
        makeModule(R"({"name": "lambda", "seq_len": 64, "dim_head": 32})", 64,
                   2, dtype, scales, normalParameters(1.0), seed++, m));
    ASSERT_EQ(m.shapes.at("attention.rel_pos_emb"),
              (std::vector<int64_t>{2 * maxLen - 1, 32}));
    const std::vector<double> &e = m.weights.at("attention.rel_pos_emb");
    for (int64_t len : {64, 37}) {
      Inputs in = makeInputs(len, len, m.embedDim, seed++);
      std::vector<double> ref = moduleReference(
          m, in,
          [&](const HostTensor &q, const HostTensor &k, const HostTensor &v) {
            return lambdaReference(q, k, v, e, maxLen);
          });
      check("lambda" + lengths(in), dtype, runForward(m, in), ref);
    }
  }
}

TEST(MultiheadAttentionGpu, FourierMixRunsThroughTheModule) {
  XFC_REQUIRE_GPU();
  unsigned seed = 600;
  for (DType dtype : kDTypes) {
    // Small queries: every output sums seq * head_dim terms.
    WeightScales scales;
    scales.q = 0.25;
    Module m;
    ASSERT_NO_FATAL_FAILURE(makeModule(R"({"name": "fourier_mix"})", 64, 2,
                                       dtype, scales, noParameters, seed++, m));
    for (int64_t len : {64, 37}) {
      Inputs in = makeInputs(len, len, m.embedDim, seed++);
      std::vector<double> ref = moduleReference(
          m, in,
          [](const HostTensor &q, const HostTensor &, const HostTensor &) {
            return fourierReference(q);
          });
      check("fourier_mix" + lengths(in), dtype, runForward(m, in), ref);
    }
  }
}

TEST(MultiheadAttentionGpu, PoolingRunsThroughTheModule) {
  XFC_REQUIRE_GPU();
  unsigned seed = 700;
  for (DType dtype : kDTypes)
    for (int64_t poolSize : {3, 5}) {
      Module m;
      ASSERT_NO_FATAL_FAILURE(
          makeModule(R"({"name": "pooling", "pool_size": )" +
                         std::to_string(poolSize) + "}",
                     64, 2, dtype, {}, noParameters, seed++, m));
      for (int64_t side : {8, 7}) {
        Inputs in = makeInputs(side * side, side * side, m.embedDim, seed++);
        std::vector<double> ref = rawQueryReference(
            m, in,
            [&](const HostTensor &q, const HostTensor &, const HostTensor &) {
              return poolingReference(q, side, poolSize);
            });
        check("pooling " + std::to_string(poolSize) + lengths(in), dtype,
              runForward(m, in), ref);
      }
    }
}

TEST(MultiheadAttentionGpu, VisualRunsThroughTheModule) {
  XFC_REQUIRE_GPU();
  unsigned seed = 800;
  // Parameters of unit-variance scale, as VisualGpu.MatchesReference's own
  // ones, so that the block's term is as large as x: weights U(+-sqrt(3 /
  // fan_in)) (fan_in = C, 25 or 49: the columns of [C, C], [C, 25], [C, 49]),
  // biases U(+-0.5).
  ParameterFill unitScale = [](const std::string &name,
                               const std::vector<int64_t> &shape,
                               std::mt19937 &rng) {
    bool bias = name.find("bias") != std::string::npos;
    float bound = bias ? 0.5f
                       : static_cast<float>(
                             std::sqrt(3.0 / static_cast<double>(shape[1])));
    std::uniform_real_distribution<float> uniform(-bound, bound);
    std::vector<float> values(shape[0] * shape[1]);
    for (float &x : values)
      x = uniform(rng);
    return values;
  };
  for (DType dtype : kDTypes) {
    Module m;
    ASSERT_NO_FATAL_FAILURE(makeModule(R"({"name": "visual", "dim_model": 64})",
                                       64, 2, dtype, {}, unitScale, seed++, m));
    VisualWeights weights;
    for (const auto &[name, values] : m.weights)
      if (name.rfind("attention.", 0) == 0)
        weights.values[name.substr(10)] = values;
    ASSERT_EQ(weights.values.size(), 10u);
    for (int64_t side : {8, 7}) {
      Inputs in = makeInputs(side * side, side * side, m.embedDim, seed++);
      std::vector<double> ref = rawQueryReference(
          m, in,
          [&](const HostTensor &q, const HostTensor &, const HostTensor &) {
            return visualReference(q, side, weights);
          });
      std::vector<double> got = runForward(m, in);
      check("visual" + lengths(in), dtype, got, ref);
      // The block's own term, out - x, apart (x dominates out), with
      // VisualGpu.MatchesReference's bounds: its error includes the rounding
      // of out, ~|x| 2^-11 in fp16 and 2^-8 in bf16.
      for (std::size_t i = 0; i < got.size() && i < in.query.size(); ++i) {
        got[i] -= in.query[i];
        ref[i] -= in.query[i];
      }
      double blockError = relativeError(got, ref);
      double blockTolerance = dtype == DType::F32   ? 1e-4
                              : dtype == DType::F16 ? 1e-2
                                                    : 4e-2;
      EXPECT_LE(blockError, blockTolerance)
          << "visual block term" << lengths(in) << " " << dtypeName(dtype);
      std::printf("[mha-variant] %-44s %-4s relative error %.3g\n",
                  ("visual block term" + lengths(in)).c_str(), dtypeName(dtype),
                  blockError);
    }
  }
}

} // namespace
