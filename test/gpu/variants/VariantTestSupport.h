//===- VariantTestSupport.h - Helpers of the variant GPU tests --*- C++ -*-===//
//
// Each variant test JIT-compiles a config (xfc::Compiler), runs it on fresh
// random [batch, heads, seq, head_dim] inputs rounded to the element type,
// with the output poisoned (NaN) first, and compares with an fp64 CPU
// reference written from the variant's math: ||out - ref|| / ||ref|| within
// SPEC.md §5's bounds, no NaN. Tests skip where there is no GPU.
//
//===----------------------------------------------------------------------===//

#ifndef XFC_TEST_GPU_VARIANTS_VARIANTTESTSUPPORT_H
#define XFC_TEST_GPU_VARIANTS_VARIANTTESTSUPPORT_H

#include "xfc/runtime/AttentionPlan.h"
#include "xfc/runtime/Compiler.h"
#include "xfc/runtime/Cuda.h"

#include "gtest/gtest.h"

#include <cmath>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace xfc::varianttest {

using runtime::DType;

/// Why tests skip, or "" when a GPU is there. Makes a context current.
const std::string &getSkipReason();

#define XFC_REQUIRE_GPU()                                                      \
  do {                                                                         \
    if (!::xfc::varianttest::getSkipReason().empty())                          \
      GTEST_SKIP() << ::xfc::varianttest::getSkipReason();                     \
  } while (0)

/// A [batch, heads, seq, dim] tensor on the host in fp64, already rounded
/// to the element type it is uploaded as.
struct HostTensor {
  int64_t batch = 0, heads = 0, seq = 0, dim = 0;
  std::vector<double> values;

  HostTensor() = default;
  HostTensor(int64_t b, int64_t h, int64_t s, int64_t d)
      : batch(b), heads(h), seq(s), dim(d), values(b * h * s * d, 0.0) {}
  double &at(int64_t b, int64_t h, int64_t s, int64_t d) {
    return values[((b * heads + h) * seq + s) * dim + d];
  }
  double at(int64_t b, int64_t h, int64_t s, int64_t d) const {
    return values[((b * heads + h) * seq + s) * dim + d];
  }
};

/// Rounds to what `dtype` holds.
double roundTo(DType dtype, double value);

/// Normal(0, scale) values rounded to `dtype`.
HostTensor randomTensor(int64_t batch, int64_t heads, int64_t seq, int64_t dim,
                        DType dtype, unsigned seed, double scale = 1.0);

/// `values` as `dtype` in a new device buffer (fails the test on error).
runtime::DeviceBuffer uploadAs(const std::vector<double> &values, DType dtype);

/// Runs `plan` on q, k, v (uploaded as `dtype`) into a NaN-poisoned output
/// of [batch, heads, q.seq, outDim]; returns the output in fp64 or fails the
/// test. `parameters` (name -> fp32 host values) are uploaded and passed
/// through AttentionArgs::parameters when given.
std::vector<double>
runPlan(runtime::AttentionPlan &plan, DType dtype, const HostTensor &q,
        const HostTensor &k, const HostTensor &v, int64_t outDim,
        const std::map<std::string, std::vector<float>> &parameters = {});

/// ||out - ref|| / ||ref||; NaN when any output is NaN.
double relativeError(const std::vector<double> &out,
                     const std::vector<double> &ref);

/// SPEC.md §5: 1e-5 for fp32, 1e-2 for fp16/bf16 inputs.
double tolerance(DType dtype);

const char *dtypeName(DType dtype);

/// Plan parameter `name` as fp64, or fails the test.
std::vector<double> getParameter(const runtime::AttentionPlan &plan,
                                 const std::string &name);

/// Row-wise softmax of `logits` (rows x cols) in place; -inf entries are
/// masked; a row with nothing visible becomes 0.
void softmaxRows(std::vector<double> &logits, int64_t rows, int64_t cols);

} // namespace xfc::varianttest

#endif // XFC_TEST_GPU_VARIANTS_VARIANTTESTSUPPORT_H
