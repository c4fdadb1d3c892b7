//===- xfc.cpp - The xfc command-line driver ------------------------------===//
//
//   xfc compile CONFIG.json [-o DIR] [--emit=STAGE] [specialization flags]
//   xfc list
//   xfc --version
//
// Stops after the -emit= stage; without -o it prints that stage, with -o it
// writes every stage up to it into DIR, all or nothing.
//
//===----------------------------------------------------------------------===//

#include "OutputDirectory.h"
#include "xfc/Pipeline/ConfigLoader.h"

#include "xfc/Dialect/Xfa/IR/Xfa.h"
#include "xfc/Dialect/Xfk/IR/Xfk.h"
#include "xfc/Emitter/CudaEmitter.h"
#include "xfc/Emitter/ManifestEmitter.h"
#include "xfc/Frontend/VariantRegistry.h"
#include "xfc/Pipeline/Pipeline.h"
#include "xfc/runtime/Nvrtc.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/raw_ostream.h"

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

namespace {

/// Prints diagnostics as one line each, `file:line:col: error: message`.
void printDiagnostic(Diagnostic &diag) {
  llvm::raw_ostream &os = llvm::errs();
  if (auto loc = dyn_cast<FileLineColLoc>(diag.getLocation()))
    os << loc.getFilename().getValue() << ":" << loc.getLine() << ":"
       << loc.getColumn() << ": ";
  switch (diag.getSeverity()) {
  case DiagnosticSeverity::Error:
    os << "error: ";
    break;
  case DiagnosticSeverity::Warning:
    os << "warning: ";
    break;
  case DiagnosticSeverity::Note:
    os << "note: ";
    break;
  case DiagnosticSeverity::Remark:
    os << "remark: ";
    break;
  }
  os << diag.str() << "\n";
  for (Diagnostic &note : diag.getNotes())
    printDiagnostic(note);
}

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
        StatusOr<runtime::NvrtcOutput> compiled =
            runtime::compileWithNvrtc(kernel.source, files.source, options);
        if (!compiled)
          return failWith(compiled.getStatus().getMessage());
        if (!compiled->log.empty() &&
            compiled->log.find("warning") != std::string::npos)
          llvm::errs() << files.source << ": warning: NVRTC reported:\n"
                       << compiled->log;
        if (options.wantPtx) {
          files.ptx = kernel.symbol + ".ptx";
          output.add(files.ptx, compiled->ptx);
          if (!toDirectory)
            llvm::outs() << compiled->ptx;
        }
        if (options.wantCubin) {
          files.cubin = kernel.symbol + ".cubin";
          output.add(files.cubin, std::string(compiled->cubin.begin(),
                                              compiled->cubin.end()));
        }
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

} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  registerAsmPrinterCLOptions();
  registerMLIRContextCLOptions();
  registerPassManagerCLOptions();
  cl::SetVersionPrinter([](llvm::raw_ostream &os) {
    os << "xfc " << XFC_VERSION << " (MLIR " << LLVM_VERSION_STRING << ")\n";
  });
  cl::HideUnrelatedOptions({&compileCategory});
  if (!cl::ParseCommandLineOptions(
          argc, argv,
          "xfc: an attention compiler for xFormers attention configs\n\n"
          "  xfc compile CONFIG.json -o DIR   kernels, stages and manifest\n"
          "  xfc compile CONFIG.json --emit=STAGE   print one stage\n"
          "  xfc list                          variants and their fields\n",
          &llvm::errs()))
    return 1;

  if (listCommand) {
    printVariantTable(llvm::outs());
    return 0;
  }
  if (!compileCommand) {
    cl::PrintHelpMessage();
    return 1;
  }

  DialectRegistry registry;
  registry.insert<func::FuncDialect, xfa::XfaDialect, xfk::XfkDialect>();
  MLIRContext context(registry);
  context.loadAllAvailableDialects();
  ScopedDiagnosticHandler handler(&context, [](Diagnostic &diag) {
    printDiagnostic(diag);
    return success();
  });
  return runCompile(context);
}
