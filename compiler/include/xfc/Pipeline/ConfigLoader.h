//===- ConfigLoader.h - From a config file to an AttentionSpec --*- C++ -*-===//

#ifndef XFC_PIPELINE_CONFIGLOADER_H
#define XFC_PIPELINE_CONFIGLOADER_H

#include "xfc/Frontend/Config.h"
#include "xfc/IRGen/IRGen.h"

#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/raw_ostream.h"

#include <map>
#include <optional>
#include <string>

namespace xfc {

/// Specialization parameters from the command line; they override the
/// config's (SPEC.md §1).
struct CommandLineOverrides : ConfigOverrides {
  /// Whether kernels take an attn_mask / a key_padding_mask.
  bool attnMask = false, keyPadding = false;
};

/// A parsed, validated config ready for IRGen.
struct LoadedConfig {
  AttentionSpec spec;
  /// Canonical JSON (defaults filled in, overrides applied) and its sha256.
  std::string canonicalJson;
  std::string sha256;
  /// Specialization parameters for the manifest.
  std::map<std::string, std::string> specialization;
};

/// Reads and validates `path`; prints warnings and errors, one line each as
/// `file:line:col: error: message`, to `diagnostics`. Returns nullopt after
/// an error.
std::optional<LoadedConfig> loadConfig(mlir::MLIRContext &context,
                                       llvm::StringRef path,
                                       const CommandLineOverrides &overrides,
                                       llvm::raw_ostream &diagnostics);

/// The same for config text held in memory; `bufferName` names it in
/// diagnostics, and relative layout files resolve against its directory.
std::optional<LoadedConfig>
loadConfigText(mlir::MLIRContext &context, llvm::StringRef text,
               llvm::StringRef bufferName,
               const CommandLineOverrides &overrides,
               llvm::raw_ostream &diagnostics);

} // namespace xfc

#endif // XFC_PIPELINE_CONFIGLOADER_H
