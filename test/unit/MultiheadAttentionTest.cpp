//===- MultiheadAttentionTest.cpp - MultiheadAttention without a GPU ------===//
//
// Option validation, FairSeq's initialization, weights by name, the errors of
// what is not supported yet, argument checks (attention weights included) and
// forward() without a driver.
// Creating a module compiles its plan through NVRTC (no GPU needed).
//
//===----------------------------------------------------------------------===//

#include "xfc/runtime/MultiheadAttention.h"

#include "xfc/runtime/Cuda.h"

#include "gtest/gtest.h"

#include <algorithm>
#include <cmath>

#include <cmath>
#include <cstdlib>

using namespace xfc;
using namespace xfc::runtime;

namespace {

MultiheadAttention::Options smallOptions() {
  MultiheadAttention::Options options;
  options.embedDim = 64;
  options.numHeads = 2;
  return options;
}

/// The message of a failed create(), or "" when it succeeded.
std::string createError(const MultiheadAttention::Options &options) {
  auto mha = MultiheadAttention::create(options);
  return mha ? "" : mha.getStatus().getMessage();
}

std::unique_ptr<MultiheadAttention>
mustCreate(const MultiheadAttention::Options &options) {
  auto mha = MultiheadAttention::create(options);
  EXPECT_TRUE(mha.isOk()) << mha.getStatus().getMessage();
  return mha ? std::move(*mha) : nullptr;
}

bool contains(const std::string &text, const std::string &part) {
  return text.find(part) != std::string::npos;
}

TEST(MultiheadAttention, OptionErrors) {
  auto options = smallOptions();
  options.embedDim = 0;
  EXPECT_EQ(createError(options),
            "embed_dim: expected a positive integer, got 0");
  options = smallOptions();
  options.numHeads = -1;
  EXPECT_EQ(createError(options),
            "num_heads: expected a positive integer, got -1");
  options = smallOptions();
  options.numHeads = 3;
  EXPECT_EQ(createError(options), "embed_dim: must be divisible by num_heads "
                                  "(64 is not a multiple of 3)");
  options = smallOptions();
  options.kdim = 0;
  EXPECT_EQ(createError(options), "kdim: expected a positive integer, got 0");
  options = smallOptions();
  options.selfAttention = true;
  options.vdim = 32;
  EXPECT_TRUE(contains(createError(options),
                       "self_attention: requires query, key and value of the "
                       "same size"));
  options = smallOptions();
  options.dropout = 1.5f;
  EXPECT_TRUE(
      contains(createError(options), "dropout: expected a probability"));
  options = smallOptions();
  options.dtype = DType::U8;
  EXPECT_EQ(createError(options), "dtype: expected fp16, bf16 or fp32, got u8");
  options = smallOptions();
  options.xformersBlocksparseBlocksize = 0;
  options.xformersBlocksparseLayout = std::vector<std::vector<int>>{{1}};
  EXPECT_TRUE(contains(createError(options),
                       "xformers_blocksparse_blocksize: expected a positive"));
}

TEST(MultiheadAttention, BiasKvWeights) {
  auto options = smallOptions();
  options.addBiasKv = true;
  options.addZeroAttn = true;
  options.seed = 7;
  auto mha = mustCreate(options);
  ASSERT_TRUE(mha);
  std::vector<std::string> names = mha->getWeightNames();
  ASSERT_EQ(names.size(), 10u);
  EXPECT_EQ(names[8], "bias_k");
  EXPECT_EQ(names[9], "bias_v");
  EXPECT_EQ(*mha->getWeightShape("bias_k"), (std::vector<int64_t>{1, 1, 64}));
  // xavier_normal_ on [1, 1, 64]: std 1/8; not all equal, not all zero.
  for (const char *name : {"bias_k", "bias_v"}) {
    std::vector<float> values = *mha->getWeight(name);
    ASSERT_EQ(values.size(), 64u);
    double sum = 0, squares = 0;
    for (float value : values) {
      sum += value;
      squares += double(value) * value;
    }
    double std = std::sqrt(squares / 64 - (sum / 64) * (sum / 64));
    EXPECT_GT(std, 0.125 * 0.6) << name;
    EXPECT_LT(std, 0.125 * 1.4) << name;
  }
  std::vector<float> values(64, 0.5f);
  EXPECT_TRUE(mha->setWeight("bias_v", values.data(), 64).isOk());
  EXPECT_EQ(*mha->getWeight("bias_v"), values);
  EXPECT_EQ(mha->setWeight("bias_k", values.data(), 63).getMessage(),
            "bias_k: expected 64 values (shape [1, 1, 64]), got 63");

  auto plain = mustCreate(smallOptions());
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->getWeightNames().size(), 8u);
  EXPECT_EQ(plain->getWeight("bias_k").getStatus().getMessage(),
            "bias_k: the module has no bias_k/bias_v (add_bias_kv=false)");
  // The projections' initialization does not depend on add_bias_kv.
  auto seeded = smallOptions();
  seeded.seed = 7;
  auto same = mustCreate(seeded);
  ASSERT_TRUE(same);
  EXPECT_EQ(*same->getWeight("out_proj.weight"),
            *mha->getWeight("out_proj.weight"));
}

TEST(MultiheadAttention, ExtraKeysWidenTheWeights) {
  // add_bias_kv and add_zero_attn each add a key position: S + 2 columns.
  auto options = smallOptions();
  options.addBiasKv = true;
  options.addZeroAttn = true;
  auto mha = mustCreate(options);
  ASSERT_TRUE(mha);
  static char storage[16];
  MultiheadAttention::ForwardArgs args;
  args.query = TensorView(storage, DType::F32, {8, 2, 64});
  args.key = TensorView(storage, DType::F32, {6, 2, 64});
  args.value = TensorView(storage, DType::F32, {6, 2, 64});
  args.output = TensorView(storage, DType::F32, {8, 2, 64});
  args.needWeights = true;
  args.attnWeights = TensorView(storage, DType::F32, {2, 8, 6});
  EXPECT_TRUE(contains(mha->forward(args).getMessage(),
                       "attn_weights: expected shape [2, 8, 8]"))
      << mha->forward(args).getMessage();
  // Masks keep the caller's src_len.
  args.attnWeights = TensorView(storage, DType::F32, {2, 8, 8});
  args.attnMask = TensorView(storage, DType::F32, {8, 8});
  EXPECT_TRUE(contains(mha->forward(args).getMessage(),
                       "attn_mask: expected shape [8, 6]"));
}

TEST(MultiheadAttention, ConfigErrorsComeFromTheCompiler) {
  auto options = smallOptions();
  options.xformersAttConfig = R"({"name": "scaled_dot_product", "foo": 1})";
  std::string message = createError(options);
  EXPECT_TRUE(contains(message, "foo")) << message;
  options.xformersAttConfig = R"({"name": )";
  message = createError(options);
  EXPECT_TRUE(contains(message, "xformers_att_config")) << message;
  options.xformersAttConfig = R"({"name": "no_such_variant"})";
  message = createError(options);
  EXPECT_TRUE(contains(message, "no_such_variant")) << message;
}

TEST(MultiheadAttention, BlocksparseLayoutRewritesTheConfig) {
  auto options = smallOptions();
  options.xformersAttConfig = R"({"name": "scaled_dot_product"})";
  options.xformersBlocksparseLayout =
      std::vector<std::vector<int>>{{1, 0}, {1, 1}};
  options.xformersBlocksparseBlocksize = 32;
  auto mha = mustCreate(options);
  ASSERT_TRUE(mha);
  const std::string &config = mha->getAttentionConfig();
  EXPECT_TRUE(contains(config, "\"name\":\"blocksparse\"")) << config;
  EXPECT_TRUE(contains(config, "\"block_size\":32")) << config;
  EXPECT_TRUE(contains(config, "\"layout\":[[1,0],[1,1]]")) << config;

  // A layout of the wrong shape is the compiler's error about the layout.
  options.xformersBlocksparseLayout =
      std::vector<std::vector<int>>{{1, 0}, {1}};
  std::string message = createError(options);
  EXPECT_TRUE(contains(message, "layout")) << message;
  options.xformersBlocksparseLayoutPerHead =
      std::vector<std::vector<std::vector<int>>>{{{1}}};
  EXPECT_TRUE(contains(createError(options), "not both"));
}

TEST(MultiheadAttention, FairseqInitialization) {
  auto options = smallOptions();
  options.seed = 7;
  auto mha = mustCreate(options);
  ASSERT_TRUE(mha);
  EXPECT_EQ(mha->getHeadDim(), 32);
  EXPECT_FLOAT_EQ(mha->getScaling(), 1.0f / std::sqrt(32.0f));
  std::vector<std::string> expected = {
      "q_proj.weight", "q_proj.bias", "k_proj.weight",   "k_proj.bias",
      "v_proj.weight", "v_proj.bias", "out_proj.weight", "out_proj.bias"};
  EXPECT_EQ(mha->getWeightNames(), expected);
  // xavier_uniform: bound = gain * sqrt(6 / (in + out)).
  double qkvBound = std::sqrt(6.0 / 128) / std::sqrt(2.0);
  double outBound = std::sqrt(6.0 / 128);
  for (const char *name :
       {"q_proj.weight", "k_proj.weight", "v_proj.weight", "out_proj.weight"}) {
    auto weight = mha->getWeight(name);
    ASSERT_TRUE(weight.isOk());
    ASSERT_EQ(weight->size(), 64u * 64u);
    double bound = std::string(name) == "out_proj.weight" ? outBound : qkvBound;
    double maxAbs = 0;
    for (float value : *weight)
      maxAbs = std::max(maxAbs, std::fabs(double(value)));
    EXPECT_LE(maxAbs, bound) << name;
    EXPECT_GT(maxAbs, 0.9 * bound) << name;
  }
  auto outBias = mha->getWeight("out_proj.bias");
  ASSERT_TRUE(outBias.isOk());
  for (float value : *outBias)
    EXPECT_EQ(value, 0.0f);
  // Same seed, same weights; another seed, others.
  auto same = mustCreate(options);
  options.seed = 8;
  auto other = mustCreate(options);
  ASSERT_TRUE(same && other);
  EXPECT_EQ(*mha->getWeight("q_proj.weight"),
            *same->getWeight("q_proj.weight"));
  EXPECT_NE(*mha->getWeight("q_proj.weight"),
            *other->getWeight("q_proj.weight"));

  // kdim != embed_dim: gain 1 on q/k/v.
  options.kdim = 32;
  options.vdim = 48;
  auto cross = mustCreate(options);
  ASSERT_TRUE(cross);
  EXPECT_EQ(*cross->getWeightShape("k_proj.weight"),
            (std::vector<int64_t>{64, 32}));
  EXPECT_EQ(*cross->getWeightShape("v_proj.weight"),
            (std::vector<int64_t>{64, 48}));
  double maxAbs = 0;
  for (float value : *cross->getWeight("q_proj.weight"))
    maxAbs = std::max(maxAbs, std::fabs(double(value)));
  EXPECT_GT(maxAbs, qkvBound * 1.1);
}

TEST(MultiheadAttention, WeightsRoundTripAndErrors) {
  auto options = smallOptions();
  options.vdim = 16;
  auto mha = mustCreate(options);
  ASSERT_TRUE(mha);
  std::vector<float> values(64 * 16);
  for (std::size_t i = 0; i < values.size(); ++i)
    values[i] = 0.001f * float(i);
  Status status = mha->setWeight("v_proj.weight", values.data(), values.size());
  ASSERT_TRUE(status.isOk()) << status.getMessage();
  EXPECT_EQ(*mha->getWeight("v_proj.weight"), values);

  status = mha->setWeight("v_proj.weight", values.data(), 64 * 64);
  EXPECT_EQ(status.getMessage(),
            "v_proj.weight: expected 1024 values (shape [64, 16]), got 4096");
  status = mha->setWeight("q_proj.wieght", values.data(), 10);
  EXPECT_TRUE(contains(status.getMessage(),
                       "q_proj.wieght: unknown weight; expected one of "
                       "q_proj.weight, q_proj.bias"))
      << status.getMessage();
  status = mha->setWeight("q_proj.bias", nullptr, 64);
  EXPECT_EQ(status.getMessage(), "q_proj.bias: the data pointer is null");

  options.bias = false;
  auto noBias = mustCreate(options);
  ASSERT_TRUE(noBias);
  EXPECT_EQ(noBias->getWeightNames().size(), 4u);
  EXPECT_EQ(noBias->getWeight("out_proj.bias").getStatus().getMessage(),
            "out_proj.bias: the module has no biases (bias=false)");
}

/// Arguments with fake (never dereferenced) device pointers.
MultiheadAttention::ForwardArgs fakeArgs(DType dtype, int64_t t, int64_t s,
                                         int64_t b, int64_t c) {
  static char storage[16];
  MultiheadAttention::ForwardArgs args;
  args.query = TensorView(storage, dtype, {t, b, c});
  args.key = TensorView(storage, dtype, {s, b, c});
  args.value = TensorView(storage, dtype, {s, b, c});
  args.output = TensorView(storage, dtype, {t, b, c});
  return args;
}

TEST(MultiheadAttention, VariantParametersAreModuleWeights) {
  // linformer's E and F belong to the module ("attention.E", as FairSeq's
  // state dict names the attention submodule), initialised like
  // nn.Linear(seq_len, k): U(-1/sqrt(seq_len), 1/sqrt(seq_len)).
  auto options = smallOptions();
  options.xformersAttConfig =
      R"({"name": "linformer", "seq_len": 64, "k": 16})";
  auto mha = mustCreate(options);
  ASSERT_TRUE(mha);
  std::vector<std::string> names = mha->getWeightNames();
  EXPECT_NE(std::find(names.begin(), names.end(), "attention.E"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "attention.F"), names.end());
  auto shape = mha->getWeightShape("attention.F");
  ASSERT_TRUE(shape.isOk()) << shape.getStatus().getMessage();
  EXPECT_EQ(*shape, (std::vector<int64_t>{16, 64}));
  auto e = mha->getWeight("attention.E");
  ASSERT_TRUE(e.isOk());
  float largest = 0;
  for (float x : *e)
    largest = std::max(largest, std::fabs(x));
  EXPECT_LE(largest, 0.125f);
  EXPECT_GT(largest, 0.1f);
  std::vector<float> values(16 * 64, 0.5f);
  Status status = mha->setWeight("attention.E", values.data(), values.size());
  ASSERT_TRUE(status.isOk()) << status.getMessage();
  EXPECT_EQ(*mha->getWeight("attention.E"), values);
  status = mha->setWeight("attention.E", values.data(), 10);
  EXPECT_EQ(status.getMessage(),
            "attention.E: expected 1024 values (shape [16, 64]), got 10");
}

TEST(MultiheadAttention, UnsupportedForwardArguments) {
  auto mha = mustCreate(smallOptions());
  ASSERT_TRUE(mha);
  auto args = fakeArgs(DType::F32, 8, 8, 2, 64);
  args.staticKv = true;
  EXPECT_EQ(mha->forward(args).getMessage(),
            "static_kv: needs incremental_state (where the key/value to "
            "reuse are kept)");
  MultiheadAttention::IncrementalState state;
  args = fakeArgs(DType::F32, 1, 1, 2, 64);
  args.incrementalState = &state;
  args.needWeights = true;
  EXPECT_EQ(mha->forward(args).getMessage(),
            "need_weights: not supported with incremental_state yet");
  auto biasOptions = smallOptions();
  biasOptions.addBiasKv = true;
  auto withBias = mustCreate(biasOptions);
  ASSERT_TRUE(withBias);
  args.needWeights = false;
  EXPECT_EQ(withBias->forward(args).getMessage(),
            "add_bias_kv: not supported with incremental_state yet");

  auto options = smallOptions();
  options.dropout = 0.1f;
  auto withDropout = mustCreate(options);
  ASSERT_TRUE(withDropout);
  MultiheadAttention::IncrementalState dropoutState;
  args = fakeArgs(DType::F32, 1, 1, 2, 64);
  args.training = true;
  args.incrementalState = &dropoutState;
  EXPECT_EQ(withDropout->forward(args).getMessage(),
            "dropout: training-time dropout with incremental_state is not "
            "supported (use training = false when decoding)");
}

TEST(MultiheadAttention, AttentionWeightsArgumentErrors) {
  auto mha = mustCreate(smallOptions());
  ASSERT_TRUE(mha);
  auto args = fakeArgs(DType::F32, 8, 6, 2, 64);
  args.needWeights = true;
  EXPECT_EQ(mha->forward(args).getMessage(),
            "attn_weights: required with need_weights (an fp32 device view "
            "to write the weights to)");
  args.attnWeights = TensorView(args.output.data, DType::F16, {2, 8, 6});
  EXPECT_EQ(mha->forward(args).getMessage(),
            "attn_weights: expected dtype fp32, got fp16");
  args.attnWeights = TensorView(args.output.data, DType::F32, {2, 6, 8});
  EXPECT_TRUE(contains(mha->forward(args).getMessage(),
                       "attn_weights: expected shape [2, 8, 6]"))
      << mha->forward(args).getMessage();
  args.attnWeights =
      TensorView(args.output.data, DType::F32, {2, 8, 6}, {1, 2, 16});
  EXPECT_EQ(mha->forward(args).getMessage(),
            "attn_weights: expected a contiguous [batch, tgt_len, src_len] "
            "tensor");
  args.needHeadWeights = true;
  args.attnWeights = TensorView(args.output.data, DType::F32, {2, 8, 6});
  EXPECT_TRUE(contains(mha->forward(args).getMessage(), "attn_weights: "))
      << mha->forward(args).getMessage();
  args.needWeights = false;
  args.attnWeights.reset();
  EXPECT_TRUE(contains(mha->forward(args).getMessage(),
                       "attn_weights: required with need_head_weights"));
  // Well-formed weights of an empty batch: checked, nothing launched.
  args = fakeArgs(DType::F32, 8, 6, 0, 64);
  args.needHeadWeights = true;
  args.attnWeights = TensorView(args.output.data, DType::F32, {2, 0, 8, 6});
  EXPECT_TRUE(mha->forward(args).isOk()) << mha->forward(args).getMessage();
}

TEST(MultiheadAttention, WeightsAndIncrementalNeedAKnownStructure) {
  // The weights kernel and the incremental step mask know causal and block
  // layouts only: other variants (a local window, ...) are refused.
  auto options = smallOptions();
  options.xformersAttConfig = R"({"name": "local", "window_size": 5})";
  auto mha = mustCreate(options);
  ASSERT_TRUE(mha);
  auto args = fakeArgs(DType::F32, 8, 8, 2, 64);
  args.needWeights = true;
  args.attnWeights = TensorView(args.output.data, DType::F32, {2, 8, 8});
  EXPECT_EQ(mha->forward(args).getMessage(),
            "need_weights: not supported yet for the \"local\" attention "
            "(only scaled_dot_product and blocksparse)");
  args = fakeArgs(DType::F32, 1, 1, 2, 64);
  MultiheadAttention::IncrementalState state;
  args.incrementalState = &state;
  EXPECT_TRUE(contains(mha->forward(args).getMessage(),
                       "incremental_state: not supported yet for the "
                       "\"local\" attention"));
}

TEST(MultiheadAttention, RandomAndGlobalRefuseWeightsAndIncremental) {
  // Like local: the weights kernel and the incremental step mask do not know
  // a random pattern or global tokens.
  const char *const configs[] = {
      R"({"name": "random", "r": 0.2})",
      R"({"name": "global", "attention_query_mask": [0, 3], "seq_len": 8})"};
  for (const char *config : configs) {
    auto options = smallOptions();
    options.xformersAttConfig = config;
    auto mha = mustCreate(options);
    ASSERT_TRUE(mha);
    std::string name = contains(config, "random") ? "random" : "global";
    auto args = fakeArgs(DType::F32, 8, 8, 2, 64);
    args.needWeights = true;
    args.attnWeights = TensorView(args.output.data, DType::F32, {2, 8, 8});
    EXPECT_EQ(mha->forward(args).getMessage(),
              "need_weights: not supported yet for the \"" + name +
                  "\" attention (only scaled_dot_product and blocksparse)");
    args = fakeArgs(DType::F32, 1, 1, 2, 64);
    MultiheadAttention::IncrementalState state;
    args.incrementalState = &state;
    EXPECT_TRUE(contains(mha->forward(args).getMessage(),
                         "incremental_state: not supported yet for the \"" +
                             name + "\" attention"));
  }
}

TEST(MultiheadAttention, IncrementalStateArguments) {
  MultiheadAttention::IncrementalState state;
  EXPECT_EQ(state.getLength(), 0);
  EXPECT_EQ(state.getBatch(), 0);
  EXPECT_EQ(state.getPrevKey().data, nullptr);
  state.reset();
  EXPECT_EQ(state.getLength(), 0);
  MultiheadAttention::IncrementalState moved = std::move(state);
  EXPECT_EQ(moved.getLength(), 0);

  auto options = smallOptions();
  options.selfAttention = true;
  auto mha = mustCreate(options);
  ASSERT_TRUE(mha);
  // A fresh state: the step's masks cover the cache after it (0 + 1).
  auto args = fakeArgs(DType::F32, 1, 1, 2, 64);
  args.key = TensorView();
  args.value = TensorView();
  args.incrementalState = &moved;
  args.keyPaddingMask = TensorView(args.output.data, DType::U8, {2, 2});
  EXPECT_TRUE(contains(mha->forward(args).getMessage(),
                       "key_padding_mask: expected shape [2, 1]"))
      << mha->forward(args).getMessage();
  args.keyPaddingMask.reset();
  args.attnMask = TensorView(args.output.data, DType::F32, {1, 3});
  EXPECT_TRUE(contains(mha->forward(args).getMessage(),
                       "attn_mask: expected shape [1, 1]"))
      << mha->forward(args).getMessage();

  // static_kv on an empty state still needs the key to store.
  auto cross = mustCreate(smallOptions());
  ASSERT_TRUE(cross);
  args = fakeArgs(DType::F32, 1, 5, 2, 64);
  args.key = TensorView();
  args.incrementalState = &moved;
  args.staticKv = true;
  EXPECT_TRUE(contains(cross->forward(args).getMessage(), "key: required"));
}

TEST(MultiheadAttention, ForwardArgumentErrors) {
  auto options = smallOptions();
  options.kdim = 32;
  auto mha = mustCreate(options);
  ASSERT_TRUE(mha);
  auto args = fakeArgs(DType::F32, 8, 6, 2, 64);
  args.key = TensorView(args.key.data, DType::F32, {6, 2, 32});
  args.query = TensorView(args.query.data, DType::F16, {8, 2, 64});
  EXPECT_EQ(mha->forward(args).getMessage(),
            "query: expected dtype fp32, got fp16");
  args.query = TensorView(args.query.data, DType::F32, {8, 64});
  EXPECT_TRUE(contains(mha->forward(args).getMessage(),
                       "query: expected 3 dimensions [tgt_len, batch, "
                       "embed_dim]"));
  args.query = TensorView(args.query.data, DType::F32, {8, 2, 64});
  args.key = TensorView(args.key.data, DType::F32, {6, 2, 64});
  EXPECT_TRUE(
      contains(mha->forward(args).getMessage(), "key: expected kdim 32"))
      << mha->forward(args).getMessage();
  args.key = TensorView(args.key.data, DType::F32, {6, 3, 32});
  EXPECT_TRUE(contains(mha->forward(args).getMessage(), "key: expected batch"));
  args.key = TensorView(args.key.data, DType::F32, {6, 2, 32});
  args.value = TensorView(args.value.data, DType::F32, {5, 2, 64});
  EXPECT_TRUE(contains(mha->forward(args).getMessage(),
                       "value: expected shape [6, 2, 64]"));
  args.value = TensorView(args.value.data, DType::F32, {6, 2, 64});
  args.query = TensorView(args.query.data, DType::F32, {8, 2, 64}, {1, 512, 8});
  EXPECT_TRUE(contains(mha->forward(args).getMessage(),
                       "query: expected a contiguous"));
  args.query = TensorView(args.query.data, DType::F32, {8, 2, 64});
  args.output = TensorView(args.output.data, DType::F32, {7, 2, 64});
  EXPECT_TRUE(contains(mha->forward(args).getMessage(),
                       "output: expected shape [8, 2, 64]"));
  args.output = TensorView(args.output.data, DType::F32, {8, 2, 64});
  args.keyPaddingMask = TensorView(args.output.data, DType::F32, {2, 6});
  EXPECT_EQ(mha->forward(args).getMessage(),
            "key_padding_mask: expected dtype u8 or bool, got fp32");
  args.keyPaddingMask = TensorView(args.output.data, DType::Bool, {2, 8});
  EXPECT_TRUE(contains(mha->forward(args).getMessage(),
                       "key_padding_mask: expected shape [2, 6]"));
  args.keyPaddingMask.reset();
  args.attnMask = TensorView(args.output.data, DType::F32, {8, 8});
  EXPECT_TRUE(contains(mha->forward(args).getMessage(),
                       "attn_mask: expected shape [8, 6]"));
  args.attnMask = TensorView(args.output.data, DType::F32, {8, 6}, {1, 8});
  EXPECT_EQ(mha->forward(args).getMessage(),
            "attn_mask: expected a contiguous [tgt_len, src_len] tensor");
  args.attnMask = TensorView(args.output.data, DType::F16, {8, 6});
  args.value = TensorView(args.value.data, DType::F32, {6, 2, 64});
  // An empty batch is a no-op, checked but never launched (no driver needed).
  args.query = TensorView(args.query.data, DType::F32, {8, 0, 64});
  args.key = TensorView(args.key.data, DType::F32, {6, 0, 32});
  args.value = TensorView(args.value.data, DType::F32, {6, 0, 64});
  args.output = TensorView(args.output.data, DType::F32, {8, 0, 64});
  args.attnMask.reset();
  EXPECT_TRUE(mha->forward(args).isOk()) << mha->forward(args).getMessage();
  args.query = TensorView(args.query.data, DType::F32, {8, 2, 64});
  args.key = TensorView(args.key.data, DType::F32, {6, 2, 32});
  args.output = TensorView(args.output.data, DType::F32, {8, 2, 64});
  args.value = TensorView();
  EXPECT_TRUE(contains(mha->forward(args).getMessage(), "value: required"));
}

TEST(MultiheadAttention, ForwardWithoutDriver) {
  if (getDriver().isOk())
    GTEST_SKIP() << "a CUDA driver is present";
  auto options = smallOptions();
  options.selfAttention = true;
  auto mha = mustCreate(options);
  ASSERT_TRUE(mha);
  auto args = fakeArgs(DType::F32, 8, 8, 2, 64);
  args.key = TensorView();
  args.value = TensorView();
  EXPECT_EQ(mha->forward(args).getMessage(),
            "no CUDA driver found (libcuda.so.1): running kernels needs an "
            "NVIDIA GPU");
}

} // namespace
