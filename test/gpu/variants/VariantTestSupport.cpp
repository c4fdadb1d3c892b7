//===- VariantTestSupport.cpp - Helpers of the variant GPU tests ----------===//

#include "VariantTestSupport.h"

#include "xfc/nystrom_ops.cuh"

#include <algorithm>
#include <cstring>
#include <limits>

namespace xfc::varianttest {

using namespace xfc::runtime;

const std::string &getSkipReason() {
  static std::string reason = [] {
    StatusOr<const CudaDriver *> driver = getDriver();
    if (!driver)
      return driver.getStatus().getMessage();
    StatusOr<int> count = (*driver)->getDeviceCount();
    if (!count || *count == 0)
      return count ? std::string("the driver sees no device")
                   : count.getStatus().getMessage();
    StatusOr<CudaContext> context = (*driver)->ensureContext();
    if (!context)
      return context.getStatus().getMessage();
    return std::string();
  }();
  return reason;
}

double roundTo(DType dtype, double value) {
  float f = static_cast<float>(value);
  if (dtype == DType::F16) {
    uint16_t bits = floatToF16(f);
    // Decode binary16.
    int sign = bits >> 15, exponent = (bits >> 10) & 0x1f,
        mantissa = bits & 0x3ff;
    double magnitude = exponent == 0
                           ? std::ldexp(mantissa, -24)
                           : std::ldexp(1024 + mantissa, exponent - 25);
    return sign ? -magnitude : magnitude;
  }
  if (dtype == DType::BF16) {
    uint32_t bits = static_cast<uint32_t>(floatToBF16(f)) << 16;
    float out;
    std::memcpy(&out, &bits, 4);
    return out;
  }
  return f;
}

HostTensor randomTensor(int64_t batch, int64_t heads, int64_t seq, int64_t dim,
                        DType dtype, unsigned seed, double scale) {
  HostTensor t(batch, heads, seq, dim);
  std::mt19937 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  for (double &x : t.values)
    x = roundTo(dtype, normal(rng) * scale);
  return t;
}

namespace {

std::vector<uint8_t> encode(const std::vector<double> &values, DType dtype) {
  std::size_t size = getDTypeSize(dtype);
  std::vector<uint8_t> bytes(values.size() * size);
  for (std::size_t i = 0; i < values.size(); ++i) {
    float f = static_cast<float>(values[i]);
    if (dtype == DType::F32) {
      std::memcpy(&bytes[i * 4], &f, 4);
    } else {
      uint16_t bits = dtype == DType::F16 ? floatToF16(f) : floatToBF16(f);
      std::memcpy(&bytes[i * 2], &bits, 2);
    }
  }
  return bytes;
}

std::vector<double> decode(const std::vector<uint8_t> &bytes, DType dtype) {
  std::size_t size = getDTypeSize(dtype);
  std::vector<double> values(bytes.size() / size);
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (dtype == DType::F32) {
      float f;
      std::memcpy(&f, &bytes[i * 4], 4);
      values[i] = f;
    } else if (dtype == DType::BF16) {
      uint32_t bits = 0;
      std::memcpy(&bits, &bytes[i * 2], 2);
      bits <<= 16;
      float f;
      std::memcpy(&f, &bits, 4);
      values[i] = f;
    } else {
      uint16_t bits;
      std::memcpy(&bits, &bytes[i * 2], 2);
      int exponent = (bits >> 10) & 0x1f, mantissa = bits & 0x3ff;
      double magnitude =
          exponent == 31  ? (mantissa ? std::numeric_limits<double>::quiet_NaN()
                                      : std::numeric_limits<double>::infinity())
          : exponent == 0 ? std::ldexp(mantissa, -24)
                          : std::ldexp(1024 + mantissa, exponent - 25);
      values[i] = (bits >> 15) ? -magnitude : magnitude;
    }
  }
  return values;
}

DeviceBuffer upload(const std::vector<uint8_t> &bytes) {
  StatusOr<DeviceBuffer> buffer = DeviceBuffer::allocate(bytes.size() + 16);
  EXPECT_TRUE(buffer.isOk()) << buffer.getStatus().getMessage();
  if (!buffer)
    return DeviceBuffer();
  Status status = buffer->upload(bytes.data(), bytes.size());
  EXPECT_TRUE(status.isOk()) << status.getMessage();
  return std::move(*buffer);
}

} // namespace

DeviceBuffer uploadAs(const std::vector<double> &values, DType dtype) {
  return upload(encode(values, dtype));
}

std::vector<double> downloadAs(const DeviceBuffer &buffer, std::size_t count,
                               DType dtype) {
  std::vector<uint8_t> bytes(count * getDTypeSize(dtype));
  Status status = buffer.download(bytes.data(), bytes.size());
  EXPECT_TRUE(status.isOk()) << status.getMessage();
  if (!status)
    return {};
  return decode(bytes, dtype);
}

std::vector<double>
runPlan(AttentionPlan &plan, DType dtype, const HostTensor &q,
        const HostTensor &k, const HostTensor &v, int64_t outDim,
        const std::map<std::string, std::vector<float>> &parameters) {
  DeviceBuffer dq = uploadAs(q.values, dtype);
  DeviceBuffer dk = uploadAs(k.values, dtype);
  DeviceBuffer dv = uploadAs(v.values, dtype);
  std::size_t outCount = q.batch * q.heads * q.seq * outDim;
  std::size_t outBytes = outCount * getDTypeSize(dtype);
  StatusOr<DeviceBuffer> out = DeviceBuffer::allocate(outBytes);
  EXPECT_TRUE(out.isOk()) << out.getStatus().getMessage();
  if (!out || !dq.data())
    return {};
  EXPECT_TRUE(out->fill(0xff).isOk()); // NaN in every dtype

  std::vector<DeviceBuffer> parameterBuffers;
  AttentionArgs args;
  for (const auto &[name, values] : parameters) {
    std::vector<uint8_t> bytes(values.size() * 4);
    std::memcpy(bytes.data(), values.data(), bytes.size());
    parameterBuffers.push_back(upload(bytes));
    args.parameters[name] =
        static_cast<const float *>(parameterBuffers.back().data());
  }
  args.query = TensorView(dq.data(), dtype, {q.batch, q.heads, q.seq, q.dim});
  args.key = TensorView(dk.data(), dtype, {k.batch, k.heads, k.seq, k.dim});
  args.value = TensorView(dv.data(), dtype, {v.batch, v.heads, v.seq, v.dim});
  args.output =
      TensorView(out->data(), dtype, {q.batch, q.heads, q.seq, outDim});
  Status status = plan.run(args);
  EXPECT_TRUE(status.isOk()) << status.getMessage();
  if (!status)
    return {};
  std::vector<uint8_t> bytes(outBytes);
  Status copied = out->download(bytes.data(), outBytes);
  EXPECT_TRUE(copied.isOk()) << copied.getMessage();
  return decode(bytes, dtype);
}

double relativeError(const std::vector<double> &out,
                     const std::vector<double> &ref) {
  if (out.size() != ref.size() || out.empty())
    return std::numeric_limits<double>::quiet_NaN();
  double diff = 0, norm = 0;
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (std::isnan(out[i]))
      return std::numeric_limits<double>::quiet_NaN();
    diff += (out[i] - ref[i]) * (out[i] - ref[i]);
    norm += ref[i] * ref[i];
  }
  return std::sqrt(diff) / std::max(std::sqrt(norm), 1e-30);
}

double tolerance(DType dtype) { return dtype == DType::F32 ? 1e-5 : 1e-2; }

const char *dtypeName(DType dtype) { return getDTypeName(dtype); }

std::vector<double> getParameter(const AttentionPlan &plan,
                                 const std::string &name) {
  StatusOr<std::vector<float>> values = plan.getParameter(name);
  EXPECT_TRUE(values.isOk()) << values.getStatus().getMessage();
  if (!values)
    return {};
  return std::vector<double>(values->begin(), values->end());
}

void softmaxRows(std::vector<double> &logits, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    double *row = &logits[r * cols];
    double maximum = -std::numeric_limits<double>::infinity();
    for (int64_t c = 0; c < cols; ++c)
      maximum = std::max(maximum, row[c]);
    if (std::isinf(maximum)) {
      std::fill(row, row + cols, 0.0);
      continue;
    }
    double sum = 0;
    for (int64_t c = 0; c < cols; ++c)
      sum += row[c] = std::exp(row[c] - maximum);
    for (int64_t c = 0; c < cols; ++c)
      row[c] /= sum;
  }
}

//===----------------------------------------------------------------------===//
// fp64 references of the variants' math
//===----------------------------------------------------------------------===//

namespace {

/// phi(x) for every row of one batch-head of `x` ([rows, m] row-major):
/// x_s = x Dh^-1/4, off = -||x_s||^2 / 2 - log sqrt(m) + 1e-6, p = x_s W,
/// [exp(p + off), exp(-p + off)] or (sm_orf) exp(p + off).
std::vector<double> favorFeatures(const HostTensor &x, int64_t b, int64_t h,
                                  const std::vector<double> &w, int64_t half,
                                  const std::string &kind) {
  const int64_t d = x.dim, m = kind == "sm_orf" ? half : 2 * half;
  std::vector<double> out(x.seq * m);
  double scale = std::pow(static_cast<double>(d), -0.25);
  for (int64_t s = 0; s < x.seq; ++s) {
    std::vector<double> xs(d);
    double norm = 0;
    for (int64_t c = 0; c < d; ++c) {
      xs[c] = x.at(b, h, s, c) * scale;
      norm += xs[c] * xs[c];
    }
    double offset =
        -0.5 * norm - std::log(std::sqrt(static_cast<double>(m))) + 1e-6;
    for (int64_t f = 0; f < half; ++f) {
      double p = 0;
      for (int64_t c = 0; c < d; ++c)
        p += xs[c] * w[c * half + f];
      out[s * m + f] = std::exp(p + offset);
      if (kind != "sm_orf")
        out[s * m + half + f] = std::exp(-p + offset);
    }
  }
  return out;
}

} // namespace

std::vector<double> favorReference(const HostTensor &q, const HostTensor &k,
                                   const HostTensor &v,
                                   const std::vector<double> &w, int64_t half,
                                   const std::string &kind, bool causal) {
  const int64_t d = v.dim, m = kind == "sm_orf" ? half : 2 * half;
  std::vector<double> out(q.batch * q.heads * q.seq * d, 0.0);
  for (int64_t b = 0; b < q.batch; ++b)
    for (int64_t h = 0; h < q.heads; ++h) {
      std::vector<double> qf = favorFeatures(q, b, h, w, half, kind);
      std::vector<double> kf = favorFeatures(k, b, h, w, half, kind);
      // Running (causal) or total sums of kf_j v_j^T and kf_j.
      std::vector<double> state(m * d, 0.0), keySum(m, 0.0);
      auto accumulate = [&](int64_t j) {
        for (int64_t f = 0; f < m; ++f) {
          keySum[f] += kf[j * m + f];
          for (int64_t c = 0; c < d; ++c)
            state[f * d + c] += kf[j * m + f] * v.at(b, h, j, c);
        }
      };
      if (!causal)
        for (int64_t j = 0; j < k.seq; ++j)
          accumulate(j);
      for (int64_t i = 0; i < q.seq; ++i) {
        if (causal)
          accumulate(i);
        double den = 0;
        for (int64_t f = 0; f < m; ++f)
          den += qf[i * m + f] * keySum[f];
        for (int64_t c = 0; c < d; ++c) {
          double num = 0;
          for (int64_t f = 0; f < m; ++f)
            num += qf[i * m + f] * state[f * d + c];
          out[((b * q.heads + h) * q.seq + i) * d + c] = num / den;
        }
      }
    }
  return out;
}

std::vector<double> lambdaReference(const HostTensor &q, const HostTensor &k,
                                    const HostTensor &v,
                                    const std::vector<double> &e,
                                    int64_t maxLen) {
  const int64_t s = q.seq, d = q.dim;
  std::vector<double> out(q.values.size(), 0.0);
  for (int64_t b = 0; b < q.batch; ++b)
    for (int64_t h = 0; h < q.heads; ++h) {
      // softmax over the sequence, per feature of K.
      std::vector<double> ks(s * d);
      for (int64_t c = 0; c < d; ++c) {
        double largest = -INFINITY, sum = 0;
        for (int64_t n = 0; n < s; ++n)
          largest = std::max(largest, k.at(b, h, n, c));
        for (int64_t n = 0; n < s; ++n)
          sum += ks[n * d + c] = std::exp(k.at(b, h, n, c) - largest);
        for (int64_t n = 0; n < s; ++n)
          ks[n * d + c] /= sum;
      }
      std::vector<double> content(d * d, 0.0);
      for (int64_t n = 0; n < s; ++n)
        for (int64_t r = 0; r < d; ++r)
          for (int64_t c = 0; c < d; ++c)
            content[r * d + c] += ks[n * d + r] * v.at(b, h, n, c);
      for (int64_t n = 0; n < s; ++n) {
        double *row = &out[((b * q.heads + h) * s + n) * d];
        for (int64_t r = 0; r < d; ++r)
          for (int64_t c = 0; c < d; ++c)
            row[c] += q.at(b, h, n, r) * content[r * d + c];
        for (int64_t m = 0; m < s; ++m) {
          const double *emb = &e[(m - n + maxLen - 1) * d];
          double weight = 0;
          for (int64_t r = 0; r < d; ++r)
            weight += q.at(b, h, n, r) * emb[r];
          for (int64_t c = 0; c < d; ++c)
            row[c] += weight * v.at(b, h, m, c);
        }
      }
    }
  return out;
}

namespace {

constexpr double kPi = 3.14159265358979323846;

} // namespace

std::vector<double> fourierReference(const HostTensor &x) {
  const int64_t n = x.seq, m = x.dim;
  std::vector<double> out(x.values.size(), 0.0);
  for (int64_t b = 0; b < x.batch; ++b)
    for (int64_t h = 0; h < x.heads; ++h) {
      // Along the sequence: real and imaginary parts.
      std::vector<double> re(n * m, 0.0), im(n * m, 0.0);
      for (int64_t s = 0; s < n; ++s)
        for (int64_t t = 0; t < n; ++t) {
          double angle = -2.0 * kPi * static_cast<double>((s * t) % n) / n;
          double c = std::cos(angle), sn = std::sin(angle);
          for (int64_t e = 0; e < m; ++e) {
            re[s * m + e] += c * x.at(b, h, t, e);
            im[s * m + e] += sn * x.at(b, h, t, e);
          }
        }
      // Along the head dim, keeping the real part.
      for (int64_t s = 0; s < n; ++s)
        for (int64_t d = 0; d < m; ++d) {
          double sum = 0;
          for (int64_t e = 0; e < m; ++e) {
            double angle = -2.0 * kPi * static_cast<double>((d * e) % m) / m;
            sum += re[s * m + e] * std::cos(angle) -
                   im[s * m + e] * std::sin(angle);
          }
          out[((b * x.heads + h) * n + s) * m + d] = sum;
        }
    }
  return out;
}

std::vector<double> poolingReference(const HostTensor &x, int64_t side,
                                     int64_t poolSize) {
  std::vector<double> out(x.values.size(), 0.0);
  const int64_t r = poolSize / 2;
  for (int64_t b = 0; b < x.batch; ++b)
    for (int64_t h = 0; h < x.heads; ++h)
      for (int64_t y = 0; y < side; ++y)
        for (int64_t xc = 0; xc < side; ++xc)
          for (int64_t c = 0; c < x.dim; ++c) {
            double sum = 0;
            int64_t count = 0;
            for (int64_t yy = y - r; yy <= y + r; ++yy)
              for (int64_t xx = xc - r; xx <= xc + r; ++xx)
                if (yy >= 0 && yy < side && xx >= 0 && xx < side) {
                  sum += x.at(b, h, yy * side + xx, c);
                  ++count;
                }
            int64_t s = y * side + xc;
            out[((b * x.heads + h) * x.seq + s) * x.dim + c] =
                sum / static_cast<double>(count) - x.at(b, h, s, c);
          }
  return out;
}

namespace {

/// y[s][o] = bias[o] + sum_i x[s][i] w[o][i] (Conv2d(C, C, 1)).
std::vector<double> pointwise(const std::vector<double> &x, int64_t seq,
                              int64_t channels, const std::vector<double> &w,
                              const std::vector<double> &bias) {
  std::vector<double> y(seq * channels);
  for (int64_t s = 0; s < seq; ++s)
    for (int64_t o = 0; o < channels; ++o) {
      double sum = bias[o];
      for (int64_t i = 0; i < channels; ++i)
        sum += x[s * channels + i] * w[o * channels + i];
      y[s * channels + o] = sum;
    }
  return y;
}

/// Conv2d(C, C, k, padding = dilation (k - 1) / 2, dilation, groups = C).
std::vector<double> depthwise(const std::vector<double> &x, int64_t side,
                              int64_t channels, const std::vector<double> &w,
                              const std::vector<double> &bias, int64_t k,
                              int64_t dilation) {
  const int64_t pad = dilation * (k - 1) / 2;
  std::vector<double> y(side * side * channels);
  for (int64_t r = 0; r < side; ++r)
    for (int64_t c = 0; c < side; ++c)
      for (int64_t ch = 0; ch < channels; ++ch) {
        double sum = bias[ch];
        for (int64_t i = 0; i < k; ++i)
          for (int64_t j = 0; j < k; ++j) {
            int64_t rr = r - pad + i * dilation, cc = c - pad + j * dilation;
            if (rr >= 0 && rr < side && cc >= 0 && cc < side)
              sum += w[ch * k * k + i * k + j] *
                     x[(rr * side + cc) * channels + ch];
          }
        y[(r * side + c) * channels + ch] = sum;
      }
  return y;
}

} // namespace

std::vector<double> visualReference(const HostTensor &x, int64_t side,
                                    const VisualWeights &p) {
  const int64_t seq = x.seq, channels = x.dim;
  std::vector<double> out;
  for (int64_t b = 0; b < x.batch; ++b) {
    std::vector<double> in(x.values.begin() + b * seq * channels,
                           x.values.begin() + (b + 1) * seq * channels);
    std::vector<double> u =
        pointwise(in, seq, channels, p["block.0.weight"], p["block.0.bias"]);
    for (double &value : u)
      value = 0.5 * value * (1.0 + std::erf(value / std::sqrt(2.0)));
    std::vector<double> a =
        depthwise(u, side, channels, p["block.2.conv0.weight"],
                  p["block.2.conv0.bias"], 5, 1);
    a = depthwise(a, side, channels, p["block.2.conv_spatial.weight"],
                  p["block.2.conv_spatial.bias"], 7, 3);
    a = pointwise(a, seq, channels, p["block.2.conv1.weight"],
                  p["block.2.conv1.bias"]);
    for (std::size_t i = 0; i < a.size(); ++i)
      a[i] *= u[i];
    std::vector<double> y =
        pointwise(a, seq, channels, p["block.3.weight"], p["block.3.bias"]);
    for (std::size_t i = 0; i < y.size(); ++i)
      out.push_back(in[i] + y[i]);
  }
  return out;
}

namespace {

using Matrix = std::vector<double>; // row-major

/// The seed IRGen gives orthoformer's landmark draws (kOrthoformerSeed).
constexpr long long kOrthoSeed = 0x5eed;

Matrix headOf(const HostTensor &t, int64_t b, int64_t h) {
  return Matrix(t.values.begin() + (b * t.heads + h) * t.seq * t.dim,
                t.values.begin() + (b * t.heads + h + 1) * t.seq * t.dim);
}

void roundAll(DType dtype, Matrix &m) {
  for (double &x : m)
    x = roundTo(dtype, x);
}

/// a [n, k] times b [k, p].
Matrix product(const Matrix &a, const Matrix &b, int64_t n, int64_t k,
               int64_t p) {
  Matrix c(n * p, 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t l = 0; l < k; ++l)
      for (int64_t j = 0; j < p; ++j)
        c[i * p + j] += a[i * k + l] * b[l * p + j];
  return c;
}

/// softmax(q k^T * scale) over [rows, keys] with the top-left causal mask
/// (key j visible to row i when j <= i) when `causal`.
Matrix attentionWeights(const Matrix &q, const Matrix &k, int64_t rows,
                        int64_t keys, int64_t dim, bool causal) {
  const double scale = 1.0 / std::sqrt(static_cast<double>(dim));
  Matrix logits(rows * keys);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < keys; ++j) {
      double dot = 0;
      for (int64_t d = 0; d < dim; ++d)
        dot += q[i * dim + d] * k[j * dim + d];
      logits[i * keys + j] = causal && j > i ? -INFINITY : dot * scale;
    }
  softmaxRows(logits, rows, keys);
  return logits;
}

Matrix attention(const Matrix &q, const Matrix &k, const Matrix &v,
                 int64_t rows, int64_t keys, int64_t dim, bool causal) {
  return product(attentionWeights(q, k, rows, keys, dim, causal), v, rows, keys,
                 dim);
}

/// xFormers' get_avg_pool: m means of contiguous segments, the last S % m
/// of them one row longer.
Matrix segmentMeans(const Matrix &x, int64_t seq, int64_t dim, int64_t m) {
  const int64_t seg = seq / m, rest = seq % m;
  const int64_t shortSegments = rest == 0 ? m : m - rest;
  Matrix out(m * dim, 0.0);
  int64_t row = 0;
  for (int64_t l = 0; l < m; ++l) {
    int64_t count = l < shortSegments ? seg : seg + 1;
    for (int64_t r = 0; r < count; ++r, ++row)
      for (int64_t d = 0; d < dim; ++d)
        out[l * dim + d] += x[row * dim + d] / count;
  }
  return out;
}

void store(std::vector<double> &out, const Matrix &head, int64_t g,
           int64_t size) {
  std::copy(head.begin(), head.end(), out.begin() + g * size);
}

/// The landmarks the plan's landmark_select kernel chooses for batch-head g,
/// replayed in fp64 with the same draws.
Matrix selectLandmarks(const Matrix &q, const Matrix &k, int64_t seq,
                       int64_t dim, int64_t g, const OrthoOptions &o) {
  const int64_t m = o.landmarks;
  const long long seed = kOrthoSeed;
  if (o.selection == "random") {
    const int64_t half = m / 2;
    Matrix out(2 * half * dim);
    for (int64_t l = 0; l < 2 * half; ++l) {
      bool fromQuery = l < half;
      int64_t row = static_cast<int64_t>(
          landmarkHash(seed, fromQuery ? kStreamRandomQ : kStreamRandomK,
                       fromQuery ? l : l - half) %
          static_cast<unsigned long long>(seq));
      for (int64_t d = 0; d < dim; ++d)
        out[l * dim + d] = (fromQuery ? q : k)[row * dim + d];
    }
    return out;
  }
  const int64_t samples = landmarkSampleCount(seq, o.fraction, m);
  auto rowOf = [&](int64_t n) {
    return landmarkSampleRow(seed, n, seq, o.fraction);
  };
  auto inverseNorm = [&](int64_t n) {
    double sum = 0;
    for (int64_t d = 0; d < dim; ++d)
      sum += q[rowOf(n) * dim + d] * q[rowOf(n) * dim + d];
    return 1.0 / std::max(std::sqrt(sum), 1e-12);
  };
  Matrix out(m * dim);
  if (o.selection == "orthogonal") {
    std::vector<double> best(samples, 0.0);
    int64_t chosen =
        static_cast<int64_t>(landmarkHash(seed, kStreamFirst, g) %
                             static_cast<unsigned long long>(samples));
    for (int64_t l = 0; l < m; ++l) {
      for (int64_t d = 0; d < dim; ++d)
        out[l * dim + d] = q[rowOf(chosen) * dim + d];
      if (l + 1 == m)
        break;
      const double chosenInv = inverseNorm(chosen);
      int64_t next = -1;
      for (int64_t n = 0; n < samples; ++n) {
        if (n == chosen) {
          best[n] = 10.0;
        } else if (best[n] < 10.0) {
          double dot = 0;
          for (int64_t d = 0; d < dim; ++d)
            dot += q[rowOf(n) * dim + d] * q[rowOf(chosen) * dim + d];
          best[n] =
              std::max(best[n], std::fabs(dot * chosenInv * inverseNorm(n)));
        }
        if (next < 0 || best[n] < best[next])
          next = n;
      }
      chosen = next;
    }
    return out;
  }
  // k-means from m distinct drawn samples; 6 Lloyd iterations.
  const bool spherical = o.selection == "kmeans_spherical";
  std::vector<int64_t> initial;
  long long attempt = 0;
  while (static_cast<int64_t>(initial.size()) < m) {
    int64_t candidate =
        static_cast<int64_t>(landmarkHash(seed, kStreamCentroid, attempt++) %
                             static_cast<unsigned long long>(samples));
    if (std::find(initial.begin(), initial.end(), candidate) == initial.end())
      initial.push_back(candidate);
  }
  auto point = [&](int64_t n, int64_t d) {
    double x = q[rowOf(n) * dim + d];
    return spherical ? x * inverseNorm(n) : x;
  };
  Matrix centroid(m * dim);
  for (int64_t j = 0; j < m; ++j)
    for (int64_t d = 0; d < dim; ++d)
      centroid[j * dim + d] = point(initial[j], d);
  std::vector<int64_t> cluster(samples);
  for (int iteration = 0; iteration < kLandmarkKMeansIterations; ++iteration) {
    for (int64_t n = 0; n < samples; ++n) {
      double bestScore = 0;
      for (int64_t j = 0; j < m; ++j) {
        double score = 0;
        for (int64_t d = 0; d < dim; ++d) {
          double x = point(n, d), c = centroid[j * dim + d];
          score += spherical ? x * c : (x - c) * (x - c);
        }
        if (j == 0 || (spherical ? score > bestScore : score < bestScore))
          bestScore = score, cluster[n] = j;
      }
    }
    std::vector<double> count(m, 1e-6);
    std::fill(centroid.begin(), centroid.end(), 0.0);
    for (int64_t n = 0; n < samples; ++n) {
      count[cluster[n]] += 1;
      for (int64_t d = 0; d < dim; ++d)
        centroid[cluster[n] * dim + d] += point(n, d);
    }
    for (int64_t j = 0; j < m; ++j) {
      double norm = 0;
      for (int64_t d = 0; d < dim; ++d) {
        centroid[j * dim + d] /= count[j];
        norm += centroid[j * dim + d] * centroid[j * dim + d];
      }
      if (spherical)
        for (int64_t d = 0; d < dim; ++d)
          centroid[j * dim + d] /= std::max(std::sqrt(norm), 1e-12);
    }
  }
  return centroid;
}

} // namespace

std::vector<double> nystromReference(const HostTensor &q, const HostTensor &k,
                                     const HostTensor &v, DType dtype,
                                     const NystromOptions &o) {
  const int64_t s = q.seq, d = q.dim, m = o.landmarks;
  const int64_t heads = q.batch * q.heads;
  std::vector<Matrix> qls(heads), kls(heads), k2s(heads);
  std::vector<double> largest(heads);
  for (int64_t g = 0; g < heads; ++g) {
    int64_t b = g / q.heads, h = g % q.heads;
    qls[g] = segmentMeans(headOf(q, b, h), s, d, m);
    kls[g] = segmentMeans(headOf(k, b, h), s, d, m);
    roundAll(dtype, qls[g]);
    roundAll(dtype, kls[g]);
    k2s[g] = attentionWeights(qls[g], kls[g], m, m, d, o.causal);
    largest[g] = 0;
    for (int64_t c = 0; c < m; ++c) {
      double sum = 0;
      for (int64_t r = 0; r < m; ++r)
        sum += k2s[g][r * m + c];
      largest[g] = std::max(largest[g], sum);
    }
  }
  const double global = *std::max_element(largest.begin(), largest.end());
  std::vector<double> out(q.values.size());
  Matrix identity(m * m, 0.0);
  for (int64_t i = 0; i < m; ++i)
    identity[i * m + i] = 1.0;
  auto minus = [&](double c, const Matrix &a) {
    Matrix r(m * m);
    for (int64_t i = 0; i < m * m; ++i)
      r[i] = c * identity[i] - a[i];
    return r;
  };
  for (int64_t g = 0; g < heads; ++g) {
    int64_t b = g / q.heads, h = g % q.heads;
    const Matrix &k2 = k2s[g];
    // iterative_pinv: Z0 = K^T / max column sum, then
    // Z <- 0.25 Z (13 I - KZ (15 I - KZ (7 I - KZ))).
    Matrix z(m * m);
    double c = o.originalInit ? global : largest[g];
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < m; ++j)
        z[i * m + j] = k2[j * m + i] / c;
    for (int64_t it = 0; it < o.iterations; ++it) {
      Matrix kz = product(k2, z, m, m, m);
      Matrix inner = minus(7.0, kz);
      Matrix middle = minus(15.0, product(kz, inner, m, m, m));
      Matrix outer = minus(13.0, product(kz, middle, m, m, m));
      z = product(z, outer, m, m, m);
      for (double &x : z)
        x *= 0.25;
    }
    Matrix k3 =
        attention(qls[g], headOf(k, b, h), headOf(v, b, h), m, s, d, o.causal);
    roundAll(dtype, k3);
    Matrix x = product(z, k3, m, m, d);
    roundAll(dtype, x);
    store(out, attention(headOf(q, b, h), kls[g], x, s, m, d, o.causal), g,
          s * d);
  }
  return out;
}

void addSkip(std::vector<double> &out, const HostTensor &v,
             const std::vector<double> &weight, int64_t ks) {
  for (int64_t b = 0; b < v.batch; ++b)
    for (int64_t h = 0; h < v.heads; ++h)
      for (int64_t s = 0; s < v.seq; ++s)
        for (int64_t d = 0; d < v.dim; ++d) {
          double sum = 0;
          for (int64_t t = 0; t < ks; ++t) {
            int64_t r = s + t - ks / 2;
            if (r >= 0 && r < v.seq)
              sum += weight[h * ks + t] * v.at(b, h, r, d);
          }
          out[((b * v.heads + h) * v.seq + s) * v.dim + d] += sum;
        }
}

std::vector<double> exactReference(const HostTensor &q, const HostTensor &k,
                                   const HostTensor &v, bool causal) {
  std::vector<double> out(q.values.size());
  for (int64_t b = 0; b < q.batch; ++b)
    for (int64_t h = 0; h < q.heads; ++h)
      store(out,
            attention(headOf(q, b, h), headOf(k, b, h), headOf(v, b, h), q.seq,
                      k.seq, q.dim, causal),
            b * q.heads + h, q.seq * q.dim);
  return out;
}

std::vector<double> orthoReference(const HostTensor &q, const HostTensor &k,
                                   const HostTensor &v, DType dtype,
                                   const OrthoOptions &o) {
  const int64_t s = q.seq, d = q.dim;
  std::vector<double> out(q.values.size());
  for (int64_t b = 0; b < q.batch; ++b)
    for (int64_t h = 0; h < q.heads; ++h) {
      int64_t g = b * q.heads + h;
      Matrix qh = headOf(q, b, h), kh = headOf(k, b, h);
      Matrix l = selectLandmarks(qh, kh, s, d, g, o);
      roundAll(dtype, l);
      int64_t rows = static_cast<int64_t>(l.size()) / d;
      Matrix kernel2 = attention(l, kh, headOf(v, b, h), rows, s, d, false);
      roundAll(dtype, kernel2);
      store(out, attention(qh, l, kernel2, s, rows, d, false), g, s * d);
    }
  return out;
}

} // namespace xfc::varianttest
