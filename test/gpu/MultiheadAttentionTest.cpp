//===- MultiheadAttentionTest.cpp - MultiheadAttention against FairSeq's math
//-===//
//
// Sets random weights, runs xfc::MultiheadAttention::forward on random
// [T, B, C] inputs with a NaN-poisoned output and compares with an fp64 CPU
// reference of FairSeq's math: q/k/v projections, scaling by head_dim^-1/2,
// attn_mask (additive or bool, true = masked), key_padding_mask, softmax with
// fully masked rows giving 0, the out projection. ||out - ref|| / ||ref|| <=
// 1e-5 (fp32) or 1e-2 (fp16, bf16), no NaN. Skips without a CUDA driver/GPU.
//
//===----------------------------------------------------------------------===//

#include "xfc/runtime/MultiheadAttention.h"
#include "xfc/runtime/Cuda.h"

#include "gtest/gtest.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <random>

using namespace xfc;
using namespace xfc::runtime;

namespace {

std::string getSkipReason() {
  static std::string reason = [] {
    StatusOr<const CudaDriver *> driver = getDriver();
    if (!driver)
      return driver.getStatus().getMessage();
    StatusOr<int> count = (*driver)->getDeviceCount();
    if (!count)
      return count.getStatus().getMessage();
    if (*count == 0)
      return std::string("the driver sees no device");
    StatusOr<CudaContext> context = (*driver)->ensureContext();
    if (!context)
      return context.getStatus().getMessage();
    return std::string();
  }();
  return reason;
}

#define REQUIRE_GPU()                                                          \
  do {                                                                         \
    if (!getSkipReason().empty())                                              \
      GTEST_SKIP() << "no CUDA driver/GPU: " << getSkipReason();               \
  } while (0)

double roundTo(DType dtype, double value) {
  float f = static_cast<float>(value);
  if (dtype == DType::F16)
    return f16ToFloat(floatToF16(f));
  if (dtype == DType::BF16)
    return bf16ToFloat(floatToBF16(f));
  return f;
}

/// Random values in [-scale, scale], rounded to `dtype`.
std::vector<double> randomValues(std::size_t count, DType dtype,
                                 std::mt19937 &rng, double scale) {
  std::uniform_real_distribution<double> uniform(-scale, scale);
  std::vector<double> values(count);
  for (double &value : values)
    value = roundTo(dtype, uniform(rng));
  return values;
}

DeviceBuffer uploadAs(const std::vector<double> &values, DType dtype) {
  std::size_t size = getDTypeSize(dtype);
  std::vector<char> bytes(values.size() * size + 16);
  for (std::size_t i = 0; i < values.size(); ++i) {
    float f = static_cast<float>(values[i]);
    if (dtype == DType::F32) {
      std::memcpy(&bytes[i * 4], &f, 4);
    } else if (dtype == DType::U8 || dtype == DType::Bool) {
      bytes[i] = values[i] != 0 ? 1 : 0;
    } else {
      uint16_t bits = dtype == DType::F16 ? floatToF16(f) : floatToBF16(f);
      std::memcpy(&bytes[i * 2], &bits, 2);
    }
  }
  StatusOr<DeviceBuffer> buffer = DeviceBuffer::allocate(bytes.size());
  EXPECT_TRUE(buffer.isOk()) << buffer.getStatus().getMessage();
  if (!buffer)
    return DeviceBuffer();
  EXPECT_TRUE(buffer->upload(bytes.data(), bytes.size()).isOk());
  return std::move(*buffer);
}

std::vector<double> downloadAs(const DeviceBuffer &buffer, std::size_t count,
                               DType dtype) {
  std::size_t size = getDTypeSize(dtype);
  std::vector<char> bytes(count * size);
  EXPECT_TRUE(buffer.download(bytes.data(), bytes.size()).isOk());
  std::vector<double> values(count);
  for (std::size_t i = 0; i < count; ++i) {
    if (dtype == DType::F32) {
      float f;
      std::memcpy(&f, &bytes[i * 4], 4);
      values[i] = f;
    } else {
      uint16_t bits;
      std::memcpy(&bits, &bytes[i * 2], 2);
      values[i] = dtype == DType::F16 ? f16ToFloat(bits) : bf16ToFloat(bits);
    }
  }
  return values;
}

/// One forward call to check.
struct Case {
  std::string name;
  DType dtype = DType::F32;
  int64_t embedDim = 128, numHeads = 4, kdim = 128, vdim = 128;
  int64_t tgtLen = 40, srcLen = 40, batch = 3;
  bool selfAttention = false, encoderDecoder = false;
  bool keyPadding = false;
  /// None, fp32 additive, bool (true = masked) or the module's 16-bit dtype.
  std::optional<DType> attnMask;
  std::optional<std::vector<std::vector<int>>> layout;
  int64_t blockSize = 16;
  /// A causal config ({"name": "scaled_dot_product", "causal": true}, or the
  /// layout's with "causal": true).
  bool causal = false;
  /// need_weights (averaged [B, T, S]) or need_head_weights ([H, B, T, S]).
  bool needWeights = false, needHeadWeights = false;
  /// add_bias_kv / add_zero_attn: extra key/value positions after S.
  bool addBiasKv = false, addZeroAttn = false;
  /// linformer with this seq_len and k (the module owns E and F, weights
  /// "attention.E" and "attention.F").
  int64_t linformerSeqLen = 0, linformerK = 0;
  /// random: pairs kept with probability randomRate from randomSeed (the
  /// config's "seed"), redrawn per call when randomPerCall.
  double randomRate = 0;
  uint64_t randomSeed = 0;
  bool randomPerCall = false;
  /// global: these token indices of a sequence of srcLen == tgtLen.
  std::vector<int> globalTokens;
  /// Forward calls made; the last one is checked (a per-call pattern
  /// advances with each).
  int calls = 1;
  unsigned seed = 1;
};

/// SplitMix64's output function (docs/config.md, random).
uint64_t splitMix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/// Whether the random variant keeps (t, s), from its definition: output
/// t * 2^32 + s + 1 of SplitMix64 seeded with the pattern's seed, top 32 bits
/// below ceil(r * 2^32); per call, the seed is mixed with the call's
/// (module seed, call index).
bool randomKeeps(const Case &c, int64_t t, int64_t s, uint64_t call) {
  const uint64_t gamma = 0x9E3779B97F4A7C15ull;
  double scaled = std::ceil(c.randomRate * 4294967296.0);
  uint64_t threshold = static_cast<uint64_t>(std::max(scaled, 1.0));
  uint64_t key = c.randomSeed;
  if (c.randomPerCall)
    key ^= splitMix64(uint64_t(c.seed) + splitMix64(call + gamma));
  uint64_t n = (uint64_t(t) << 32) + uint64_t(s) + 1;
  return (splitMix64(key + n * gamma) >> 32) < threshold;
}

/// Runs `c` and checks it against the reference.
void runCase(const Case &c) {
  SCOPED_TRACE(c.name + " (" + getDTypeName(c.dtype) + ")");
  std::mt19937 rng(c.seed);
  MultiheadAttention::Options options;
  options.embedDim = c.embedDim;
  options.numHeads = c.numHeads;
  options.kdim = c.kdim;
  options.vdim = c.vdim;
  options.selfAttention = c.selfAttention;
  options.encoderDecoderAttention = c.encoderDecoder;
  options.dtype = c.dtype;
  options.seed = c.seed;
  options.addBiasKv = c.addBiasKv;
  options.addZeroAttn = c.addZeroAttn;
  if (c.causal)
    options.xformersAttConfig =
        R"({"name": "scaled_dot_product", "causal": true})";
  if (c.linformerSeqLen)
    options.xformersAttConfig = R"({"name": "linformer", "seq_len": )" +
                                std::to_string(c.linformerSeqLen) +
                                R"(, "k": )" + std::to_string(c.linformerK) +
                                "}";
  if (c.randomRate > 0)
    options.xformersAttConfig = R"({"name": "random", "r": )" +
                                std::to_string(c.randomRate) + R"(, "seed": )" +
                                std::to_string(c.randomSeed) +
                                R"(, "constant_masking": )" +
                                (c.randomPerCall ? "false" : "true") + "}";
  if (!c.globalTokens.empty()) {
    std::string tokens;
    for (int token : c.globalTokens)
      tokens += (tokens.empty() ? "" : ", ") + std::to_string(token);
    options.xformersAttConfig =
        R"({"name": "global", "attention_query_mask": [)" + tokens +
        R"(], "seq_len": )" + std::to_string(c.srcLen) + "}";
  }
  if (c.layout) {
    options.xformersBlocksparseLayout = c.layout;
    options.xformersBlocksparseBlocksize = c.blockSize;
  }
  auto mha = MultiheadAttention::create(options);
  ASSERT_TRUE(mha.isOk()) << mha.getStatus().getMessage();

  // Random weights, set through the API; the reference uses them rounded to
  // the module's dtype (biases stay fp32).
  std::map<std::string, std::vector<double>> weights;
  for (const std::string &name : (*mha)->getWeightNames()) {
    auto shape = (*mha)->getWeightShape(name);
    ASSERT_TRUE(shape.isOk());
    std::size_t count = 1;
    for (int64_t dim : *shape)
      count *= dim;
    bool isBias = shape->size() == 1;
    double scale = isBias ? 0.2 : 1.0 / std::sqrt(double((*shape)[1]));
    std::vector<double> values =
        randomValues(count, isBias ? DType::F32 : c.dtype, rng, scale);
    std::vector<float> floats(values.begin(), values.end());
    Status status = (*mha)->setWeight(name, floats.data(), floats.size());
    ASSERT_TRUE(status.isOk()) << status.getMessage();
    weights[name] = values;
  }

  int64_t T = c.tgtLen, S = c.srcLen, B = c.batch, C = c.embedDim;
  int64_t H = c.numHeads, D = C / H;
  // Key positions the attention sees: S, then bias_k/bias_v, then zeros.
  int64_t Sx = S + (c.addBiasKv ? 1 : 0) + (c.addZeroAttn ? 1 : 0);
  std::vector<double> query = randomValues(T * B * C, c.dtype, rng, 1.0);
  std::vector<double> key =
      c.selfAttention ? query : randomValues(S * B * c.kdim, c.dtype, rng, 1.0);
  std::vector<double> value =
      c.selfAttention || c.encoderDecoder
          ? key
          : randomValues(S * B * c.vdim, c.dtype, rng, 1.0);
  const double inf = std::numeric_limits<double>::infinity();

  // Masks: about a quarter masked, one query row fully masked, one batch
  // entry fully padded.
  std::vector<double> maskValues, padding;
  std::vector<double> additive(T * S, 0.0);
  std::bernoulli_distribution masked(0.25);
  if (c.attnMask) {
    maskValues.resize(T * S);
    for (int64_t t = 0; t < T; ++t)
      for (int64_t s = 0; s < S; ++s) {
        bool m = masked(rng) || t == T / 2;
        if (*c.attnMask == DType::Bool) {
          maskValues[t * S + s] = m;
          additive[t * S + s] = m ? -inf : 0;
        } else {
          double extra = roundTo(*c.attnMask, 0.5 * (double(s % 7) - 3));
          maskValues[t * S + s] = m ? -inf : extra;
          additive[t * S + s] = m ? -inf : extra;
        }
      }
  }
  if (c.keyPadding) {
    padding.resize(B * S);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t s = 0; s < S; ++s)
        padding[b * S + s] = (b == B - 1) || (s >= S - 3 * b);
  }

  DeviceBuffer queryBuffer = uploadAs(query, c.dtype);
  DeviceBuffer keyBuffer = uploadAs(key, c.dtype);
  DeviceBuffer valueBuffer = uploadAs(value, c.dtype);
  DeviceBuffer maskBuffer, paddingBuffer;
  StatusOr<DeviceBuffer> output =
      DeviceBuffer::allocate(T * B * C * getDTypeSize(c.dtype));
  ASSERT_TRUE(output.isOk());
  ASSERT_TRUE(output->fill(0xff).isOk()); // NaN poison

  MultiheadAttention::ForwardArgs args;
  args.query = TensorView(queryBuffer.data(), c.dtype, {T, B, C});
  if (!c.selfAttention)
    args.key = TensorView(keyBuffer.data(), c.dtype, {S, B, c.kdim});
  if (!c.selfAttention && !c.encoderDecoder)
    args.value = TensorView(valueBuffer.data(), c.dtype, {S, B, c.vdim});
  if (c.attnMask) {
    maskBuffer = uploadAs(maskValues, *c.attnMask);
    args.attnMask = TensorView(maskBuffer.data(), *c.attnMask, {T, S});
  }
  if (c.keyPadding) {
    paddingBuffer = uploadAs(padding, DType::U8);
    args.keyPaddingMask = TensorView(paddingBuffer.data(), DType::U8, {B, S});
  }
  args.output = TensorView(output->data(), c.dtype, {T, B, C});
  bool wantWeights = c.needWeights || c.needHeadWeights;
  int64_t weightCount = (c.needHeadWeights ? H : 1) * B * T * Sx;
  StatusOr<DeviceBuffer> weightsOut =
      DeviceBuffer::allocate(std::max<int64_t>(weightCount, 1) * 4);
  ASSERT_TRUE(weightsOut.isOk());
  ASSERT_TRUE(weightsOut->fill(0xff).isOk()); // NaN poison
  if (wantWeights) {
    args.needWeights = c.needWeights;
    args.needHeadWeights = c.needHeadWeights;
    if (c.needHeadWeights)
      args.attnWeights =
          TensorView(weightsOut->data(), DType::F32, {H, B, T, Sx});
    else
      args.attnWeights = TensorView(weightsOut->data(), DType::F32, {B, T, Sx});
  }
  for (int call = 0; call < c.calls; ++call) {
    Status status = (*mha)->forward(args, nullptr);
    ASSERT_TRUE(status.isOk()) << status.getMessage();
  }
  ASSERT_TRUE((*getDriver())->synchronize(nullptr).isOk());
  std::vector<double> got = downloadAs(*output, T * B * C, c.dtype);

  // The fp64 reference.
  auto project = [&](const std::vector<double> &x, int64_t rows, int64_t in,
                     const std::string &proj) {
    const std::vector<double> &w = weights[proj + ".weight"];
    const std::vector<double> &bias = weights[proj + ".bias"];
    std::vector<double> y(rows * C);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t o = 0; o < C; ++o) {
        double sum = bias.empty() ? 0 : bias[o];
        for (int64_t i = 0; i < in; ++i)
          sum += x[r * in + i] * w[o * in + i];
        y[r * C + o] = sum;
      }
    return y;
  };
  std::vector<double> q = project(query, T * B, C, "q_proj");
  std::vector<double> k = project(key, S * B, c.kdim, "k_proj");
  std::vector<double> v = project(value, S * B, c.vdim, "v_proj");
  // FairSeq appends bias_k/bias_v (repeated over the batch), then zeros.
  k.resize(Sx * B * C, 0.0);
  v.resize(Sx * B * C, 0.0);
  if (c.addBiasKv)
    for (int64_t b = 0; b < B; ++b)
      for (int64_t o = 0; o < C; ++o) {
        k[(S * B + b) * C + o] = weights["bias_k"][o];
        v[(S * B + b) * C + o] = weights["bias_v"][o];
      }
  if (c.linformerSeqLen) {
    // K' = E K and V' = F V along the sequence, per batch and channel; the
    // attention then sees linformerK positions.
    const std::vector<double> &e = weights["attention.E"];
    const std::vector<double> &f = weights["attention.F"];
    EXPECT_EQ(e.size(),
              static_cast<std::size_t>(c.linformerK * c.linformerSeqLen));
    std::vector<double> kp(c.linformerK * B * C, 0.0), vp(kp.size(), 0.0);
    for (int64_t r = 0; r < c.linformerK; ++r)
      for (int64_t s = 0; s < S; ++s)
        for (int64_t b = 0; b < B; ++b)
          for (int64_t o = 0; o < C; ++o) {
            kp[(r * B + b) * C + o] +=
                e[r * c.linformerSeqLen + s] * k[(s * B + b) * C + o];
            vp[(r * B + b) * C + o] +=
                f[r * c.linformerSeqLen + s] * v[(s * B + b) * C + o];
          }
    k = kp, v = vp;
    S = Sx = c.linformerK;
  }
  double scaling = 1.0 / std::sqrt(double(D));
  std::vector<double> attn(T * B * C, 0.0), scores(Sx);
  // [H, B, T, Sx], 0 on masked positions and fully masked rows.
  std::vector<double> headWeights(H * B * T * Sx, 0.0);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t t = 0; t < T; ++t) {
        double maxScore = -inf;
        for (int64_t s = 0; s < Sx; ++s) {
          double score = 0;
          for (int64_t d = 0; d < D; ++d)
            score +=
                q[(t * B + b) * C + h * D + d] * k[(s * B + b) * C + h * D + d];
          score = score * scaling + (s < S ? additive[t * S + s] : 0.0);
          if (c.keyPadding && s < S && padding[b * S + s])
            score = -inf;
          if (c.layout && !(*c.layout)[t / c.blockSize][s / c.blockSize])
            score = -inf;
          if (c.causal && s > t)
            score = -inf;
          if (c.randomRate > 0 && !randomKeeps(c, t, s, c.calls - 1))
            score = -inf;
          auto isGlobal = [&](int64_t token) {
            return std::find(c.globalTokens.begin(), c.globalTokens.end(),
                             token) != c.globalTokens.end();
          };
          if (!c.globalTokens.empty() && !isGlobal(t) && !isGlobal(s))
            score = -inf;
          scores[s] = score;
          maxScore = std::max(maxScore, score);
        }
        if (maxScore == -inf)
          continue; // fully masked: 0
        double total = 0;
        for (int64_t s = 0; s < Sx; ++s)
          total += (scores[s] = std::exp(scores[s] - maxScore));
        for (int64_t s = 0; s < Sx; ++s)
          headWeights[((h * B + b) * T + t) * Sx + s] = scores[s] / total;
        for (int64_t s = 0; s < Sx; ++s)
          for (int64_t d = 0; d < D; ++d)
            attn[(t * B + b) * C + h * D + d] +=
                scores[s] / total * v[(s * B + b) * C + h * D + d];
      }
  std::vector<double> expected = project(attn, T * B, C, "out_proj");

  double diff = 0, norm = 0;
  int64_t nans = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (!std::isfinite(got[i]))
      ++nans;
    diff += (got[i] - expected[i]) * (got[i] - expected[i]);
    norm += expected[i] * expected[i];
  }
  double relative = std::sqrt(diff / norm);
  double bound = c.dtype == DType::F32 ? 1e-5 : 1e-2;
  EXPECT_EQ(nans, 0);
  EXPECT_LE(relative, bound);
  if (wantWeights) {
    std::vector<double> gotWeights =
        downloadAs(*weightsOut, weightCount, DType::F32);
    double maxError = 0;
    int64_t weightNans = 0;
    for (int64_t i = 0; i < weightCount; ++i) {
      double want = 0;
      if (c.needHeadWeights) {
        want = headWeights[i];
      } else {
        for (int64_t h = 0; h < H; ++h)
          want += headWeights[h * B * T * Sx + i];
        want /= double(H);
      }
      if (!std::isfinite(gotWeights[i]))
        ++weightNans;
      maxError = std::max(maxError, std::fabs(gotWeights[i] - want));
    }
    // The weights come from the module's dtype q/k in fp32 arithmetic.
    double weightBound = c.dtype == DType::F32 ? 1e-5 : 1e-2;
    EXPECT_EQ(weightNans, 0);
    EXPECT_LE(maxError, weightBound);
    std::printf("[mha] %-28s %-4s %s max abs error %.2e\n", c.name.c_str(),
                getDTypeName(c.dtype),
                c.needHeadWeights ? "head weights" : "weights", maxError);
  }
  std::printf("[mha] %-28s %-4s T=%-3lld S=%-3lld B=%lld C=%lld H=%lld "
              "relative error %.2e\n",
              c.name.c_str(), getDTypeName(c.dtype), (long long)T, (long long)S,
              (long long)B, (long long)C, (long long)H, relative);
}

constexpr DType kDTypes[] = {DType::F32, DType::F16, DType::BF16};

TEST(MultiheadAttentionGpu, RandomAndGlobal) {
  REQUIRE_GPU();
  for (DType dtype : kDTypes) {
    Case c;
    c.name = "random r=0.3";
    c.dtype = dtype, c.selfAttention = true, c.tgtLen = c.srcLen = 70;
    c.randomRate = 0.3, c.randomSeed = 9;
    c.keyPadding = true, c.attnMask = DType::F32;
    runCase(c);
    Case perCall = c;
    perCall.name = "random per call (3rd)";
    perCall.randomPerCall = true, perCall.calls = 3;
    perCall.keyPadding = false, perCall.attnMask.reset();
    runCase(perCall);
    Case global;
    global.name = "global";
    global.dtype = dtype, global.selfAttention = true;
    global.tgtLen = global.srcLen = 90;
    global.globalTokens = {0, 33, 89};
    global.keyPadding = true, global.attnMask = DType::Bool;
    runCase(global);
  }
}

TEST(MultiheadAttentionGpu, SelfAttention) {
  REQUIRE_GPU();
  for (DType dtype : kDTypes) {
    Case c;
    c.name = "self-attention";
    c.dtype = dtype;
    c.selfAttention = true;
    c.tgtLen = c.srcLen = 50;
    runCase(c);
  }
}

TEST(MultiheadAttentionGpu, Linformer) {
  REQUIRE_GPU();
  // The module owns the projections E and F (set here from random values)
  // and passes them to the shared plan; shorter sources use E's first
  // columns.
  for (DType dtype : kDTypes)
    for (int64_t srcLen : {64, 50}) {
      Case c;
      c.name = "linformer S=" + std::to_string(srcLen);
      c.dtype = dtype;
      c.tgtLen = 40;
      c.srcLen = srcLen;
      c.linformerSeqLen = 64;
      c.linformerK = 16;
      c.seed = 70 + srcLen;
      runCase(c);
    }
}

TEST(MultiheadAttentionGpu, EncoderDecoderAttention) {
  REQUIRE_GPU();
  for (DType dtype : kDTypes) {
    Case c;
    c.name = "encoder-decoder";
    c.dtype = dtype;
    c.encoderDecoder = true;
    c.kdim = c.vdim = 96;
    c.tgtLen = 37;
    c.srcLen = 70;
    c.keyPadding = true;
    c.seed = 2;
    runCase(c);
  }
}

TEST(MultiheadAttentionGpu, CrossAttentionKdimVdim) {
  REQUIRE_GPU();
  for (DType dtype : kDTypes) {
    Case c;
    c.name = "kdim 48, vdim 80";
    c.dtype = dtype;
    c.kdim = 48;
    c.vdim = 80;
    c.tgtLen = 65;
    c.srcLen = 23;
    c.batch = 2;
    c.seed = 3;
    runCase(c);
  }
}

TEST(MultiheadAttentionGpu, Masks) {
  REQUIRE_GPU();
  for (DType dtype : kDTypes) {
    // fp32 additive, bool, and the module's 16-bit dtype.
    std::vector<DType> masks = {DType::F32, DType::Bool};
    if (dtype != DType::F32)
      masks.push_back(dtype);
    for (DType mask : masks) {
      Case c;
      c.name = std::string("attn_mask ") + getDTypeName(mask) + " + padding";
      c.dtype = dtype;
      c.attnMask = mask;
      c.keyPadding = true;
      c.tgtLen = 33;
      c.srcLen = 45;
      c.batch = 3;
      c.seed = 4;
      runCase(c);
    }
  }
}

TEST(MultiheadAttentionGpu, BlocksparseLayout) {
  REQUIRE_GPU();
  std::vector<std::vector<int>> layout = {
      {1, 0, 0, 0}, {1, 1, 0, 0}, {0, 0, 0, 0}, {1, 0, 1, 1}};
  for (DType dtype : kDTypes) {
    Case c;
    c.name = "blocksparse 4x4 of 32";
    c.dtype = dtype;
    c.selfAttention = true;
    c.layout = layout;
    c.blockSize = 32;
    c.tgtLen = c.srcLen = 128;
    c.batch = 2;
    c.seed = 5;
    runCase(c);
  }
  Case partial;
  partial.name = "blocksparse, partial block";
  partial.dtype = DType::F16;
  partial.selfAttention = true;
  partial.layout = layout;
  partial.blockSize = 32;
  partial.tgtLen = partial.srcLen = 100;
  partial.seed = 6;
  runCase(partial);
}

TEST(MultiheadAttentionGpu, BlocksparseWithPadding) {
  REQUIRE_GPU();
  Case c;
  c.name = "blocksparse + padding";
  c.dtype = DType::BF16;
  c.selfAttention = true;
  c.layout = std::vector<std::vector<int>>{{1, 1}, {0, 1}};
  c.blockSize = 64;
  c.tgtLen = c.srcLen = 128;
  c.keyPadding = true;
  c.seed = 7;
  runCase(c);
}

/// Training-time dropout: evaluation ignores it; training replays the same
/// masks for the same seed and call count, draws new ones on the next call,
/// keeps the output unbiased (weights scaled by 1 / (1 - p)), and the kept
/// fraction of attention weights is 1 - p (the kernel's dropout itself is
/// checked element by element in test/gpu/harness).
TEST(MultiheadAttentionGpu, TrainingDropout) {
  REQUIRE_GPU();
  const int64_t T = 64, B = 4, C = 128, H = 4;
  auto make = [&](float dropout) -> std::unique_ptr<MultiheadAttention> {
    MultiheadAttention::Options options;
    options.embedDim = C;
    options.numHeads = H;
    options.selfAttention = true;
    options.dropout = dropout;
    options.dtype = DType::F32;
    options.seed = 7;
    auto created = MultiheadAttention::create(options);
    EXPECT_TRUE(created.isOk()) << created.getStatus().getMessage();
    if (!created)
      return nullptr;
    return std::move(*created);
  };
  auto withDropout = make(0.3f), without = make(0.0f);
  ASSERT_TRUE(withDropout && without);
  std::mt19937 rng(11);
  std::normal_distribution<double> normal;
  std::vector<double> input(T * B * C);
  for (double &x : input)
    x = normal(rng);
  DeviceBuffer in = uploadAs(input, DType::F32);
  DeviceBuffer out = uploadAs(input, DType::F32);
  auto run = [&](MultiheadAttention &m, bool training) {
    MultiheadAttention::ForwardArgs args;
    args.query = TensorView(in.data(), DType::F32, {T, B, C});
    args.output = TensorView(out.data(), DType::F32, {T, B, C});
    args.training = training;
    EXPECT_TRUE(out.fill(0xff).isOk());
    Status status = m.forward(args);
    EXPECT_TRUE(status.isOk()) << status.getMessage();
    return downloadAs(out, T * B * C, DType::F32);
  };
  std::vector<double> reference = run(*without, false);
  EXPECT_EQ(run(*withDropout, false), reference)
      << "evaluation ignores dropout";
  std::vector<double> first = run(*withDropout, true);
  std::vector<double> second = run(*withDropout, true);
  auto replay = make(0.3f);
  ASSERT_TRUE(replay);
  EXPECT_EQ(first, run(*replay, true)) << "same seed, same call: same masks";
  EXPECT_NE(first, second) << "the next call draws new masks";
  double sumRef = 0, sumDrop = 0, diff = 0, norm = 0;
  for (std::size_t i = 0; i < reference.size(); ++i) {
    ASSERT_TRUE(std::isfinite(first[i]));
    sumRef += reference[i];
    sumDrop += first[i];
    diff += (first[i] - reference[i]) * (first[i] - reference[i]);
    norm += reference[i] * reference[i];
  }
  // Dropout changes the output (not a no-op) but keeps it unbiased: the mean
  // over 32k outputs stays within a few percent of the output's scale.
  double rel = std::sqrt(diff / norm);
  double scale = std::sqrt(norm / reference.size());
  double shift = std::fabs(sumDrop - sumRef) / reference.size();
  EXPECT_GT(rel, 0.05);
  EXPECT_LT(shift, 0.05 * scale);
  std::printf("[mha] training dropout 0.3   fp32 relative change %.3f, mean "
              "shift %.2e (output scale %.2e)\n",
              rel, shift, scale);
}

TEST(MultiheadAttentionGpu, NeedWeights) {
  REQUIRE_GPU();
  for (DType dtype : kDTypes) {
    Case c;
    c.name = "need_weights + masks";
    c.dtype = dtype;
    c.attnMask = DType::Bool;
    c.keyPadding = true;
    c.needWeights = true;
    c.tgtLen = 21;
    c.srcLen = 300; // more keys than the kernel's threads
    c.seed = 8;
    runCase(c);
  }
  Case heads;
  heads.name = "need_head_weights, causal";
  heads.selfAttention = true;
  heads.causal = true;
  heads.needHeadWeights = true;
  heads.tgtLen = heads.srcLen = 45;
  heads.seed = 9;
  runCase(heads);
  Case sparse;
  sparse.name = "need_head_weights, blocksparse";
  sparse.dtype = DType::F16;
  sparse.selfAttention = true;
  sparse.layout = std::vector<std::vector<int>>{
      {1, 0, 0, 0}, {1, 1, 0, 0}, {0, 0, 0, 0}, {1, 0, 1, 1}};
  sparse.blockSize = 32;
  sparse.tgtLen = sparse.srcLen = 100;
  sparse.keyPadding = true;
  sparse.needHeadWeights = true;
  sparse.seed = 10;
  runCase(sparse);
}

TEST(MultiheadAttentionGpu, BiasKvAndZeroAttn) {
  REQUIRE_GPU();
  for (DType dtype : kDTypes) {
    Case c;
    c.name = "add_bias_kv + add_zero_attn";
    c.dtype = dtype;
    c.addBiasKv = true;
    c.addZeroAttn = true;
    c.attnMask = DType::F32;
    c.keyPadding = true;
    c.needWeights = true;
    c.tgtLen = 19;
    c.srcLen = 30;
    c.seed = 11;
    runCase(c);
  }
  Case bias;
  bias.name = "add_bias_kv, bool mask";
  bias.dtype = DType::F16;
  bias.encoderDecoder = true;
  bias.addBiasKv = true;
  bias.attnMask = DType::Bool;
  bias.needHeadWeights = true;
  bias.tgtLen = 24;
  bias.srcLen = 33;
  bias.seed = 12;
  runCase(bias);
  Case zero;
  zero.name = "add_zero_attn, self-attention";
  zero.selfAttention = true;
  zero.addZeroAttn = true;
  zero.keyPadding = true;
  zero.tgtLen = zero.srcLen = 40;
  zero.seed = 13;
  runCase(zero);
}

/// Incremental decoding: step-by-step forwards (T = 1 each, with an
/// IncrementalState) against one full forward of the same module.
struct IncrementalCase {
  std::string name;
  DType dtype = DType::F32;
  int64_t embedDim = 128, numHeads = 4, tgtLen = 40, srcLen = 0, batch = 3;
  /// Self-attention with a causal config, or static_kv cross-attention over
  /// srcLen encoder positions (srcLen > 0).
  std::optional<std::vector<std::vector<int>>> layout;
  int64_t blockSize = 16;
  bool keyPadding = false;
  unsigned seed = 20;
};

void runIncrementalCase(const IncrementalCase &c) {
  SCOPED_TRACE(c.name + " (" + getDTypeName(c.dtype) + ")");
  std::mt19937 rng(c.seed);
  bool cross = c.srcLen > 0;
  MultiheadAttention::Options options;
  options.embedDim = c.embedDim;
  options.numHeads = c.numHeads;
  options.dtype = c.dtype;
  options.selfAttention = !cross;
  options.encoderDecoderAttention = cross;
  if (!cross)
    options.xformersAttConfig =
        R"({"name": "scaled_dot_product", "causal": true})";
  if (c.layout) {
    options.xformersBlocksparseLayout = c.layout;
    options.xformersBlocksparseBlocksize = c.blockSize;
  }
  auto mha = MultiheadAttention::create(options);
  ASSERT_TRUE(mha.isOk()) << mha.getStatus().getMessage();
  for (const std::string &name : (*mha)->getWeightNames()) {
    auto shape = (*mha)->getWeightShape(name);
    ASSERT_TRUE(shape.isOk());
    std::size_t count = 1;
    for (int64_t dim : *shape)
      count *= dim;
    bool isBias = shape->size() == 1;
    double scale = isBias ? 0.2 : 1.0 / std::sqrt(double((*shape)[1]));
    std::vector<double> values =
        randomValues(count, isBias ? DType::F32 : c.dtype, rng, scale);
    std::vector<float> floats(values.begin(), values.end());
    ASSERT_TRUE((*mha)->setWeight(name, floats.data(), floats.size()).isOk());
  }
  int64_t T = c.tgtLen, B = c.batch, C = c.embedDim, S = c.srcLen;
  std::size_t elementSize = getDTypeSize(c.dtype);
  DeviceBuffer query =
      uploadAs(randomValues(T * B * C, c.dtype, rng, 1.0), c.dtype);
  DeviceBuffer key;
  if (cross)
    key = uploadAs(randomValues(S * B * C, c.dtype, rng, 1.0), c.dtype);
  DeviceBuffer padding;
  if (c.keyPadding) {
    std::vector<double> values(B * S);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t s = 0; s < S; ++s)
        values[b * S + s] = s >= S - 2 * b;
    padding = uploadAs(values, DType::U8);
  }
  StatusOr<DeviceBuffer> full = DeviceBuffer::allocate(T * B * C * elementSize);
  StatusOr<DeviceBuffer> steps =
      DeviceBuffer::allocate(T * B * C * elementSize);
  ASSERT_TRUE(full.isOk() && steps.isOk());
  ASSERT_TRUE(full->fill(0xff).isOk());
  ASSERT_TRUE(steps->fill(0xff).isOk());

  MultiheadAttention::ForwardArgs args;
  args.query = TensorView(query.data(), c.dtype, {T, B, C});
  if (cross)
    args.key = TensorView(key.data(), c.dtype, {S, B, C});
  if (c.keyPadding)
    args.keyPaddingMask = TensorView(padding.data(), DType::U8, {B, S});
  args.output = TensorView(full->data(), c.dtype, {T, B, C});
  Status status = (*mha)->forward(args, nullptr);
  ASSERT_TRUE(status.isOk()) << status.getMessage();

  MultiheadAttention::IncrementalState state;
  for (int64_t t = 0; t < T; ++t) {
    MultiheadAttention::ForwardArgs step;
    step.query =
        TensorView(static_cast<char *>(query.data()) + t * B * C * elementSize,
                   c.dtype, {1, B, C});
    step.output =
        TensorView(static_cast<char *>(steps->data()) + t * B * C * elementSize,
                   c.dtype, {1, B, C});
    step.incrementalState = &state;
    if (cross) {
      step.staticKv = true;
      if (t == 0)
        step.key = args.key; // stored; later steps reuse it
      if (c.keyPadding)
        step.keyPaddingMask = args.keyPaddingMask;
    }
    status = (*mha)->forward(step, nullptr);
    ASSERT_TRUE(status.isOk()) << "step " << t << ": " << status.getMessage();
    EXPECT_EQ(state.getLength(), cross ? S : t + 1);
  }
  ASSERT_TRUE((*getDriver())->synchronize(nullptr).isOk());
  EXPECT_EQ(state.getPrevKey().shape[2], cross ? S : T);
  std::vector<double> want = downloadAs(*full, T * B * C, c.dtype);
  std::vector<double> got = downloadAs(*steps, T * B * C, c.dtype);
  double diff = 0, norm = 0;
  int64_t nans = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (!std::isfinite(got[i]))
      ++nans;
    diff += (got[i] - want[i]) * (got[i] - want[i]);
    norm += want[i] * want[i];
  }
  double relative = std::sqrt(diff / norm);
  EXPECT_EQ(nans, 0);
  EXPECT_LE(relative, c.dtype == DType::F32 ? 1e-5 : 1e-2);
  std::printf("[mha] %-28s %-4s T=%-3lld B=%lld steps vs full forward: "
              "relative difference %.2e\n",
              c.name.c_str(), getDTypeName(c.dtype), (long long)T, (long long)B,
              relative);
}

TEST(MultiheadAttentionGpu, IncrementalCausal) {
  REQUIRE_GPU();
  for (DType dtype : kDTypes) {
    IncrementalCase c;
    c.name = "incremental, causal";
    c.dtype = dtype;
    runIncrementalCase(c);
  }
  IncrementalCase sparse;
  sparse.name = "incremental, causal blocksparse";
  sparse.dtype = DType::F16;
  sparse.layout = std::vector<std::vector<int>>{
      {1, 0, 0, 0}, {1, 1, 0, 0}, {0, 0, 0, 0}, {1, 0, 1, 1}};
  sparse.tgtLen = 64;
  sparse.batch = 2;
  sparse.seed = 21;
  runIncrementalCase(sparse);
}

TEST(MultiheadAttentionGpu, IncrementalStaticKv) {
  REQUIRE_GPU();
  for (DType dtype : {DType::F32, DType::BF16}) {
    IncrementalCase c;
    c.name = "incremental, static_kv";
    c.dtype = dtype;
    c.tgtLen = 9;
    c.srcLen = 50;
    c.keyPadding = true;
    c.seed = 22;
    runIncrementalCase(c);
  }
}

} // namespace
