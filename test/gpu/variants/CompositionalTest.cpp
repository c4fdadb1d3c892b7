//===- CompositionalTest.cpp - compositional attention on the GPU ---------===//
//
// xFormers' CompositionalAttention (searches, retrievals, rule selection,
// own projections) against an fp64 reference written from its math, with
// the plan's own parameters: every score network (linear, MLP, qk_rule),
// q_compose, separate projections, no biases, causal; every dtype; an odd
// sequence length and a key length different from the query's.
//
//===----------------------------------------------------------------------===//

#include "VariantTestSupport.h"

#include "xfc/runtime/MultiheadAttention.h"

#include <algorithm>

#include <cmath>
#include <limits>

using namespace xfc;
using namespace xfc::runtime;
using namespace xfc::varianttest;

namespace {

struct Options {
  int64_t model = 64, searches = 4, rules = 2;
  bool qkRule = false, nonlinear = false, qCompose = false, bias = true;
  bool separate = false, causal = false;

  std::string config() const {
    auto flag = [](bool b) { return b ? "true" : "false"; };
    return std::string(R"({"name": "compositional", "dim_model": )") +
           std::to_string(model) + R"(, "num_heads": )" +
           std::to_string(searches) + R"(, "num_rules": )" +
           std::to_string(rules) + R"(, "qk_rule": )" + flag(qkRule) +
           R"(, "nonlinear": )" + flag(nonlinear) + R"(, "q_compose": )" +
           flag(qCompose) + R"(, "bias": )" + flag(bias) +
           R"(, "use_separate_proj_weight": )" + flag(separate) +
           R"(, "causal": )" + flag(causal) + "}";
  }
};

/// y[s][o] = sum_i x[s][i] w[o][i] + b[o] for x [rows, in], w [out, in].
std::vector<double> linear(const std::vector<double> &x, int64_t rows,
                           int64_t in, const std::vector<double> &w,
                           const std::vector<double> &b, int64_t out) {
  std::vector<double> y(rows * out, 0.0);
  for (int64_t s = 0; s < rows; ++s)
    for (int64_t o = 0; o < out; ++o) {
      double sum = b.empty() ? 0.0 : b[o];
      for (int64_t i = 0; i < in; ++i)
        sum += x[s * in + i] * w[o * in + i];
      y[s * out + o] = sum;
    }
  return y;
}

std::vector<double> reference(const Options &o, const AttentionPlan &plan,
                              const HostTensor &q, const HostTensor &k,
                              const HostTensor &v) {
  const int64_t e = o.model, h = o.searches, r = o.rules;
  const int64_t dh = e / h, vd = e / r, dsel = e / h;
  const int64_t sq = q.seq, sk = k.seq;
  auto param = [&](const std::string &name) {
    return getParameter(plan, name);
  };
  auto biasOf = [&](const std::string &name) {
    return o.bias ? param(name) : std::vector<double>();
  };
  const std::string in = "in_proj_container.";
  std::vector<double> wq = param(in + "q_proj.weight"),
                      bq = biasOf(in + "q_proj.bias");
  std::vector<double> wk = o.separate ? param(in + "k_proj.weight") : wq;
  std::vector<double> bk = o.separate ? biasOf(in + "k_proj.bias") : bq;
  std::vector<double> wv = o.separate ? param(in + "v_proj.weight") : wq;
  std::vector<double> bv = o.separate ? biasOf(in + "v_proj.bias") : bq;
  std::vector<double> wvq = param("value_q.weight"),
                      bvq = biasOf("value_q.bias");
  std::vector<double> wout = param("out_proj.weight"),
                      bout = biasOf("out_proj.bias");
  const double scaling = 1.0 / std::sqrt(double(dh));
  const double inf = std::numeric_limits<double>::infinity();

  std::vector<double> out(q.batch * sq * e, 0.0);
  for (int64_t b = 0; b < q.batch; ++b) {
    std::vector<double> xq(q.values.begin() + b * sq * e,
                           q.values.begin() + (b + 1) * sq * e);
    std::vector<double> xk(k.values.begin() + b * sk * e,
                           k.values.begin() + (b + 1) * sk * e);
    std::vector<double> xv(v.values.begin() + b * sk * e,
                           v.values.begin() + (b + 1) * sk * e);
    std::vector<double> qp = linear(xq, sq, e, wq, bq, e);
    std::vector<double> kp = linear(xk, sk, e, wk, bk, e);
    std::vector<double> vp = linear(xv, sk, e, wv, bv, e);
    // Retrievals O[hh][rr][i][c].
    std::vector<double> retrieval(h * r * sq * vd, 0.0);
    for (int64_t hh = 0; hh < h; ++hh) {
      std::vector<double> a(sq * sk);
      for (int64_t i = 0; i < sq; ++i)
        for (int64_t j = 0; j < sk; ++j) {
          double dot = 0;
          for (int64_t d = 0; d < dh; ++d)
            dot += qp[i * e + hh * dh + d] * kp[j * e + hh * dh + d];
          a[i * sk + j] = o.causal && j > i ? -inf : dot * scaling;
        }
      softmaxRows(a, sq, sk);
      for (int64_t rr = 0; rr < r; ++rr)
        for (int64_t i = 0; i < sq; ++i)
          for (int64_t c = 0; c < vd; ++c) {
            double sum = 0;
            for (int64_t j = 0; j < sk; ++j)
              sum += a[i * sk + j] * vp[j * e + rr * vd + c];
            retrieval[((hh * r + rr) * sq + i) * vd + c] = sum;
          }
    }
    // Selection queries vq[hh][i][:].
    std::vector<double> vq(h * sq * dsel);
    if (o.qCompose) {
      for (int64_t hh = 0; hh < h; ++hh)
        for (int64_t i = 0; i < sq; ++i)
          for (int64_t t = 0; t < dsel; ++t) {
            double sum = bvq.empty() ? 0.0 : bvq[t];
            for (int64_t d = 0; d < dh; ++d)
              sum += qp[i * e + hh * dh + d] * scaling * wvq[t * dh + d];
            vq[(hh * sq + i) * dsel + t] = sum;
          }
    } else {
      std::vector<double> all = linear(xq, sq, e, wvq, bvq, h * dsel);
      for (int64_t hh = 0; hh < h; ++hh)
        for (int64_t i = 0; i < sq; ++i)
          for (int64_t t = 0; t < dsel; ++t)
            vq[(hh * sq + i) * dsel + t] = all[i * h * dsel + hh * dsel + t];
    }
    std::vector<double> merged(sq * h * vd, 0.0);
    for (int64_t hh = 0; hh < h; ++hh)
      for (int64_t i = 0; i < sq; ++i) {
        const double *sel = &vq[(hh * sq + i) * dsel];
        std::vector<double> score(r);
        for (int64_t rr = 0; rr < r; ++rr) {
          const double *ret = &retrieval[((hh * r + rr) * sq + i) * vd];
          if (o.qkRule) {
            std::vector<double> wk2 = param("value_k.weight"),
                                bk2 = biasOf("value_k.bias");
            double sum = 0;
            for (int64_t t = 0; t < dsel; ++t) {
              double key = bk2.empty() ? 0.0 : bk2[t];
              for (int64_t c = 0; c < vd; ++c)
                key += wk2[t * vd + c] * ret[c];
              sum += sel[t] / std::sqrt(double(dsel)) * key;
            }
            score[rr] = sum;
          } else if (o.nonlinear) {
            std::vector<double> w1 = param("score_network.0.weight"),
                                b1 = biasOf("score_network.0.bias"),
                                w2 = param("score_network.2.weight"),
                                b2 = biasOf("score_network.2.bias");
            double sum = b2.empty() ? 0.0 : b2[0];
            for (int64_t t = 0; t < dsel; ++t) {
              double unit = b1.empty() ? 0.0 : b1[t];
              for (int64_t c = 0; c < vd; ++c)
                unit += w1[t * (vd + dsel) + c] * ret[c];
              for (int64_t u = 0; u < dsel; ++u)
                unit += w1[t * (vd + dsel) + vd + u] * sel[u];
              sum += w2[t] * std::max(unit, 0.0);
            }
            score[rr] = sum;
          } else {
            std::vector<double> w = param("score_network.weight"),
                                bb = biasOf("score_network.bias");
            double sum = bb.empty() ? 0.0 : bb[0];
            for (int64_t c = 0; c < vd; ++c)
              sum += w[c] * ret[c];
            for (int64_t u = 0; u < dsel; ++u)
              sum += w[vd + u] * sel[u];
            score[rr] = sum;
          }
        }
        softmaxRows(score, 1, r);
        for (int64_t c = 0; c < vd; ++c) {
          double sum = 0;
          for (int64_t rr = 0; rr < r; ++rr)
            sum += score[rr] * retrieval[((hh * r + rr) * sq + i) * vd + c];
          merged[i * h * vd + hh * vd + c] = sum;
        }
      }
    std::vector<double> y = linear(merged, sq, h * vd, wout, bout, e);
    std::copy(y.begin(), y.end(), out.begin() + b * sq * e);
  }
  return out;
}

TEST(CompositionalGpu, MatchesReference) {
  XFC_REQUIRE_GPU();
  xfc::Compiler compiler;
  std::vector<std::pair<std::string, Options>> cases;
  cases.push_back({"linear score", Options()});
  Options mlp;
  mlp.nonlinear = true;
  cases.push_back({"mlp score", mlp});
  Options qk;
  qk.qkRule = true;
  qk.rules = 4;
  cases.push_back({"qk_rule, 4 rules", qk});
  Options compose;
  compose.qCompose = true;
  compose.causal = true;
  cases.push_back({"q_compose, causal", compose});
  Options separate;
  separate.separate = true;
  separate.bias = false;
  cases.push_back({"separate projections, no bias", separate});
  unsigned seed = 4000;
  for (DType dtype : {DType::F32, DType::F16, DType::BF16})
    for (const auto &[name, options] : cases) {
      Specialization spec;
      spec.dtype = dtypeName(dtype);
      auto plan = compiler.compile(options.config(), spec);
      ASSERT_TRUE(plan.isOk()) << name << ": " << plan.getStatus().getMessage();
      // Randomise the zero-initialised out_proj bias so that it is tested.
      if (options.bias) {
        std::vector<float> values(options.model);
        for (std::size_t i = 0; i < values.size(); ++i)
          values[i] = 0.01f * float(i % 7) - 0.03f;
        ASSERT_TRUE((*plan)->setParameter("out_proj.bias", values).isOk());
      }
      int64_t kvLen = options.causal ? 37 : 29;
      HostTensor q = randomTensor(2, 1, 37, options.model, dtype, seed++);
      HostTensor k = randomTensor(2, 1, kvLen, options.model, dtype, seed++);
      HostTensor v = randomTensor(2, 1, kvLen, options.model, dtype, seed++);
      std::vector<double> out = runPlan(**plan, dtype, q, k, v, options.model);
      double error = relativeError(out, reference(options, **plan, q, k, v));
      EXPECT_LE(error, tolerance(dtype)) << name << " " << dtypeName(dtype);
      std::printf("compositional %-30s %s: relative error %.3g\n", name.c_str(),
                  dtypeName(dtype), error);
    }
}

} // namespace

namespace {

/// MultiheadAttention with a variant that owns its projections
/// (compositional; pooling and visual skip them) hands the raw sequence-first
/// query, key and value to the variant's graph with the module's weights
/// "attention.<name>": its output is the plan's on [batch, 1, seq,
/// embed_dim] copies of the same inputs, with the same parameters.
void checkModuleRunsTheGraph(const std::string &config, int64_t e,
                             int64_t heads, int64_t t, int64_t s) {
  SCOPED_TRACE(config);
  MultiheadAttention::Options options;
  options.embedDim = e;
  options.numHeads = heads;
  options.dtype = DType::F32;
  options.xformersAttConfig = config;
  auto mha = MultiheadAttention::create(options);
  ASSERT_TRUE(mha.isOk()) << mha.getStatus().getMessage();
  // New values for the variant's weights, set through the module.
  std::mt19937 rng(77);
  std::uniform_real_distribution<float> uniform(-0.2f, 0.2f);
  std::map<std::string, std::vector<float>> mine;
  for (const std::string &name : (*mha)->getWeightNames()) {
    if (name.rfind("attention.", 0) != 0)
      continue;
    auto shape = (*mha)->getWeightShape(name);
    ASSERT_TRUE(shape.isOk());
    std::vector<float> values((*shape)[0] * (*shape)[1]);
    for (float &x : values)
      x = uniform(rng);
    ASSERT_TRUE((*mha)->setWeight(name, values.data(), values.size()).isOk());
    mine[name.substr(10)] = values;
  }

  const int64_t b = 3;
  // Sequence-first [T, B, E] inputs and their [B, 1, T, E] copies.
  HostTensor qFirst = randomTensor(1, 1, t * b, e, DType::F32, 5);
  HostTensor kFirst = randomTensor(1, 1, s * b, e, DType::F32, 6);
  HostTensor vFirst = randomTensor(1, 1, s * b, e, DType::F32, 7);
  auto batchFirst = [&](const HostTensor &x, int64_t len) {
    HostTensor y(b, 1, len, e);
    for (int64_t i = 0; i < len; ++i)
      for (int64_t bb = 0; bb < b; ++bb)
        for (int64_t c = 0; c < e; ++c)
          y.at(bb, 0, i, c) = x.values[(i * b + bb) * e + c];
    return y;
  };
  xfc::Compiler compiler;
  Specialization spec;
  spec.dtype = "fp32";
  spec.headDim = e;
  auto plan = compiler.compile(config, spec);
  ASSERT_TRUE(plan.isOk()) << plan.getStatus().getMessage();
  std::vector<double> expected =
      runPlan(**plan, DType::F32, batchFirst(qFirst, t), batchFirst(kFirst, s),
              batchFirst(vFirst, s), e, mine);

  DeviceBuffer dq = uploadAs(qFirst.values, DType::F32),
               dk = uploadAs(kFirst.values, DType::F32),
               dv = uploadAs(vFirst.values, DType::F32);
  StatusOr<DeviceBuffer> out = DeviceBuffer::allocate(t * b * e * 4);
  ASSERT_TRUE(out.isOk());
  ASSERT_TRUE(out->fill(0xff).isOk());
  MultiheadAttention::ForwardArgs args;
  args.query = TensorView(dq.data(), DType::F32, {t, b, e});
  args.key = TensorView(dk.data(), DType::F32, {s, b, e});
  args.value = TensorView(dv.data(), DType::F32, {s, b, e});
  args.output = TensorView(out->data(), DType::F32, {t, b, e});
  Status status = (*mha)->forward(args, nullptr);
  ASSERT_TRUE(status.isOk()) << status.getMessage();
  std::vector<float> got(t * b * e);
  ASSERT_TRUE(out->download(got.data(), got.size() * 4).isOk());
  // got is [T, B, E]; expected [B, 1, T, E].
  std::vector<double> reordered(got.size());
  for (int64_t i = 0; i < t; ++i)
    for (int64_t bb = 0; bb < b; ++bb)
      for (int64_t c = 0; c < e; ++c)
        reordered[(bb * t + i) * e + c] = got[(i * b + bb) * e + c];
  double error = relativeError(reordered, expected);
  EXPECT_LE(error, 1e-6);
  std::printf("%s through MultiheadAttention: relative difference to the "
              "plan %.3g\n",
              config.c_str(), error);
}

TEST(CompositionalGpu, MultiheadAttentionRunsTheGraph) {
  XFC_REQUIRE_GPU();
  Options o;
  o.rules = 4;
  checkModuleRunsTheGraph(o.config(), o.model, o.searches, 23, 31);
  checkModuleRunsTheGraph(R"({"name": "pooling", "pool_size": 3})", 32, 4, 25,
                          25);
  checkModuleRunsTheGraph(R"({"name": "visual", "dim_model": 48})", 48, 4, 36,
                          36);
}

} // namespace
