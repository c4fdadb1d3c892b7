//===- mha_blocksparse.cpp - FairSeq MultiheadAttention, block-sparse -----===//
//
// Builds an xfc::MultiheadAttention the way FairSeq's blocksparse example
// does (xformers_att_config '{"name": "scaled_dot_product"}' plus a block
// layout and block size, which turn it into a blocksparse attention),
// compiled in-process by the JIT, and runs it on random fp16 [T, B, C]
// inputs when a GPU is present. Without one it says so after creating the
// module (which needs only NVRTC).
//
//   mha_blocksparse [SEQ_LEN]      (default 512, a multiple of 32 up to 512)
//
//===----------------------------------------------------------------------===//

#include "xfc/runtime/Cuda.h"
#include "xfc/runtime/MultiheadAttention.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

using namespace xfc;
using namespace xfc::runtime;

int main(int argc, char **argv) {
  const int64_t blockSize = 32, maxBlocks = 16;
  int64_t seqLen = argc > 1 ? std::atoll(argv[1]) : 512;
  if (seqLen <= 0 || seqLen > blockSize * maxBlocks) {
    std::fprintf(stderr, "SEQ_LEN: expected 1 to %lld, got %s\n",
                 (long long)(blockSize * maxBlocks), argv[1]);
    return 1;
  }

  // A local band of blocks plus a global first block row and column.
  std::vector<std::vector<int>> layout(maxBlocks,
                                       std::vector<int>(maxBlocks, 0));
  for (int64_t i = 0; i < maxBlocks; ++i)
    for (int64_t j = 0; j < maxBlocks; ++j)
      layout[i][j] = std::abs(i - j) <= 1 || i == 0 || j == 0;

  MultiheadAttention::Options options;
  options.embedDim = 512;
  options.numHeads = 8;
  options.selfAttention = true;
  options.xformersAttConfig = R"({"name": "scaled_dot_product"})";
  options.xformersBlocksparseLayout = layout;
  options.xformersBlocksparseBlocksize = blockSize;
  options.dtype = DType::F16;
  options.seed = 1;
  auto mha = MultiheadAttention::create(options);
  if (!mha) {
    std::fprintf(stderr, "%s\n", mha.getStatus().getMessage().c_str());
    return 1;
  }
  std::printf("created: embed_dim 512, 8 heads, head_dim %lld, config %s\n",
              (long long)(*mha)->getHeadDim(),
              (*mha)->getAttentionConfig().c_str());

  StatusOr<const CudaDriver *> driver = getDriver();
  StatusOr<int> devices =
      driver ? (*driver)->getDeviceCount() : StatusOr<int>(driver.getStatus());
  if (!devices || *devices == 0) {
    std::printf("no GPU, not running: %s\n",
                devices ? "the driver sees no device"
                        : devices.getStatus().getMessage().c_str());
    return 0;
  }

  const int64_t batch = 4, embedDim = options.embedDim;
  const int64_t count = seqLen * batch * embedDim;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> uniform(-1, 1);
  std::vector<uint16_t> input(count);
  for (uint16_t &value : input)
    value = floatToF16(uniform(rng));
  auto x = DeviceBuffer::allocate(count * 2);
  auto y = DeviceBuffer::allocate(count * 2);
  if (!x || !y) {
    std::fprintf(stderr, "%s\n", (!x ? x : y).getStatus().getMessage().c_str());
    return 1;
  }
  if (Status status = x->upload(input.data(), count * 2); !status) {
    std::fprintf(stderr, "%s\n", status.getMessage().c_str());
    return 1;
  }

  MultiheadAttention::ForwardArgs args;
  args.query = TensorView(x->data(), DType::F16, {seqLen, batch, embedDim});
  args.output = TensorView(y->data(), DType::F16, {seqLen, batch, embedDim});
  auto start = std::chrono::steady_clock::now();
  Status status = (*mha)->forward(args);
  if (status)
    status = (*driver)->synchronize(nullptr);
  if (!status) {
    std::fprintf(stderr, "%s\n", status.getMessage().c_str());
    return 1;
  }
  double firstMs = std::chrono::duration<double, std::milli>(
                       std::chrono::steady_clock::now() - start)
                       .count();
  const int iterations = 20;
  start = std::chrono::steady_clock::now();
  for (int i = 0; i < iterations && status; ++i)
    status = (*mha)->forward(args);
  if (status)
    status = (*driver)->synchronize(nullptr);
  if (!status) {
    std::fprintf(stderr, "%s\n", status.getMessage().c_str());
    return 1;
  }
  double ms = std::chrono::duration<double, std::milli>(
                  std::chrono::steady_clock::now() - start)
                  .count() /
              iterations;

  std::vector<uint16_t> output(count);
  if (Status copy = y->download(output.data(), count * 2); !copy) {
    std::fprintf(stderr, "%s\n", copy.getMessage().c_str());
    return 1;
  }
  double sumSquares = 0;
  int64_t nonFinite = 0;
  for (uint16_t bits : output) {
    float value = f16ToFloat(bits);
    if (!std::isfinite(value))
      ++nonFinite;
    else
      sumSquares += double(value) * value;
  }
  std::printf("ran [T=%lld, B=%lld, C=%lld] fp16: first call %.1f ms "
              "(compiles included), then %.3f ms per forward; output rms "
              "%.4f, %lld non-finite\n",
              (long long)seqLen, (long long)batch, (long long)embedDim, firstMs,
              ms, std::sqrt(sumSquares / count), (long long)nonFinite);
  return nonFinite == 0 ? 0 : 1;
}
