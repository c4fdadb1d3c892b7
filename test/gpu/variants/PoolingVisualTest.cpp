//===- PoolingVisualTest.cpp - pooling and visual on the GPU --------------===//
//
// The token-grid variants against fp64 references written from the math:
// pooling AvgPool2d(k, stride 1, padding k // 2, count_include_pad=False)(x)
// - x per head and feature, and visual's VAN block x + Conv1x1(GELU(Conv1x1
// x) * LKA) with the plan's own parameters (read back with getParameter) and
// with caller-supplied ones. Grids 8 x 8 and 13 x 13 (odd), several pool
// sizes, fp16/bf16/fp32; a non-square sequence and a split-head visual input
// are clear errors. The references (poolingReference, visualReference) are
// in VariantTestSupport.cpp, shared with MultiheadVariantsTest.cpp.
//
//===----------------------------------------------------------------------===//

#include "VariantTestSupport.h"

#include <cmath>

using namespace xfc;
using namespace xfc::runtime;
using namespace xfc::varianttest;

namespace {

TEST(PoolingGpu, MatchesReference) {
  XFC_REQUIRE_GPU();
  xfc::Compiler compiler;
  unsigned seed = 500;
  for (DType dtype : {DType::F16, DType::BF16, DType::F32})
    for (int64_t poolSize : {3, 5, 7}) {
      const int64_t headDim = poolSize == 5 ? 64 : 32;
      Specialization spec;
      spec.dtype = dtypeName(dtype);
      spec.headDim = headDim;
      std::string config = R"({"name": "pooling", "pool_size": )" +
                           std::to_string(poolSize) + "}";
      auto plan = compiler.compile(config, spec);
      ASSERT_TRUE(plan.isOk()) << plan.getStatus().getMessage();
      ASSERT_TRUE((*plan)->isGraph());
      for (int64_t side : {8, 13}) {
        const int64_t seq = side * side;
        HostTensor q = randomTensor(2, 3, seq, headDim, dtype, seed++);
        HostTensor kv = randomTensor(2, 3, seq, headDim, dtype, seed++);
        std::vector<double> out = runPlan(**plan, dtype, q, kv, kv, headDim);
        double error = relativeError(out, poolingReference(q, side, poolSize));
        EXPECT_LE(error, tolerance(dtype))
            << dtypeName(dtype) << " pool " << poolSize << " grid " << side;
        std::printf("pooling %s pool %lld grid %lldx%lld: relative error "
                    "%.3g\n",
                    dtypeName(dtype), static_cast<long long>(poolSize),
                    static_cast<long long>(side), static_cast<long long>(side),
                    error);
      }
    }
}

TEST(PoolingGpu, NonSquareSequenceIsAClearError) {
  XFC_REQUIRE_GPU();
  xfc::Compiler compiler;
  Specialization spec;
  spec.dtype = "fp16";
  spec.headDim = 32;
  auto plan = compiler.compile(R"({"name": "pooling"})", spec);
  ASSERT_TRUE(plan.isOk()) << plan.getStatus().getMessage();
  StatusOr<DeviceBuffer> buffer = DeviceBuffer::allocate(4 * 50 * 32 * 2);
  ASSERT_TRUE(buffer.isOk());
  AttentionArgs args;
  for (TensorView *view : {&args.query, &args.key, &args.value, &args.output})
    *view = TensorView(buffer->data(), DType::F16, {1, 1, 50, 32});
  Status status = (*plan)->run(args);
  ASSERT_FALSE(status.isOk());
  EXPECT_NE(status.getMessage().find("sequence length 50 is not a square "
                                     "token grid"),
            std::string::npos)
      << status.getMessage();
}

const char *const kVisualParameters[] = {"block.0.weight",
                                         "block.0.bias",
                                         "block.2.conv0.weight",
                                         "block.2.conv0.bias",
                                         "block.2.conv_spatial.weight",
                                         "block.2.conv_spatial.bias",
                                         "block.2.conv1.weight",
                                         "block.2.conv1.bias",
                                         "block.3.weight",
                                         "block.3.bias"};

/// The block's own term, out - x: checked apart because x dominates out.
std::vector<double> minusInput(std::vector<double> values,
                               const HostTensor &x) {
  for (std::size_t i = 0; i < values.size() && i < x.values.size(); ++i)
    values[i] -= x.values[i];
  return values;
}

int64_t getFanIn(const std::string &name, int64_t channels) {
  if (name.find("conv0") != std::string::npos)
    return 25;
  if (name.find("conv_spatial") != std::string::npos)
    return 49;
  return channels;
}

TEST(VisualGpu, MatchesReference) {
  XFC_REQUIRE_GPU();
  xfc::Compiler compiler;
  unsigned seed = 700;
  for (DType dtype : {DType::F16, DType::BF16, DType::F32})
    for (auto [channels, side] : {std::pair<int64_t, int64_t>{32, 8},
                                  std::pair<int64_t, int64_t>{48, 13}}) {
      Specialization spec;
      spec.dtype = dtypeName(dtype);
      spec.headDim = channels;
      auto plan = compiler.compile(R"({"name": "visual", "dim_model": )" +
                                       std::to_string(channels) + "}",
                                   spec);
      ASSERT_TRUE(plan.isOk()) << plan.getStatus().getMessage();
      ASSERT_TRUE((*plan)->isGraph());

      // The plan's parameters: torch's Conv2d init, U(-1/sqrt(fan_in),
      // 1/sqrt(fan_in)) for weights and biases.
      VisualWeights own;
      for (const char *name : kVisualParameters) {
        own.values[name] = getParameter(**plan, name);
        double bound =
            1.0 / std::sqrt(static_cast<double>(getFanIn(name, channels)));
        double largest = 0;
        for (double value : own.values[name])
          largest = std::max(largest, std::fabs(value));
        EXPECT_LE(largest, bound) << name;
        EXPECT_GT(largest, 0.75 * bound) << name;
      }
      const int64_t seq = side * side;
      HostTensor q = randomTensor(2, 1, seq, channels, dtype, seed++);
      HostTensor kv = randomTensor(2, 1, seq, channels, dtype, seed++);
      std::vector<double> out = runPlan(**plan, dtype, q, kv, kv, channels);
      std::vector<double> ref = visualReference(q, side, own);
      double error = relativeError(out, ref);
      double blockError = relativeError(minusInput(out, q), minusInput(ref, q));
      EXPECT_LE(error, tolerance(dtype))
          << dtypeName(dtype) << " C " << channels << " grid " << side;
      std::printf("visual %s C %lld grid %lldx%lld: relative error %.3g "
                  "(block term alone %.3g)\n",
                  dtypeName(dtype), static_cast<long long>(channels),
                  static_cast<long long>(side), static_cast<long long>(side),
                  error, blockError);

      // Caller-owned parameters of unit-variance scale, so that the block's
      // term is as large as x: out - x is checked too (its error includes
      // the rounding of out, ~|x| * 2^-11 in fp16 and 2^-8 in bf16).
      std::mt19937 rng(seed++);
      std::map<std::string, std::vector<float>> mine;
      VisualWeights mineF64;
      for (const char *name : kVisualParameters) {
        std::vector<double> shape = own.values[name];
        bool bias = std::string(name).find("bias") != std::string::npos;
        double bound = bias ? 0.5
                            : std::sqrt(3.0 / static_cast<double>(
                                                  getFanIn(name, channels)));
        std::uniform_real_distribution<float> uniform(
            static_cast<float>(-bound), static_cast<float>(bound));
        std::vector<float> values(shape.size());
        for (float &value : values)
          value = uniform(rng);
        mine[name] = values;
        mineF64.values[name] =
            std::vector<double>(values.begin(), values.end());
      }
      out = runPlan(**plan, dtype, q, kv, kv, channels, mine);
      ref = visualReference(q, side, mineF64);
      error = relativeError(out, ref);
      blockError = relativeError(minusInput(out, q), minusInput(ref, q));
      EXPECT_LE(error, tolerance(dtype))
          << dtypeName(dtype) << " C " << channels << " (own parameters)";
      double blockTolerance = dtype == DType::F32   ? 1e-4
                              : dtype == DType::F16 ? 1e-2
                                                    : 4e-2;
      EXPECT_LE(blockError, blockTolerance)
          << dtypeName(dtype) << " C " << channels << " (own parameters)";
      std::printf("visual %s C %lld grid %lldx%lld, unit-scale parameters: "
                  "relative error %.3g (block term alone %.3g)\n",
                  dtypeName(dtype), static_cast<long long>(channels),
                  static_cast<long long>(side), static_cast<long long>(side),
                  error, blockError);
    }
}

TEST(VisualGpu, SplitHeadsAreAClearError) {
  XFC_REQUIRE_GPU();
  xfc::Compiler compiler;
  Specialization spec;
  spec.dtype = "fp32";
  auto plan = compiler.compile(R"({"name": "visual", "dim_model": 32})", spec);
  ASSERT_TRUE(plan.isOk()) << plan.getStatus().getMessage();
  StatusOr<DeviceBuffer> buffer = DeviceBuffer::allocate(4 * 2 * 64 * 32 * 4);
  ASSERT_TRUE(buffer.isOk());
  AttentionArgs args;
  for (TensorView *view : {&args.query, &args.key, &args.value, &args.output})
    *view = TensorView(buffer->data(), DType::F32, {1, 2, 64, 32});
  Status status = (*plan)->run(args);
  ASSERT_FALSE(status.isOk());
  EXPECT_NE(status.getMessage().find("expected heads 1"), std::string::npos)
      << status.getMessage();
}

} // namespace
