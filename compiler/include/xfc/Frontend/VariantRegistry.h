//===- VariantRegistry.h - xFormers attention variants and fields -*- C++
//-*-===//
//
// The attention variants xfc accepts (SPEC.md §2; xFormers registry names)
// and, for each, every config field: its kind, xFormers' default, whether it
// is required and a one-line doc. `xfc list` prints this table and the config
// parser validates against it.
//
//===----------------------------------------------------------------------===//

#ifndef XFC_FRONTEND_VARIANTREGISTRY_H
#define XFC_FRONTEND_VARIANTREGISTRY_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace xfc {

/// What JSON a field takes.
enum class FieldKind {
  Bool,
  /// An integer, optionally restricted to `allowedInts` or to >= `minInt`.
  Int,
  /// A number within [minFloat, maxFloat] (bounds inclusive or not).
  Float,
  /// A string from `allowedStrings`.
  Enum,
  /// A block layout: [nb][nb] or [H][nb][nb] list of 0/1, or {"file": ...}.
  Layout,
  /// Token indices, or a 0/1 mask normalized to indices.
  TokenList,
  /// A torch nn.Module in xFormers: not expressible in JSON, always an error.
  Module,
};

/// Where a field comes from; decides how messages name it.
enum class FieldGroup {
  /// Fields every variant shares with xFormers' base config: dropout, causal.
  Common,
  /// Specialization parameters (SPEC.md §1): head_dim, num_heads, dtype,
  /// seq_len, kv_seq_len, arch.
  Specialization,
  /// A field of this variant's own xFormers config (or an xfc extension).
  Variant,
};

/// One config field of one variant.
struct FieldSpec {
  llvm::StringRef name;
  FieldKind kind = FieldKind::Int;
  FieldGroup group = FieldGroup::Variant;
  bool required = false;

  /// xFormers' default. When `hasDefault` is false and `derivedDefault` is
  /// empty, an absent field stays unset.
  bool hasDefault = false;
  bool defaultBool = false;
  int64_t defaultInt = 0;
  double defaultFloat = 0.0;
  llvm::StringRef defaultString;
  /// A default computed from other fields, as a formula ("seq_len // 4").
  llvm::StringRef derivedDefault;

  /// Int: the only accepted values (empty: any >= minInt).
  llvm::ArrayRef<int64_t> allowedInts;
  int64_t minInt = std::numeric_limits<int64_t>::min();
  /// Float: accepted range.
  double minFloat = -std::numeric_limits<double>::infinity();
  double maxFloat = std::numeric_limits<double>::infinity();
  bool minInclusive = true, maxInclusive = true;
  /// Enum: the accepted strings.
  llvm::ArrayRef<llvm::StringRef> allowedStrings;

  /// One line of documentation.
  llvm::StringRef doc;

  /// True if diagnostics name this field `variant.field` rather than `field`:
  /// scalar fields that belong to one variant only.
  bool isQualifiedInMessages() const {
    return group == FieldGroup::Variant && kind != FieldKind::Layout &&
           kind != FieldKind::TokenList;
  }
  /// "bool", "int >= 1", "int: 16|32|64|128", "float in [0, 1)",
  /// "string: fp16|bf16|fp32", "layout", "index list".
  std::string getKindText() const;
  /// "16", "false", "0.01", "sm_reg", "seq_len // 4", "required" or "-".
  std::string getDefaultText() const;
};

/// One attention variant.
struct VariantSpec {
  /// xFormers registry name ("blocksparse").
  llvm::StringRef name;
  /// What it computes, one line.
  llvm::StringRef summary;
  /// Masked softmax attention implemented by xfc's kernel templates; its
  /// head_dim is limited to getKernelHeadDims().
  bool kernelBacked = false;
  /// Accepts "causal" (SPEC.md §1: where causality is meaningful).
  bool supportsCausal = false;
  /// Every accepted field except "name": the variant's own fields in
  /// xFormers' order, then the common and specialization fields.
  std::vector<FieldSpec> fields;

  /// The field named `name`, or null.
  const FieldSpec *findField(llvm::StringRef name) const;
  /// Names of all accepted fields (including "name"), sorted.
  std::vector<llvm::StringRef> getFieldNames() const;
};

/// All variants, in SPEC.md §2 order.
llvm::ArrayRef<VariantSpec> getVariants();
/// The variant registered as `name`, or null.
const VariantSpec *findVariant(llvm::StringRef name);
/// All variant names, sorted.
std::vector<llvm::StringRef> getVariantNames();

/// Head dimensions the attention kernel templates support: 32, 64, 96, 128,
/// 256.
llvm::ArrayRef<int64_t> getKernelHeadDims();
/// Block sizes of blocksparse layouts: 16, 32, 64, 128.
llvm::ArrayRef<int64_t> getLayoutBlockSizes();
/// Accepted "dtype" values: fp16, bf16, fp32.
llvm::ArrayRef<llvm::StringRef> getDtypeNames();
/// Accepted "arch" values: sm_80, sm_86, sm_89, sm_90, sm_90a.
llvm::ArrayRef<llvm::StringRef> getArchNames();

/// Of `candidates`, the one closest to `word` by edit distance, if close
/// enough to be a plausible typo; empty otherwise.
llvm::StringRef findClosest(llvm::StringRef word,
                            llvm::ArrayRef<llvm::StringRef> candidates);

/// Prints every variant with its fields (kind, default, doc) as `xfc list`
/// shows them.
void printVariantTable(llvm::raw_ostream &os);
/// Prints one variant's block of that table.
void printVariant(const VariantSpec &variant, llvm::raw_ostream &os);

} // namespace xfc

#endif // XFC_FRONTEND_VARIANTREGISTRY_H
