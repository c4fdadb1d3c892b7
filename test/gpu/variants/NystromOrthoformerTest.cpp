//===- NystromOrthoformerTest.cpp - nystrom and orthoformer on the GPU ----===//
//
// The landmark variants against fp64 references written from xFormers'
// math (nystrom.py, ortho.py, utils.py at the pinned commit):
// - nystrom: segment-mean landmarks (uneven segments when m does not divide
//   S), K2 = softmax(Q~ K~^T/sqrt(Dh)), K3 = softmax(Q~ K^T/sqrt(Dh)) V,
//   Razavi's pseudo-inverse iterated in fp64 with the identities written
//   out, out = softmax(Q K~^T/sqrt(Dh)) pinv(K2) K3, causal masks top-left;
// - orthoformer: the landmark selections replayed with the plan's seeded
//   draws (landmarkHash), out = softmax(Q L^T/sqrt(Dh)) softmax(L K^T /
//   sqrt(Dh)) V.
// The references round to the element type exactly where the plan stores
// in it between kernels (the landmarks, K3, pinv(K2) K3 and softmax(L K^T)
// V), so that fp16/bf16 are held to SPEC.md §5's 1e-2 and fp32 to its 1e-5
// bound on the kernels' own error. Where the variants are exact (m >= S
// for nystrom, m == S for orthoformer, given as seq_len) they are compared
// with exact softmax attention; the approximations themselves are compared
// with exact attention with xFormers' test tolerances. The references
// (nystromReference, addSkip, orthoReference, exactReference) are in
// VariantTestSupport.cpp, shared with MultiheadVariantsTest.cpp.
//
//===----------------------------------------------------------------------===//

#include "VariantTestSupport.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

using namespace xfc;
using namespace xfc::runtime;
using namespace xfc::varianttest;

namespace {

/// xFormers' tests compare the approximations with exact attention by
/// torch.allclose(out, ref, rtol, atol).
bool allClose(const std::vector<double> &out, const std::vector<double> &ref,
              double rtol, double atol, double *worst) {
  bool ok = true;
  *worst = 0;
  for (std::size_t i = 0; i < out.size(); ++i) {
    double excess =
        std::fabs(out[i] - ref[i]) - (atol + rtol * std::fabs(ref[i]));
    *worst = std::max(*worst, std::fabs(out[i] - ref[i]));
    if (!(excess <= 0))
      ok = false;
  }
  return ok;
}

HostTensor uniformTensor(int64_t batch, int64_t heads, int64_t seq, int64_t dim,
                         DType dtype, unsigned seed) {
  HostTensor t(batch, heads, seq, dim);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  for (double &x : t.values)
    x = roundTo(dtype, uniform(rng));
  return t;
}

std::shared_ptr<AttentionPlan> compileOrFail(xfc::Compiler &compiler,
                                             const std::string &config,
                                             const Specialization &spec) {
  auto plan = compiler.compile(config, spec);
  EXPECT_TRUE(plan.isOk()) << config << ": " << plan.getStatus().getMessage();
  return plan.isOk() ? *plan : nullptr;
}

TEST(NystromGpu, MatchesReference) {
  XFC_REQUIRE_GPU();
  xfc::Compiler compiler;
  unsigned seed = 600;
  for (DType dtype : {DType::F16, DType::BF16, DType::F32})
    for (bool causal : {false, true}) {
      Specialization spec;
      spec.dtype = dtypeName(dtype);
      spec.headDim = 64;
      std::string config =
          std::string(R"({"name": "nystrom", "num_heads": 2, )") +
          R"("num_landmarks": 16, "causal": )" + (causal ? "true" : "false") +
          "}";
      auto plan = compileOrFail(compiler, config, spec);
      ASSERT_TRUE(plan);
      ASSERT_TRUE(plan->isGraph());
      // 256: even segments; 203 = 16 * 12 + 11: 5 of 12 rows, 11 of 13.
      for (int64_t seq : {int64_t(256), int64_t(203), int64_t(17)}) {
        HostTensor q = randomTensor(2, 2, seq, 64, dtype, seed++, 2.0);
        HostTensor k = randomTensor(2, 2, seq, 64, dtype, seed++, 2.0);
        HostTensor v = randomTensor(2, 2, seq, 64, dtype, seed++);
        std::vector<double> out = runPlan(*plan, dtype, q, k, v, 64);
        NystromOptions options;
        options.causal = causal;
        double error =
            relativeError(out, nystromReference(q, k, v, dtype, options));
        EXPECT_LE(error, tolerance(dtype))
            << dtypeName(dtype) << " causal " << causal << " seq " << seq;
        std::printf("nystrom %s causal %d seq %lld: relative error %.3g\n",
                    dtypeName(dtype), causal, static_cast<long long>(seq),
                    error);
      }
    }
}

TEST(NystromGpu, OriginalInitAndIterations) {
  XFC_REQUIRE_GPU();
  xfc::Compiler compiler;
  for (DType dtype : {DType::F32, DType::BF16}) {
    Specialization spec;
    spec.dtype = dtypeName(dtype);
    spec.headDim = 32;
    auto plan =
        compileOrFail(compiler,
                      R"({"name": "nystrom", "num_heads": 3, "num_landmarks": 9,
            "pinverse_original_init": true, "inv_iterations": 3})",
                      spec);
    ASSERT_TRUE(plan);
    HostTensor q = randomTensor(2, 3, 100, 32, dtype, 71, 2.0);
    HostTensor k = randomTensor(2, 3, 100, 32, dtype, 72, 2.0);
    HostTensor v = randomTensor(2, 3, 100, 32, dtype, 73);
    std::vector<double> out = runPlan(*plan, dtype, q, k, v, 32);
    NystromOptions options;
    options.landmarks = 9;
    options.iterations = 3;
    options.originalInit = true;
    double error =
        relativeError(out, nystromReference(q, k, v, dtype, options));
    EXPECT_LE(error, tolerance(dtype)) << dtypeName(dtype);
  }
}

TEST(NystromGpu, ExactWhenLandmarksCoverTheSequence) {
  XFC_REQUIRE_GPU();
  xfc::Compiler compiler;
  unsigned seed = 700;
  for (DType dtype : {DType::F16, DType::BF16, DType::F32})
    for (bool causal : {false, true})
      for (int64_t seq : {int64_t(64), int64_t(45)}) {
        Specialization spec;
        spec.dtype = dtypeName(dtype);
        spec.headDim = 64;
        spec.seqLen = seq; // m = 64 >= seq: exact attention.
        auto plan = compileOrFail(
            compiler,
            std::string(R"({"name": "nystrom", "num_heads": 2, "causal": )") +
                (causal ? "true" : "false") + "}",
            spec);
        ASSERT_TRUE(plan);
        HostTensor q = randomTensor(2, 2, seq, 64, dtype, seed++);
        HostTensor k = randomTensor(2, 2, seq, 64, dtype, seed++);
        HostTensor v = randomTensor(2, 2, seq, 64, dtype, seed++);
        std::vector<double> out = runPlan(*plan, dtype, q, k, v, 64);
        double error = relativeError(out, exactReference(q, k, v, causal));
        EXPECT_LE(error, tolerance(dtype))
            << dtypeName(dtype) << " causal " << causal << " seq " << seq;
      }
}

TEST(NystromGpu, CloseToExactAttentionAsInXFormersTests) {
  XFC_REQUIRE_GPU();
  // test_nystrom_attention.py: rand inputs, landmarks 30 and 33 at seq 900
  // (here 300), allclose(rtol=0.005, atol=1e-2) against exact attention.
  xfc::Compiler compiler;
  for (int64_t landmarks : {int64_t(30), int64_t(33)}) {
    Specialization spec;
    spec.dtype = "fp32";
    spec.headDim =
        32; // xFormers tests use 40; the attention templates take 32/64/96/128
    auto plan = compileOrFail(
        compiler,
        R"({"name": "nystrom", "num_heads": 2, "num_landmarks": )" +
            std::to_string(landmarks) + "}",
        spec);
    ASSERT_TRUE(plan);
    HostTensor q = uniformTensor(2, 2, 300, 32, DType::F32, 81);
    HostTensor k = uniformTensor(2, 2, 300, 32, DType::F32, 82);
    HostTensor v = uniformTensor(2, 2, 300, 32, DType::F32, 83);
    std::vector<double> out = runPlan(*plan, DType::F32, q, k, v, 32);
    double worst;
    EXPECT_TRUE(
        allClose(out, exactReference(q, k, v, false), 0.005, 1e-2, &worst))
        << "landmarks " << landmarks << " worst difference " << worst;
  }
}

TEST(NystromGpu, ConvolutionSkip) {
  XFC_REQUIRE_GPU();
  xfc::Compiler compiler;
  unsigned seed = 800;
  for (DType dtype : {DType::F16, DType::BF16, DType::F32})
    for (bool exact : {false, true}) {
      Specialization spec;
      spec.dtype = dtypeName(dtype);
      spec.headDim = 64;
      const int64_t seq = exact ? 12 : 99;
      if (exact)
        spec.seqLen = seq;
      auto plan = compileOrFail(
          compiler,
          R"({"name": "nystrom", "num_heads": 2, "num_landmarks": 16,
              "conv_kernel_size": 5, "causal": true})",
          spec);
      ASSERT_TRUE(plan);
      std::vector<double> weight =
          getParameter(*plan, "skip_connection.weight");
      ASSERT_EQ(weight.size(), 10u);
      // Conv2d's default init: U(-1/sqrt(5), 1/sqrt(5)).
      for (double w : weight)
        EXPECT_LE(std::fabs(w), 1.0 / std::sqrt(5.0));
      HostTensor q = randomTensor(2, 2, seq, 64, dtype, seed++, 2.0);
      HostTensor k = randomTensor(2, 2, seq, 64, dtype, seed++, 2.0);
      HostTensor v = randomTensor(2, 2, seq, 64, dtype, seed++);
      std::vector<double> out = runPlan(*plan, dtype, q, k, v, 64);
      std::vector<double> ref;
      if (exact) {
        ref = exactReference(q, k, v, true);
      } else {
        NystromOptions options;
        options.causal = true;
        ref = nystromReference(q, k, v, dtype, options);
      }
      // The attention's output is stored in the element type before the
      // skip is added.
      for (double &x : ref)
        x = roundTo(dtype, x);
      addSkip(ref, v, weight, 5);
      double error = relativeError(out, ref);
      EXPECT_LE(error, tolerance(dtype))
          << dtypeName(dtype) << " exact " << exact;
    }
}

TEST(NystromGpu, ShortSequenceWithoutSeqLenIsAClearError) {
  XFC_REQUIRE_GPU();
  xfc::Compiler compiler;
  Specialization spec;
  spec.dtype = "fp16";
  spec.headDim = 64;
  auto plan = compileOrFail(
      compiler, R"({"name": "nystrom", "num_heads": 2, "num_landmarks": 32})",
      spec);
  ASSERT_TRUE(plan);
  StatusOr<DeviceBuffer> buffer = DeviceBuffer::allocate(4 * 32 * 2 * 64 * 2);
  ASSERT_TRUE(buffer.isOk());
  AttentionArgs args;
  for (TensorView *view : {&args.query, &args.key, &args.value, &args.output})
    *view = TensorView(buffer->data(), DType::F16, {1, 2, 32, 64});
  Status status = plan->run(args);
  ASSERT_FALSE(status.isOk());
  EXPECT_NE(status.getMessage().find("sequence length 32 is not longer than "
                                     "num_landmarks 32"),
            std::string::npos)
      << status.getMessage();
}

//===----------------------------------------------------------------------===//
// orthoformer
//===----------------------------------------------------------------------===//

TEST(OrthoformerGpu, MatchesReference) {
  XFC_REQUIRE_GPU();
  xfc::Compiler compiler;
  unsigned seed = 900;
  for (const char *selection :
       {"orthogonal", "random", "kmeans", "kmeans_spherical"})
    for (DType dtype : {DType::F16, DType::BF16, DType::F32}) {
      Specialization spec;
      spec.dtype = dtypeName(dtype);
      spec.headDim = 64;
      OrthoOptions options;
      options.selection = selection;
      options.landmarks = 15;
      auto plan = compileOrFail(
          compiler,
          std::string(R"({"name": "orthoformer", "num_landmarks": 15, )") +
              R"("landmark_selection": ")" + selection + "\"}",
          spec);
      ASSERT_TRUE(plan);
      for (int64_t seq : {int64_t(128), int64_t(77)}) {
        HostTensor q = randomTensor(2, 2, seq, 64, dtype, seed++);
        HostTensor k = randomTensor(2, 2, seq, 64, dtype, seed++);
        HostTensor v = randomTensor(2, 2, seq, 64, dtype, seed++);
        std::vector<double> out = runPlan(*plan, dtype, q, k, v, 64);
        double error =
            relativeError(out, orthoReference(q, k, v, dtype, options));
        EXPECT_LE(error, tolerance(dtype))
            << selection << " " << dtypeName(dtype) << " seq " << seq;
        std::printf("orthoformer %s %s seq %lld: relative error %.3g\n",
                    selection, dtypeName(dtype), static_cast<long long>(seq),
                    error);
      }
    }
}

TEST(OrthoformerGpu, SubsampledQueries) {
  XFC_REQUIRE_GPU();
  xfc::Compiler compiler;
  for (const char *selection : {"orthogonal", "kmeans"}) {
    Specialization spec;
    spec.dtype = "fp32";
    spec.headDim = 32;
    OrthoOptions options;
    options.selection = selection;
    options.landmarks = 8;
    options.fraction = 0.3;
    auto plan = compileOrFail(
        compiler,
        std::string(R"({"name": "orthoformer", "num_landmarks": 8, )") +
            R"("subsample_fraction": 0.3, "landmark_selection": ")" +
            selection + "\"}",
        spec);
    ASSERT_TRUE(plan);
    HostTensor q = randomTensor(1, 3, 101, 32, DType::F32, 51);
    HostTensor k = randomTensor(1, 3, 101, 32, DType::F32, 52);
    HostTensor v = randomTensor(1, 3, 101, 32, DType::F32, 53);
    std::vector<double> out = runPlan(*plan, DType::F32, q, k, v, 32);
    double error =
        relativeError(out, orthoReference(q, k, v, DType::F32, options));
    EXPECT_LE(error, tolerance(DType::F32)) << selection;
  }
}

TEST(OrthoformerGpu, ExactWhenLandmarksEqualTheSequence) {
  XFC_REQUIRE_GPU();
  xfc::Compiler compiler;
  unsigned seed = 950;
  for (DType dtype : {DType::F16, DType::BF16, DType::F32}) {
    Specialization spec;
    spec.dtype = dtypeName(dtype);
    spec.headDim = 64;
    spec.seqLen = 33;
    auto plan = compileOrFail(
        compiler, R"({"name": "orthoformer", "num_landmarks": 33})", spec);
    ASSERT_TRUE(plan);
    HostTensor q = randomTensor(2, 2, 33, 64, dtype, seed++);
    HostTensor k = randomTensor(2, 2, 33, 64, dtype, seed++);
    HostTensor v = randomTensor(2, 2, 33, 64, dtype, seed++);
    std::vector<double> out = runPlan(*plan, dtype, q, k, v, 64);
    EXPECT_LE(relativeError(out, exactReference(q, k, v, false)),
              tolerance(dtype))
        << dtypeName(dtype);
  }
}

TEST(OrthoformerGpu, CloseToExactAttentionAsInXFormersTests) {
  XFC_REQUIRE_GPU();
  // test_ortho_attention.py: rand inputs, landmarks 30 and 33, subsample
  // 1.0 and 0.3, allclose(rtol=0.02, atol=1e-1) against exact attention.
  xfc::Compiler compiler;
  for (int64_t landmarks : {int64_t(30), int64_t(33)})
    for (const char *fraction : {"1.0", "0.3"}) {
      Specialization spec;
      spec.dtype = "fp32";
      spec.headDim = 32; // xFormers tests use 40; the attention templates take
                         // 32/64/96/128
      auto plan =
          compileOrFail(compiler,
                        R"({"name": "orthoformer", "num_landmarks": )" +
                            std::to_string(landmarks) +
                            R"(, "subsample_fraction": )" + fraction + "}",
                        spec);
      ASSERT_TRUE(plan);
      HostTensor q = uniformTensor(2, 2, 300, 32, DType::F32, 91);
      HostTensor k = uniformTensor(2, 2, 300, 32, DType::F32, 92);
      HostTensor v = uniformTensor(2, 2, 300, 32, DType::F32, 93);
      std::vector<double> out = runPlan(*plan, DType::F32, q, k, v, 32);
      double worst;
      EXPECT_TRUE(
          allClose(out, exactReference(q, k, v, false), 0.02, 0.1, &worst))
          << "landmarks " << landmarks << " fraction " << fraction
          << " worst difference " << worst;
    }
}

} // namespace
