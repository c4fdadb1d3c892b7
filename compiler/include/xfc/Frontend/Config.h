//===- Config.h - xFormers attention configs --------------------*- C++ -*-===//
//
// Parses and validates an xFormers attention config (SPEC.md §1) into an
// AttentionConfig: the variant, every field's typed value with xFormers'
// defaults filled in, the block layout, where each given field is in the
// source, the warnings, and a canonical JSON form for manifests and hashes.
//
// Diagnostics render as `<buffer>:<line>:<column>: error: <message>` (or
// `warning:`), the way MLIR prints FileLineColLoc diagnostics. Messages start
// with the field path: `blocksparse.block_size`, `head_dim`,
// `layout[1][2][0]`.
//
//===----------------------------------------------------------------------===//

#ifndef XFC_FRONTEND_CONFIG_H
#define XFC_FRONTEND_CONFIG_H

#include "xfc/Frontend/JsonReader.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace xfc {

//===----------------------------------------------------------------------===//
// Diagnostics
//===----------------------------------------------------------------------===//

enum class DiagnosticSeverity { Error, Warning };

/// One message about a config, located in its source buffer.
struct ConfigDiagnostic {
  std::string bufferName;
  /// 1-based; 0 when the message concerns the whole file (e.g. it cannot be
  /// read).
  unsigned line = 0;
  unsigned column = 0;
  DiagnosticSeverity severity = DiagnosticSeverity::Error;
  std::string message;

  bool isError() const { return severity == DiagnosticSeverity::Error; }
  /// `<buffer>:<line>:<column>: error: <message>` (`warning:` for warnings),
  /// or `<buffer>: error: <message>` without a line; no newline.
  std::string str() const;
  void print(llvm::raw_ostream &os) const;
};

/// The error parseConfig returns: every diagnostic it produced, errors and
/// warnings, in source order. `llvm::toString` renders them one per line.
class ConfigError : public llvm::ErrorInfo<ConfigError> {
public:
  static char ID;

  explicit ConfigError(std::vector<ConfigDiagnostic> diagnostics)
      : diagnostics(std::move(diagnostics)) {}

  llvm::ArrayRef<ConfigDiagnostic> getDiagnostics() const {
    return diagnostics;
  }
  /// The first error (there is always one).
  const ConfigDiagnostic &getFirstError() const;

  void log(llvm::raw_ostream &os) const override;
  std::error_code convertToErrorCode() const override;

private:
  std::vector<ConfigDiagnostic> diagnostics;
};

/// Prints `diagnostics`, one per line.
void printDiagnostics(llvm::ArrayRef<ConfigDiagnostic> diagnostics,
                      llvm::raw_ostream &os);

//===----------------------------------------------------------------------===//
// Parsed config
//===----------------------------------------------------------------------===//

/// Element type of the attention inputs.
enum class Dtype { F16, BF16, F32 };

/// "fp16", "bf16" or "fp32".
std::string dtypeName(Dtype dtype);
/// The Dtype named `name` (as dtypeName spells it), if any.
std::optional<Dtype> parseDtype(llvm::StringRef name);

/// A blocksparse layout: bits[h][i][j] is 1 when query block i attends key
/// block j in head h. `heads` is 1 when one layout is shared by all heads.
struct BlockLayout {
  int64_t heads = 0;
  int64_t numBlocks = 0;
  /// heads * numBlocks * numBlocks entries of 0 or 1, row-major
  /// [heads][numBlocks][numBlocks] (row = query block, column = key block).
  std::vector<uint8_t> bits;

  /// The entry of head `h` (any head when the layout is shared), query block
  /// `i`, key block `j`.
  uint8_t at(int64_t h, int64_t i, int64_t j) const {
    if (heads == 1)
      h = 0;
    return bits[(h * numBlocks + i) * numBlocks + j];
  }
  /// Number of blocks that are set, over all heads.
  int64_t countSet() const;
  /// Fraction of blocks that are set (0 for an empty layout).
  double density() const;
};

/// A field value other than the typed members' (and also those, for
/// uniform access): what the registry's FieldKind says it is.
struct FieldValue {
  enum class Kind { Bool, Int, Float, String, IntList };
  Kind kind = Kind::Int;
  bool boolValue = false;
  int64_t intValue = 0;
  double floatValue = 0.0;
  std::string stringValue;
  std::vector<int64_t> intList;

  static FieldValue getBool(bool value);
  static FieldValue getInt(int64_t value);
  static FieldValue getFloat(double value);
  static FieldValue getString(std::string value);
  static FieldValue getIntList(std::vector<int64_t> value);
};

bool operator==(const FieldValue &a, const FieldValue &b);
inline bool operator!=(const FieldValue &a, const FieldValue &b) {
  return !(a == b);
}

/// A validated attention config.
struct AttentionConfig {
  /// xFormers registry name of the variant ("blocksparse").
  std::string variant;

  /// Common fields (xFormers' base config and xfc's `causal`).
  double dropout = 0.0;
  bool causal = false;

  /// Specialization parameters, after command-line overrides; unset when
  /// neither the config nor an override gives them (and no default
  /// applies). head_dim also takes a variant's dim_head; kv_seq_len also
  /// takes scaled_dot_product's to_seq_len; num_heads of blocksparse also
  /// takes the head count of a per-head layout.
  std::optional<int64_t> headDim;
  std::optional<int64_t> numHeads;
  std::optional<Dtype> dtype;
  std::optional<int64_t> seqLen;
  std::optional<int64_t> kvSeqLen;
  std::optional<std::string> arch;

  /// scaled_dot_product.to_seq_len.
  std::optional<int64_t> toSeqLen;
  /// blocksparse.block_size (xFormers default 16; meaningful for blocksparse).
  int64_t blockSize = 16;
  /// local.window_size (xFormers default 5; meaningful for local).
  int64_t windowSize = 5;
  /// blocksparse.layout (given, read from a file or generated).
  std::optional<BlockLayout> layout;
  /// When the layout came from a generator (`{"pattern": ...}`), its
  /// canonical JSON object (renderLayoutGenerator: every generator field,
  /// defaults included, block_size and num_heads left to the top level);
  /// empty otherwise. The canonical config keeps it instead of the bits.
  std::string layoutGenerator;
  /// global.attention_query_mask as sorted, unique token indices.
  std::vector<int64_t> globalTokens;
  /// The length of attention_query_mask when it was given as a 0/1 mask.
  std::optional<int64_t> globalMaskLength;

  /// Every field that has a value (given, overridden, defaulted or derived),
  /// by name, except `name` and `layout`: the typed members above appear here
  /// too, so that nothing accepted is lost.
  std::map<std::string, FieldValue> fields;

  /// Where things are in the source. `configLocation` is the opening brace
  /// of the config object; `fieldLocations` has the value of every field
  /// given in the config (overridden ones included: the location of the
  /// value the override replaced). `overridden` lists fields an override
  /// set.
  std::string bufferName;
  SourceLocation configLocation;
  std::map<std::string, SourceLocation> fieldLocations;
  std::vector<std::string> overridden;

  /// Warnings produced while parsing (numbers given as strings, ...).
  std::vector<ConfigDiagnostic> warnings;

  /// The config text as read, and its canonical JSON form (sorted keys,
  /// defaults filled in, overrides applied, file layouts inlined,
  /// generated layouts as their generator object).
  std::string sourceText;
  std::string canonicalJson;

  /// True if the config (not an override or a default) gave `field`.
  bool isGiven(llvm::StringRef field) const;
  /// The location of `field`'s value if the config gave it, else the
  /// location of the config object.
  SourceLocation getLocation(llvm::StringRef field) const;
  /// The value of `field`, or null if it has none.
  const FieldValue *getField(llvm::StringRef field) const;
  std::optional<int64_t> getInt(llvm::StringRef field) const;
  std::optional<double> getFloat(llvm::StringRef field) const;
  std::optional<bool> getBool(llvm::StringRef field) const;
  std::optional<std::string> getString(llvm::StringRef field) const;
};

/// Specialization parameters given outside the config (command line or
/// API); they override the config's (SPEC.md §1). dtype and arch are
/// validated like the config's fields.
struct ConfigOverrides {
  std::optional<int64_t> headDim;
  std::optional<int64_t> numHeads;
  std::optional<std::string> dtype;
  std::optional<int64_t> seqLen;
  std::optional<int64_t> kvSeqLen;
  std::optional<std::string> arch;
};

/// Tokens given as indices or as a 0/1 (or boolean) mask over the sequence,
/// as xFormers' attention_query_mask.
struct TokenList {
  /// Sorted, unique token indices.
  std::vector<int64_t> tokens;
  /// The mask's length when the list was a mask.
  std::optional<int64_t> maskLength;
};

/// Reads a token list; a 0/1 list in which a value repeats is a mask,
/// anything else lists indices. On a problem calls `error` with the location
/// and a message that starts with `path`, and returns nullopt.
std::optional<TokenList> parseTokenList(
    const JsonValue &value, llvm::StringRef path,
    llvm::function_ref<void(SourceLocation, const llvm::Twine &)> error);

/// Parses and validates the config `text`. `bufferName` names it in
/// diagnostics (normally the config file's path). Relative `{"file": ...}`
/// layout paths are resolved against `baseDirectory`, or against the
/// directory of `bufferName` when `baseDirectory` is empty. Returns a
/// ConfigError holding every diagnostic on failure.
llvm::Expected<AttentionConfig>
parseConfig(llvm::StringRef text, llvm::StringRef bufferName,
            const ConfigOverrides &overrides = {},
            llvm::StringRef baseDirectory = {});

/// Reads the file at `path` and parses it with parseConfig (buffer name =
/// `path`). A file that cannot be read gives a ConfigError without a line.
llvm::Expected<AttentionConfig>
parseConfigFile(llvm::StringRef path, const ConfigOverrides &overrides = {});

/// The canonical JSON form of `config`: an object with sorted keys, one
/// member per line, every field that has a value (defaults filled in), the
/// layout inlined as a nested list ([nb][nb] when shared, else
/// [H][nb][nb]) or, when generated, its generator object on one line.
/// Equal configs give equal text.
std::string canonicalConfigJson(const AttentionConfig &config);

/// Lower-case hex SHA-256 of canonicalConfigJson(config).
std::string canonicalConfigSha256(const AttentionConfig &config);

/// Reads a .npy file holding a 2-D or 3-D C-order array of bool or integer
/// dtype with 0/1 entries into a layout. On failure returns std::nullopt and
/// sets `error` to a message without a field path ("cannot read 'x.npy':
/// ...", "'x.npy' has dtype '<f4'; expected ...").
std::optional<BlockLayout> readNpyLayout(llvm::StringRef path,
                                         std::string &error);

} // namespace xfc

#endif // XFC_FRONTEND_CONFIG_H
