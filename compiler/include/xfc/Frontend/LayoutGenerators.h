//===- LayoutGenerators.h - Block-sparsity layout generators ----*- C++ -*-===//
//
// Generators of blocksparse layouts (SPEC.md §3), written from the published
// definitions (shared/reference/xformers-variants.md §b):
//   - the DeepSpeed/xFormers sparsity configs `fixed`, `variable`, `bigbird`,
//     `bslongformer` and DeepSpeed's `local_sliding_window`, which produce
//     block layouts directly;
//   - xFormers' element patterns (attention_patterns.py) `local_1d`,
//     `causal_1d`, `axial_2d`, `local_2d`, `swin`, `dilated_2d`, `random` and
//     `global`, turned into block layouts the way pattern_to_layout does: a
//     block is on if any element in it is on.
// Every generator takes the published parameters with the published names
// and defaults, plus the sequence length. Unlike the published code, the
// sequence length need not be a multiple of the block size: there are
// ceil(seq_len / block_size) blocks and the last one is partial (only its
// real tokens count).
//
// A layout shared by all heads (no `different_layout_per_head`, or a pattern
// that does not depend on the head) comes back with `heads == 1`, which
// BlockLayout defines as "the same for every head"; expandLayoutHeads
// materializes it.
//
// Random parts are reproducible: they come from SplitMix64 (documented at
// SplitMix64 below and in docs/config.md) seeded with the `seed` option, so
// the same options always give the same layout on every platform.
//
// Also here: the generator objects of configs (`"layout": {"pattern": ...}`),
// and writers for looking at layouts (text, .npy, .png).
//
//===----------------------------------------------------------------------===//

#ifndef XFC_FRONTEND_LAYOUTGENERATORS_H
#define XFC_FRONTEND_LAYOUTGENERATORS_H

#include "xfc/Frontend/Config.h"
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
#include <variant>
#include <vector>

namespace xfc {

//===----------------------------------------------------------------------===//
// Errors
//===----------------------------------------------------------------------===//

/// A generator rejected its parameters. `getField()` names the parameter the
/// message is about, by its published name ("num_local_blocks", "seq_len");
/// `log` prints `<field>: <message>`.
class LayoutError : public llvm::ErrorInfo<LayoutError> {
public:
  static char ID;

  LayoutError(std::string field, std::string message)
      : field(std::move(field)), message(std::move(message)) {}

  llvm::StringRef getField() const { return field; }
  llvm::StringRef getMessage() const { return message; }

  void log(llvm::raw_ostream &os) const override;
  std::error_code convertToErrorCode() const override;

private:
  std::string field;
  std::string message;
};

//===----------------------------------------------------------------------===//
// Random numbers
//===----------------------------------------------------------------------===//

/// SplitMix64 (Steele, Lea, Flood 2014): the n-th output (n = 1, 2, ...) of
/// the generator seeded with `s` is mix(s + n * 0x9E3779B97F4A7C15), where
/// mix(z) = z ^= z >> 30, z *= 0xBF58476D1CE4E5B9, z ^= z >> 27,
/// z *= 0x94D049BB133111EB, z ^= z >> 31 (all modulo 2^64).
class SplitMix64 {
public:
  explicit SplitMix64(uint64_t seed) : state(seed) {}

  /// The next 64-bit output.
  uint64_t next();
  /// Output number `n` (1-based) of the generator seeded with `seed`,
  /// without running through the earlier ones.
  static uint64_t at(uint64_t seed, uint64_t n);
  /// A uniform integer in [0, bound) (bound >= 1): outputs x below
  /// 2^64 mod bound are skipped, then x mod bound is returned.
  uint64_t below(uint64_t bound);
  /// A double in [0, 1) from the top 53 bits of an output.
  static double toUnit(uint64_t bits);

private:
  uint64_t state;
};

//===----------------------------------------------------------------------===//
// Generator options
//===----------------------------------------------------------------------===//

/// The `attention` parameter of the sparsity configs.
enum class LayoutAttention { Bidirectional, Unidirectional };

/// "bidirectional" or "unidirectional".
llvm::StringRef layoutAttentionName(LayoutAttention attention);

/// What xfc's `random` draws: each element (xFormers' random_pattern, then
/// a block is on if any element is) or each block.
enum class RandomGranularity { Element, Block };

/// "element" or "block".
llvm::StringRef randomGranularityName(RandomGranularity granularity);

/// Parameters every sparsity config has (xFormers' SparsityConfig).
struct SparsityOptions {
  /// num_heads: the number of heads (required by the published classes).
  int64_t numHeads = 1;
  /// block_size: tokens per block side (DeepSpeed calls it `block`).
  int64_t blockSize = 16;
  /// different_layout_per_head: draw/compute every head's layout; otherwise
  /// head 0's is shared by all heads (the result then has one head).
  bool differentLayoutPerHead = false;
};

/// FixedSparsityConfig (Sparse Transformers' "fixed" pattern, customized):
/// disjoint local windows of num_local_blocks, the last num_global_blocks of
/// each window (shifted by head when num_different_global_patterns > 1) as
/// global columns, and rows with horizontal_global_attention.
struct FixedLayoutOptions : SparsityOptions {
  int64_t numLocalBlocks = 4;
  int64_t numGlobalBlocks = 1;
  LayoutAttention attention = LayoutAttention::Bidirectional;
  bool horizontalGlobalAttention = false;
  int64_t numDifferentGlobalPatterns = 1;
};

/// VariableSparsityConfig: num_random_blocks random blocks per row, local
/// windows of the listed sizes (the last size repeats) and global blocks at
/// global_block_indices (or the ranges [global_block_indices[i],
/// global_block_end_indices[i])).
struct VariableLayoutOptions : SparsityOptions {
  int64_t numRandomBlocks = 0;
  std::vector<int64_t> localWindowBlocks = {4};
  std::vector<int64_t> globalBlockIndices = {0};
  std::optional<std::vector<int64_t>> globalBlockEndIndices;
  LayoutAttention attention = LayoutAttention::Bidirectional;
  bool horizontalGlobalAttention = false;
  /// Seed of the random blocks (xfc; the published code uses Python's
  /// global `random` state).
  uint64_t seed = 0;
};

/// BigBirdSparsityConfig: num_random_blocks random blocks per row, a
/// sliding window of num_sliding_window_blocks (+-(n // 2)) and the first
/// num_global_blocks rows and columns.
struct BigBirdLayoutOptions : SparsityOptions {
  int64_t numRandomBlocks = 1;
  int64_t numSlidingWindowBlocks = 3;
  int64_t numGlobalBlocks = 1;
  LayoutAttention attention = LayoutAttention::Bidirectional;
  uint64_t seed = 0;
};

/// BSLongformerSparsityConfig: a sliding window plus global rows and
/// columns at global_block_indices (or ranges, as in `variable`).
struct BSLongformerLayoutOptions : SparsityOptions {
  int64_t numSlidingWindowBlocks = 3;
  std::vector<int64_t> globalBlockIndices = {0};
  std::optional<std::vector<int64_t>> globalBlockEndIndices;
  LayoutAttention attention = LayoutAttention::Bidirectional;
};

/// DeepSpeed's LocalSlidingWindowSparsityConfig (not in xFormers): row i
/// attends blocks [i - n // 2, i] (unidirectional, the default) or
/// [i - n // 2, i + n // 2]. It has no different_layout_per_head.
struct LocalSlidingWindowLayoutOptions {
  int64_t numHeads = 1;
  int64_t blockSize = 16;
  int64_t numSlidingWindowBlocks = 3;
  LayoutAttention attention = LayoutAttention::Unidirectional;
};

/// local_1d_pattern(attn_size, window_size): |i - j| < window_size // 2 + 1;
/// the window is odd (it counts the token and two equal wings). Required.
struct Local1dLayoutOptions {
  int64_t blockSize = 16;
  int64_t windowSize = 0;
};

/// causal_1d_pattern(attn_size): j <= i.
struct Causal1dLayoutOptions {
  int64_t blockSize = 16;
};

/// The token grid of the 2-D patterns: tokens are the H x W grid in
/// row-major order (token t is at row t / W, column t % W); seq_len must
/// be H * W. Both required.
struct Grid2dOptions {
  int64_t blockSize = 16;
  int64_t height = 0; ///< H
  int64_t width = 0;  ///< W
};

/// axial_2d_pattern(H, W): same grid row or same grid column.
struct Axial2dLayoutOptions : Grid2dOptions {};

/// local_2d_pattern(H, W, distance, p=2.0): the p-norm distance of the grid
/// positions is below `distance` (required). p = 0 counts the coordinates
/// that differ, as torch.cdist does.
struct Local2dLayoutOptions : Grid2dOptions {
  double distance = 0.0;
  double p = 2.0;
};

/// swin_attention_pattern(H, W, window_size, shift_size=0): tokens in the
/// same (shifted) window; H and W are multiples of window_size (required)
/// and 0 <= shift_size < window_size.
struct SwinLayoutOptions : Grid2dOptions {
  int64_t windowSize = 0;
  int64_t shiftSize = 0;
};

/// dilated_2d_pattern(H, W, k=2): both grid offsets are multiples of k.
struct Dilated2dLayoutOptions : Grid2dOptions {
  int64_t k = 2;
};

/// random_pattern(attn_size, sparsity): each element is on when a uniform
/// draw exceeds `sparsity` (0 < sparsity < 1). Give `sparsity` or `density`
/// (= 1 - sparsity), not both. With RandomGranularity::Block each block is
/// drawn instead of each element.
///
/// Draws: element (h, i, j) is on when SplitMix64::toUnit of output number
/// (h * seq_len + i) * seq_len + j + 1 of the generator seeded with `seed`
/// is greater than `sparsity`; block (h, I, J) likewise with
/// (h * nb + I) * nb + J + 1. h is 0 unless different_layout_per_head.
struct RandomLayoutOptions : SparsityOptions {
  std::optional<double> sparsity;
  std::optional<double> density;
  RandomGranularity granularity = RandomGranularity::Element;
  uint64_t seed = 0;
};

/// global_token_pattern(attention_query_mask): row i or column j is a
/// global token. `tokens` are the global tokens' indices (< seq_len).
struct GlobalLayoutOptions {
  int64_t blockSize = 16;
  std::vector<int64_t> tokens;
};

/// Options of any generator; the alternative names the generator.
using LayoutGeneratorOptions = std::variant<
    FixedLayoutOptions, VariableLayoutOptions, BigBirdLayoutOptions,
    BSLongformerLayoutOptions, LocalSlidingWindowLayoutOptions,
    Local1dLayoutOptions, Causal1dLayoutOptions, Axial2dLayoutOptions,
    Local2dLayoutOptions, SwinLayoutOptions, Dilated2dLayoutOptions,
    RandomLayoutOptions, GlobalLayoutOptions>;

//===----------------------------------------------------------------------===//
// Generators
//===----------------------------------------------------------------------===//

/// Each returns the layout for a sequence of `seqLen` tokens, or a
/// LayoutError when a parameter is invalid: the checks of the published
/// constructors and make_layout (with their conditions and the parameter
/// they concern), and the parameter types' own ranges.
///
/// Where xfc differs from the published code (documented in
/// docs/config.md): seq_len need not be a multiple of block_size; every
/// unidirectional layout is block-lower-triangular (DeepSpeed's `fixed`
/// with num_global_blocks > 1 and `variable` with global ranges set a few
/// blocks above the diagonal, which causal attention masks entirely); in
/// unidirectional `variable` and `bigbird` layouts row i draws its random
/// blocks from blocks 0..i only, and at most i + 1 of them (DeepSpeed's
/// `variable` draws from the whole row, and its `bigbird` raises when a row
/// has fewer candidates than num_random_blocks); random draws come from
/// SplitMix64 and `seed`, not Python's global `random`; `bslongformer` and
/// `local_sliding_window` reject an unknown `attention` (the enum cannot
/// hold one).
llvm::Expected<BlockLayout> makeFixedLayout(const FixedLayoutOptions &options,
                                            int64_t seqLen);
llvm::Expected<BlockLayout>
makeVariableLayout(const VariableLayoutOptions &options, int64_t seqLen);
llvm::Expected<BlockLayout>
makeBigBirdLayout(const BigBirdLayoutOptions &options, int64_t seqLen);
llvm::Expected<BlockLayout>
makeBSLongformerLayout(const BSLongformerLayoutOptions &options,
                       int64_t seqLen);
llvm::Expected<BlockLayout>
makeLocalSlidingWindowLayout(const LocalSlidingWindowLayoutOptions &options,
                             int64_t seqLen);
llvm::Expected<BlockLayout>
makeLocal1dLayout(const Local1dLayoutOptions &options, int64_t seqLen);
llvm::Expected<BlockLayout>
makeCausal1dLayout(const Causal1dLayoutOptions &options, int64_t seqLen);
llvm::Expected<BlockLayout>
makeAxial2dLayout(const Axial2dLayoutOptions &options, int64_t seqLen);
llvm::Expected<BlockLayout>
makeLocal2dLayout(const Local2dLayoutOptions &options, int64_t seqLen);
llvm::Expected<BlockLayout> makeSwinLayout(const SwinLayoutOptions &options,
                                           int64_t seqLen);
llvm::Expected<BlockLayout>
makeDilated2dLayout(const Dilated2dLayoutOptions &options, int64_t seqLen);
llvm::Expected<BlockLayout> makeRandomLayout(const RandomLayoutOptions &options,
                                             int64_t seqLen);
llvm::Expected<BlockLayout> makeGlobalLayout(const GlobalLayoutOptions &options,
                                             int64_t seqLen);

/// Runs the generator `options` names.
llvm::Expected<BlockLayout>
generateLayout(const LayoutGeneratorOptions &options, int64_t seqLen);

/// Turns an element pattern into a block layout: a block of `blockSize`
/// tokens square is on if `isOn(i, j)` for any query i and key j in it
/// (both < seqLen; the last block may be partial). One head. The same
/// reduction as xFormers' pattern_to_layout, without the divisibility
/// requirement; it evaluates up to seqLen^2 elements.
llvm::Expected<BlockLayout>
patternToLayout(int64_t seqLen, int64_t blockSize,
                llvm::function_ref<bool(int64_t i, int64_t j)> isOn);

/// `layout` with `numHeads` heads: a shared (one-head) layout copied to
/// every head; a layout that already has numHeads heads unchanged.
BlockLayout expandLayoutHeads(const BlockLayout &layout, int64_t numHeads);

//===----------------------------------------------------------------------===//
// Generator names, fields and config objects
//===----------------------------------------------------------------------===//

/// The generator names ("axial_2d", "bigbird", ...), sorted.
llvm::ArrayRef<llvm::StringRef> getLayoutPatternNames();

/// The name of the generator `options` holds ("bigbird").
llvm::StringRef getLayoutPatternName(const LayoutGeneratorOptions &options);

/// The options of the generator named `pattern` with every default, or
/// std::nullopt for an unknown name.
std::optional<LayoutGeneratorOptions>
getDefaultLayoutOptions(llvm::StringRef pattern);

/// block_size of any generator's options.
int64_t getLayoutBlockSize(const LayoutGeneratorOptions &options);
void setLayoutBlockSize(LayoutGeneratorOptions &options, int64_t blockSize);
/// num_heads of a generator that takes it; std::nullopt for the element
/// patterns that have none.
std::optional<int64_t> getLayoutNumHeads(const LayoutGeneratorOptions &options);
/// Sets num_heads where the generator takes it; returns false otherwise.
bool setLayoutNumHeads(LayoutGeneratorOptions &options, int64_t numHeads);
/// True if the generator computes a layout per head
/// (different_layout_per_head).
bool hasLayoutPerHead(const LayoutGeneratorOptions &options);

/// A config's generator object, parsed: the options (defaults filled in)
/// and where the object and each given member's value are.
struct ParsedLayoutGenerator {
  LayoutGeneratorOptions options;
  SourceLocation location;
  /// Given members (with a non-null value), "pattern" included.
  std::map<std::string, SourceLocation> fieldLocations;

  bool isGiven(llvm::StringRef field) const {
    return fieldLocations.count(field.str()) != 0;
  }
  /// The location of `field`'s value if given, else of the object.
  SourceLocation getLocation(llvm::StringRef field) const;
};

/// Receives the diagnostics of parseLayoutGenerator.
using LayoutDiagnosticHandler =
    llvm::function_ref<void(DiagnosticSeverity severity, SourceLocation loc,
                            const llvm::Twine &message)>;

/// Parses a generator object `{"pattern": NAME, FIELD: VALUE, ...}`.
/// Messages start with `path` ("layout"): `layout.pattern: unknown pattern
/// 'bigbrd'; did you mean 'bigbird'? ...`, `layout.num_random_blocks:
/// expected a non-negative integer, got -1`, `layout: unknown field ... in
/// pattern 'bigbird'; did you mean ...? valid fields: ...`. Every field is
/// checked (one run reports them all); numbers given as strings are
/// accepted with a warning, null means "not given". Checks that need
/// seq_len, or several fields, are the generators'. Returns std::nullopt
/// after any error.
std::optional<ParsedLayoutGenerator>
parseLayoutGenerator(const JsonValue &object, LayoutDiagnosticHandler report,
                     llvm::StringRef path = "layout");

/// The canonical JSON object of `options`: keys sorted, on one line, every
/// field with its value (defaults included), except block_size and
/// num_heads, which a config keeps at its top level. Equal options give
/// equal text; parseLayoutGenerator reads it back.
std::string renderLayoutGenerator(const LayoutGeneratorOptions &options);

/// Prints every generator with its fields (kind, default, doc), like the
/// variant table of `xfc list`.
void printLayoutGenerators(llvm::raw_ostream &os);

//===----------------------------------------------------------------------===//
// Looking at layouts
//===----------------------------------------------------------------------===//

/// Prints `layout` as text: a header line (`layout: 8x8 blocks, shared by
/// all heads, 22/64 set (34.4%)` or `layout: 4 heads of 8x8 blocks, ...`),
/// then for each head a `head H:` line (per-head layouts only) and one line
/// per query block, '#' for a block that is on and '.' for one that is off.
void printLayout(const BlockLayout &layout, llvm::raw_ostream &os);

/// Writes `layout` as a NumPy .npy file (format 1.0, dtype '|u1', C order,
/// shape (nb, nb) when shared by all heads, else (H, nb, nb)) that
/// readNpyLayout and numpy.load read back. The file is written to a
/// temporary name and renamed, so a failure leaves nothing behind.
llvm::Error writeLayoutNpy(const BlockLayout &layout, llvm::StringRef path);

/// Writes `layout` as an 8-bit grayscale PNG: heads side by side (a shared
/// layout is one panel), `pixelsPerBlock` pixels square per block (0:
/// automatic, from 8 for small layouts down to 1), black for a block that
/// is on, white for one that is off, a gray column between heads. No
/// dependencies: the image data is a zlib stream of stored (uncompressed)
/// deflate blocks with its Adler-32; chunks carry their CRC-32. Written to a
/// temporary name and renamed, like writeLayoutNpy.
llvm::Error writeLayoutPng(const BlockLayout &layout, llvm::StringRef path,
                           unsigned pixelsPerBlock = 0);

/// The bytes writeLayoutPng writes (for tests and callers that keep the
/// image in memory).
std::string encodeLayoutPng(const BlockLayout &layout,
                            unsigned pixelsPerBlock = 0);

/// CRC-32 (ISO-HDLC, as PNG and zlib use it) and Adler-32 of `data`.
uint32_t computeCrc32(llvm::ArrayRef<uint8_t> data);
uint32_t computeAdler32(llvm::ArrayRef<uint8_t> data);

} // namespace xfc

#endif // XFC_FRONTEND_LAYOUTGENERATORS_H
