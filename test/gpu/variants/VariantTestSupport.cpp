//===- VariantTestSupport.cpp - Helpers of the variant GPU tests ----------===//

#include "VariantTestSupport.h"

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

} // namespace xfc::varianttest
