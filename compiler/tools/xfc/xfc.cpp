//===- xfc.cpp - The xfc command-line driver ------------------------------===//
//
//   xfc compile CONFIG.json [-o DIR] [--emit=STAGE] [specialization flags]
//   xfc list
//   xfc cache list|clear|stats [--cache-dir DIR]
//   xfc --version
//
// Stops after the -emit= stage; without -o it prints that stage, with -o it
// writes every stage up to it into DIR, all or nothing. Cubins come from the
// kernel cache (docs/cache.md) unless --no-cache.
//
//===----------------------------------------------------------------------===//

#include "OutputDirectory.h"
#include "xfc/Pipeline/CompileToSources.h"
#include "xfc/Pipeline/ConfigLoader.h"

#include "xfc/Dialect/Xfa/IR/Xfa.h"
#include "xfc/Dialect/Xfk/IR/Xfk.h"
#include "xfc/Emitter/CudaEmitter.h"
#include "xfc/Emitter/ManifestEmitter.h"
#include "xfc/Frontend/Config.h"
#include "xfc/Frontend/LayoutGenerators.h"
#include "xfc/Frontend/VariantRegistry.h"
#include "xfc/Pipeline/Pipeline.h"
#include "xfc/runtime/CachedCompile.h"
#include "xfc/runtime/KernelCache.h"
#include "xfc/runtime/Nvrtc.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <ctime>

using namespace mlir;
using namespace xfc;
namespace cl = llvm::cl;

#ifndef XFC_VERSION
#define XFC_VERSION "unknown"
#endif

static cl::SubCommand compileCommand("compile",
                                     "Compile an attention config to kernels");
static cl::SubCommand
    listCommand("list", "List the attention variants and their fields");
static cl::SubCommand cacheCommand("cache",
                                   "List, clear or summarize the kernel cache");
static cl::SubCommand layoutCommand("layout",
                                    "Print or save a config's block layout");

static cl::OptionCategory compileCategory("xfc compile options");
static cl::opt<std::string> configPath(cl::Positional, cl::Required,
                                       cl::desc("<config.json>"),
                                       cl::sub(compileCommand),
                                       cl::cat(compileCategory));
static cl::opt<std::string>
    outputDir("o",
              cl::desc("Directory to write the stages, kernels and "
                       "manifest.json into"),
              cl::value_desc("dir"), cl::sub(compileCommand),
              cl::cat(compileCategory));
static cl::opt<std::string>
    emitStage("emit",
              cl::desc("Stop after this stage: config, xfa, xfa-specialized, "
                       "xfk, cuda, ptx, cubin (default)"),
              cl::init("cubin"), cl::sub(compileCommand),
              cl::cat(compileCategory));
static cl::opt<int> headDim("head-dim", cl::desc("Head dimension"),
                            cl::sub(compileCommand), cl::cat(compileCategory));
static cl::opt<int> numHeads("num-heads", cl::desc("Number of heads"),
                             cl::sub(compileCommand), cl::cat(compileCategory));
static cl::opt<int> seqLen("seq-len", cl::desc("Query sequence length"),
                           cl::sub(compileCommand), cl::cat(compileCategory));
static cl::opt<int> kvSeqLen("kv-seq-len", cl::desc("Key sequence length"),
                             cl::sub(compileCommand), cl::cat(compileCategory));
static cl::opt<std::string>
    tile("tile",
         cl::desc("Force the sm_90a kernel's tiles, BLOCKMxBLOCKN (e.g. "
                  "128x64) or BLOCKMxBLOCKNsSTAGES (e.g. 128x128s3, with "
                  "that many K/V stages), instead of the configuration "
                  "pass's choice; for benchmarks"),
         cl::Hidden, cl::sub(compileCommand), cl::cat(compileCategory));
static cl::opt<std::string> dtype("dtype", cl::desc("fp16, bf16 or fp32"),
                                  cl::sub(compileCommand),
                                  cl::cat(compileCategory));
static cl::opt<std::string>
    arch("arch", cl::desc("Target: sm_80, sm_86, sm_89, sm_90, sm_90a"),
         cl::sub(compileCommand), cl::cat(compileCategory));
static cl::opt<bool>
    attnMask("attn-mask",
             cl::desc("Kernels take an additive float attn_mask [T, S]"),
             cl::sub(compileCommand), cl::cat(compileCategory));
static cl::opt<bool> keyPaddingMask(
    "key-padding-mask",
    cl::desc("Kernels take a key_padding_mask [B, S] (true = padding)"),
    cl::sub(compileCommand), cl::cat(compileCategory));
static cl::opt<bool>
    noCache("no-cache",
            cl::desc("Compile every cubin with NVRTC, without reading or "
                     "writing the kernel cache"),
            cl::sub(compileCommand), cl::cat(compileCategory));

static cl::OptionCategory cacheCategory("xfc cache options");
static cl::opt<std::string> cacheAction(cl::Positional, cl::Required,
                                        cl::desc("<list|clear|stats>"),
                                        cl::sub(cacheCommand),
                                        cl::cat(cacheCategory));
static cl::opt<std::string>
    cacheDir("cache-dir",
             cl::desc("Kernel cache directory (default: $XFC_CACHE_DIR, "
                      "else ~/.cache/xfc)"),
             cl::value_desc("dir"), cl::sub(cacheCommand),
             cl::cat(cacheCategory));

static cl::OptionCategory layoutCategory("xfc layout options");
static cl::opt<std::string> layoutConfigPath(cl::Positional, cl::Required,
                                             cl::desc("<config.json>"),
                                             cl::sub(layoutCommand),
                                             cl::cat(layoutCategory));
static cl::opt<std::string>
    layoutOutput("o",
                 cl::desc("Save the layout to a .npy (heads x blocks x "
                          "blocks, uint8) or .png (heads side by side) file"),
                 cl::value_desc("file"), cl::sub(layoutCommand),
                 cl::cat(layoutCategory));
static cl::opt<int> layoutSeqLen("seq-len",
                                 cl::desc("Sequence length (for generators)"),
                                 cl::sub(layoutCommand),
                                 cl::cat(layoutCategory));
static cl::opt<int> layoutNumHeads("num-heads", cl::desc("Number of heads"),
                                   cl::sub(layoutCommand),
                                   cl::cat(layoutCategory));
static cl::opt<unsigned>
    pixelsPerBlock("pixels-per-block",
                   cl::desc("PNG pixels per layout block (default: chosen "
                            "from the layout's size)"),
                   cl::init(0), cl::sub(layoutCommand),
                   cl::cat(layoutCategory));

namespace {

std::string printModule(ModuleOp module) {
  std::string text;
  llvm::raw_string_ostream os(text);
  module.print(os);
  return text;
}

int failWith(const llvm::Twine &message) {
  llvm::errs() << "xfc: error: " << message << "\n";
  return 1;
}

/// Prints NVRTC's log when it holds warnings.
void reportNvrtcWarnings(const std::string &name, const std::string &log) {
  if (!log.empty() && log.find("warning") != std::string::npos)
    llvm::errs() << name << ": warning: NVRTC reported:\n" << log;
  // Correct but slower: every shipped configuration is free of them.
  std::string remarks = runtime::findPtxasWgmmaRemarks(log);
  if (!remarks.empty())
    llvm::errs() << name << ": warning: ptxas slowed the wgmma pipeline down:\n"
                 << remarks;
}

using Cubin = std::shared_ptr<const std::vector<char>>;

/// NVRTC's cubin of `source`, through the global kernel cache unless
/// --no-cache. NVRTC's warnings are printed when it runs, not on cache hits.
StatusOr<Cubin> compileCubin(const std::string &source, const std::string &name,
                             const runtime::NvrtcOptions &options) {
  return runtime::compileCubinCached(
      source, name, options,
      noCache ? nullptr : &runtime::KernelCache::getGlobal(), nullptr,
      [&](const std::string &log) { reportNvrtcWarnings(name, log); });
}

int runCompile(MLIRContext &context) {
  std::optional<Stage> last = parseStage(emitStage);
  if (!last)
    return failWith("unknown --emit stage '" + emitStage +
                    "'; expected one of config, xfa, xfa-specialized, xfk, "
                    "cuda, ptx, cubin");
  bool toDirectory = !outputDir.empty();
  if (!toDirectory && *last == Stage::Cubin && emitStage.getNumOccurrences())
    return failWith("--emit=cubin writes binary files: give an output "
                    "directory with -o");
  if (!toDirectory && !emitStage.getNumOccurrences())
    return failWith("give an output directory with -o DIR, or a stage to "
                    "print with --emit=STAGE");

  CommandLineOverrides overrides;
  if (headDim.getNumOccurrences())
    overrides.headDim = headDim;
  if (numHeads.getNumOccurrences())
    overrides.numHeads = numHeads;
  if (seqLen.getNumOccurrences())
    overrides.seqLen = seqLen;
  if (kvSeqLen.getNumOccurrences())
    overrides.kvSeqLen = kvSeqLen;
  if (dtype.getNumOccurrences())
    overrides.dtype = dtype;
  if (arch.getNumOccurrences())
    overrides.arch = arch;
  overrides.attnMask = attnMask;
  overrides.keyPadding = keyPaddingMask;

  std::optional<LoadedConfig> config =
      loadConfig(context, configPath, overrides, llvm::errs());
  if (!config)
    return 1;

  OutputDirectory output(outputDir);
  output.add("config.json", config->canonicalJson + "\n");
  if (*last == Stage::Config) {
    if (!toDirectory) {
      llvm::outs() << config->canonicalJson << "\n";
      return 0;
    }
  } else {
    OwningOpRef<ModuleOp> module = buildAttentionModule(context, config->spec);
    if (!module)
      return 1;
    if (!tile.empty())
      (*module)->setAttr("xfc.tile", StringAttr::get(&context, tile));
    output.add("attention.xfa.mlir", printModule(*module));
    for (Stage stage : {Stage::XfaSpecialized, Stage::Xfk}) {
      if (*last < stage)
        break;
      if (failed(runStage(*module, stage, applyPassManagerCLOptions)))
        return 1;
      output.add(("attention." + getStageName(stage) + ".mlir").str(),
                 printModule(*module));
    }
    if (!toDirectory && *last <= Stage::Xfk) {
      llvm::outs() << printModule(*module);
      return 0;
    }

    ManifestInfo manifest;
    manifest.xfcVersion = XFC_VERSION;
    manifest.configJson = config->canonicalJson;
    manifest.configSha256 = config->sha256;
    manifest.specialization = config->specialization;
    if (*last >= Stage::Cuda) {
      FailureOr<std::vector<KernelSource>> sources = emitKernelSources(*module);
      if (failed(sources))
        return 1;
      for (const KernelSource &kernel : *sources) {
        KernelFiles &files = manifest.files[kernel.symbol];
        files.source = kernel.symbol + ".cu";
        output.add(files.source, kernel.source);
        if (!toDirectory && *last == Stage::Cuda)
          llvm::outs() << "// ----- kernel " << kernel.symbol << "\n"
                       << kernel.source;
        if (*last < Stage::Ptx)
          continue;
        runtime::NvrtcOptions options;
        options.arch = kernel.arch;
        options.wantPtx = *last == Stage::Ptx;
        options.wantCubin = *last == Stage::Cubin;
        if (options.wantCubin) {
          StatusOr<Cubin> cubin =
              compileCubin(kernel.source, files.source, options);
          if (!cubin)
            return failWith(cubin.getStatus().getMessage());
          files.cubin = kernel.symbol + ".cubin";
          output.add(files.cubin,
                     std::string((*cubin)->begin(), (*cubin)->end()));
          continue;
        }
        StatusOr<runtime::NvrtcOutput> compiled =
            runtime::compileWithNvrtc(kernel.source, files.source, options);
        if (!compiled)
          return failWith(compiled.getStatus().getMessage());
        reportNvrtcWarnings(files.source, compiled->log);
        files.ptx = kernel.symbol + ".ptx";
        output.add(files.ptx, compiled->ptx);
        if (!toDirectory)
          llvm::outs() << compiled->ptx;
      }
      if (*last >= Stage::Ptx) {
        StatusOr<std::string> version = runtime::getNvrtcVersion();
        manifest.nvrtcVersion = version ? *version : "";
      }
    }
    if (!toDirectory)
      return 0;
    std::string text;
    llvm::raw_string_ostream os(text);
    if (failed(emitManifest(*module, manifest, os)))
      return 1;
    output.add("manifest.json", text);
  }

  llvm::Expected<std::vector<std::string>> written = output.commit();
  if (!written)
    return failWith(llvm::toString(written.takeError()));
  for (const std::string &path : *written)
    llvm::outs() << "wrote " << path << "\n";
  return 0;
}

/// "42s", "5m", "3h", "2d".
std::string formatAge(std::int64_t seconds) {
  seconds = std::max<std::int64_t>(seconds, 0);
  if (seconds < 120)
    return std::to_string(seconds) + "s";
  if (seconds < 2 * 3600)
    return std::to_string(seconds / 60) + "m";
  if (seconds < 2 * 86400)
    return std::to_string(seconds / 3600) + "h";
  return std::to_string(seconds / 86400) + "d";
}

int runCache() {
  if (cacheAction != "list" && cacheAction != "clear" && cacheAction != "stats")
    return failWith("unknown cache action '" + cacheAction +
                    "'; expected list, clear or stats");
  runtime::KernelCache::Options options;
  options.directory = cacheDir;
  runtime::KernelCache cache(options);
  std::string directory = cache.getDirectory();
  if (directory.empty())
    return failWith("no kernel cache directory: set XFC_CACHE_DIR or HOME, "
                    "or give --cache-dir");

  if (cacheAction == "clear") {
    std::size_t removed = 0;
    Status status = cache.clear(&removed);
    llvm::outs() << "removed " << removed
                 << (removed == 1 ? " entry" : " entries") << " from "
                 << directory << "\n";
    if (!status)
      return failWith(status.getMessage());
    return 0;
  }

  StatusOr<std::vector<runtime::CacheEntry>> entries = cache.listEntries();
  if (!entries)
    return failWith(entries.getStatus().getMessage());
  std::uint64_t totalBytes = 0;
  for (const runtime::CacheEntry &entry : *entries)
    totalBytes += entry.size;
  if (cacheAction == "stats") {
    llvm::outs() << "directory: " << directory << "\n"
                 << "entries: " << entries->size() << "\n"
                 << "total bytes: " << totalBytes << "\n";
    return 0;
  }
  std::int64_t now = std::time(nullptr);
  for (const runtime::CacheEntry &entry : *entries)
    llvm::outs() << llvm::formatv("{0} {1,10} bytes {2,5} old\n", entry.key,
                                  entry.size, formatAge(now - entry.mtime));
  llvm::outs() << entries->size()
               << (entries->size() == 1 ? " entry, " : " entries, ")
               << totalBytes << " bytes in " << directory << "\n";
  return 0;
}

/// `xfc layout`: the block layout a config describes, as text, .npy or .png.
int runLayout() {
  ConfigOverrides overrides;
  if (layoutSeqLen.getNumOccurrences())
    overrides.seqLen = layoutSeqLen;
  if (layoutNumHeads.getNumOccurrences())
    overrides.numHeads = layoutNumHeads;
  llvm::Expected<AttentionConfig> config =
      parseConfigFile(layoutConfigPath, overrides);
  if (!config) {
    llvm::handleAllErrors(
        config.takeError(),
        [](const ConfigError &error) {
          printDiagnostics(error.getDiagnostics(), llvm::errs());
        },
        [](const llvm::ErrorInfoBase &error) {
          llvm::errs() << "xfc: error: " << error.message() << "\n";
        });
    return 1;
  }
  printDiagnostics(config->warnings, llvm::errs());
  if (!config->layout)
    return failWith(layoutConfigPath + ": variant '" + config->variant +
                    "' has no block layout");
  if (layoutOutput.empty()) {
    printLayout(*config->layout, llvm::outs());
    return 0;
  }
  llvm::StringRef extension = llvm::sys::path::extension(layoutOutput);
  llvm::Error written = llvm::Error::success();
  if (extension == ".npy")
    written = writeLayoutNpy(*config->layout, layoutOutput);
  else if (extension == ".png")
    written = writeLayoutPng(*config->layout, layoutOutput, pixelsPerBlock);
  else
    return failWith("-o " + layoutOutput +
                    ": expected a file name ending in .npy or .png");
  if (written)
    return failWith(llvm::toString(std::move(written)));
  llvm::outs() << "wrote " << layoutOutput << "\n";
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  registerAsmPrinterCLOptions();
  registerMLIRContextCLOptions();
  registerPassManagerCLOptions();
  cl::SetVersionPrinter([](llvm::raw_ostream &os) {
    os << "xfc " << XFC_VERSION << " (MLIR " << LLVM_VERSION_STRING << ")\n";
  });
  cl::HideUnrelatedOptions({&compileCategory, &cacheCategory, &layoutCategory});
  if (!cl::ParseCommandLineOptions(
          argc, argv,
          "xfc: an attention compiler for xFormers attention configs\n\n"
          "  xfc compile CONFIG.json -o DIR   kernels, stages and manifest\n"
          "  xfc compile CONFIG.json --emit=STAGE   print one stage\n"
          "  xfc list                          variants and their fields\n"
          "  xfc cache list|clear|stats        the kernel cache\n"
          "  xfc layout CONFIG.json [-o F.png|F.npy]   the block layout\n",
          &llvm::errs()))
    return 1;

  if (listCommand) {
    printVariantTable(llvm::outs());
    llvm::outs() << "\n";
    printLayoutGenerators(llvm::outs());
    return 0;
  }
  if (layoutCommand)
    return runLayout();
  if (cacheCommand)
    return runCache();
  if (!compileCommand) {
    cl::PrintHelpMessage();
    return 1;
  }

  DialectRegistry registry;
  registry.insert<func::FuncDialect, xfa::XfaDialect, xfk::XfkDialect>();
  MLIRContext context(registry);
  context.loadAllAvailableDialects();
  ScopedDiagnosticHandler handler(&context, [](Diagnostic &diag) {
    printDiagnosticLine(diag, llvm::errs());
    return success();
  });
  return runCompile(context);
}
