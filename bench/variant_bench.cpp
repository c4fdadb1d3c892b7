//===- variant_bench.cpp - Time one variant's plan on the GPU -------------===//
//
// xfc-variant-bench CONFIG_JSON DTYPE B H S D [ITERS]
// JIT-compiles the config (xfc::Compiler), runs the plan on random inputs
// and prints one JSON line: the median over 7 repetitions of the mean time
// of ITERS back-to-back runs (host clock around the runs plus a stream
// synchronize, the same way bench/bench_variants.py times PyTorch eager), and
// the JIT compile time. Not a test: timings go to bench/results/.
//
//===----------------------------------------------------------------------===//

#include "xfc/runtime/AttentionPlan.h"
#include "xfc/runtime/Compiler.h"
#include "xfc/runtime/Cuda.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

using namespace xfc;
using namespace xfc::runtime;

int main(int argc, char **argv) {
  if (argc < 7) {
    std::fprintf(
        stderr, "usage: xfc-variant-bench CONFIG_JSON DTYPE B H S D [ITERS]\n");
    return 2;
  }
  std::string config = argv[1], dtypeName = argv[2];
  int64_t batch = std::atoll(argv[3]), heads = std::atoll(argv[4]),
          seq = std::atoll(argv[5]), dim = std::atoll(argv[6]);
  int iters = argc > 7 ? std::atoi(argv[7]) : 20;
  StatusOr<DType> dtype = parseDType(dtypeName);
  if (!dtype) {
    std::fprintf(stderr, "%s\n", dtype.getStatus().getMessage().c_str());
    return 2;
  }

  xfc::Compiler compiler;
  Specialization spec;
  spec.dtype = dtypeName;
  spec.headDim = dim;
  auto compileStart = std::chrono::steady_clock::now();
  auto plan = compiler.compile(config, spec, "bench");
  double compileMs = std::chrono::duration<double, std::milli>(
                         std::chrono::steady_clock::now() - compileStart)
                         .count();
  if (!plan) {
    std::fprintf(stderr, "%s\n", plan.getStatus().getMessage().c_str());
    return 1;
  }
  StatusOr<const CudaDriver *> driver = getDriver();
  if (!driver) {
    std::fprintf(stderr, "%s\n", driver.getStatus().getMessage().c_str());
    return 1;
  }
  std::size_t count = batch * heads * seq * dim;
  std::size_t bytes = count * getDTypeSize(*dtype);
  std::vector<float> host(count);
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<DeviceBuffer> buffers;
  for (int i = 0; i < 4; ++i) {
    StatusOr<DeviceBuffer> buffer = DeviceBuffer::allocate(bytes);
    if (!buffer) {
      std::fprintf(stderr, "%s\n", buffer.getStatus().getMessage().c_str());
      return 1;
    }
    std::vector<uint16_t> half(count);
    for (std::size_t j = 0; j < count; ++j) {
      host[j] = normal(rng) * 0.5f;
      half[j] =
          *dtype == DType::BF16 ? floatToBF16(host[j]) : floatToF16(host[j]);
    }
    Status status = *dtype == DType::F32 ? buffer->upload(host.data(), bytes)
                                         : buffer->upload(half.data(), bytes);
    if (!status) {
      std::fprintf(stderr, "%s\n", status.getMessage().c_str());
      return 1;
    }
    buffers.push_back(std::move(*buffer));
  }
  AttentionArgs args;
  TensorView *views[] = {&args.query, &args.key, &args.value, &args.output};
  for (int i = 0; i < 4; ++i)
    *views[i] = TensorView(buffers[i].data(), *dtype, {batch, heads, seq, dim});

  std::vector<double> means;
  for (int rep = 0; rep < 8; ++rep) {
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < iters; ++i)
      if (Status status = (*plan)->run(args); !status) {
        std::fprintf(stderr, "%s\n", status.getMessage().c_str());
        return 1;
      }
    if (Status status = (*driver)->synchronize(nullptr); !status) {
      std::fprintf(stderr, "%s\n", status.getMessage().c_str());
      return 1;
    }
    double ms = std::chrono::duration<double, std::milli>(
                    std::chrono::steady_clock::now() - start)
                    .count() /
                iters;
    if (rep > 0) // the first repetition warms up (module load, workspace)
      means.push_back(ms);
  }
  std::sort(means.begin(), means.end());
  std::printf("{\"ms\": %.5f, \"compile_ms\": %.1f, \"launches\": %zu}\n",
              means[means.size() / 2], compileMs,
              (*plan)->getManifest().launches.size());
  return 0;
}
