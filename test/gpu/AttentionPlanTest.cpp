//===- AttentionPlanTest.cpp - Compiled attention against a CPU reference -===//
//
// Compiles configs with the xfc binary (XFC_BINARY from the environment, else
// the one this build made), loads them with AttentionPlan::loadAot, runs them
// on random data with NaN-poisoned outputs and compares with an fp64 CPU
// reference: ||out - ref|| / ||ref|| <= 1e-5 (fp32) or 1e-2 (fp16, bf16),
// no NaN, rows that see no key exactly 0, output padding untouched. Every test
// skips where there is no CUDA driver or GPU.
//
//===----------------------------------------------------------------------===//

#include "xfc/runtime/AttentionPlan.h"
#include "xfc/runtime/Compiler.h"
#include "xfc/runtime/Cuda.h"

#include "gtest/gtest.h"

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>
#include <unistd.h>

using namespace xfc;
using namespace xfc::runtime;

namespace {

//===----------------------------------------------------------------------===//
// The GPU, the xfc binary and compiled configs
//===----------------------------------------------------------------------===//

struct GpuInfo {
  const CudaDriver *driver = nullptr;
  std::string arch;
  std::string description;
  std::string skipReason;
};

const GpuInfo &getGpu() {
  static GpuInfo info = [] {
    GpuInfo gpu;
    StatusOr<const CudaDriver *> driver = getDriver();
    if (!driver) {
      gpu.skipReason = driver.getStatus().getMessage();
      return gpu;
    }
    StatusOr<int> count = (*driver)->getDeviceCount();
    if (!count || *count == 0) {
      gpu.skipReason =
          count ? "the driver sees no device" : count.getStatus().getMessage();
      return gpu;
    }
    StatusOr<CudaContext> context = (*driver)->ensureContext();
    if (!context) {
      gpu.skipReason = context.getStatus().getMessage();
      return gpu;
    }
    StatusOr<std::string> arch = (*driver)->getDeviceArch(context->device);
    if (!arch) {
      gpu.skipReason = arch.getStatus().getMessage();
      return gpu;
    }
    gpu.driver = *driver;
    gpu.arch = *arch;
    StatusOr<std::string> name = (*driver)->getDeviceName(context->device);
    gpu.description = (name ? *name : std::string("?")) + ", " + *arch;
    return gpu;
  }();
  return info;
}

#define REQUIRE_GPU()                                                          \
  do {                                                                         \
    if (!getGpu().driver)                                                      \
      GTEST_SKIP() << "no CUDA driver/GPU: " << getGpu().skipReason;           \
  } while (0)

std::string getXfcBinary() {
  if (const char *path = std::getenv("XFC_BINARY"); path && *path)
    return path;
#ifdef XFC_BINARY
  return XFC_BINARY;
#else
  return "xfc";
#endif
}

const std::string &getTempRoot() {
  static std::string root = [] {
    char pattern[] = "/tmp/xfc-gpu-tests-XXXXXX";
    const char *dir = mkdtemp(pattern);
    return std::string(dir ? dir : "/tmp");
  }();
  return root;
}

std::string readText(const std::string &path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

/// A config and the xfc flags it is compiled with.
struct ConfigSpec {
  std::string json;
  std::string flags;
  std::string key() const { return json + "|" + flags; }
};

/// Compiled directories by ConfigSpec::key(), shared by all tests.
class CompileCache {
public:
  /// The directory `xfc compile` wrote for `spec`, compiling it once.
  StatusOr<std::string> get(const ConfigSpec &spec) {
    std::shared_ptr<Entry> entry;
    {
      std::lock_guard<std::mutex> lock(mutex);
      std::shared_ptr<Entry> &slot = entries[spec.key()];
      if (!slot) {
        slot = std::make_shared<Entry>();
        slot->index = static_cast<int>(entries.size());
      }
      entry = slot;
    }
    std::call_once(entry->once, [&] { entry->result = compile(spec, *entry); });
    return entry->result;
  }

  /// Compiles `specs` on up to `jobs` threads.
  void prefetch(const std::vector<ConfigSpec> &specs, unsigned jobs) {
    std::atomic<std::size_t> next{0};
    std::vector<std::thread> threads;
    for (unsigned t = 0; t < jobs; ++t)
      threads.emplace_back([&] {
        for (std::size_t i = next++; i < specs.size(); i = next++)
          (void)get(specs[i]);
      });
    for (std::thread &thread : threads)
      thread.join();
  }

private:
  struct Entry {
    std::once_flag once;
    int index = 0;
    StatusOr<std::string> result = Status::error("not compiled");
  };

  static StatusOr<std::string> compile(const ConfigSpec &spec,
                                       const Entry &entry) {
    std::string base = getTempRoot() + "/c" + std::to_string(entry.index);
    std::filesystem::create_directories(base);
    std::string config = base + "/config.json";
    std::ofstream(config) << spec.json;
    std::string out = base + "/out";
    std::string log = base + "/xfc.log";
    std::string command = "'" + getXfcBinary() + "' compile '" + config +
                          "' -o '" + out + "' --no-cache " + spec.flags +
                          " > '" + log + "' 2>&1";
    int rc = std::system(command.c_str());
    if (rc != 0) {
      // An xfc without a kernel cache does not know --no-cache.
      std::string text = readText(log);
      if (text.find("no-cache") != std::string::npos) {
        command = "'" + getXfcBinary() + "' compile '" + config + "' -o '" +
                  out + "' " + spec.flags + " > '" + log + "' 2>&1";
        rc = std::system(command.c_str());
      }
    }
    if (rc != 0)
      return Status::error("xfc compile failed (" + command + "):\n" +
                           readText(log));
    return out;
  }

  std::mutex mutex;
  std::map<std::string, std::shared_ptr<Entry>> entries;
};

CompileCache &getCompileCache() {
  static CompileCache cache;
  return cache;
}

//===----------------------------------------------------------------------===//
// Configs
//===----------------------------------------------------------------------===//

std::string dtypeConfigName(DType dtype) { return getDTypeName(dtype); }

std::string archFlags(const std::string &arch = "") {
  return "--arch " + (arch.empty() ? getGpu().arch : arch);
}

ConfigSpec denseConfig(DType dtype, int headDim, bool causal = false,
                       bool masks = false, double dropout = 0,
                       const std::string &arch = "") {
  std::ostringstream json;
  json << "{\"name\": \"scaled_dot_product\", \"head_dim\": " << headDim
       << ", \"dtype\": \"" << dtypeConfigName(dtype)
       << "\", \"causal\": " << (causal ? "true" : "false")
       << ", \"dropout\": " << dropout << "}";
  std::string flags = archFlags(arch);
  if (masks)
    flags += " --attn-mask --key-padding-mask";
  return {json.str(), flags};
}

/// A block layout: bits[layoutHeads][numBlocks][numBlocks].
struct LayoutSpec {
  int block = 16;
  int numBlocks = 4;
  std::vector<std::vector<std::vector<int>>> bits;
  bool perHead = false;

  int64_t coverage() const { return int64_t(block) * numBlocks; }
};

/// A random layout with a guaranteed empty row and a full diagonal elsewhere.
LayoutSpec randomLayout(int block, int numBlocks, int heads, bool perHead,
                        unsigned seed) {
  std::mt19937 rng(seed);
  LayoutSpec layout;
  layout.block = block;
  layout.numBlocks = numBlocks;
  layout.perHead = perHead;
  int layoutHeads = perHead ? heads : 1;
  for (int h = 0; h < layoutHeads; ++h) {
    std::vector<std::vector<int>> head(numBlocks, std::vector<int>(numBlocks));
    for (int r = 0; r < numBlocks; ++r)
      for (int c = 0; c < numBlocks; ++c)
        head[r][c] = (r == c) || (rng() % 3 == 0);
    int empty = (h + 1) % numBlocks;
    for (int c = 0; c < numBlocks; ++c)
      head[empty][c] = 0;
    layout.bits.push_back(head);
  }
  return layout;
}

std::string layoutJson(const LayoutSpec &layout) {
  auto square = [](const std::vector<std::vector<int>> &bits) {
    std::string text = "[";
    for (std::size_t r = 0; r < bits.size(); ++r) {
      text += r ? ", [" : "[";
      for (std::size_t c = 0; c < bits[r].size(); ++c)
        text += (c ? ", " : "") + std::to_string(bits[r][c]);
      text += "]";
    }
    return text + "]";
  };
  if (!layout.perHead)
    return square(layout.bits[0]);
  std::string text = "[";
  for (std::size_t h = 0; h < layout.bits.size(); ++h)
    text += (h ? ", " : "") + square(layout.bits[h]);
  return text + "]";
}

ConfigSpec blockSparseConfig(DType dtype, int headDim, int heads,
                             const LayoutSpec &layout, bool causal = false,
                             const std::string &extraFlags = "") {
  std::ostringstream json;
  json << "{\"name\": \"blocksparse\", \"head_dim\": " << headDim
       << ", \"dtype\": \"" << dtypeConfigName(dtype)
       << "\", \"num_heads\": " << heads << ", \"block_size\": " << layout.block
       << ", \"causal\": " << (causal ? "true" : "false")
       << ", \"layout\": " << layoutJson(layout) << "}";
  return {json.str(), archFlags() + " " + extraFlags};
}

//===----------------------------------------------------------------------===//
// Host data, the reference and one checked run
//===----------------------------------------------------------------------===//

enum class MaskKind { None, Full, Rows2d, PerBatch };

struct Case {
  int64_t batch = 1, heads = 1, qLen = 1, kvLen = 1;
  MaskKind mask = MaskKind::None;
  bool keyPadding = false;
  /// Inputs and output stored as [seq, batch, heads * head_dim].
  bool seqFirst = false;
  /// Extra elements after each output row (multiple of 8), left untouched.
  int outputRowPad = 0;
  /// Query scaled by 30: checks the running max.
  bool bigLogits = false;
  /// V all ones (dropout statistics).
  bool valueOnes = false;
  float dropout = 0;
  uint64_t seed = 0;
  unsigned dataSeed = 1;
  /// Global tokens (global variant): 1 per global token; empty when none.
  std::vector<uint8_t> global;

  std::string describe() const {
    std::ostringstream text;
    text << "B=" << batch << " H=" << heads << " T=" << qLen << " S=" << kvLen
         << (seqFirst ? " [T,B,C]" : "") << (bigLogits ? " big-logits" : "")
         << (mask == MaskKind::Full       ? " mask[B,H,T,S]"
             : mask == MaskKind::Rows2d   ? " mask[T,S]"
             : mask == MaskKind::PerBatch ? " mask[B,1,T,S]"
                                          : "")
         << (keyPadding ? " key-padding" : "")
         << (outputRowPad ? " padded-output" : "");
    return text.str();
  }
};

double roundTo(DType dtype, double value) {
  float f = static_cast<float>(value);
  if (dtype == DType::F16)
    return f16ToFloat(floatToF16(f));
  if (dtype == DType::BF16)
    return bf16ToFloat(floatToBF16(f));
  return f;
}

void encode(DType dtype, double value, char *out) {
  float f = static_cast<float>(value);
  if (dtype == DType::F32) {
    std::memcpy(out, &f, 4);
    return;
  }
  uint16_t bits = dtype == DType::F16 ? floatToF16(f) : floatToBF16(f);
  std::memcpy(out, &bits, 2);
}

double decode(DType dtype, const char *in) {
  if (dtype == DType::F32) {
    float f;
    std::memcpy(&f, in, 4);
    return f;
  }
  uint16_t bits;
  std::memcpy(&bits, in, 2);
  return dtype == DType::F16 ? f16ToFloat(bits) : bf16ToFloat(bits);
}

/// A logical [B, H, L, D] tensor in double, and where it lives on the device.
struct HostTensor {
  int64_t b, h, l, d;
  std::vector<double> values;
  double &at(int64_t bi, int64_t hi, int64_t li, int64_t di) {
    return values[((bi * h + hi) * l + li) * d + di];
  }
  double at(int64_t bi, int64_t hi, int64_t li, int64_t di) const {
    return values[((bi * h + hi) * l + li) * d + di];
  }
};

/// Strides (elements) of a [B, H, L, D] view in the case's storage.
std::vector<int64_t> stridesFor(const Case &c, int64_t l, int64_t d,
                                int rowPad = 0) {
  if (c.seqFirst)
    return {c.heads * d, d, c.batch * c.heads * d, 1};
  int64_t row = d + rowPad;
  return {c.heads * l * row, l * row, row, 1};
}

int64_t spanFor(const Case &c, int64_t l, int64_t d, int rowPad = 0) {
  if (c.seqFirst)
    return l * c.batch * c.heads * d;
  return c.batch * c.heads * l * (d + rowPad);
}

/// The fp64 reference; `rowSeesKey[(b*H+h)*T+i]` says whether a row has any
/// visible key.
std::vector<double> reference(const Case &c, const AttentionTraits &traits,
                              const LayoutSpec *layout, const HostTensor &q,
                              const HostTensor &k, const HostTensor &v,
                              const std::vector<double> &mask,
                              const std::vector<uint8_t> &padding, double scale,
                              std::vector<char> &rowSeesKey) {
  const int64_t B = c.batch, H = c.heads, T = c.qLen, S = c.kvLen,
                D = traits.headDim;
  std::vector<double> out(B * H * T * D, 0.0);
  rowSeesKey.assign(B * H * T, 0);
  std::vector<double> scores(S);
  std::vector<char> visible(S);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < T; ++i) {
        double maxScore = -std::numeric_limits<double>::infinity();
        for (int64_t j = 0; j < S; ++j) {
          bool vis = !(traits.causal && j > i);
          // The random variant's pattern (AttentionTraits documents the
          // hash) and global tokens: i or j global.
          vis = vis && traits.keepsRandomPair(i, j, c.seed, 0);
          if (!c.global.empty()) {
            auto isGlobal = [&](int64_t t) {
              return t < static_cast<int64_t>(c.global.size()) && c.global[t];
            };
            vis = vis && (isGlobal(i) || isGlobal(j));
          }
          if (layout) {
            int64_t lh = layout->perHead ? h : 0;
            vis = vis && i < layout->coverage() && j < layout->coverage() &&
                  layout->bits[lh][i / layout->block][j / layout->block];
          }
          if (!padding.empty() && padding[b * S + j])
            vis = false;
          double s = 0;
          if (vis) {
            for (int64_t d = 0; d < D; ++d)
              s += q.at(b, h, i, d) * k.at(b, h, j, d);
            s *= scale;
            if (!mask.empty())
              s += mask[((b * H + h) * T + i) * S + j];
            if (std::isinf(s) && s < 0)
              vis = false;
          }
          visible[j] = vis;
          scores[j] = s;
          if (vis)
            maxScore = std::max(maxScore, s);
        }
        double sum = 0;
        for (int64_t j = 0; j < S; ++j)
          if (visible[j]) {
            scores[j] = std::exp(scores[j] - maxScore);
            sum += scores[j];
          }
        if (sum == 0)
          continue;
        rowSeesKey[(b * H + h) * T + i] = 1;
        double *row = &out[((b * H + h) * T + i) * D];
        for (int64_t j = 0; j < S; ++j)
          if (visible[j]) {
            double p = scores[j] / sum;
            for (int64_t d = 0; d < D; ++d)
              row[d] += p * v.at(b, h, j, d);
          }
      }
  return out;
}

/// Worst relative errors by dtype, for the summary.
struct Summary {
  std::mutex mutex;
  std::map<std::string, std::pair<double, int>> worst;
  void record(DType dtype, double error) {
    std::lock_guard<std::mutex> lock(mutex);
    auto &entry = worst[getDTypeName(dtype)];
    entry.first = std::max(entry.first, error);
    ++entry.second;
  }
};

Summary &getSummary() {
  static Summary summary;
  return summary;
}

double toleranceFor(DType dtype) { return dtype == DType::F32 ? 1e-5 : 1e-2; }

/// Everything a case needs on the device, plus the host copies.
struct CaseData {
  HostTensor q, k, v;
  std::vector<double> mask; // logical [B, H, T, S], empty when none
  std::vector<float> maskStorage;
  std::vector<uint8_t> padding;
  DeviceBuffer qBuffer, kBuffer, vBuffer, oBuffer, maskBuffer, padBuffer;
  AttentionArgs args;
  int64_t outputSpan = 0;
};

/// Builds random inputs for `c` and uploads them; fails the test on error.
void makeCaseData(const Case &c, const AttentionTraits &traits, CaseData &data,
                  ::testing::AssertionResult &ok) {
  const DType dtype = traits.element;
  const int64_t B = c.batch, H = c.heads, T = c.qLen, S = c.kvLen,
                D = traits.headDim;
  std::mt19937 rng(c.dataSeed);
  std::normal_distribution<double> normal(0.0, 1.0);
  auto fill = [&](HostTensor &t, int64_t l, double scale, bool ones) {
    t = HostTensor{B, H, l, D, std::vector<double>(B * H * l * D)};
    for (double &x : t.values)
      x = roundTo(dtype, ones ? 1.0 : normal(rng) * scale);
  };
  fill(data.q, T, c.bigLogits ? 30.0 : 1.0, false);
  fill(data.k, S, 1.0, false);
  fill(data.v, S, 1.0, c.valueOnes);

  const std::size_t elem = getDTypeSize(dtype);
  auto upload = [&](const HostTensor &t, int64_t l, DeviceBuffer &buffer,
                    TensorView &view) {
    std::vector<int64_t> strides = stridesFor(c, l, D);
    int64_t span = spanFor(c, l, D);
    std::vector<char> bytes(std::max<int64_t>(span, 1) * elem, 0);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t i = 0; i < l; ++i)
          for (int64_t d = 0; d < D; ++d)
            encode(
                dtype, t.at(b, h, i, d),
                &bytes[(b * strides[0] + h * strides[1] + i * strides[2] + d) *
                       elem]);
    StatusOr<DeviceBuffer> allocated = DeviceBuffer::allocate(bytes.size());
    if (!allocated) {
      ok = ::testing::AssertionFailure() << allocated.getStatus().getMessage();
      return;
    }
    buffer = std::move(*allocated);
    if (Status status = buffer.upload(bytes.data(), bytes.size()); !status)
      ok = ::testing::AssertionFailure() << status.getMessage();
    view = TensorView::fromVectors(buffer.data(), dtype, {B, H, l, D}, strides);
  };
  upload(data.q, T, data.qBuffer, data.args.query);
  upload(data.k, S, data.kBuffer, data.args.key);
  upload(data.v, S, data.vBuffer, data.args.value);

  // Output: NaN-poisoned, optionally with padding after each row.
  data.outputSpan = spanFor(c, T, D, c.outputRowPad);
  StatusOr<DeviceBuffer> out =
      DeviceBuffer::allocate(std::max<int64_t>(data.outputSpan, 1) * elem);
  if (!out) {
    ok = ::testing::AssertionFailure() << out.getStatus().getMessage();
    return;
  }
  data.oBuffer = std::move(*out);
  if (Status status = data.oBuffer.fill(0xff); !status)
    ok = ::testing::AssertionFailure() << status.getMessage();
  data.args.output =
      TensorView::fromVectors(data.oBuffer.data(), dtype, {B, H, T, D},
                              stridesFor(c, T, D, c.outputRowPad));

  // Masks.
  if (c.mask != MaskKind::None) {
    std::uniform_real_distribution<double> uniform(0.0, 1.0);
    int64_t mb = c.mask == MaskKind::Rows2d ? 1 : B;
    int64_t mh = c.mask == MaskKind::Full ? H : 1;
    data.maskStorage.assign(mb * mh * T * S, 0.0f);
    for (int64_t x = 0; x < mb * mh; ++x)
      for (int64_t i = 0; i < T; ++i)
        for (int64_t j = 0; j < S; ++j) {
          float value = static_cast<float>(normal(rng) * 2.0);
          if (uniform(rng) < 0.1 || i == T / 2)
            value = -std::numeric_limits<float>::infinity();
          data.maskStorage[(x * T + i) * S + j] = value;
        }
    data.mask.assign(B * H * T * S, 0.0);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t i = 0; i < T; ++i)
          for (int64_t j = 0; j < S; ++j) {
            int64_t x = (mb == 1 ? 0 : b) * mh + (mh == 1 ? 0 : h);
            data.mask[((b * H + h) * T + i) * S + j] =
                data.maskStorage[(x * T + i) * S + j];
          }
    StatusOr<DeviceBuffer> buffer =
        DeviceBuffer::allocate(data.maskStorage.size() * 4);
    if (!buffer) {
      ok = ::testing::AssertionFailure() << buffer.getStatus().getMessage();
      return;
    }
    data.maskBuffer = std::move(*buffer);
    if (Status status = data.maskBuffer.upload(data.maskStorage.data(),
                                               data.maskStorage.size() * 4);
        !status)
      ok = ::testing::AssertionFailure() << status.getMessage();
    if (c.mask == MaskKind::Rows2d)
      data.args.attnMask =
          TensorView(data.maskBuffer.data(), DType::F32, {T, S});
    else
      data.args.attnMask =
          TensorView(data.maskBuffer.data(), DType::F32, {mb, mh, T, S});
  }
  if (c.keyPadding) {
    std::uniform_real_distribution<double> uniform(0.0, 1.0);
    data.padding.assign(B * S, 0);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t j = 0; j < S; ++j)
        data.padding[b * S + j] = (b == 1 || uniform(rng) < 0.2) ? 1 : 0;
    StatusOr<DeviceBuffer> buffer = DeviceBuffer::allocate(B * S);
    if (!buffer) {
      ok = ::testing::AssertionFailure() << buffer.getStatus().getMessage();
      return;
    }
    data.padBuffer = std::move(*buffer);
    if (Status status = data.padBuffer.upload(data.padding.data(), B * S);
        !status)
      ok = ::testing::AssertionFailure() << status.getMessage();
    data.args.keyPadding = TensorView(data.padBuffer.data(), DType::U8, {B, S});
  }
  data.args.dropout = c.dropout;
  data.args.seed = c.seed;
  // Uploads and fills run on the legacy stream; the kernel may run on
  // another one.
  if (Status status = getGpu().driver->synchronize(nullptr); !status)
    ok = ::testing::AssertionFailure() << status.getMessage();
}

/// Reads the output back; `raw` gets the whole buffer.
::testing::AssertionResult readOutput(const Case &c,
                                      const AttentionTraits &traits,
                                      CaseData &data, std::vector<double> &out,
                                      std::vector<char> &raw) {
  const std::size_t elem = getDTypeSize(traits.element);
  raw.assign(std::max<int64_t>(data.outputSpan, 1) * elem, 0);
  if (Status status = data.oBuffer.download(raw.data(), raw.size()); !status)
    return ::testing::AssertionFailure() << status.getMessage();
  const int64_t B = c.batch, H = c.heads, T = c.qLen, D = traits.headDim;
  std::vector<int64_t> strides = stridesFor(c, T, D, c.outputRowPad);
  out.assign(B * H * T * D, 0);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < T; ++i)
        for (int64_t d = 0; d < D; ++d)
          out[((b * H + h) * T + i) * D + d] = decode(
              traits.element,
              &raw[(b * strides[0] + h * strides[1] + i * strides[2] + d) *
                   elem]);
  return ::testing::AssertionSuccess();
}

/// Makes `c`'s data, runs it through `plan` on `stream` and reads the
/// output back (`raw`: the whole buffer).
::testing::AssertionResult runCase(const AttentionPlan &plan, const Case &c,
                                   void *stream, CaseData &data,
                                   std::vector<double> &out,
                                   std::vector<char> &raw) {
  const AttentionTraits &traits = plan.getTraits();
  ::testing::AssertionResult ok = ::testing::AssertionSuccess();
  makeCaseData(c, traits, data, ok);
  if (!ok)
    return ok;
  if (Status status = plan.run(data.args, stream); !status)
    return ::testing::AssertionFailure()
           << c.describe() << ": run failed: " << status.getMessage();
  if (Status status = getGpu().driver->synchronize(stream); !status)
    return ::testing::AssertionFailure()
           << c.describe() << ": " << status.getMessage();
  return readOutput(c, traits, data, out, raw);
}

/// Runs `c` through `plan` and compares with the reference. Returns the
/// relative error through `error`.
::testing::AssertionResult checkCase(const AttentionPlan &plan, const Case &c,
                                     const LayoutSpec *layout,
                                     void *stream = nullptr,
                                     double *error = nullptr) {
  const AttentionTraits &traits = plan.getTraits();
  CaseData data;
  std::vector<double> out;
  std::vector<char> raw;
  if (::testing::AssertionResult ran = runCase(plan, c, stream, data, out, raw);
      !ran)
    return ran;

  double scale = 1.0 / std::sqrt(static_cast<double>(traits.headDim));
  std::vector<char> rowSeesKey;
  std::vector<double> ref =
      reference(c, traits, layout, data.q, data.k, data.v, data.mask,
                data.padding, scale, rowSeesKey);

  const int64_t D = traits.headDim;
  int64_t nans = 0, nonzeroEmpty = 0;
  double diff = 0, norm = 0;
  for (std::size_t x = 0; x < out.size(); ++x) {
    if (std::isnan(out[x]))
      ++nans;
    if (!rowSeesKey[x / D] && out[x] != 0)
      ++nonzeroEmpty;
    diff += (out[x] - ref[x]) * (out[x] - ref[x]);
    norm += ref[x] * ref[x];
  }
  if (nans)
    return ::testing::AssertionFailure()
           << c.describe() << ": " << nans << " NaN outputs";
  if (nonzeroEmpty)
    return ::testing::AssertionFailure()
           << c.describe() << ": " << nonzeroEmpty
           << " outputs of rows that see no key are not 0";
  double rel = norm > 0 ? std::sqrt(diff / norm) : std::sqrt(diff);
  if (error)
    *error = rel;
  if (c.dropout == 0) {
    getSummary().record(traits.element, rel);
    if (!(rel <= toleranceFor(traits.element)))
      return ::testing::AssertionFailure()
             << c.describe() << ": relative error " << rel << " > "
             << toleranceFor(traits.element);
  }
  if (c.outputRowPad) {
    // The padding after each row is still NaN (0xff bytes).
    const std::size_t elem = getDTypeSize(traits.element);
    for (int64_t row = 0; row < c.batch * c.heads * c.qLen; ++row)
      for (int p = 0; p < c.outputRowPad; ++p)
        for (std::size_t byte = 0; byte < elem; ++byte)
          if (static_cast<unsigned char>(
                  raw[((row * (D + c.outputRowPad)) + D + p) * elem + byte]) !=
              0xff)
            return ::testing::AssertionFailure()
                   << c.describe() << ": output padding was written";
  }
  return ::testing::AssertionSuccess();
}

/// Compiles `spec` and loads it.
StatusOr<AttentionPlan> loadPlan(const ConfigSpec &spec) {
  StatusOr<std::string> dir = getCompileCache().get(spec);
  if (!dir)
    return dir.getStatus();
  return AttentionPlan::loadAot(*dir);
}

#define ASSERT_PLAN(plan, spec)                                                \
  StatusOr<AttentionPlan> plan = loadPlan(spec);                               \
  ASSERT_TRUE(plan.isOk()) << plan.getStatus().getMessage()

//===----------------------------------------------------------------------===//
// Every config the tests use, compiled in parallel up front
//===----------------------------------------------------------------------===//

const DType kFloatTypes[] = {DType::F32, DType::F16, DType::BF16};
const int kHeadDims[] = {32, 64, 96, 128, 256};

LayoutSpec exampleLayout() {
  // examples/configs/blocksparse.json: 8 blocks of 64, local + first column.
  LayoutSpec layout;
  layout.block = 64;
  layout.numBlocks = 8;
  std::vector<std::vector<int>> bits(8, std::vector<int>(8, 0));
  for (int r = 0; r < 8; ++r) {
    bits[r][0] = 1;
    bits[r][r] = 1;
    if (r > 0)
      bits[r][r - 1] = 1;
  }
  layout.bits.push_back(bits);
  return layout;
}

LayoutSpec perHeadLayout() { return randomLayout(16, 4, 2, true, 7); }
LayoutSpec fp32Layout() { return randomLayout(32, 6, 3, false, 11); }
LayoutSpec paddedLayout() { return randomLayout(32, 5, 2, false, 5); }
/// 4 heads of 128 x 128 blocks: 64 KiB of block bits plus the tile lists,
/// more than the compiler prints into a kernel (tables_at_load).
LayoutSpec largeLayout() { return randomLayout(16, 128, 4, true, 13); }

const char *const kFixedSeqConfig =
    R"({"name": "blocksparse", "block_size": 16, "num_heads": 4,
        "head_dim": 32, "seq_len": 64,
        "layout": [[1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1]]})";

std::string otherArch() {
  return getGpu().arch == "sm_90a" ? "sm_80" : "sm_90a";
}

/// A random config: pairs kept with probability r from `seed` (fixed), or
/// redrawn per call.
ConfigSpec randomConfig(DType dtype, int headDim, double r, bool causal,
                        bool constantMasking = true,
                        const std::string &extraFlags = "") {
  std::ostringstream json;
  json << "{\"name\": \"random\", \"head_dim\": " << headDim
       << ", \"dtype\": \"" << dtypeConfigName(dtype) << "\", \"r\": " << r
       << ", \"seed\": 5, \"causal\": " << (causal ? "true" : "false")
       << ", \"constant_masking\": " << (constantMasking ? "true" : "false")
       << "}";
  return {json.str(), archFlags() + " " + extraFlags};
}

/// The global config of the tests: tokens 0, 70 and 199 of 200.
const std::vector<int> kGlobalTokens = {0, 70, 199};
constexpr int64_t kGlobalLength = 200;

ConfigSpec globalConfig(DType dtype, int headDim, bool causal,
                        const std::string &extraFlags = "") {
  std::ostringstream json;
  json << "{\"name\": \"global\", \"head_dim\": " << headDim
       << ", \"dtype\": \"" << dtypeConfigName(dtype)
       << "\", \"attention_query_mask\": [0, 70, 199], \"seq_len\": "
       << kGlobalLength << ", \"causal\": " << (causal ? "true" : "false")
       << "}";
  return {json.str(), archFlags() + " " + extraFlags};
}

std::vector<uint8_t> globalBits() {
  std::vector<uint8_t> bits(kGlobalLength, 0);
  for (int t : kGlobalTokens)
    bits[t] = 1;
  return bits;
}

std::vector<ConfigSpec> plannedConfigs() {
  std::vector<ConfigSpec> specs;
  specs.push_back(randomConfig(DType::BF16, 64, 0.2, false));
  specs.push_back(randomConfig(DType::F16, 128, 0.5, true));
  specs.push_back(randomConfig(DType::F32, 32, 0.2, false));
  specs.push_back(randomConfig(DType::BF16, 64, 0.3, false, false));
  specs.push_back(randomConfig(DType::F16, 64, 0.3, false, true,
                               "--attn-mask --key-padding-mask"));
  specs.push_back(globalConfig(DType::BF16, 64, false));
  specs.push_back(globalConfig(DType::F16, 128, true));
  specs.push_back(globalConfig(DType::F32, 64, false));
  specs.push_back(
      globalConfig(DType::BF16, 32, false, "--attn-mask --key-padding-mask"));
  for (DType dtype : kFloatTypes)
    for (int headDim : kHeadDims)
      specs.push_back(denseConfig(dtype, headDim));
  specs.push_back(denseConfig(DType::BF16, 128, /*causal=*/true));
  specs.push_back(denseConfig(DType::F16, 256, /*causal=*/true));
  specs.push_back(denseConfig(DType::F32, 64, /*causal=*/true));
  specs.push_back(denseConfig(DType::F16, 32, /*causal=*/true));
  specs.push_back(denseConfig(DType::F16, 64, false, /*masks=*/true));
  specs.push_back(denseConfig(DType::BF16, 128, true, /*masks=*/true));
  specs.push_back(denseConfig(DType::F32, 32, false, /*masks=*/true));
  specs.push_back(denseConfig(DType::F16, 64, false, false, /*dropout=*/0.2));
  specs.push_back(blockSparseConfig(DType::F16, 64, 8, exampleLayout(), true));
  specs.push_back(blockSparseConfig(DType::BF16, 32, 2, perHeadLayout()));
  specs.push_back(blockSparseConfig(DType::F32, 64, 3, fp32Layout()));
  specs.push_back(blockSparseConfig(DType::F16, 64, 2, paddedLayout(), false,
                                    "--key-padding-mask --attn-mask"));
  specs.push_back({kFixedSeqConfig, archFlags()});
  specs.push_back(blockSparseConfig(DType::BF16, 64, 4, largeLayout()));
  specs.push_back(denseConfig(DType::F16, 64, false, false, 0, otherArch()));
  return specs;
}

class GpuEnvironment : public ::testing::Environment {
public:
  void SetUp() override {
    if (!getGpu().driver) {
      std::printf("[xfc-gpu] no CUDA driver/GPU (%s): the tests skip\n",
                  getGpu().skipReason.c_str());
      return;
    }
    std::printf("[xfc-gpu] device: %s; xfc: %s\n", getGpu().description.c_str(),
                getXfcBinary().c_str());
    // Compile everything up front, in parallel, unless only a test or two
    // runs (ctest runs each test in its own process) or XFC_GPU_TEST_JOBS
    // is 0 or 1. compute-sanitizer crashed (on the H100, CUDA 13.0) while
    // this ran 16 xfc processes at once: run it with
    // --target-processes application-only, or XFC_GPU_TEST_JOBS=1.
    unsigned jobs =
        std::min(16u, std::max(2u, std::thread::hardware_concurrency()));
    if (const char *env = std::getenv("XFC_GPU_TEST_JOBS"); env && *env)
      jobs = static_cast<unsigned>(std::strtoul(env, nullptr, 10));
    if (jobs <= 1 ||
        ::testing::UnitTest::GetInstance()->test_to_run_count() <= 2)
      return;
    getCompileCache().prefetch(plannedConfigs(), jobs);
  }
  void TearDown() override {
    for (const auto &[dtype, entry] : getSummary().worst)
      std::printf("[xfc-gpu] %s: worst relative error %.3g over %d checked "
                  "cases (bound %.0e)\n",
                  dtype.c_str(), entry.first, entry.second,
                  dtype == "fp32" ? 1e-5 : 1e-2);
    if (!std::getenv("XFC_KEEP_TEMP")) {
      std::error_code ignored;
      std::filesystem::remove_all(getTempRoot(), ignored);
    }
  }
};

[[maybe_unused]] ::testing::Environment *const kEnvironment =
    ::testing::AddGlobalTestEnvironment(new GpuEnvironment);

//===----------------------------------------------------------------------===//
// Tests
//===----------------------------------------------------------------------===//

class DenseHeadDims : public ::testing::TestWithParam<std::tuple<DType, int>> {
};

TEST_P(DenseHeadDims, MatchesReference) {
  REQUIRE_GPU();
  auto [dtype, headDim] = GetParam();
  ASSERT_PLAN(plan, denseConfig(dtype, headDim));
  std::vector<Case> cases(4);
  cases[0].batch = 2, cases[0].heads = 3, cases[0].qLen = 77,
  cases[0].kvLen = 77;
  cases[1].batch = 1, cases[1].heads = 2, cases[1].qLen = 130,
  cases[1].kvLen = 257, cases[1].outputRowPad = 8;
  cases[2].batch = 2, cases[2].heads = 1, cases[2].qLen = 257,
  cases[2].kvLen = 130, cases[2].seqFirst = true;
  cases[3].batch = 1, cases[3].heads = 2, cases[3].qLen = 64,
  cases[3].kvLen = 200, cases[3].bigLogits = dtype != DType::F32;
  unsigned seed = 100;
  for (Case &c : cases) {
    c.dataSeed = seed++;
    EXPECT_TRUE(checkCase(*plan, c, nullptr));
  }
}

INSTANTIATE_TEST_SUITE_P(
    AllTypes, DenseHeadDims,
    ::testing::Combine(::testing::ValuesIn(kFloatTypes),
                       ::testing::ValuesIn(kHeadDims)),
    [](const ::testing::TestParamInfo<std::tuple<DType, int>> &info) {
      return std::string(getDTypeName(std::get<0>(info.param))) + "_d" +
             std::to_string(std::get<1>(info.param));
    });

TEST(AttentionPlanGpu, Causal) {
  REQUIRE_GPU();
  for (auto [dtype, headDim] : {std::pair<DType, int>{DType::BF16, 128},
                                {DType::F16, 256},
                                {DType::F32, 64},
                                {DType::F16, 32}}) {
    ASSERT_PLAN(plan, denseConfig(dtype, headDim, /*causal=*/true));
    Case square, fewerKeys, moreKeys;
    square.batch = 2, square.heads = 2, square.qLen = square.kvLen = 200;
    fewerKeys.batch = 1, fewerKeys.heads = 3, fewerKeys.qLen = 100,
    fewerKeys.kvLen = 37, fewerKeys.dataSeed = 2;
    moreKeys.batch = 3, moreKeys.heads = 1, moreKeys.qLen = 37,
    moreKeys.kvLen = 100, moreKeys.seqFirst = true, moreKeys.dataSeed = 3;
    for (const Case &c : {square, fewerKeys, moreKeys})
      EXPECT_TRUE(checkCase(*plan, c, nullptr)) << getDTypeName(dtype);
  }
}

TEST(AttentionPlanGpu, MasksAndKeyPadding) {
  REQUIRE_GPU();
  for (auto [dtype, headDim, causal] :
       {std::tuple<DType, int, bool>{DType::F16, 64, false},
        {DType::BF16, 128, true},
        {DType::F32, 32, false}}) {
    ASSERT_PLAN(plan, denseConfig(dtype, headDim, causal, /*masks=*/true));
    unsigned seed = 20;
    for (MaskKind kind :
         {MaskKind::Full, MaskKind::Rows2d, MaskKind::PerBatch}) {
      Case c;
      c.batch = 3, c.heads = 2, c.qLen = 90, c.kvLen = 75;
      c.mask = kind;
      c.keyPadding = true;
      c.seqFirst = kind == MaskKind::PerBatch;
      c.dataSeed = seed++;
      EXPECT_TRUE(checkCase(*plan, c, nullptr)) << getDTypeName(dtype);
    }
  }
}

/// Checks `plan` on `layout` at each (qLen, kvLen), batch 2, fresh data
/// from `seed` on.
void checkLengths(const AttentionPlan &plan, const LayoutSpec &layout,
                  int64_t heads,
                  const std::vector<std::pair<int64_t, int64_t>> &lengths,
                  unsigned seed) {
  for (auto [qLen, kvLen] : lengths) {
    Case c;
    c.batch = 2, c.heads = heads, c.qLen = qLen, c.kvLen = kvLen;
    c.dataSeed = seed++;
    EXPECT_TRUE(checkCase(plan, c, &layout)) << qLen << " x " << kvLen;
  }
}

TEST(AttentionPlanGpu, BlockSparseExampleLayout) {
  REQUIRE_GPU();
  LayoutSpec layout = exampleLayout();
  ASSERT_PLAN(plan, blockSparseConfig(DType::F16, 64, 8, layout, true));
  checkLengths(*plan, layout, 8,
               {{512, 512}, {300, 300}, {450, 512}, {1, 1}, {512, 77}}, 30);

  // Longer than the layout covers: a clear error before any launch.
  Case tooLong;
  tooLong.batch = 1, tooLong.heads = 8, tooLong.qLen = 513, tooLong.kvLen = 513;
  CaseData data;
  ::testing::AssertionResult ok = ::testing::AssertionSuccess();
  makeCaseData(tooLong, plan->getTraits(), data, ok);
  ASSERT_TRUE(ok);
  Status status = plan->run(data.args);
  ASSERT_FALSE(status.isOk());
  EXPECT_EQ(status.getMessage(),
            "query: seq_len 513 is longer than the block layout covers 512 "
            "(8 blocks of 64)");
}

TEST(AttentionPlanGpu, BlockSparsePerHeadAndFp32) {
  REQUIRE_GPU();
  LayoutSpec perHead = perHeadLayout();
  ASSERT_PLAN(bf16Plan, blockSparseConfig(DType::BF16, 32, 2, perHead));
  for (auto [qLen, kvLen] :
       {std::pair<int64_t, int64_t>{64, 64}, {50, 61}, {17, 5}}) {
    Case c;
    c.batch = 3, c.heads = 2, c.qLen = qLen, c.kvLen = kvLen;
    c.seqFirst = qLen == 50;
    EXPECT_TRUE(checkCase(*bf16Plan, c, &perHead));
  }
  LayoutSpec shared = fp32Layout();
  ASSERT_PLAN(fp32Plan, blockSparseConfig(DType::F32, 64, 3, shared));
  for (auto [qLen, kvLen] :
       {std::pair<int64_t, int64_t>{192, 192}, {150, 170}}) {
    Case c;
    c.batch = 2, c.heads = 3, c.qLen = qLen, c.kvLen = kvLen;
    EXPECT_TRUE(checkCase(*fp32Plan, c, &shared));
  }
  LayoutSpec padded = paddedLayout();
  ASSERT_PLAN(maskedPlan, blockSparseConfig(DType::F16, 64, 2, padded, false,
                                            "--key-padding-mask --attn-mask"));
  Case masked;
  masked.batch = 2, masked.heads = 2, masked.qLen = 160, masked.kvLen = 150;
  masked.mask = MaskKind::Rows2d;
  masked.keyPadding = true;
  EXPECT_TRUE(checkCase(*maskedPlan, masked, &padded));
}

TEST(AttentionPlanGpu, LargeLayoutTablesFilledAtLoad) {
  REQUIRE_GPU();
  // The tables are not in the cubin: the plan copies them into the module
  // when it loads it; a kernel run with unfilled (zero) tables would see no
  // tiles and give zeros.
  LayoutSpec layout = largeLayout();
  ASSERT_PLAN(plan, blockSparseConfig(DType::BF16, 64, 4, layout));
  EXPECT_TRUE(plan->getKernel().tablesAtLoad);
  Case c;
  c.batch = 1, c.heads = 4, c.qLen = 2048, c.kvLen = 1990;
  EXPECT_TRUE(checkCase(*plan, c, &layout));
}

TEST(AttentionPlanGpu, PairedBlock64RowsOnTheWgmmaKernel) {
  REQUIRE_GPU();
  // A band of 64-blocks (neighbouring rows share all but one block): on
  // sm_90a at D=128 the compiler takes 128-row tiles of two block rows,
  // each consumer masking the blocks only the other row has (TileRowMask).
  LayoutSpec band;
  band.block = 64;
  band.numBlocks = 32;
  std::vector<std::vector<int>> head(32, std::vector<int>(32));
  for (int r = 0; r < 32; ++r)
    for (int c = 0; c < 32; ++c)
      head[r][c] = std::abs(r - c) <= 3;
  band.bits.push_back(head);
  ASSERT_PLAN(plan, blockSparseConfig(DType::BF16, 128, 2, band));
  if (getGpu().arch == "sm_90a") {
    EXPECT_EQ(plan->getTraits().blockM, 128);
    EXPECT_TRUE(plan->getKernel().tables.count("TileRowMask"));
  }
  // Whole layout, a query length that ends inside a tile row's second
  // block row, and keys that end inside a block.
  checkLengths(*plan, band, 2, {{2048, 2048}, {2000, 2048}, {1900, 1990}}, 41);
}

TEST(AttentionPlanGpu, FairSeqSequenceFirst) {
  REQUIRE_GPU();
  // Self- and cross-attention on [T, B, C] buffers, no copies.
  for (auto [dtype, headDim] :
       {std::pair<DType, int>{DType::F16, 64}, {DType::F32, 96}}) {
    ASSERT_PLAN(plan, denseConfig(dtype, headDim));
    Case self, cross;
    self.batch = 3, self.heads = 4, self.qLen = self.kvLen = 65;
    self.seqFirst = true;
    cross.batch = 2, cross.heads = 4, cross.qLen = 33, cross.kvLen = 90;
    cross.seqFirst = true, cross.dataSeed = 9;
    EXPECT_TRUE(checkCase(*plan, self, nullptr));
    EXPECT_TRUE(checkCase(*plan, cross, nullptr));
  }
}

TEST(AttentionPlanGpu, BatchOneAndLarge) {
  REQUIRE_GPU();
  ASSERT_PLAN(plan, denseConfig(DType::BF16, 64));
  Case tiny, large, wide;
  tiny.batch = 1, tiny.heads = 1, tiny.qLen = 1, tiny.kvLen = 1;
  large.batch = 32, large.heads = 16, large.qLen = 128, large.kvLen = 128;
  wide.batch = 64, wide.heads = 2, wide.qLen = 33, wide.kvLen = 47;
  for (const Case &c : {tiny, large, wide})
    EXPECT_TRUE(checkCase(*plan, c, nullptr));

  // Empty batch: nothing to do, no launch.
  CaseData data;
  ::testing::AssertionResult ok = ::testing::AssertionSuccess();
  Case empty;
  empty.batch = 1, empty.heads = 1, empty.qLen = 4, empty.kvLen = 4;
  makeCaseData(empty, plan->getTraits(), data, ok);
  ASSERT_TRUE(ok);
  data.args.query.shape[0] = data.args.key.shape[0] = data.args.value.shape[0] =
      data.args.output.shape[0] = 0;
  Status status = plan->run(data.args);
  EXPECT_TRUE(status.isOk()) << status.getMessage();
}

TEST(AttentionPlanGpu, FixedSequenceLength) {
  REQUIRE_GPU();
  ASSERT_PLAN(plan, (ConfigSpec{kFixedSeqConfig, archFlags()}));
  LayoutSpec full;
  full.block = 16;
  full.numBlocks = 4;
  full.bits.push_back(std::vector<std::vector<int>>(4, {1, 1, 1, 1}));
  Case c;
  c.batch = 2, c.heads = 4, c.qLen = 64, c.kvLen = 64;
  EXPECT_TRUE(checkCase(*plan, c, &full));

  Case longer = c;
  longer.qLen = 65;
  CaseData data;
  ::testing::AssertionResult ok = ::testing::AssertionSuccess();
  makeCaseData(longer, plan->getTraits(), data, ok);
  ASSERT_TRUE(ok);
  Status status = plan->run(data.args);
  ASSERT_FALSE(status.isOk());
  EXPECT_EQ(status.getMessage(), "query: expected seq_len 64, got 65 (the "
                                 "plan was compiled for [?, 4, 64, 32])");
}

TEST(AttentionPlanGpu, RandomPattern) {
  REQUIRE_GPU();
  for (auto [dtype, headDim, r, causal] :
       {std::tuple<DType, int, double, bool>{DType::BF16, 64, 0.2, false},
        {DType::F16, 128, 0.5, true},
        {DType::F32, 32, 0.2, false}}) {
    ASSERT_PLAN(plan, randomConfig(dtype, headDim, r, causal));
    EXPECT_GT(plan->getTraits().randomThreshold, 0);
    Case square, other, tiny;
    square.batch = 2, square.heads = 3, square.qLen = square.kvLen = 200;
    other.batch = 1, other.heads = 2, other.qLen = 130, other.kvLen = 257;
    other.seqFirst = true, other.dataSeed = 2;
    // Few keys: some rows keep none and must be exactly 0.
    tiny.batch = 2, tiny.heads = 1, tiny.qLen = 33, tiny.kvLen = 3;
    tiny.dataSeed = 3;
    for (const Case &c : {square, other, tiny})
      EXPECT_TRUE(checkCase(*plan, c, nullptr)) << getDTypeName(dtype);
  }
  ASSERT_PLAN(masked, randomConfig(DType::F16, 64, 0.3, false, true,
                                   "--attn-mask --key-padding-mask"));
  Case c;
  c.batch = 3, c.heads = 2, c.qLen = 90, c.kvLen = 75;
  c.mask = MaskKind::Full, c.keyPadding = true, c.dataSeed = 4;
  EXPECT_TRUE(checkCase(*masked, c, nullptr));
}

TEST(AttentionPlanGpu, RandomPatternPerCall) {
  REQUIRE_GPU();
  // constant_masking = false: the call's seed selects the pattern; the
  // reference draws it with the same seed.
  ASSERT_PLAN(plan, randomConfig(DType::BF16, 64, 0.3, false, false));
  EXPECT_TRUE(plan->getTraits().randomPerCall);
  for (uint64_t seed : {0u, 1u, 77u}) {
    Case c;
    c.batch = 2, c.heads = 2, c.qLen = c.kvLen = 150;
    c.seed = seed;
    EXPECT_TRUE(checkCase(*plan, c, nullptr)) << "seed " << seed;
  }
}

TEST(AttentionPlanGpu, GlobalTokens) {
  REQUIRE_GPU();
  for (auto [dtype, headDim, causal] :
       {std::tuple<DType, int, bool>{DType::BF16, 64, false},
        {DType::F16, 128, true},
        {DType::F32, 64, false}}) {
    ASSERT_PLAN(plan, globalConfig(dtype, headDim, causal));
    ASSERT_TRUE(plan->getKernel().layout);
    EXPECT_EQ(plan->getKernel().layout->globalBits, globalBits());
    Case c;
    c.batch = 2, c.heads = 3, c.qLen = c.kvLen = kGlobalLength;
    c.global = globalBits();
    Case seqFirst = c;
    seqFirst.seqFirst = true, seqFirst.dataSeed = 5;
    for (const Case &each : {c, seqFirst})
      EXPECT_TRUE(checkCase(*plan, each, nullptr)) << getDTypeName(dtype);
  }
  ASSERT_PLAN(masked, globalConfig(DType::BF16, 32, false,
                                   "--attn-mask --key-padding-mask"));
  Case c;
  c.batch = 3, c.heads = 2, c.qLen = c.kvLen = kGlobalLength;
  c.mask = MaskKind::Rows2d, c.keyPadding = true, c.dataSeed = 6;
  c.global = globalBits();
  EXPECT_TRUE(checkCase(*masked, c, nullptr));

  // The mask fixes the sequence length.
  ASSERT_PLAN(plan, globalConfig(DType::BF16, 64, false));
  Case shorter = c;
  shorter.mask = MaskKind::None, shorter.keyPadding = false;
  shorter.qLen = shorter.kvLen = 150;
  CaseData data;
  ::testing::AssertionResult ok = ::testing::AssertionSuccess();
  makeCaseData(shorter, plan->getTraits(), data, ok);
  ASSERT_TRUE(ok);
  Status status = plan->run(data.args);
  ASSERT_FALSE(status.isOk());
  EXPECT_EQ(status.getMessage(),
            "query: seq_len 150 differs from the 200 tokens of "
            "attention_query_mask (global attention is specialized to that "
            "length; pad or compile another mask)");
}

TEST(AttentionPlanGpu, Dropout) {
  REQUIRE_GPU();
  ASSERT_PLAN(plan, denseConfig(DType::F16, 64, false, false, 0.2));
  // p = 0 (evaluation) is plain attention.
  Case eval;
  eval.batch = 2, eval.heads = 2, eval.qLen = 100, eval.kvLen = 120;
  EXPECT_TRUE(checkCase(*plan, eval, nullptr));

  // With V = 1, each output is sum_j p_j keep_j / (1 - p): 1 on average.
  auto runOnce = [&](uint64_t seed, std::vector<double> &out) {
    Case c;
    c.batch = 2, c.heads = 4, c.qLen = 256, c.kvLen = 256;
    c.valueOnes = true;
    c.dropout = 0.2f;
    c.seed = seed;
    CaseData data;
    ::testing::AssertionResult ok = ::testing::AssertionSuccess();
    makeCaseData(c, plan->getTraits(), data, ok);
    if (!ok)
      return ok;
    if (Status status = plan->run(data.args); !status)
      return ::testing::AssertionFailure() << status.getMessage();
    if (Status status = getGpu().driver->synchronize(nullptr); !status)
      return ::testing::AssertionFailure() << status.getMessage();
    std::vector<char> raw;
    return readOutput(c, plan->getTraits(), data, out, raw);
  };
  std::vector<double> first, again, other;
  ASSERT_TRUE(runOnce(1, first));
  ASSERT_TRUE(runOnce(1, again));
  ASSERT_TRUE(runOnce(2, other));
  EXPECT_EQ(first, again) << "same seed, different output";
  EXPECT_NE(first, other) << "another seed, the same output";
  double mean = 0;
  for (double x : first) {
    ASSERT_FALSE(std::isnan(x));
    mean += x;
  }
  mean /= static_cast<double>(first.size());
  EXPECT_NEAR(mean, 1.0, 0.02);

  // Another probability than the plan's is an error.
  CaseData data;
  ::testing::AssertionResult ok = ::testing::AssertionSuccess();
  makeCaseData(eval, plan->getTraits(), data, ok);
  ASSERT_TRUE(ok);
  data.args.dropout = 0.3f;
  Status status = plan->run(data.args);
  ASSERT_FALSE(status.isOk());
  EXPECT_EQ(status.getMessage(),
            "dropout: expected 0 or 0.2 (the plan's), got 0.3");
}

TEST(AttentionPlanGpu, OtherArchIsAClearError) {
  REQUIRE_GPU();
  ASSERT_PLAN(plan, denseConfig(DType::F16, 64, false, false, 0, otherArch()));
  Case c;
  c.batch = 1, c.heads = 1, c.qLen = 8, c.kvLen = 8;
  CaseData data;
  ::testing::AssertionResult ok = ::testing::AssertionSuccess();
  makeCaseData(c, plan->getTraits(), data, ok);
  ASSERT_TRUE(ok);
  Status status = plan->run(data.args);
  ASSERT_FALSE(status.isOk());
  EXPECT_NE(status.getMessage().find("cannot run on device"), std::string::npos)
      << status.getMessage();
  EXPECT_NE(status.getMessage().find("compile with --arch " + getGpu().arch),
            std::string::npos)
      << status.getMessage();
}

/// Runs `c` through `plan` and returns the whole output buffer's bytes.
::testing::AssertionResult runForBytes(const AttentionPlan &plan, const Case &c,
                                       std::vector<char> &raw) {
  CaseData data;
  std::vector<double> out;
  return runCase(plan, c, nullptr, data, out, raw);
}

/// Kernels that load with TMA on sm_90a: dense, dense causal with FairSeq's
/// sequence-first layout, block-sparse (which also stores with TMA).
struct TmaVariant {
  ConfigSpec spec;
  const LayoutSpec *layout = nullptr;
  Case c;
};

std::vector<TmaVariant> tmaVariants(const LayoutSpec &layout) {
  std::vector<TmaVariant> variants(3);
  variants[0].spec = denseConfig(DType::BF16, 128);
  variants[0].c.batch = 2, variants[0].c.heads = 3, variants[0].c.qLen = 300,
  variants[0].c.kvLen = 333;
  variants[1].spec = denseConfig(DType::BF16, 128, /*causal=*/true);
  variants[1].c.batch = 2, variants[1].c.heads = 2, variants[1].c.qLen = 200,
  variants[1].c.kvLen = 200, variants[1].c.seqFirst = true;
  variants[2].spec = blockSparseConfig(DType::F16, 64, 8, layout, true);
  variants[2].layout = &layout;
  variants[2].c.batch = 2, variants[2].c.heads = 8, variants[2].c.qLen = 450,
  variants[2].c.kvLen = 512;
  return variants;
}

TEST(AttentionPlanGpu, TmaAndCpAsyncLoadsAgree) {
  REQUIRE_GPU();
  // On sm_90a the runtime gives the wgmma kernel TMA tensor maps;
  // XFC_NO_TMA=1 makes it copy with cp.async and store with its threads.
  // Both match the reference, and each other bit for bit: only the copies
  // differ, not the arithmetic. The dense non-causal HeadDim 128 case and
  // the block-sparse one store O with TMA (300 and 450 rows: the last box is
  // clipped).
  LayoutSpec layout = exampleLayout();
  unsigned seed = 400;
  for (TmaVariant &variant : tmaVariants(layout)) {
    ASSERT_PLAN(plan, variant.spec);
    variant.c.dataSeed = seed++;
    std::vector<char> withTma, withCpAsync;
    EXPECT_TRUE(checkCase(*plan, variant.c, variant.layout));
    ASSERT_TRUE(runForBytes(*plan, variant.c, withTma));
    ::setenv("XFC_NO_TMA", "1", 1);
    EXPECT_TRUE(checkCase(*plan, variant.c, variant.layout));
    ::testing::AssertionResult ran = runForBytes(*plan, variant.c, withCpAsync);
    ::unsetenv("XFC_NO_TMA");
    ASSERT_TRUE(ran);
    EXPECT_TRUE(withTma == withCpAsync) << variant.c.describe();
  }
}

TEST(AttentionPlanGpu, CachedTensorMapsFollowTheTensors) {
  REQUIRE_GPU();
  // The runtime keeps each launch's TMA tensor maps, keyed by the tensors'
  // addresses, shapes and strides. Other tensors of the same shape (made
  // while the first ones live, so at other addresses) must be read as
  // such; the first ones run again (output poisoned first) give their first
  // output bit for bit.
  LayoutSpec layout = exampleLayout();
  for (const TmaVariant &variant : tmaVariants(layout)) {
    ASSERT_PLAN(plan, variant.spec);
    const AttentionTraits &traits = plan->getTraits();
    Case first = variant.c, second = variant.c;
    first.dataSeed = 600;
    second.dataSeed = 601;
    CaseData held;
    std::vector<double> heldOut;
    std::vector<char> heldRaw;
    ASSERT_TRUE(runCase(*plan, first, nullptr, held, heldOut, heldRaw));
    EXPECT_TRUE(checkCase(*plan, second, variant.layout));
    ASSERT_TRUE(held.oBuffer.fill(0xff));
    Status status = plan->run(held.args, nullptr);
    ASSERT_TRUE(status) << status.getMessage();
    ASSERT_TRUE(getGpu().driver->synchronize(nullptr));
    std::vector<double> againOut;
    std::vector<char> againRaw;
    ASSERT_TRUE(readOutput(first, traits, held, againOut, againRaw));
    EXPECT_TRUE(againRaw == heldRaw) << first.describe();
  }
}

TEST(AttentionPlanGpu, StreamsAndThreads) {
  REQUIRE_GPU();
  StatusOr<std::string> dir =
      getCompileCache().get(denseConfig(DType::BF16, 64));
  ASSERT_TRUE(dir.isOk()) << dir.getStatus().getMessage();
  // A fresh plan: the first runs race to load the module.
  StatusOr<AttentionPlan> plan = AttentionPlan::loadAot(*dir);
  ASSERT_TRUE(plan.isOk()) << plan.getStatus().getMessage();
  std::vector<std::thread> threads;
  std::vector<std::string> failures(6);
  for (int t = 0; t < 6; ++t)
    threads.emplace_back([&, t] {
      StatusOr<void *> stream = getGpu().driver->createStream();
      if (!stream) {
        failures[t] = stream.getStatus().getMessage();
        return;
      }
      Case c;
      c.batch = 2, c.heads = 2, c.qLen = 70 + t, c.kvLen = 90 - t;
      c.dataSeed = 50 + t;
      ::testing::AssertionResult result = checkCase(*plan, c, nullptr, *stream);
      if (!result)
        failures[t] = result.message();
      (void)getGpu().driver->destroyStream(*stream);
    });
  for (std::thread &thread : threads)
    thread.join();
  for (const std::string &failure : failures)
    EXPECT_EQ(failure, "");
}

//===----------------------------------------------------------------------===//
// The JIT: the same checks on plans xfc::Compiler builds in-process
//===----------------------------------------------------------------------===//

TEST(JitGpu, CompiledPlansMatchReference) {
  REQUIRE_GPU();
  xfc::Compiler compiler;
  LayoutSpec layout = randomLayout(32, 6, 4, /*perHead=*/true, 77);
  struct Request {
    ConfigSpec config;
    const LayoutSpec *layout;
    xfc::Specialization specialization;
  };
  std::vector<Request> requests;
  for (DType dtype : {DType::F16, DType::BF16, DType::F32}) {
    Request dense{denseConfig(dtype, 64, /*causal=*/true), nullptr, {}};
    requests.push_back(dense);
    Request sparse{blockSparseConfig(dtype, 128, 4, layout), &layout, {}};
    requests.push_back(sparse);
  }
  unsigned seed = 900;
  for (const Request &request : requests) {
    // The arch defaults to the current GPU's.
    auto plan = compiler.compile(request.config.json, request.specialization,
                                 "jit.json");
    ASSERT_TRUE(plan.isOk()) << plan.getStatus().getMessage();
    for (auto [qLen, kvLen] :
         {std::pair<int64_t, int64_t>{192, 192}, {77, 150}, {150, 33}}) {
      Case c;
      c.batch = 2, c.heads = 4, c.qLen = qLen, c.kvLen = kvLen;
      c.dataSeed = seed++;
      EXPECT_TRUE(checkCase(**plan, c, request.layout)) << request.config.json;
    }
  }
}

} // namespace
