//===- ManifestEmitter.h - The launch plan as JSON ---------------*- C++
//-*-===//
//
// manifest.json tells a host program, without MLIR, what `xfc compile` wrote:
// each kernel's files, symbol, launch geometry, traits and tables, and the
// launches that make up the attention, with the config they came from.
//
//===----------------------------------------------------------------------===//

#ifndef XFC_EMITTER_MANIFESTEMITTER_H
#define XFC_EMITTER_MANIFESTEMITTER_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/LogicalResult.h"
#include "llvm/Support/raw_ostream.h"

#include <map>
#include <string>

namespace xfc {

/// Manifest format version, bumped on incompatible changes.
constexpr int kManifestVersion = 2;

/// Files written for one kernel, relative to the output directory.
struct KernelFiles {
  std::string source, ptx, cubin;
};

/// What the manifest records besides the IR.
struct ManifestInfo {
  std::string xfcVersion;
  std::string nvrtcVersion;
  /// Canonical JSON text of the config (defaults filled in) and its sha256.
  std::string configJson;
  std::string configSha256;
  /// Specialization parameters, by name (head_dim, num_heads, dtype, ...).
  std::map<std::string, std::string> specialization;
  /// By kernel symbol.
  std::map<std::string, KernelFiles> files;
};

/// Writes the manifest of a module prepared for emission.
mlir::LogicalResult emitManifest(mlir::ModuleOp module,
                                 const ManifestInfo &info,
                                 llvm::raw_ostream &os);

} // namespace xfc

#endif // XFC_EMITTER_MANIFESTEMITTER_H
