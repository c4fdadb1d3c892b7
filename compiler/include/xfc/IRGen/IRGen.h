//===- IRGen.h - Attention variants to xfa IR -------------------*- C++ -*-===//
//
// Builds the xfa graph of one attention variant from a validated description,
// putting the source location of the config field each op or attribute came
// from on what it creates (as Toy's MLIRGen does with its AST).
//
//===----------------------------------------------------------------------===//

#ifndef XFC_IRGEN_IRGEN_H
#define XFC_IRGEN_IRGEN_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Location.h"
#include "mlir/IR/OwningOpRef.h"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace xfc {

/// A validated attention problem: what the frontend hands to IRGen.
struct AttentionSpec {
  /// Registry name of the variant ("scaled_dot_product", "blocksparse").
  std::string variant;
  std::string dtype = "fp16"; ///< fp16, bf16 or fp32.
  std::string arch = "sm_90a";
  int64_t headDim = 64;
  std::optional<int64_t> numHeads;
  /// Query and key lengths, when the config fixes them.
  std::optional<int64_t> seqLen, kvSeqLen;
  bool causal = false;
  double dropout = 0.0;
  /// Run-time masks the kernel must accept.
  bool attnMask = false, keyPadding = false;
  /// Sliding window (local): i - windowLeft <= j <= i + windowRight; -1 is
  /// no bound on that side.
  int64_t windowLeft = -1, windowRight = -1;
  /// Random pattern (random): the fraction r of (i, j) pairs kept (0: no
  /// pattern), its seed, and whether each call draws a new pattern
  /// (constant_masking = false).
  double randomRate = 0.0;
  int64_t randomSeed = 0;
  bool randomPerCall = false;
  /// Global tokens (global): sorted token indices; the sequence length is
  /// then seqLen, the same for queries and keys.
  std::vector<int64_t> globalTokens;

  /// Block layout [layoutHeads][numBlocks][numBlocks] (blocksparse only).
  struct Layout {
    int64_t blockSize = 0;
    int64_t heads = 0;
    int64_t numBlocks = 0;
    std::vector<uint8_t> bits;
  };
  std::optional<Layout> layout;
  /// The variant's own fields with a value (given, defaulted or derived), by
  /// name and kind: what variants beyond softmax attention are built from.
  std::map<std::string, int64_t> intFields;
  std::map<std::string, double> floatFields;
  std::map<std::string, bool> boolFields;
  std::map<std::string, std::string> stringFields;

  /// Where things came from: the config as a whole and individual fields.
  mlir::Location configLoc;
  /// The layout, or global's attention_query_mask.
  mlir::Location layoutLoc;
  mlir::Location causalLoc;

  explicit AttentionSpec(mlir::Location unknown)
      : configLoc(unknown), layoutLoc(unknown), causalLoc(unknown) {}
};

/// Builds `module attributes {xfc.target = arch} { func.func @attention }`,
/// verified; emits an error at the responsible location and returns null
/// on failure.
mlir::OwningOpRef<mlir::ModuleOp>
buildAttentionModule(mlir::MLIRContext &context, const AttentionSpec &spec);

} // namespace xfc

#endif // XFC_IRGEN_IRGEN_H
