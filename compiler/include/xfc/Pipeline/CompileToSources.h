//===- CompileToSources.h - A config to CUDA sources, in process -*- C++
//-*-===//
//
// Everything `xfc compile` does short of NVRTC, as a function: the JIT runs it
// in-process and compiles the sources through the kernel cache.
//
//===----------------------------------------------------------------------===//

#ifndef XFC_PIPELINE_COMPILETOSOURCES_H
#define XFC_PIPELINE_COMPILETOSOURCES_H

#include "xfc/Emitter/CudaEmitter.h"
#include "xfc/Pipeline/ConfigLoader.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/raw_ostream.h"

#include <optional>
#include <string>
#include <vector>

namespace xfc {

/// The CUDA translation units of a config and the manifest that launches
/// them (kernels name their `source`, not a cubin).
struct CompiledSources {
  std::vector<KernelSource> kernels;
  std::string manifestJson;
  std::string canonicalConfig;
};

/// Parses `configText`, lowers it through every MLIR stage and emits the
/// sources. Diagnostics (one line each, `buffer:line:col: error: ...`) go to
/// `diagnostics`; returns nullopt after an error. `context` must have the
/// func, xfa and xfk dialects registered.
std::optional<CompiledSources>
compileConfigToSources(mlir::MLIRContext &context, llvm::StringRef configText,
                       llvm::StringRef bufferName,
                       const CommandLineOverrides &overrides,
                       llvm::raw_ostream &diagnostics);

/// Prints an MLIR diagnostic and its notes as single lines like the config
/// frontend's: `file:line:col: error: message`.
void printDiagnosticLine(mlir::Diagnostic &diag, llvm::raw_ostream &os);

/// Registers what compileConfigToSources needs in `registry`.
void registerCompilerDialects(mlir::DialectRegistry &registry);

} // namespace xfc

#endif // XFC_PIPELINE_COMPILETOSOURCES_H
