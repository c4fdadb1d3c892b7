//===- Compiler.cpp - Just-in-time compilation of attention configs -------===//

#include "xfc/runtime/Compiler.h"

#include "xfc/Pipeline/CompileToSources.h"
#include "xfc/runtime/CachedCompile.h"
#include "xfc/runtime/Cuda.h"
#include "xfc/runtime/KernelCache.h"
#include "xfc/runtime/Manifest.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"

#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

namespace xfc {

struct Compiler::Impl {
  Impl() {
    mlir::DialectRegistry registry;
    registerCompilerDialects(registry);
    context.appendDialectRegistry(registry);
    // The JIT runs one pipeline at a time per compiler; no need for MLIR's
    // own thread pool.
    context.disableMultithreading();
  }

  mlir::MLIRContext context;
  std::mutex mutex;
  std::map<std::string, std::shared_ptr<runtime::AttentionPlan>> plans;
  /// Where each kernel of the last compile came from; shared with the
  /// plan's cubin provider, which may run after compile() returns.
  struct CompileLog {
    std::mutex mutex;
    std::string text;
  };
  std::shared_ptr<CompileLog> lastCompile = std::make_shared<CompileLog>();
};

Compiler::Compiler() : impl(std::make_unique<Impl>()) {}
Compiler::~Compiler() = default;

/// The current GPU's architecture, or sm_90a when there is none (so that
/// compiling works on machines without a GPU).
static std::string getDefaultArch() {
  StatusOr<const runtime::CudaDriver *> driver = runtime::getDriver();
  if (!driver)
    return "sm_90a";
  StatusOr<std::string> arch = (*driver)->getDeviceArch(0);
  return arch ? *arch : "sm_90a";
}

static std::string describeSpecialization(const Specialization &s) {
  std::ostringstream os;
  auto add = [&](const char *name, const auto &value) {
    if (value)
      os << name << "=" << *value << ";";
  };
  add("head_dim", s.headDim);
  add("num_heads", s.numHeads);
  add("seq_len", s.seqLen);
  add("kv_seq_len", s.kvSeqLen);
  add("dtype", s.dtype);
  add("arch", s.arch);
  os << "attn_mask=" << s.attnMask << ";key_padding=" << s.keyPadding;
  return os.str();
}

StatusOr<std::shared_ptr<runtime::AttentionPlan>>
Compiler::compile(const std::string &configText,
                  const Specialization &specialization,
                  const std::string &name) {
  CommandLineOverrides overrides;
  overrides.headDim = specialization.headDim;
  overrides.numHeads = specialization.numHeads;
  overrides.seqLen = specialization.seqLen;
  overrides.kvSeqLen = specialization.kvSeqLen;
  overrides.dtype = specialization.dtype;
  overrides.arch =
      specialization.arch ? *specialization.arch : getDefaultArch();
  overrides.attnMask = specialization.attnMask;
  overrides.keyPadding = specialization.keyPadding;

  std::lock_guard<std::mutex> lock(impl->mutex);
  std::string memoKey = configText + "\n" + name + "\n" +
                        describeSpecialization(specialization) + "\n" +
                        *overrides.arch;
  auto memo = impl->plans.find(memoKey);
  if (memo != impl->plans.end()) {
    std::lock_guard<std::mutex> logLock(impl->lastCompile->mutex);
    impl->lastCompile->text = "plan reused\n";
    return memo->second;
  }

  std::string diagnostics;
  llvm::raw_string_ostream diagnosticStream(diagnostics);
  std::optional<CompiledSources> sources = compileConfigToSources(
      impl->context, configText, name, overrides, diagnosticStream);
  if (!sources) {
    while (!diagnostics.empty() && diagnostics.back() == '\n')
      diagnostics.pop_back();
    return Status::error(diagnostics.empty()
                             ? name + ": error: compilation failed"
                             : diagnostics);
  }

  StatusOr<runtime::Manifest> manifest =
      runtime::Manifest::parse(sources->manifestJson, name + " (manifest)");
  if (!manifest)
    return manifest.getStatus();

  // The provider may run when the plan first runs: it owns what it uses.
  auto kernels =
      std::make_shared<const std::vector<KernelSource>>(sources->kernels);
  std::shared_ptr<Impl::CompileLog> log = impl->lastCompile;
  {
    std::lock_guard<std::mutex> logLock(log->mutex);
    log->text.clear();
  }
  auto cubinFor = [kernels, log](const runtime::ManifestKernel &kernel)
      -> StatusOr<std::vector<char>> {
    const KernelSource *source = nullptr;
    for (const KernelSource &candidate : *kernels)
      if (candidate.symbol == kernel.symbol)
        source = &candidate;
    if (!source)
      return Status::error("no source emitted for kernel " + kernel.symbol);
    runtime::NvrtcOptions options;
    options.arch = source->arch;
    runtime::CacheOutcome outcome = runtime::CacheOutcome::Compiled;
    StatusOr<std::shared_ptr<const std::vector<char>>> cubin =
        runtime::compileCubinCached(source->source, source->symbol + ".cu",
                                    options, &runtime::KernelCache::getGlobal(),
                                    &outcome);
    if (!cubin)
      return cubin.getStatus();
    std::lock_guard<std::mutex> logLock(log->mutex);
    log->text += kernel.symbol + ": " +
                 (outcome == runtime::CacheOutcome::MemoryHit ? "memory"
                  : outcome == runtime::CacheOutcome::DiskHit ? "disk"
                                                              : "compiled") +
                 "\n";
    return **cubin;
  };

  StatusOr<runtime::AttentionPlan> plan =
      runtime::AttentionPlan::create(*manifest, cubinFor);
  if (!plan)
    return plan.getStatus();
  auto shared = std::make_shared<runtime::AttentionPlan>(std::move(*plan));
  impl->plans.emplace(memoKey, shared);
  return shared;
}

StatusOr<std::shared_ptr<runtime::AttentionPlan>>
Compiler::compileFile(const std::string &path,
                      const Specialization &specialization) {
  std::ifstream file(path, std::ios::binary);
  if (!file)
    return Status::error(path + ": error: cannot read the config file");
  std::ostringstream text;
  text << file.rdbuf();
  return compile(text.str(), specialization, path);
}

std::string Compiler::describeLastCompile() const {
  std::lock_guard<std::mutex> lock(impl->lastCompile->mutex);
  return impl->lastCompile->text;
}

} // namespace xfc
