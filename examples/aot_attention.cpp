//===- aot_attention.cpp - Run a kernel directory written by xfc compile --===//
//
//   xfc compile examples/configs/blocksparse.json -o out/blocksparse
//   aot_attention out/blocksparse [--batch N] [--heads N] [--seq-len N]
//                                 [--kv-seq-len N] [--seed N]
//
// Loads DIR/manifest.json and its cubins with AttentionPlan::loadAot (no LLVM,
// no NVRTC, no CUDA link dependency: the driver is opened at run time), runs
// the attention on random inputs and prints the largest difference from a
// small CPU reference. Sizes the config fixes (heads, seq_len) are taken from
// the manifest; the others default to batch 2, 4 heads and 256 tokens (at most
// what a block layout covers). Exits 0 when the relative error is within
// 1e-5 (fp32) or 1e-2 (fp16, bf16).
//
//===----------------------------------------------------------------------===//

#include "xfc/runtime/AttentionPlan.h"
#include "xfc/runtime/Cuda.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

using namespace xfc;
using namespace xfc::runtime;

namespace {

int fail(const std::string &message) {
  std::fprintf(stderr, "aot_attention: %s\n", message.c_str());
  return 1;
}

/// Rounds to the element type and stores it.
void store(DType dtype, float value, std::vector<char> &bytes,
           std::size_t index) {
  if (dtype == DType::F32) {
    std::memcpy(&bytes[index * 4], &value, 4);
    return;
  }
  uint16_t bits = dtype == DType::F16 ? floatToF16(value) : floatToBF16(value);
  std::memcpy(&bytes[index * 2], &bits, 2);
}

double load(DType dtype, const std::vector<char> &bytes, std::size_t index) {
  if (dtype == DType::F32) {
    float value;
    std::memcpy(&value, &bytes[index * 4], 4);
    return value;
  }
  uint16_t bits;
  std::memcpy(&bits, &bytes[index * 2], 2);
  return dtype == DType::F16 ? f16ToFloat(bits) : bf16ToFloat(bits);
}

/// Random [count] values of `dtype`, as bytes.
std::vector<char> randomTensor(DType dtype, std::size_t count,
                               std::mt19937 &rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<char> bytes(count * getDTypeSize(dtype));
  for (std::size_t i = 0; i < count; ++i)
    store(dtype, normal(rng), bytes, i);
  return bytes;
}

/// Uploads `bytes` into a new device buffer.
StatusOr<DeviceBuffer> upload(const void *bytes, std::size_t size) {
  StatusOr<DeviceBuffer> buffer = DeviceBuffer::allocate(size);
  if (!buffer)
    return buffer;
  if (Status status = buffer->upload(bytes, size); !status)
    return status;
  return buffer;
}

} // namespace

int main(int argc, char **argv) {
  if (argc < 2 || argv[1][0] == '-') {
    std::fprintf(stderr, "usage: aot_attention DIR [--batch N] [--heads N] "
                         "[--seq-len N] [--kv-seq-len N] [--seed N]\n");
    return 2;
  }
  std::string directory = argv[1];
  int64_t batch = 2, heads = -1, qLen = -1, kvLen = -1;
  unsigned seed = 1;
  for (int i = 2; i < argc; ++i) {
    std::string flag = argv[i];
    if (i + 1 >= argc)
      return fail(flag + ": expected a value");
    long long value = std::atoll(argv[++i]);
    if (value < 0)
      return fail(flag + ": expected a non-negative integer");
    if (flag == "--batch")
      batch = value;
    else if (flag == "--heads")
      heads = value;
    else if (flag == "--seq-len")
      qLen = value;
    else if (flag == "--kv-seq-len")
      kvLen = value;
    else if (flag == "--seed")
      seed = static_cast<unsigned>(value);
    else
      return fail("unknown option " + flag);
  }

  StatusOr<AttentionPlan> plan = AttentionPlan::loadAot(directory);
  if (!plan)
    return fail(plan.getStatus().getMessage());
  const ManifestKernel &kernel = plan->getKernel();
  const AttentionTraits &traits = plan->getTraits();
  const std::optional<BlockLayout> &layout = kernel.layout;
  const ManifestLaunch &launch = plan->getManifest().launches[0];

  // Sizes: what the manifest fixes, else the command line, else defaults.
  const std::vector<int64_t> &qShape = launch.findInput("q")->shape;
  const std::vector<int64_t> &kShape = launch.findInput("k")->shape;
  int64_t maxLen = layout ? std::min<int64_t>(layout->getCoverage(), 256) : 256;
  if (heads < 0)
    heads = qShape[1] >= 0                      ? qShape[1]
            : layout && layout->layoutHeads > 1 ? layout->layoutHeads
                                                : 4;
  if (qLen < 0)
    qLen = qShape[2] >= 0 ? qShape[2] : maxLen;
  if (kvLen < 0)
    kvLen = kShape[2] >= 0 ? kShape[2] : qLen;
  const int64_t D = traits.headDim;
  const DType dtype = traits.element;
  std::printf("%s: %s, %s, head_dim %lld%s%s%s%s; B=%lld H=%lld T=%lld "
              "S=%lld\n",
              kernel.symbol.c_str(), kernel.arch.c_str(), getDTypeName(dtype),
              static_cast<long long>(D), traits.causal ? ", causal" : "",
              layout && !layout->globalBits.empty() ? ", global tokens"
              : layout                              ? ", block-sparse"
              : traits.windowLeft >= 0              ? ", sliding window"
              : traits.randomThreshold > 0          ? ", random pattern"
                                                    : "",
              traits.hasAttnMask ? ", attn_mask" : "",
              traits.hasKeyPadding ? ", key_padding_mask" : "",
              static_cast<long long>(batch), static_cast<long long>(heads),
              static_cast<long long>(qLen), static_cast<long long>(kvLen));

  // Random inputs on the host, then on the device.
  std::mt19937 rng(seed);
  const std::size_t qCount = batch * heads * qLen * D;
  const std::size_t kvCount = batch * heads * kvLen * D;
  std::vector<char> q = randomTensor(dtype, qCount, rng);
  std::vector<char> k = randomTensor(dtype, kvCount, rng);
  std::vector<char> v = randomTensor(dtype, kvCount, rng);
  std::vector<float> mask;
  std::vector<uint8_t> padding;
  std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
  if (traits.hasAttnMask) {
    mask.resize(qLen * kvLen);
    for (float &m : mask)
      m = uniform(rng) < 0.1f ? -std::numeric_limits<float>::infinity()
                              : uniform(rng);
  }
  if (traits.hasKeyPadding) {
    padding.resize(batch * kvLen);
    for (uint8_t &p : padding)
      p = uniform(rng) < 0.1f;
  }

  std::size_t elem = getDTypeSize(dtype);
  StatusOr<DeviceBuffer> qBuffer = upload(q.data(), q.size());
  if (!qBuffer)
    return fail(qBuffer.getStatus().getMessage());
  StatusOr<DeviceBuffer> kBuffer = upload(k.data(), k.size());
  StatusOr<DeviceBuffer> vBuffer = upload(v.data(), v.size());
  StatusOr<DeviceBuffer> oBuffer = DeviceBuffer::allocate(qCount * elem);
  StatusOr<DeviceBuffer> maskBuffer = upload(mask.data(), mask.size() * 4);
  StatusOr<DeviceBuffer> padBuffer = upload(padding.data(), padding.size());
  for (const StatusOr<DeviceBuffer> *buffer :
       {&kBuffer, &vBuffer, &oBuffer, &maskBuffer, &padBuffer})
    if (!*buffer)
      return fail(buffer->getStatus().getMessage());

  AttentionArgs args;
  args.query = TensorView(qBuffer->data(), dtype, {batch, heads, qLen, D});
  args.key = TensorView(kBuffer->data(), dtype, {batch, heads, kvLen, D});
  args.value = TensorView(vBuffer->data(), dtype, {batch, heads, kvLen, D});
  args.output = TensorView(oBuffer->data(), dtype, {batch, heads, qLen, D});
  if (traits.hasAttnMask)
    args.attnMask = TensorView(maskBuffer->data(), DType::F32, {qLen, kvLen});
  if (traits.hasKeyPadding)
    args.keyPadding = TensorView(padBuffer->data(), DType::U8, {batch, kvLen});
  // Dropout is random: run in evaluation mode (p = 0) to compare.
  if (traits.hasDropout)
    std::printf("(the plan has dropout %g; running with p = 0)\n",
                launch.dropout);

  if (Status status = plan->run(args, /*stream=*/nullptr); !status)
    return fail(status.getMessage());
  StatusOr<const CudaDriver *> driver = getDriver();
  if (Status status = (*driver)->synchronize(nullptr); !status)
    return fail(status.getMessage());
  std::vector<char> out(qCount * elem);
  if (Status status = oBuffer->download(out.data(), out.size()); !status)
    return fail(status.getMessage());

  // The CPU reference: masked softmax(scale * q k^T + mask) v in double.
  double scale = 1.0 / std::sqrt(static_cast<double>(D));
  double maxDiff = 0, diff2 = 0, ref2 = 0;
  std::vector<double> p(kvLen);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t i = 0; i < qLen; ++i) {
        double rowMax = -std::numeric_limits<double>::infinity();
        for (int64_t j = 0; j < kvLen; ++j) {
          bool visible =
              !(traits.causal && j > i) &&
              !(traits.hasKeyPadding && padding[b * kvLen + j]) &&
              !(traits.windowLeft >= 0 && j < i - traits.windowLeft) &&
              !(traits.windowRight >= 0 && j > i + traits.windowRight) &&
              traits.keepsRandomPair(i, j);
          if (layout && !layout->globalBits.empty())
            visible = visible && (layout->isGlobal(i) || layout->isGlobal(j));
          if (layout) {
            int lh = layout->layoutHeads == 1 ? 0 : static_cast<int>(h);
            visible =
                visible && i < layout->getCoverage() &&
                j < layout->getCoverage() &&
                layout->isOn(lh, static_cast<int>(i / layout->layoutBlock),
                             static_cast<int>(j / layout->layoutBlock));
          }
          double s = -std::numeric_limits<double>::infinity();
          if (visible) {
            s = 0;
            for (int64_t d = 0; d < D; ++d)
              s += load(dtype, q, ((b * heads + h) * qLen + i) * D + d) *
                   load(dtype, k, ((b * heads + h) * kvLen + j) * D + d);
            s *= scale;
            if (traits.hasAttnMask)
              s += mask[i * kvLen + j];
          }
          p[j] = s;
          rowMax = std::max(rowMax, s);
        }
        double sum = 0;
        for (int64_t j = 0; j < kvLen; ++j) {
          p[j] = std::isinf(rowMax) ? 0.0 : std::exp(p[j] - rowMax);
          sum += p[j];
        }
        for (int64_t d = 0; d < D; ++d) {
          double ref = 0;
          for (int64_t j = 0; j < kvLen && sum > 0; ++j)
            ref += p[j] / sum *
                   load(dtype, v, ((b * heads + h) * kvLen + j) * D + d);
          double got = load(dtype, out, ((b * heads + h) * qLen + i) * D + d);
          double diff = std::fabs(got - ref);
          maxDiff = std::isnan(got) ? INFINITY : std::max(maxDiff, diff);
          diff2 += diff * diff;
          ref2 += ref * ref;
        }
      }
  double rel = std::sqrt(diff2 / std::max(ref2, 1e-300));
  double bound = dtype == DType::F32 ? 1e-5 : 1e-2;
  std::printf("max |out - ref| = %.3g, ||out - ref|| / ||ref|| = %.3g "
              "(bound %.0e): %s\n",
              maxDiff, rel, bound, rel <= bound ? "ok" : "FAILED");
  return rel <= bound ? 0 : 1;
}
