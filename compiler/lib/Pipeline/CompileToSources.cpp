//===- CompileToSources.cpp - A config to CUDA sources, in process --------===//

#include "xfc/Pipeline/CompileToSources.h"

#include "xfc/Dialect/Xfa/IR/Xfa.h"
#include "xfc/Dialect/Xfk/IR/Xfk.h"
#include "xfc/Emitter/ManifestEmitter.h"
#include "xfc/IRGen/IRGen.h"
#include "xfc/Pipeline/Pipeline.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"

using namespace mlir;

namespace xfc {

void registerCompilerDialects(DialectRegistry &registry) {
  registry.insert<func::FuncDialect, xfa::XfaDialect, xfk::XfkDialect>();
}

void printDiagnosticLine(Diagnostic &diag, llvm::raw_ostream &os) {
  if (auto loc = dyn_cast<FileLineColLoc>(diag.getLocation()))
    os << loc.getFilename().getValue() << ":" << loc.getLine() << ":"
       << loc.getColumn() << ": ";
  switch (diag.getSeverity()) {
  case mlir::DiagnosticSeverity::Error:
    os << "error: ";
    break;
  case mlir::DiagnosticSeverity::Warning:
    os << "warning: ";
    break;
  case mlir::DiagnosticSeverity::Note:
    os << "note: ";
    break;
  case mlir::DiagnosticSeverity::Remark:
    os << "remark: ";
    break;
  }
  os << diag.str() << "\n";
  for (Diagnostic &note : diag.getNotes())
    printDiagnosticLine(note, os);
}

std::optional<CompiledSources>
compileConfigToSources(MLIRContext &context, llvm::StringRef configText,
                       llvm::StringRef bufferName,
                       const CommandLineOverrides &overrides,
                       llvm::raw_ostream &diagnostics) {
  ScopedDiagnosticHandler handler(&context, [&](Diagnostic &diag) {
    printDiagnosticLine(diag, diagnostics);
    return success();
  });
  std::optional<LoadedConfig> config =
      loadConfigText(context, configText, bufferName, overrides, diagnostics);
  if (!config)
    return std::nullopt;
  OwningOpRef<ModuleOp> module = buildAttentionModule(context, config->spec);
  if (!module || failed(runStage(*module, Stage::XfaSpecialized)) ||
      failed(runStage(*module, Stage::Xfk)))
    return std::nullopt;
  FailureOr<std::vector<KernelSource>> kernels = emitKernelSources(*module);
  if (failed(kernels))
    return std::nullopt;

  ManifestInfo manifest;
  manifest.xfcVersion = XFC_VERSION;
  manifest.configJson = config->canonicalJson;
  manifest.configSha256 = config->sha256;
  manifest.specialization = config->specialization;
  for (const KernelSource &kernel : *kernels)
    manifest.files[kernel.symbol].source = kernel.symbol + ".cu";
  CompiledSources result;
  llvm::raw_string_ostream os(result.manifestJson);
  if (failed(emitManifest(*module, manifest, os)))
    return std::nullopt;
  result.kernels = std::move(*kernels);
  result.canonicalConfig = config->canonicalJson;
  return result;
}

} // namespace xfc
