//===- RuntimeTest.cpp - Manifests, tensor views and plans without a GPU --===//
//
// Everything of the launch runtime that runs on the CPU: manifest parsing and
// its errors, tensor checks and their messages, plan creation and argument
// checking (prepare() builds the kernel parameters from fake device
// pointers), and run() without a driver. GPU runs are in test/gpu.
//
//===----------------------------------------------------------------------===//

#include "xfc/runtime/AttentionPlan.h"
#include "xfc/runtime/Cuda.h"
#include "xfc/runtime/Manifest.h"
#include "xfc/runtime/Tensor.h"

#include "gtest/gtest.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>

using namespace xfc;
using namespace xfc::runtime;

namespace {

/// A manifest as `xfc compile` writes it: dense fp16, head_dim 64, masks.
const char *const kDenseManifest = R"({
  "manifest_version": 1,
  "params_version": 5,
  "xfc_version": "0.1.0",
  "nvrtc_version": "13.0",
  "config": {"name": "scaled_dot_product", "head_dim": 64, "dtype": "fp16",
             "dropout": 0.1},
  "config_sha256": "00",
  "specialization": {"arch": "sm_90a", "dtype": "fp16", "head_dim": "64"},
  "kernels": [
    {
      "symbol": "xfc_attn_dense",
      "template": "attention_forward",
      "arch": "sm_90a",
      "source": "xfc_attn_dense.cu",
      "cubin": "xfc_attn_dense.cubin",
      "params": "xfc::AttentionParams",
      "block": [128, 1, 1],
      "grid": [{"symbol": "q_len", "ceil_div": 64},
               {"symbol": "heads", "ceil_div": 1},
               {"symbol": "batch", "ceil_div": 1}],
      "shared_bytes": 40960,
      "workspace_bytes": 0,
      "traits": {"BlockM": 64, "BlockN": 64, "Causal": false,
                 "Element": "fp16", "HasAttnMask": true, "HasDropout": true,
                 "HasKeyPadding": true, "HeadDim": 64, "NumStages": 2,
                 "NumWarps": 4, "SharedBytes": 40960, "WriteLse": false}
    }
  ],
  "launches": [
    {
      "kernel": "xfc_attn_dense",
      "dropout": 0.10000000149011612,
      "inputs": [
        {"role": "q", "shape": [-1, -1, -1, 64], "dtype": "fp16"},
        {"role": "k", "shape": [-1, -1, -1, 64], "dtype": "fp16"},
        {"role": "v", "shape": [-1, -1, -1, 64], "dtype": "fp16"},
        {"role": "attn_mask", "shape": [-1, -1], "dtype": "fp32"},
        {"role": "key_padding", "shape": [-1, -1], "dtype": "bool"}
      ],
      "output": {"shape": [-1, -1, -1, 64], "dtype": "fp16"}
    }
  ]
})";

/// Block-sparse bf16, head_dim 32, 4 heads fixed, a per-head layout of
/// 2 x 4 x 4 blocks of 16 (64 tokens).
const char *const kSparseManifest = R"({
  "manifest_version": 1,
  "params_version": 5,
  "kernels": [
    {
      "symbol": "xfc_attn_sparse",
      "template": "attention_forward",
      "arch": "sm_80",
      "cubin": "xfc_attn_sparse.cubin",
      "params": "xfc::AttentionParams",
      "block": [128, 1, 1],
      "grid": [{"symbol": "q_len", "ceil_div": 64},
               {"symbol": "heads", "ceil_div": 1},
               {"symbol": "batch", "ceil_div": 1}],
      "shared_bytes": 12288,
      "traits": {"BlockM": 64, "BlockN": 32, "Causal": true,
                 "Element": "bf16", "HasAttnMask": false, "HasDropout": false,
                 "HasKeyPadding": false, "HeadDim": 32, "NumStages": 2,
                 "NumWarps": 4, "SharedBytes": 12288, "WriteLse": false},
      "tables": {"BlockBits": [1,1,0,0, 1,1,0,0, 0,0,1,1, 0,0,1,1,
                               1,0,0,1, 0,1,0,1, 0,0,0,0, 1,1,1,1],
                 "LayoutBlock": 16, "LayoutHeads": 2, "NumBlocks": 4,
                 "NumTileRows": 1, "TileCols": [0, 1, 0, 1],
                 "TilePartial": [1, 1, 1, 1], "TileRowPtr": [0, 2, 2, 4]}
    }
  ],
  "launches": [
    {
      "kernel": "xfc_attn_sparse",
      "dropout": 0,
      "inputs": [
        {"role": "q", "shape": [-1, 2, -1, 32], "dtype": "bf16"},
        {"role": "k", "shape": [-1, 2, -1, 32], "dtype": "bf16"},
        {"role": "v", "shape": [-1, 2, -1, 32], "dtype": "bf16"}
      ],
      "output": {"shape": [-1, 2, -1, 32], "dtype": "bf16"}
    }
  ]
})";

std::string replaced(std::string text, const std::string &from,
                     const std::string &to) {
  std::size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos)
    text.replace(at, from.size(), to);
  return text;
}

std::string parseError(const std::string &text) {
  StatusOr<Manifest> manifest = Manifest::parse(text);
  EXPECT_FALSE(manifest.isOk());
  return manifest ? std::string() : manifest.getStatus().getMessage();
}

/// A fake kernel image: plans need no GPU until run().
AttentionPlan::ImageProvider fakeImage() {
  return [](const ManifestKernel &) -> StatusOr<std::vector<char>> {
    return std::vector<char>{0x7f, 'E', 'L', 'F', 0};
  };
}

AttentionPlan makePlan(const char *text) {
  StatusOr<Manifest> manifest = Manifest::parse(text);
  EXPECT_TRUE(manifest.isOk()) << manifest.getStatus().getMessage();
  StatusOr<AttentionPlan> plan = AttentionPlan::create(*manifest, fakeImage());
  EXPECT_TRUE(plan.isOk()) << plan.getStatus().getMessage();
  return std::move(*plan);
}

/// A 256-byte aligned fake device address.
void *fakePointer(std::uintptr_t slot) {
  return reinterpret_cast<void *>((slot + 1) << 20);
}

/// Dense-manifest arguments: B=2, H=8, T=100, S=80, D=64, masks given.
AttentionArgs denseArgs() {
  AttentionArgs args;
  args.query = TensorView(fakePointer(1), DType::F16, {2, 8, 100, 64});
  args.key = TensorView(fakePointer(2), DType::F16, {2, 8, 80, 64});
  args.value = TensorView(fakePointer(3), DType::F16, {2, 8, 80, 64});
  args.output = TensorView(fakePointer(4), DType::F16, {2, 8, 100, 64});
  args.attnMask = TensorView(fakePointer(5), DType::F32, {100, 80});
  args.keyPadding = TensorView(fakePointer(6), DType::U8, {2, 80});
  return args;
}

std::string prepareError(const AttentionPlan &plan, const AttentionArgs &args) {
  StatusOr<AttentionParams> params = plan.prepare(args);
  EXPECT_FALSE(params.isOk());
  return params ? std::string() : params.getStatus().getMessage();
}

//===----------------------------------------------------------------------===//
// Tensor views
//===----------------------------------------------------------------------===//

TEST(TensorView, ContiguousAndSeqFirstStrides) {
  TensorView view(nullptr, DType::F16, {2, 3, 5, 64});
  EXPECT_EQ(view.rank, 4);
  EXPECT_EQ(view.strides[0], 3 * 5 * 64);
  EXPECT_EQ(view.strides[1], 5 * 64);
  EXPECT_EQ(view.strides[2], 64);
  EXPECT_EQ(view.strides[3], 1);
  EXPECT_TRUE(view.isContiguous());
  EXPECT_EQ(view.getShapeString(), "[2, 3, 5, 64]");
  EXPECT_EQ(view.getNumElements(), 2 * 3 * 5 * 64);

  // FairSeq's [T=5, B=2, C=3*64] as [B, H, T, D].
  TensorView tbc = TensorView::fromSeqFirst(nullptr, DType::F16, 5, 2, 3, 64);
  EXPECT_EQ(tbc.getShapeString(), "[2, 3, 5, 64]");
  EXPECT_EQ(tbc.strides[0], 3 * 64);
  EXPECT_EQ(tbc.strides[1], 64);
  EXPECT_EQ(tbc.strides[2], 2 * 3 * 64);
  EXPECT_EQ(tbc.strides[3], 1);
  EXPECT_FALSE(tbc.isContiguous());
  EXPECT_EQ(tbc.getSpanElements(), 5 * 2 * 3 * 64);

  TensorView malformed(nullptr, DType::F32, {2, 3}, {1});
  EXPECT_EQ(malformed.rank, -1);
  EXPECT_FALSE(checkWellFormed(malformed, "query").isOk());
}

TEST(TensorView, CheckMessages) {
  TensorView query(fakePointer(0), DType::F16, {2, 8, 100, 64});
  EXPECT_EQ(checkDType(query, "query", DType::BF16).getMessage(),
            "query: expected dtype bf16, got fp16");
  TensorView key(fakePointer(0), DType::F16, {2, 100, 64});
  EXPECT_EQ(
      checkRank(key, "key", 4, "[batch, heads, seq, head_dim]").getMessage(),
      "key: expected 4 dimensions [batch, heads, seq, head_dim], got 3");
  TensorView value(fakePointer(0), DType::F16, {2, 8, 100, 32});
  EXPECT_EQ(checkDim(value, "value", 3, "head_dim", 64).getMessage(),
            "value: expected head_dim 64, got 32");
  TensorView padding(fakePointer(0), DType::U8, {2, 99});
  EXPECT_EQ(checkShape(padding, "key_padding_mask", {2, 100}).getMessage(),
            "key_padding_mask: expected shape [2, 100], got [2, 99]");
  TensorView strided(fakePointer(0), DType::F16, {2, 8, 100, 64},
                     {3 * 51200, 3 * 6400, 3 * 64, 3});
  EXPECT_EQ(checkLastDimContiguous(strided, "query").getMessage(),
            "query: the last dimension must be contiguous (stride 1), got "
            "stride 3");
  TensorView odd(fakePointer(0), DType::F16, {2, 8, 100, 64},
                 {8 * 100 * 68, 100 * 68, 68, 1});
  EXPECT_EQ(checkRowAlignment(odd, "query")
                .getMessage()
                .rfind("query: rows must be 16-byte aligned", 0),
            0u)
      << checkRowAlignment(odd, "query").getMessage();
  TensorView shifted(static_cast<char *>(fakePointer(0)) + 2, DType::F16,
                     {2, 8, 100, 64});
  EXPECT_EQ(checkRowAlignment(shifted, "query")
                .getMessage()
                .rfind("query: rows must be 16-byte aligned", 0),
            0u);
  EXPECT_TRUE(checkRowAlignment(query, "query").isOk());
  TensorView null(nullptr, DType::F16, {1, 1, 1, 64});
  EXPECT_EQ(checkWellFormed(null, "output").getMessage(),
            "output: the data pointer is null");
}

TEST(TensorView, HalfConversions) {
  EXPECT_EQ(floatToF16(1.0f), 0x3c00);
  EXPECT_EQ(floatToF16(-2.0f), 0xc000);
  EXPECT_EQ(floatToF16(65504.0f), 0x7bff);
  EXPECT_EQ(floatToF16(70000.0f), 0x7c00);
  EXPECT_EQ(floatToF16(std::ldexp(1.0f, -24)), 0x0001);
  EXPECT_EQ(floatToF16(std::ldexp(1.0f, -26)), 0x0000);
  // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties to even (1).
  EXPECT_EQ(floatToF16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);
  EXPECT_EQ(floatToF16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);
  EXPECT_TRUE(std::isnan(f16ToFloat(floatToF16(NAN))));
  EXPECT_TRUE(std::isnan(f16ToFloat(0xffff)));
  for (float x : {0.5f, -3.25f, 1e-5f, 1000.0f, std::ldexp(1.0f, -20)})
    EXPECT_NEAR(f16ToFloat(floatToF16(x)), x,
                std::max(std::fabs(x) * 1e-3, std::ldexp(1.0, -25)))
        << x;
  EXPECT_EQ(floatToBF16(1.0f), 0x3f80);
  EXPECT_EQ(bf16ToFloat(0x3f80), 1.0f);
  EXPECT_EQ(bf16ToFloat(floatToBF16(3.0f)), 3.0f);
  EXPECT_TRUE(std::isnan(bf16ToFloat(0xffff)));
  EXPECT_NEAR(bf16ToFloat(floatToBF16(3.14159f)), 3.14159f, 0.02f);
}

//===----------------------------------------------------------------------===//
// Manifests
//===----------------------------------------------------------------------===//

TEST(Manifest, ParsesEveryField) {
  StatusOr<Manifest> manifest = Manifest::parse(kDenseManifest);
  ASSERT_TRUE(manifest.isOk()) << manifest.getStatus().getMessage();
  EXPECT_EQ(manifest->manifestVersion, 1);
  EXPECT_EQ(manifest->paramsVersion, 5);
  EXPECT_EQ(manifest->xfcVersion, "0.1.0");
  EXPECT_EQ(manifest->nvrtcVersion, "13.0");
  EXPECT_NE(manifest->configJson.find("\"scaled_dot_product\""),
            std::string::npos);
  EXPECT_EQ(manifest->specialization.at("head_dim"), "64");
  ASSERT_EQ(manifest->kernels.size(), 1u);
  const ManifestKernel &kernel = manifest->kernels[0];
  EXPECT_EQ(kernel.symbol, "xfc_attn_dense");
  EXPECT_EQ(kernel.templateName, "attention_forward");
  EXPECT_EQ(kernel.arch, "sm_90a");
  EXPECT_EQ(kernel.cubin, "xfc_attn_dense.cubin");
  EXPECT_EQ(kernel.ptx, "");
  EXPECT_EQ(kernel.block[0], 128);
  ASSERT_EQ(kernel.grid.size(), 3u);
  EXPECT_EQ(kernel.grid[0].symbol, "q_len");
  EXPECT_EQ(kernel.grid[0].ceilDiv, 64);
  EXPECT_FALSE(kernel.grid[0].constant.has_value());
  EXPECT_EQ(kernel.sharedBytes, 40960);
  EXPECT_EQ(kernel.traits.at("BlockM").intValue, 64);
  EXPECT_EQ(kernel.traits.at("Element").stringValue, "fp16");
  ASSERT_TRUE(kernel.attention.has_value());
  EXPECT_EQ(kernel.attention->element, DType::F16);
  EXPECT_EQ(kernel.attention->headDim, 64);
  EXPECT_TRUE(kernel.attention->hasAttnMask);
  EXPECT_TRUE(kernel.attention->hasDropout);
  EXPECT_FALSE(kernel.layout.has_value());
  ASSERT_EQ(manifest->launches.size(), 1u);
  const ManifestLaunch &launch = manifest->launches[0];
  EXPECT_NEAR(launch.dropout, 0.1, 1e-7);
  ASSERT_NE(launch.findInput("key_padding"), nullptr);
  EXPECT_EQ(launch.findInput("key_padding")->dtype, DType::Bool);
  EXPECT_EQ(launch.findInput("q")->shape,
            (std::vector<int64_t>{-1, -1, -1, 64}));
  EXPECT_EQ(launch.output.dtype, DType::F16);

  StatusOr<Manifest> sparse = Manifest::parse(kSparseManifest);
  ASSERT_TRUE(sparse.isOk()) << sparse.getStatus().getMessage();
  ASSERT_TRUE(sparse->kernels[0].layout.has_value());
  const BlockLayout &layout = *sparse->kernels[0].layout;
  EXPECT_EQ(layout.getCoverage(), 64);
  EXPECT_EQ(layout.layoutHeads, 2);
  EXPECT_TRUE(layout.isOn(1, 3, 2));
  EXPECT_FALSE(layout.isOn(1, 2, 2));
  EXPECT_EQ(sparse->kernels[0].tables.at("TileRowPtr").listValue.size(), 4u);

  // A constant grid term.
  StatusOr<Manifest> constant = Manifest::parse(
      replaced(kDenseManifest, R"({"symbol": "batch", "ceil_div": 1})",
               R"({"constant": 3})"));
  ASSERT_TRUE(constant.isOk()) << constant.getStatus().getMessage();
  EXPECT_EQ(constant->kernels[0].grid[2].constant, 3);
}

TEST(Manifest, Errors) {
  EXPECT_EQ(parseError("{\"manifest_version\": 1,\n  oops}")
                .rfind("manifest.json: invalid JSON: parse error at line 2, "
                       "column 3",
                       0),
            0u)
      << parseError("{\"manifest_version\": 1,\n  oops}");
  EXPECT_EQ(parseError("[1, 2]"),
            "manifest.json: expected a JSON object, got an array of 2");
  EXPECT_EQ(
      parseError(replaced(kDenseManifest, "\"manifest_version\": 1",
                          "\"manifest_version\": 3")),
      "manifest.json: manifest_version 3 is not supported: this "
      "runtime reads manifest_version 1 to 2; recompile the config with a "
      "matching xfc");
  EXPECT_EQ(parseError(replaced(kDenseManifest, "\"params_version\": 5",
                                "\"params_version\": 1")),
            "manifest.json: params_version 1 is not supported: this runtime "
            "passes AttentionParams version 5; recompile the config with a "
            "matching xfc");
  EXPECT_EQ(parseError(replaced(kDenseManifest, "\"manifest_version\": 1",
                                "\"manifest_version\": \"1\"")),
            "manifest.json: manifest_version: expected a 32-bit integer, got "
            "the string \"1\"");
  EXPECT_EQ(parseError(replaced(kDenseManifest, "\"block\": [128, 1, 1]",
                                "\"block\": [128, 1]")),
            "manifest.json: kernels[0].block: expected 3 positive sizes of at "
            "most 1024 threads in all, got [128, 1]");
  EXPECT_EQ(parseError(replaced(kDenseManifest, "\"symbol\": \"q_len\"",
                                "\"symbol\": \"tokens\"")),
            "manifest.json: kernels[0].grid[0].symbol: expected one of batch, "
            "heads, q_len, kv_len, got \"tokens\"");
  EXPECT_EQ(parseError(replaced(kDenseManifest, "\"HeadDim\": 64,", "")),
            "manifest.json: kernels[0].traits: missing HeadDim (a positive "
            "integer), which attention_forward kernels have");
  EXPECT_EQ(parseError(
                replaced(kDenseManifest, "\"Causal\": false", "\"Causal\": 0")),
            "manifest.json: kernels[0].traits.Causal: expected true or false");
  EXPECT_EQ(parseError(replaced(kDenseManifest, "\"xfc_attn_dense.cubin\"",
                                "\"../elsewhere.cubin\"")),
            "manifest.json: kernels[0].cubin: expected a file name in the "
            "manifest's directory, got \"../elsewhere.cubin\"");
  EXPECT_EQ(
      parseError(replaced(kDenseManifest, "\"kernel\": \"xfc_attn_dense\"",
                          "\"kernel\": \"xfc_attn_other\"")),
      "manifest.json: launches[0].kernel: \"xfc_attn_other\" is not "
      "among \"kernels\"");
  EXPECT_EQ(parseError(replaced(kDenseManifest, "\"dtype\": \"bool\"",
                                "\"dtype\": \"int4\"")),
            "manifest.json: launches[0].inputs[4].dtype: expected one of "
            "fp16, bf16, fp32, bool, u8, got 'int4'");
  EXPECT_EQ(parseError(replaced(kSparseManifest, "\"LayoutHeads\": 2",
                                "\"LayoutHeads\": 3")),
            "manifest.json: kernels[0].tables.BlockBits: expected 48 entries "
            "0/1 ([LayoutHeads][NumBlocks][NumBlocks]), got 32");
  std::string noKernels =
      replaced(kSparseManifest, "\"kernels\"", "\"kernelz\"");
  EXPECT_EQ(parseError(noKernels),
            "manifest.json: missing \"kernels\" (an array)");
}

TEST(Manifest, SlidingWindowTraits) {
  StatusOr<Manifest> none = Manifest::parse(kDenseManifest);
  ASSERT_TRUE(none.isOk()) << none.getStatus().getMessage();
  EXPECT_EQ(none->kernels[0].attention->windowLeft, -1);
  EXPECT_EQ(none->kernels[0].attention->windowRight, -1);
  std::string local = replaced(kDenseManifest, "\"WriteLse\": false",
                               "\"WriteLse\": false, \"WindowLeft\": 3, "
                               "\"WindowRight\": 3");
  StatusOr<Manifest> window = Manifest::parse(local);
  ASSERT_TRUE(window.isOk()) << window.getStatus().getMessage();
  EXPECT_EQ(window->kernels[0].attention->windowLeft, 3);
  EXPECT_EQ(window->kernels[0].attention->windowRight, 3);
  std::string half = replaced(kDenseManifest, "\"WriteLse\": false",
                              "\"WriteLse\": false, \"WindowLeft\": 3");
  EXPECT_NE(parseError(half).find("WindowRight"), std::string::npos)
      << parseError(half);
}

TEST(Manifest, RandomTraits) {
  StatusOr<Manifest> none = Manifest::parse(kDenseManifest);
  ASSERT_TRUE(none.isOk()) << none.getStatus().getMessage();
  EXPECT_EQ(none->kernels[0].attention->randomThreshold, 0);
  EXPECT_TRUE(none->kernels[0].attention->keepsRandomPair(3, 4));
  std::string random =
      replaced(kDenseManifest, "\"WriteLse\": false",
               "\"WriteLse\": false, \"RandomThreshold\": 1073741824, "
               "\"RandomSeed\": 7, \"RandomPerCall\": false");
  StatusOr<Manifest> parsed = Manifest::parse(random);
  ASSERT_TRUE(parsed.isOk()) << parsed.getStatus().getMessage();
  const AttentionTraits &traits = *parsed->kernels[0].attention;
  EXPECT_EQ(traits.randomThreshold, 1073741824);
  EXPECT_EQ(traits.randomSeed, 7u);
  EXPECT_FALSE(traits.randomPerCall);
  // r = 0.25, seed 7: the pairs kept among rows 0-3, keys 0-7 and the count
  // over 64 x 64, as SplitMix64 on plain integers gives them (the harness's
  // reference computes the same).
  std::vector<std::pair<int, int>> kept;
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 8; ++j)
      if (traits.keepsRandomPair(i, j))
        kept.push_back({i, j});
  std::vector<std::pair<int, int>> expected = {{0, 1}, {0, 5}, {1, 2}, {2, 2},
                                               {2, 7}, {3, 0}, {3, 7}};
  EXPECT_EQ(kept, expected);
  int count = 0;
  for (int i = 0; i < 64; ++i)
    for (int j = 0; j < 64; ++j)
      count += traits.keepsRandomPair(i, j);
  EXPECT_EQ(count, 987);
  // Drawn per call: the launch's seed 5 and offset 2 select the pattern.
  AttentionTraits perCall = traits;
  perCall.randomPerCall = true;
  kept.clear();
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 8; ++j)
      if (perCall.keepsRandomPair(i, j, 5, 2))
        kept.push_back({i, j});
  expected = {{0, 0}, {0, 3}, {0, 6}, {1, 1}, {1, 3}, {1, 5},
              {1, 6}, {2, 1}, {2, 2}, {2, 3}, {3, 7}};
  EXPECT_EQ(kept, expected);

  std::string partial = replaced(kDenseManifest, "\"WriteLse\": false",
                                 "\"WriteLse\": false, \"RandomSeed\": 7");
  EXPECT_NE(parseError(partial).find("RandomThreshold"), std::string::npos)
      << parseError(partial);
  std::string bad = replaced(random, "1073741824", "0");
  EXPECT_NE(parseError(bad).find("RandomThreshold: expected an integer in "
                                 "[1, 2^32]"),
            std::string::npos)
      << parseError(bad);
}

TEST(Manifest, GlobalBits) {
  std::string global = replaced(kSparseManifest, "\"LayoutBlock\": 16",
                                "\"LayoutBlock\": 16, \"GlobalBits\": [1, 0, "
                                "0, 1]");
  StatusOr<Manifest> parsed = Manifest::parse(global);
  ASSERT_TRUE(parsed.isOk()) << parsed.getStatus().getMessage();
  const BlockLayout &layout = *parsed->kernels[0].layout;
  EXPECT_EQ(layout.globalBits, (std::vector<uint8_t>{1, 0, 0, 1}));
  EXPECT_TRUE(layout.isGlobal(3));
  EXPECT_FALSE(layout.isGlobal(1));
  EXPECT_FALSE(layout.isGlobal(4));
  std::string bad = replaced(global, "[1, 0, 0, 1]", "[1, 2]");
  EXPECT_NE(parseError(bad).find("GlobalBits: expected entries 0 or 1, got 2"),
            std::string::npos)
      << parseError(bad);
}

TEST(Manifest, TileBlocks) {
  // Gathered K/V tiles: the launcher sizes the K/V tensor-map boxes by
  // BlockN / TileBlocks; 1 when the tables leave it out.
  StatusOr<Manifest> contiguous = Manifest::parse(kSparseManifest);
  ASSERT_TRUE(contiguous.isOk()) << contiguous.getStatus().getMessage();
  EXPECT_EQ(contiguous->kernels[0].layout->tileBlocks, 1);
  std::string gathered = replaced(kSparseManifest, "\"LayoutBlock\": 16",
                                  "\"LayoutBlock\": 16, \"TileBlocks\": 2");
  StatusOr<Manifest> parsed = Manifest::parse(gathered);
  ASSERT_TRUE(parsed.isOk()) << parsed.getStatus().getMessage();
  EXPECT_EQ(parsed->kernels[0].layout->tileBlocks, 2);
  std::string bad =
      replaced(gathered, "\"TileBlocks\": 2", "\"TileBlocks\": 3");
  EXPECT_NE(parseError(bad).find("TileBlocks: expected 1 or 2"),
            std::string::npos)
      << parseError(bad);
}

TEST(Manifest, TablesAtLoad) {
  StatusOr<Manifest> inline_ = Manifest::parse(kSparseManifest);
  ASSERT_TRUE(inline_.isOk()) << inline_.getStatus().getMessage();
  EXPECT_FALSE(inline_->kernels[0].tablesAtLoad);
  std::string atLoad = replaced(kSparseManifest, "\"tables\": {",
                                "\"tables_at_load\": true, \"tables\": {");
  StatusOr<Manifest> parsed = Manifest::parse(atLoad);
  ASSERT_TRUE(parsed.isOk()) << parsed.getStatus().getMessage();
  EXPECT_TRUE(parsed->kernels[0].tablesAtLoad);
  EXPECT_EQ(parsed->kernels[0].tables.at("TileCols").listValue,
            (std::vector<int64_t>{0, 1, 0, 1}));
  EXPECT_NE(parseError(replaced(atLoad, "\"tables_at_load\": true",
                                "\"tables_at_load\": 1"))
                .find("tables_at_load: expected a boolean"),
            std::string::npos);
  std::string dense = replaced(kDenseManifest, "\"traits\": {",
                               "\"tables_at_load\": true, \"traits\": {");
  EXPECT_NE(parseError(dense).find(
                "tables_at_load: true, but the kernel has no tables"),
            std::string::npos)
      << parseError(dense);
}

TEST(Manifest, LoadReportsMissingFiles) {
  StatusOr<Manifest> manifest = Manifest::load("/nonexistent/manifest.json");
  ASSERT_FALSE(manifest.isOk());
  EXPECT_EQ(manifest.getStatus().getMessage(),
            "/nonexistent/manifest.json: cannot open the file");
  StatusOr<AttentionPlan> plan = AttentionPlan::loadAot("/nonexistent");
  ASSERT_FALSE(plan.isOk());
  EXPECT_EQ(plan.getStatus().getMessage(),
            "/nonexistent/manifest.json: cannot open the file");

  // A manifest whose cubin is missing.
  std::string dir = ::testing::TempDir() + "/xfc-runtime-test-missing";
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/manifest.json") << kDenseManifest;
  plan = AttentionPlan::loadAot(dir + "/");
  ASSERT_FALSE(plan.isOk());
  EXPECT_EQ(plan.getStatus().getMessage(),
            "kernel xfc_attn_dense: " + dir +
                "/xfc_attn_dense.cubin: cannot open the file");
  std::filesystem::remove_all(dir);
}

//===----------------------------------------------------------------------===//
// Plans without a GPU
//===----------------------------------------------------------------------===//

TEST(AttentionPlan, CreateChecksTheManifest) {
  StatusOr<Manifest> manifest = Manifest::parse(kDenseManifest);
  ASSERT_TRUE(manifest.isOk());
  StatusOr<AttentionPlan> plan = AttentionPlan::create(
      *manifest, [](const ManifestKernel &) -> StatusOr<std::vector<char>> {
        return Status::error("NVRTC failed: the log");
      });
  ASSERT_FALSE(plan.isOk());
  EXPECT_EQ(plan.getStatus().getMessage(),
            "kernel xfc_attn_dense: NVRTC failed: the log");

  Manifest twoLaunches = *manifest;
  twoLaunches.launches.push_back(twoLaunches.launches[0]);
  plan = AttentionPlan::create(twoLaunches, fakeImage());
  ASSERT_FALSE(plan.isOk());
  EXPECT_EQ(plan.getStatus().getMessage(),
            "manifest: launches[0]: only the last launch may write the "
            "caller's output");

  StatusOr<Manifest> badBlock = Manifest::parse(replaced(
      kDenseManifest, "\"block\": [128, 1, 1]", "\"block\": [64, 1, 1]"));
  ASSERT_TRUE(badBlock.isOk());
  plan = AttentionPlan::create(*badBlock, fakeImage());
  ASSERT_FALSE(plan.isOk());
  EXPECT_EQ(plan.getStatus().getMessage(),
            "kernel xfc_attn_dense: block [64, 1, 1] does not match NumWarps "
            "4 (expected [128, 1, 1])");

  StatusOr<Manifest> noMask = Manifest::parse(replaced(
      kDenseManifest,
      R"({"role": "attn_mask", "shape": [-1, -1], "dtype": "fp32"},)", ""));
  ASSERT_TRUE(noMask.isOk());
  plan = AttentionPlan::create(*noMask, fakeImage());
  ASSERT_FALSE(plan.isOk());
  EXPECT_EQ(plan.getStatus().getMessage(),
            "kernel xfc_attn_dense: HasAttnMask is true but the launch has no "
            "attn_mask input");
}

TEST(AttentionPlan, PrepareBuildsParams) {
  AttentionPlan plan = makePlan(kDenseManifest);
  AttentionArgs args = denseArgs();
  args.dropout = 0.1f;
  args.seed = 42;
  args.offset = 7;
  StatusOr<AttentionParams> params = plan.prepare(args);
  ASSERT_TRUE(params.isOk()) << params.getStatus().getMessage();
  EXPECT_EQ(params->q, fakePointer(1));
  EXPECT_EQ(params->o, fakePointer(4));
  EXPECT_EQ(params->qBatchStride, 8 * 100 * 64);
  EXPECT_EQ(params->qHeadStride, 100 * 64);
  EXPECT_EQ(params->qSeqStride, 64);
  EXPECT_EQ(params->kBatchStride, 8 * 80 * 64);
  EXPECT_EQ(params->batch, 2);
  EXPECT_EQ(params->heads, 8);
  EXPECT_EQ(params->qLen, 100);
  EXPECT_EQ(params->kvLen, 80);
  EXPECT_FLOAT_EQ(params->scaleLog2, 0.125f * 1.4426950408889634f);
  EXPECT_FLOAT_EQ(params->dropoutP, 0.1f);
  EXPECT_EQ(params->dropoutSeed, 42u);
  EXPECT_EQ(params->dropoutOffset, 7u);
  // [T, S] mask: broadcast over batch and heads.
  EXPECT_EQ(params->attnMask, fakePointer(5));
  EXPECT_EQ(params->attnMaskBatchStride, 0);
  EXPECT_EQ(params->attnMaskHeadStride, 0);
  EXPECT_EQ(params->attnMaskRowStride, 80);
  EXPECT_EQ(params->keyPadding, fakePointer(6));
  EXPECT_EQ(params->keyPaddingBatchStride, 80);
  EXPECT_EQ(params->lse, nullptr);

  StatusOr<std::array<unsigned, 3>> grid = plan.computeGrid(*params);
  ASSERT_TRUE(grid.isOk());
  EXPECT_EQ((*grid)[0], 2u); // ceil(100 / 64)
  EXPECT_EQ((*grid)[1], 8u);
  EXPECT_EQ((*grid)[2], 2u);

  // [B, 1, T, S] mask and a custom scale; FairSeq [T, B, C] inputs.
  args.attnMask = TensorView(fakePointer(5), DType::F32, {2, 1, 100, 80});
  args.scale = 0.5f;
  args.query =
      TensorView::fromSeqFirst(fakePointer(1), DType::F16, 100, 2, 8, 64);
  args.key = TensorView::fromSeqFirst(fakePointer(2), DType::F16, 80, 2, 8, 64);
  args.value =
      TensorView::fromSeqFirst(fakePointer(3), DType::F16, 80, 2, 8, 64);
  args.output =
      TensorView::fromSeqFirst(fakePointer(4), DType::F16, 100, 2, 8, 64);
  args.dropout = 0; // Evaluation mode of a dropout plan.
  params = plan.prepare(args);
  ASSERT_TRUE(params.isOk()) << params.getStatus().getMessage();
  EXPECT_EQ(params->attnMaskBatchStride, 100 * 80);
  EXPECT_EQ(params->attnMaskHeadStride, 0);
  EXPECT_FLOAT_EQ(params->scaleLog2, 0.5f * 1.4426950408889634f);
  EXPECT_EQ(params->dropoutP, 0.0f);
  EXPECT_EQ(params->qBatchStride, 8 * 64);
  EXPECT_EQ(params->qHeadStride, 64);
  EXPECT_EQ(params->qSeqStride, 2 * 8 * 64);
  EXPECT_EQ(params->oSeqStride, 2 * 8 * 64);
}

TEST(AttentionPlan, PrepareErrors) {
  AttentionPlan plan = makePlan(kDenseManifest);
  AttentionArgs args = denseArgs();
  args.query.dtype = DType::BF16;
  EXPECT_EQ(prepareError(plan, args), "query: expected dtype fp16, got bf16");

  args = denseArgs();
  args.key = TensorView(fakePointer(2), DType::F16, {2, 80, 64});
  EXPECT_EQ(prepareError(plan, args),
            "key: expected 4 dimensions [batch, heads, seq, head_dim], got 3");

  args = denseArgs();
  args.value = TensorView(fakePointer(3), DType::F16, {2, 8, 80, 32});
  EXPECT_EQ(prepareError(plan, args), "value: expected head_dim 64, got 32");

  args = denseArgs();
  args.key = TensorView(fakePointer(2), DType::F16, {3, 8, 80, 64});
  EXPECT_EQ(prepareError(plan, args),
            "key: expected batch 2 (as query), got 3");

  args = denseArgs();
  args.value = TensorView(fakePointer(3), DType::F16, {2, 8, 81, 64});
  EXPECT_EQ(prepareError(plan, args),
            "value: expected seq_len 80 (as key), got 81");

  args = denseArgs();
  args.output = TensorView(fakePointer(4), DType::F16, {2, 8, 99, 64});
  EXPECT_EQ(prepareError(plan, args),
            "output: expected shape [2, 8, 100, 64], got [2, 8, 99, 64]");

  args = denseArgs();
  args.query = TensorView(fakePointer(1), DType::F16, {2, 8, 100, 64},
                          {8 * 100 * 64 * 3, 100 * 64 * 3, 64 * 3, 3});
  EXPECT_EQ(prepareError(plan, args),
            "query: the last dimension must be contiguous (stride 1), got "
            "stride 3");

  args = denseArgs();
  args.query = TensorView(fakePointer(1), DType::F16, {2, 8, 100, 64},
                          {8 * 100 * 68, 100 * 68, 68, 1});
  EXPECT_EQ(
      prepareError(plan, args).rfind("query: rows must be 16-byte aligned", 0),
      0u);

  args = denseArgs();
  args.attnMask.reset();
  EXPECT_EQ(prepareError(plan, args),
            "attn_mask: this plan was compiled with an attention mask "
            "(HasAttnMask): pass one, fp32 [q_len, kv_len] or [batch or 1, "
            "heads or 1, q_len, kv_len]");

  args = denseArgs();
  args.attnMask = TensorView(fakePointer(5), DType::F32, {100, 79});
  EXPECT_EQ(prepareError(plan, args),
            "attn_mask: expected [..., 100, 80] (q_len, kv_len), got "
            "[100, 79]");

  args = denseArgs();
  args.attnMask = TensorView(fakePointer(5), DType::F32, {3, 1, 100, 80});
  EXPECT_EQ(prepareError(plan, args),
            "attn_mask: expected batch 2 or 1, got 3");

  args = denseArgs();
  args.attnMask->dtype = DType::F16;
  EXPECT_EQ(prepareError(plan, args),
            "attn_mask: expected dtype fp32, got fp16");

  args = denseArgs();
  args.keyPadding = TensorView(fakePointer(6), DType::U8, {2, 79});
  EXPECT_EQ(prepareError(plan, args),
            "key_padding_mask: expected shape [2, 80], got [2, 79]");

  args = denseArgs();
  args.keyPadding->dtype = DType::F32;
  EXPECT_EQ(prepareError(plan, args),
            "key_padding_mask: expected dtype u8 or bool, got fp32");

  args = denseArgs();
  args.dropout = 0.3f;
  EXPECT_EQ(prepareError(plan, args),
            "dropout: expected 0 or 0.1 (the plan's), got 0.3");

  args = denseArgs();
  float lse = 0;
  args.lse = &lse;
  EXPECT_EQ(prepareError(plan, args),
            "lse: this plan's kernel does not write the log-sum-exp (WriteLse "
            "is false); pass nullptr");

  args = denseArgs();
  args.output = TensorView(fakePointer(4), DType::F16, {2, 8, 100, 64},
                           {100 * 64, 0, 64, 1});
  EXPECT_EQ(prepareError(plan, args),
            "output: dimension heads has stride 0 but size 8 (output elements "
            "must not overlap)");

  args = denseArgs();
  args.key = TensorView(fakePointer(2), DType::F16, {2, 8, 0, 64});
  args.value = TensorView(fakePointer(3), DType::F16, {2, 8, 0, 64});
  args.attnMask = TensorView(fakePointer(5), DType::F32, {100, 0});
  args.keyPadding = TensorView(fakePointer(6), DType::U8, {2, 0});
  EXPECT_EQ(prepareError(plan, args), "key: expected seq_len >= 1, got 0");
}

TEST(AttentionPlan, GlobalTokensFixTheLength) {
  // 60 tokens, 0 and 59 global.
  std::string bits = "1";
  for (int t = 1; t < 59; ++t)
    bits += ", 0";
  bits += ", 1";
  std::string text =
      replaced(kSparseManifest, "\"LayoutBlock\": 16",
               "\"LayoutBlock\": 16, \"GlobalBits\": [" + bits + "]");
  AttentionPlan plan = makePlan(text.c_str());
  AttentionArgs args;
  args.query = TensorView(fakePointer(1), DType::BF16, {3, 2, 60, 32});
  args.key = TensorView(fakePointer(2), DType::BF16, {3, 2, 60, 32});
  args.value = TensorView(fakePointer(3), DType::BF16, {3, 2, 60, 32});
  args.output = TensorView(fakePointer(4), DType::BF16, {3, 2, 60, 32});
  StatusOr<AttentionParams> params = plan.prepare(args);
  ASSERT_TRUE(params.isOk()) << params.getStatus().getMessage();
  AttentionArgs shorter = args;
  shorter.query.shape[2] = shorter.output.shape[2] = 50;
  EXPECT_EQ(prepareError(plan, shorter),
            "query: seq_len 50 differs from the 60 tokens of "
            "attention_query_mask (global attention is specialized to that "
            "length; pad or compile another mask)");
  shorter = args;
  shorter.key.shape[2] = shorter.value.shape[2] = 61;
  EXPECT_EQ(prepareError(plan, shorter),
            "key: seq_len 61 differs from the 60 tokens of "
            "attention_query_mask (global attention is specialized to that "
            "length; pad or compile another mask)");
}

TEST(AttentionPlan, BlockSparseChecks) {
  AttentionPlan plan = makePlan(kSparseManifest);
  AttentionArgs args;
  args.query = TensorView(fakePointer(1), DType::BF16, {3, 2, 64, 32});
  args.key = TensorView(fakePointer(2), DType::BF16, {3, 2, 64, 32});
  args.value = TensorView(fakePointer(3), DType::BF16, {3, 2, 64, 32});
  args.output = TensorView(fakePointer(4), DType::BF16, {3, 2, 64, 32});
  StatusOr<AttentionParams> params = plan.prepare(args);
  ASSERT_TRUE(params.isOk()) << params.getStatus().getMessage();

  AttentionArgs longer = args;
  longer.query.shape[2] = longer.output.shape[2] = 65;
  EXPECT_EQ(prepareError(plan, longer),
            "query: seq_len 65 is longer than the block layout covers 64 "
            "(4 blocks of 16)");
  longer = args;
  longer.key.shape[2] = longer.value.shape[2] = 70;
  EXPECT_EQ(prepareError(plan, longer),
            "key: seq_len 70 is longer than the block layout covers 64 "
            "(4 blocks of 16)");

  AttentionArgs moreHeads = args;
  for (TensorView *view :
       {&moreHeads.query, &moreHeads.key, &moreHeads.value, &moreHeads.output})
    *view = TensorView(view->data, DType::BF16, {3, 4, 64, 32});
  EXPECT_EQ(prepareError(plan, moreHeads),
            "query: expected heads 2, got 4 (the plan was compiled for "
            "[?, 2, ?, 32])");

  AttentionArgs masked = args;
  masked.attnMask = TensorView(fakePointer(5), DType::F32, {64, 64});
  EXPECT_EQ(prepareError(plan, masked),
            "attn_mask: this plan was compiled without an attention mask; "
            "compile with --attn-mask (or \"attn_mask\" in the API) to pass "
            "one");
  AttentionArgs dropped = args;
  dropped.dropout = 0.1f;
  EXPECT_EQ(prepareError(plan, dropped),
            "dropout: this plan was compiled without dropout, so it takes "
            "only 0; got 0.1 (compile a config with \"dropout\": 0.1)");
}

TEST(AttentionPlan, RunWithoutDriver) {
  if (getDriver().isOk())
    GTEST_SKIP() << "a CUDA driver is present";
  AttentionPlan plan = makePlan(kDenseManifest);
  Status status = plan.run(denseArgs());
  ASSERT_FALSE(status.isOk());
  EXPECT_EQ(status.getMessage(), "no CUDA driver found (libcuda.so.1): "
                                 "running kernels needs an NVIDIA GPU");
  StatusOr<DeviceBuffer> buffer = DeviceBuffer::allocate(16);
  ASSERT_FALSE(buffer.isOk());
  EXPECT_EQ(buffer.getStatus().getMessage(), status.getMessage());

  // Bad arguments are reported before the driver is looked for.
  AttentionArgs args = denseArgs();
  args.query.dtype = DType::F32;
  EXPECT_EQ(plan.run(args).getMessage(),
            "query: expected dtype fp16, got fp32");
}

TEST(Cuda, ArchChecks) {
  EXPECT_EQ(*archForComputeCapability({9, 0}), "sm_90a");
  EXPECT_EQ(*archForComputeCapability({8, 0}), "sm_80");
  EXPECT_EQ(*archForComputeCapability({8, 6}), "sm_86");
  EXPECT_EQ(*archForComputeCapability({8, 9}), "sm_89");
  StatusOr<std::string> volta = archForComputeCapability({7, 0});
  ASSERT_FALSE(volta.isOk());
  EXPECT_EQ(volta.getStatus().getMessage(),
            "compute capability 7.0 is not supported: xfc supports 8.0 "
            "(sm_80), 8.6 (sm_86), 8.9 (sm_89) and 9.0 (sm_90a)");

  EXPECT_TRUE(checkArchRunsOn("sm_90a", {9, 0}, false).isOk());
  EXPECT_TRUE(checkArchRunsOn("sm_80", {8, 6}, false).isOk());
  EXPECT_TRUE(checkArchRunsOn("sm_80", {9, 0}, /*isPtx=*/true).isOk());
  EXPECT_EQ(checkArchRunsOn("sm_80", {9, 0}, false).getMessage(),
            "a cubin for sm_80 does not run on a device of compute "
            "capability 9.0: compile with --arch sm_90a");
  EXPECT_EQ(checkArchRunsOn("sm_90a", {8, 0}, false).getMessage(),
            "a cubin for sm_90a does not run on a device of compute "
            "capability 8.0: compile with --arch sm_80");
  EXPECT_EQ(checkArchRunsOn("sm_86", {8, 0}, false).getMessage(),
            "a cubin for sm_86 does not run on a device of compute "
            "capability 8.0: compile with --arch sm_80");
  EXPECT_EQ(checkArchRunsOn("compute_90", {9, 0}, false).getMessage(),
            "arch: expected the form sm_XY or sm_XYa (e.g. sm_80, sm_90a), "
            "got 'compute_90'");
}

//===----------------------------------------------------------------------===//
// The real compiler's output
//===----------------------------------------------------------------------===//

#ifdef XFC_BINARY
TEST(AttentionPlan, LoadsXfcCompileOutput) {
  std::string dir = ::testing::TempDir() + "/xfc-runtime-test-aot";
  std::filesystem::remove_all(dir);
  std::string command = std::string("'") + XFC_BINARY +
                        "' compile '" XFC_EXAMPLES_DIR
                        "/blocksparse.json' -o '" +
                        dir + "' > /dev/null 2>&1";
  if (std::system(command.c_str()) != 0)
    GTEST_SKIP() << "xfc compile failed (no NVRTC?): " << command;
  StatusOr<AttentionPlan> plan = AttentionPlan::loadAot(dir);
  ASSERT_TRUE(plan.isOk()) << plan.getStatus().getMessage();
  EXPECT_EQ(plan->getTraits().element, DType::F16);
  EXPECT_EQ(plan->getTraits().headDim, 64);
  EXPECT_TRUE(plan->getTraits().causal);
  ASSERT_TRUE(plan->getKernel().layout.has_value());
  EXPECT_EQ(plan->getKernel().layout->getCoverage(), 512);

  AttentionArgs args;
  args.query = TensorView(fakePointer(1), DType::F16, {2, 8, 512, 64});
  args.key = TensorView(fakePointer(2), DType::F16, {2, 8, 512, 64});
  args.value = TensorView(fakePointer(3), DType::F16, {2, 8, 512, 64});
  args.output = TensorView(fakePointer(4), DType::F16, {2, 8, 512, 64});
  StatusOr<AttentionParams> params = plan->prepare(args);
  EXPECT_TRUE(params.isOk()) << params.getStatus().getMessage();
  args.query.shape[2] = args.output.shape[2] = 600;
  EXPECT_EQ(prepareError(*plan, args),
            "query: seq_len 600 is longer than the block layout covers 512 "
            "(8 blocks of 64)");
  if (!getDriver().isOk()) {
    args.query.shape[2] = args.output.shape[2] = 512;
    EXPECT_EQ(plan->run(args).getMessage(),
              "no CUDA driver found (libcuda.so.1): running kernels needs an "
              "NVIDIA GPU");
  }
  std::filesystem::remove_all(dir);
}

TEST(AttentionPlan, TokenGridPlansCheckTheirInputs) {
  // pooling and visual read the sequence as a square grid; visual takes one
  // head of dim_model features. Both are checked before any launch.
  struct Case {
    const char *name;
    DType dtype;
    int64_t heads, dim;
  };
  for (Case c : {Case{"pooling", DType::F16, 8, 64},
                 Case{"visual", DType::BF16, 1, 256}}) {
    std::string dir =
        ::testing::TempDir() + "/xfc-runtime-test-" + std::string(c.name);
    std::filesystem::remove_all(dir);
    std::string command = std::string("'") + XFC_BINARY +
                          "' compile '" XFC_EXAMPLES_DIR "/" + c.name +
                          ".json' -o '" + dir + "' > /dev/null 2>&1";
    if (std::system(command.c_str()) != 0)
      GTEST_SKIP() << "xfc compile failed (no NVRTC?): " << command;
    StatusOr<AttentionPlan> plan = AttentionPlan::loadAot(dir);
    ASSERT_TRUE(plan.isOk()) << plan.getStatus().getMessage();
    EXPECT_TRUE(plan->isGraph());
    AttentionArgs args;
    auto setShape = [&](int64_t heads, int64_t seq) {
      args.query = TensorView(fakePointer(1), c.dtype, {2, heads, seq, c.dim});
      args.key = TensorView(fakePointer(2), c.dtype, {2, heads, seq, c.dim});
      args.value = TensorView(fakePointer(3), c.dtype, {2, heads, seq, c.dim});
      args.output = TensorView(fakePointer(4), c.dtype, {2, heads, seq, c.dim});
    };
    setShape(c.heads, 50);
    EXPECT_NE(plan->run(args).getMessage().find(
                  "sequence length 50 is not a square token grid"),
              std::string::npos)
        << c.name << ": " << plan->run(args).getMessage();
    if (std::string(c.name) == "visual") {
      setShape(4, 64);
      EXPECT_NE(plan->run(args).getMessage().find(
                    "query: expected heads 1 ([batch, 1, seq, features]"),
                std::string::npos)
          << plan->run(args).getMessage();
    }
    if (!getDriver().isOk()) {
      setShape(c.heads, 169);
      EXPECT_EQ(plan->run(args).getMessage(),
                "no CUDA driver found (libcuda.so.1): running kernels needs "
                "an NVIDIA GPU");
    }
    std::filesystem::remove_all(dir);
  }
}
#endif

} // namespace

namespace {

/// A two-launch graph: a matmul of parameter E with k into t0, then a
/// softmax of t0 into the output (manifest version 2).
const char *const kGraphManifest = R"({
  "manifest_version": 2,
  "params_version": 5,
  "kernels": [
    {"symbol": "mm", "template": "matmul", "arch": "sm_90a",
     "params": "xfc::OpParams", "block": [256, 1, 1],
     "grid": [{"constant": 1056}, {"constant": 1}, {"constant": 1}],
     "shared_bytes": 8704,
     "traits": {"ADType": 0, "BDType": 1, "CDType": 0, "TransA": false,
                "TransB": false, "ASource": 0, "BSource": 0, "HasC": false,
                "Element": "fp16"}},
    {"symbol": "sm", "template": "softmax", "arch": "sm_90a",
     "params": "xfc::OpParams", "block": [256, 1, 1],
     "grid": [{"constant": 1056}, {"constant": 1}, {"constant": 1}],
     "shared_bytes": 0,
     "traits": {"InDType": 1, "Causal": false, "Element": "fp16"}}
  ],
  "parameters": [
    {"name": "E", "shape": [8, 32], "dtype": "fp32", "init": "uniform",
     "init_scale": 0.25, "seed": 3}
  ],
  "launches": [
    {"kernel": "mm", "alpha": 1, "beta": 0,
     "inputs": [
       {"role": "a", "source": "param:E", "shape": [8, 32], "dtype": "fp32"},
       {"role": "b", "source": "k", "shape": [-1, 2, -1, 64], "dtype": "fp16"}],
     "output": {"name": "t0", "shape": [-1, 2, 8, 64], "dtype": "fp16",
                "sizes": ["batch", "2", "8", "64"]}},
    {"kernel": "sm", "alpha": 0.5, "ints": [0],
     "inputs": [
       {"role": "x", "source": "t0", "shape": [-1, 2, 8, 64], "dtype": "fp16"},
       {"role": "q", "source": "q", "shape": [-1, 2, 8, 64], "dtype": "fp16"}],
     "output": {"name": "out", "shape": [-1, 2, 8, 64], "dtype": "fp16",
                "sizes": ["batch", "2", "8", "64"]}}
  ]
})";

TEST(GraphPlan, ManifestVersion2Fields) {
  StatusOr<Manifest> manifest = Manifest::parse(kGraphManifest);
  ASSERT_TRUE(manifest.isOk()) << manifest.getStatus().getMessage();
  ASSERT_EQ(manifest->parameters.size(), 1u);
  EXPECT_EQ(manifest->parameters[0].name, "E");
  EXPECT_EQ(manifest->parameters[0].rows, 8);
  EXPECT_EQ(manifest->parameters[0].cols, 32);
  EXPECT_EQ(manifest->launches[0].inputs[0].source, "param:E");
  EXPECT_EQ(manifest->launches[0].output.name, "t0");
  EXPECT_EQ(manifest->launches[1].alpha, 0.5);
  EXPECT_EQ(manifest->launches[1].output.sizes,
            (std::vector<std::string>{"batch", "2", "8", "64"}));

  EXPECT_EQ(parseError(replaced(kGraphManifest, R"("dtype": "fp32", "init")",
                                R"("dtype": "fp16", "init")")),
            "manifest.json: parameters[0].dtype: expected \"fp32\", got "
            "\"fp16\"");
  EXPECT_EQ(parseError(replaced(kGraphManifest, R"("init": "uniform")",
                                R"("init": "xavier")")),
            "manifest.json: parameters[0].init: expected \"uniform\", "
            "\"normal\", \"orthogonal\" or \"orthogonal_chi\", got "
            "\"xavier\"");
  EXPECT_NE(
      parseError(replaced(kGraphManifest, R"(["batch", "2", "8", "64"]}},)",
                          R"(["batch", "2"]}},)"))
          .find("launches[0].output.sizes"),
      std::string::npos);
}

TEST(GraphPlan, CreateChecksTheGraph) {
  StatusOr<Manifest> manifest = Manifest::parse(kGraphManifest);
  ASSERT_TRUE(manifest.isOk()) << manifest.getStatus().getMessage();
  StatusOr<AttentionPlan> plan = AttentionPlan::create(*manifest, fakeImage());
  ASSERT_TRUE(plan.isOk()) << plan.getStatus().getMessage();
  EXPECT_TRUE(plan->isGraph());
  EXPECT_EQ(plan->getTraits().headDim, 64);
  EXPECT_EQ(plan->getTraits().element, DType::F16);
  // Parameters: seeded, within the init bound, settable, size-checked.
  StatusOr<std::vector<float>> e = plan->getParameter("E");
  ASSERT_TRUE(e.isOk());
  ASSERT_EQ(e->size(), 8u * 32u);
  float largest = 0;
  for (float x : *e)
    largest = std::max(largest, std::fabs(x));
  EXPECT_LE(largest, 0.25f);
  EXPECT_GT(largest, 0.2f);
  StatusOr<AttentionPlan> again = AttentionPlan::create(*manifest, fakeImage());
  ASSERT_TRUE(again.isOk());
  EXPECT_EQ(*again->getParameter("E"), *e);
  EXPECT_EQ(plan->setParameter("E", {1.0f}).getMessage(),
            "parameter \"E\": expected 256 values, got 1");
  EXPECT_EQ(plan->setParameter("F", {}).getMessage(),
            "parameter \"F\": no such parameter (this plan has E)");
  EXPECT_FALSE(plan->prepare(AttentionArgs()).isOk());

  // Sources must exist; only the last launch writes the output.
  Manifest unknownSource = *manifest;
  unknownSource.launches[1].inputs[0].source = "t7";
  plan = AttentionPlan::create(unknownSource, fakeImage());
  ASSERT_FALSE(plan.isOk());
  EXPECT_EQ(plan.getStatus().getMessage(),
            "manifest: launches[1]: input \"x\" comes from \"t7\", which is "
            "neither a caller tensor, an earlier launch's result nor a "
            "parameter");
  Manifest noOutput = *manifest;
  noOutput.launches[1].output.name = "t1";
  plan = AttentionPlan::create(noOutput, fakeImage());
  ASSERT_FALSE(plan.isOk());
  EXPECT_EQ(plan.getStatus().getMessage(),
            "manifest: no launch writes the caller's output (\"out\")");
}

} // namespace
