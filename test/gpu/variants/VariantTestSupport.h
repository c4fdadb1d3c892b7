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

/// The first `count` elements of `buffer` (of `dtype`) in fp64, or {} after
/// failing the test.
std::vector<double> downloadAs(const runtime::DeviceBuffer &buffer,
                               std::size_t count, DType dtype);

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

//===----------------------------------------------------------------------===//
// fp64 references of the variants' math on [batch, heads, seq, dim] inputs
// (the per-variant tests run them on the plan's inputs, MultiheadVariantsTest
// on the module's projections); each returns [batch, heads, q.seq, dim].
//===----------------------------------------------------------------------===//

/// favor: phi(x) for every row of a batch-head: x_s = x Dh^-1/4, off =
/// -||x_s||^2 / 2 - log sqrt(m) + 1e-6, p = x_s W, [exp(p + off), exp(-p +
/// off)] or (sm_orf) exp(p + off), W [Dh, half] row-major. Non-causal:
/// out_i = sum_j (qf_i . kf_j) v_j / sum_j qf_i . kf_j; causal: the sums run
/// over j <= i.
std::vector<double> favorReference(const HostTensor &q, const HostTensor &k,
                                   const HostTensor &v,
                                   const std::vector<double> &w, int64_t half,
                                   const std::string &kind, bool causal);

/// lambda: y = Q softmax_S(K)^T V + y_p, y_p[n] = sum_m (q_n . E[m - n + L -
/// 1]) v_m, E [2 maxLen - 1, Dh] row-major.
std::vector<double> lambdaReference(const HostTensor &q, const HostTensor &k,
                                    const HostTensor &v,
                                    const std::vector<double> &e,
                                    int64_t maxLen);

/// fourier_mix: Re(FFT2(x)) over (seq, dim): out[s][d] = sum_{t,e} x[t][e]
/// cos(2 pi (s t / S + d e / D)), computed as a DFT along S then along D.
std::vector<double> fourierReference(const HostTensor &x);

/// pooling: AvgPool2d(k, 1, k / 2, count_include_pad=False)(x) - x on the
/// side x side grid of every batch, head and feature.
std::vector<double> poolingReference(const HostTensor &x, int64_t side,
                                     int64_t poolSize);

/// visual's parameters, fp64, by the names of xFormers' state dict.
struct VisualWeights {
  std::map<std::string, std::vector<double>> values;
  const std::vector<double> &operator[](const std::string &name) const {
    return values.at(name);
  }
};

/// visual: x + Conv1x1(u * Conv1x1(dw7x7,dil3(dw5x5(u)))), u =
/// GELU(Conv1x1(x)), on every batch's side x side grid of `channels`
/// features (heads == 1).
std::vector<double> visualReference(const HostTensor &x, int64_t side,
                                    const VisualWeights &p);

struct NystromOptions {
  int64_t landmarks = 16;
  int64_t iterations = 6;
  bool causal = false;
  bool originalInit = false;
};

/// nystrom (xFormers' nystrom.py): segment-mean landmarks, Razavi's
/// pseudo-inverse in fp64, rounded to `dtype` where the plan stores in it
/// (the landmarks, K3 and pinv(K2) K3); top-left causal masks when causal.
std::vector<double> nystromReference(const HostTensor &q, const HostTensor &k,
                                     const HostTensor &v, DType dtype,
                                     const NystromOptions &o);

/// nystrom's skip connection (conv_kernel_size): out += Conv2d(H, H, (ks,
/// 1), padding (ks // 2, 0), groups=H)(V) with the [H, ks] weights.
void addSkip(std::vector<double> &out, const HostTensor &v,
             const std::vector<double> &weight, int64_t ks);

/// Exact softmax attention softmax(Q K^T / sqrt(Dh)) V, top-left causal
/// when `causal`.
std::vector<double> exactReference(const HostTensor &q, const HostTensor &k,
                                   const HostTensor &v, bool causal);

struct OrthoOptions {
  std::string selection = "orthogonal";
  int64_t landmarks = 16;
  double fraction = 1.0;
};

/// orthoformer (xFormers' ortho.py) with the landmarks the plan's
/// landmark_select kernel chooses, replayed with the same seeded draws:
/// softmax(Q L^T / sqrt(Dh)) softmax(L K^T / sqrt(Dh)) V, rounded to
/// `dtype` where the plan stores in it (L, softmax(L K^T) V).
std::vector<double> orthoReference(const HostTensor &q, const HostTensor &k,
                                   const HostTensor &v, DType dtype,
                                   const OrthoOptions &o);

} // namespace xfc::varianttest

#endif // XFC_TEST_GPU_VARIANTS_VARIANTTESTSUPPORT_H
