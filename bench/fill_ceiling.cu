// How fast TMA bulk copies fill shared memory on this card: the ceiling on
// the K/V bytes an attention kernel can bring into its SMs, from L2 (a
// buffer that fits in it) and from DRAM (one that does not).
//
//   nvcc -O3 -std=c++17 -arch=sm_90a -o fill_ceiling bench/fill_ceiling.cu
//   -lcuda
//   ./fill_ceiling > fill_ceiling.json
//
// Every CTA keeps Stages copies of ChunkBytes in flight (one thread issues
// them into a ring, one mbarrier a stage) and reads chunks at scattered
// places of the buffer, as a block-sparse kernel's K/V tiles are. Two copy
// kinds: "bulk", one cp.async.bulk a chunk; "boxes", the K/V loads of xfc's
// block-64 kernels (a tensor map of rows of 128 bf16, 64 x 64 boxes with
// the 128-byte swizzle, each 64-row block as two boxes, the chunk's blocks
// at scattered rows). Two patterns: "scattered", each CTA its own hashed
// sequence of chunks, as block-sparse layouts read K/V; "lockstep", every
// CTA the buffer's chunks in order, as dense attention does. Nothing reads the
// shared memory: this is the copy engine and the memory system alone, an upper
// bound for a kernel that also computes.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cuda.h>
#include <cuda_runtime.h>
#include <vector>

#define CHECK(call)                                                            \
  do {                                                                         \
    cudaError_t err = (call);                                                  \
    if (err != cudaSuccess) {                                                  \
      std::fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__,                  \
                   cudaGetErrorString(err));                                   \
      std::exit(1);                                                            \
    }                                                                          \
  } while (0)

__device__ __forceinline__ unsigned smemAddr(const void *p) {
  return static_cast<unsigned>(__cvta_generic_to_shared(p));
}

__global__ void fillKernel(const __grid_constant__ CUtensorMap map, bool boxes,
                           bool lockstep, const char *buffer,
                           long long numChunks, int chunkBytes, int stages,
                           int chunksPerCta, unsigned long long *sink) {
  extern __shared__ __align__(1024) unsigned char ring[];
  __shared__ __align__(8) unsigned long long full[8];
  if (threadIdx.x != 0)
    return;
  for (int s = 0; s < stages; ++s)
    asm volatile(
        "mbarrier.init.shared.b64 [%0], 1;\n" ::"r"(smemAddr(&full[s])));
  asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
  // Scattered chunks: a multiplicative hash of (CTA, index) over the buffer.
  unsigned long long state = 0x9E3779B97F4A7C15ull * (blockIdx.x + 1);
  auto issue = [&](int i) {
    const int s = i % stages;
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    // Lockstep: every CTA reads the i-th chunk of the buffer at about the
    // same time, as dense attention's CTAs of one head read its K/V.
    const long long chunk =
        lockstep ? i % numChunks
                 : static_cast<long long>((state >> 20) % numChunks);
    const unsigned bar = smemAddr(&full[s]);
    asm volatile(
        "mbarrier.arrive.expect_tx.shared.b64 _, [%0], %1;\n" ::"r"(bar),
        "r"(chunkBytes)
        : "memory");
    const unsigned dst = smemAddr(ring) + s * chunkBytes;
    if (!boxes) {
      asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::"
                   "complete_tx::bytes [%0], [%1], %2, [%3];\n" ::"r"(dst),
                   "l"(buffer + chunk * chunkBytes), "r"(chunkBytes), "r"(bar)
                   : "memory");
      return;
    }
    // Blocks of 64 rows x 256 bytes (16 KiB, two boxes), each from its own
    // scattered block of the buffer.
    const long long blocks = numChunks * chunkBytes / 16384;
    for (int b = 0; b < chunkBytes / 16384; ++b) {
      state = state * 6364136223846793005ull + 1442695040888963407ull;
      const int row =
          static_cast<int>(lockstep ? (i * (chunkBytes / 16384) + b) % blocks
                                    : (state >> 20) % blocks) *
          64;
      for (int c = 0; c < 2; ++c)
        asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.tile."
                     "mbarrier::complete_tx::bytes [%0], [%1, {%2, %3}], "
                     "[%4];\n" ::"r"(dst + b * 16384 + c * 8192),
                     "l"(&map), "r"(c * 64), "r"(row), "r"(bar)
                     : "memory");
    }
  };
  auto wait = [&](int i) {
    const unsigned bar = smemAddr(&full[i % stages]);
    const unsigned parity = (i / stages) & 1;
    asm volatile("{\n"
                 ".reg .pred done;\n"
                 "retry:\n"
                 "mbarrier.try_wait.parity.shared.b64 done, [%0], %1;\n"
                 "@!done bra retry;\n"
                 "}\n" ::"r"(bar),
                 "r"(parity)
                 : "memory");
  };
  for (int i = 0; i < stages && i < chunksPerCta; ++i)
    issue(i);
  for (int i = 0; i < chunksPerCta; ++i) {
    wait(i);
    if (i + stages < chunksPerCta)
      issue(i + stages);
  }
  // Keeps the copies observable.
  atomicAdd(sink, ring[0]);
}

struct Result {
  const char *source, *copies, *pattern;
  long long bufferBytes;
  int ctasPerSm, stages, chunkBytes;
  double ms, tbPerS;
};

int main() {
  int device = 0, sms = 0;
  CHECK(cudaGetDevice(&device));
  CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  cudaDeviceProp prop;
  CHECK(cudaGetDeviceProperties(&prop, device));
  const long long dramBytes = 4ll << 30;
  char *buffer = nullptr;
  CHECK(cudaMalloc(&buffer, dramBytes));
  CHECK(cudaMemset(buffer, 1, dramBytes));
  unsigned long long *sink = nullptr;
  CHECK(cudaMalloc(&sink, sizeof(*sink)));
  CHECK(cudaFuncSetAttribute(
      fillKernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 200 * 1024));
  cudaEvent_t start, stop;
  CHECK(cudaEventCreate(&start));
  CHECK(cudaEventCreate(&stop));
  // The median of seven timed runs of `work`, in ms.
  auto medianMs = [&](auto work) {
    std::vector<float> times;
    for (int rep = 0; rep < 7; ++rep) {
      CHECK(cudaEventRecord(start));
      work();
      CHECK(cudaEventRecord(stop));
      CHECK(cudaEventSynchronize(stop));
      float ms = 0;
      CHECK(cudaEventElapsedTime(&ms, start, stop));
      times.push_back(ms);
    }
    std::sort(times.begin(), times.end());
    return static_cast<double>(times[times.size() / 2]);
  };

  struct Case {
    const char *source;
    long long bufferBytes;
    int ctasPerSm, stages, chunkBytes;
    bool boxes, lockstep;
  };
  // 8 MiB: two heads' K and V at 2x16x8192x128 bf16 (the block-sparse
  // schedules keep few heads in flight); 4 GiB: every chunk from DRAM.
  std::vector<Case> cases;
  for (long long bytes : {8ll << 20, 32ll << 20, dramBytes})
    for (bool boxes : {false, true})
      for (int ctas : {1, 2, 4})
        for (int chunk : {16384, 32768, 65536})
          for (int inFlight : {98304, 196608})
            if (inFlight / ctas >= 2 * chunk && inFlight / ctas <= 196608)
              for (bool lockstep : {false, true})
                if (!lockstep || bytes != dramBytes)
                  cases.push_back({bytes == dramBytes ? "dram" : "l2", bytes,
                                   ctas, inFlight / ctas / chunk, chunk, boxes,
                                   lockstep});

  // Rows of 128 bf16 over the whole buffer; boxes of 64 x 64, as xfc's K
  // and V maps (runtime/lib/Cuda.cpp: 128-byte swizzle, 256-byte L2
  // promotion).
  using EncodeFn = CUresult (*)(
      CUtensorMap *, CUtensorMapDataType, cuuint32_t, void *,
      const cuuint64_t *, const cuuint64_t *, const cuuint32_t *,
      const cuuint32_t *, CUtensorMapInterleave, CUtensorMapSwizzle,
      CUtensorMapL2promotion, CUtensorMapFloatOOBfill);
  auto encodeMap = [&](long long bytes) {
    CUtensorMap map;
    const cuuint64_t dims[2] = {128, static_cast<cuuint64_t>(bytes / 256)};
    const cuuint64_t strides[1] = {256};
    const cuuint32_t box[2] = {64, 64}, elementStrides[2] = {1, 1};
    if (cuTensorMapEncodeTiled(
            &map, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 2, buffer, dims, strides,
            box, elementStrides, CU_TENSOR_MAP_INTERLEAVE_NONE,
            CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
            CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) != CUDA_SUCCESS) {
      std::fprintf(stderr, "cuTensorMapEncodeTiled failed\n");
      std::exit(1);
    }
    return map;
  };
  std::vector<Result> results;
  for (const Case &c : cases) {
    const int ctas = sms * c.ctasPerSm;
    const int chunksPerCta =
        static_cast<int>((2ll << 30) / c.chunkBytes / ctas);
    const size_t shared = static_cast<size_t>(c.stages) * c.chunkBytes;
    const CUtensorMap map = encodeMap(c.bufferBytes);
    auto launch = [&]() {
      fillKernel<<<ctas, 32, shared>>>(
          map, c.boxes, c.lockstep, buffer, c.bufferBytes / c.chunkBytes,
          c.chunkBytes, c.stages, chunksPerCta, sink);
    };
    launch();
    CHECK(cudaGetLastError());
    CHECK(cudaDeviceSynchronize());
    const double ms = medianMs(launch);
    const double bytes =
        static_cast<double>(chunksPerCta) * ctas * c.chunkBytes;
    results.push_back({c.source, c.boxes ? "boxes" : "bulk",
                       c.lockstep ? "lockstep" : "scattered", c.bufferBytes,
                       c.ctasPerSm, c.stages, c.chunkBytes, ms,
                       bytes / (ms * 1e-3) / 1e12});
  }
  // DRAM read and write together: a device-to-device copy of 1 GiB.
  const long long copyBytes = 1ll << 30;
  const double copyMs = medianMs([&]() {
    CHECK(cudaMemcpyAsync(buffer + copyBytes, buffer, copyBytes,
                          cudaMemcpyDeviceToDevice));
  });
  std::printf("{\"device\": \"%s\", \"sms\": %d, "
              "\"dram_copy_read_plus_write_tb_per_s\": %.3f, "
              "\"cases\": [\n",
              prop.name, sms, 2.0 * copyBytes / (copyMs * 1e-3) / 1e12);
  for (size_t i = 0; i < results.size(); ++i) {
    const Result &r = results[i];
    std::printf("  {\"source\": \"%s\", \"copies\": \"%s\", \"pattern\": "
                "\"%s\", \"buffer_bytes\": %lld, "
                "\"ctas_per_sm\": %d, \"stages\": %d, \"chunk_bytes\": %d, "
                "\"ms\": %.4f, "
                "\"tb_per_s\": %.3f}%s\n",
                r.source, r.copies, r.pattern, r.bufferBytes, r.ctasPerSm,
                r.stages, r.chunkBytes, r.ms, r.tbPerS,
                i + 1 < results.size() ? "," : "");
  }
  std::printf("]}\n");
  return 0;
}
