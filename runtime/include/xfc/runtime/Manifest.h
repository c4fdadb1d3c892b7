//===- Manifest.h - The launch plan written by xfc compile ------*- C++ -*-===//
//
// `xfc compile CONFIG -o DIR` writes DIR/manifest.json next to the kernels:
// what each kernel is (symbol, files, template, arch, block, grid formula,
// shared memory, traits, layout tables) and which launches make up the
// attention (kernel, dropout, the roles, shapes and dtypes of its tensors).
// This header holds it as plain structs; parsing checks every field's type
// and the format versions, and names the offending field on error.
//
//===----------------------------------------------------------------------===//

#ifndef XFC_RUNTIME_MANIFEST_H
#define XFC_RUNTIME_MANIFEST_H

#include "xfc/runtime/Status.h"
#include "xfc/runtime/Tensor.h"

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace xfc::runtime {

/// The manifest_version this runtime reads (1: one attention launch; 2:
/// launch graphs with sources, result sizes and parameters). It also reads
/// version 1.
constexpr int kSupportedManifestVersion = 2;

/// One grid dimension: ceil(symbol / ceilDiv), or a constant. Symbols are
/// "batch", "heads", "q_len" and "kv_len".
struct GridTerm {
  std::string symbol;
  int64_t ceilDiv = 1;
  std::optional<int64_t> constant;
};

/// A trait or table value: a bool, an integer, a string or a list of
/// integers (JSON null, for attributes the emitter cannot print, is None).
struct ManifestValue {
  enum class Kind { None, Bool, Int, String, IntList };
  Kind kind = Kind::None;
  bool boolValue = false;
  int64_t intValue = 0;
  std::string stringValue;
  std::vector<int64_t> listValue;
};

/// The traits every "attention_forward" kernel has (templates/README.md).
struct AttentionTraits {
  DType element = DType::F16;
  int headDim = 0;
  int blockM = 0;
  int blockN = 0;
  int numWarps = 0;
  int numStages = 0;
  int sharedBytes = 0;
  bool causal = false;
  bool hasAttnMask = false;
  bool hasKeyPadding = false;
  bool hasDropout = false;
  bool writeLse = false;
  /// Sliding window (local): key j is visible to query i only when
  /// i - windowLeft <= j <= i + windowRight; -1 is no bound on that side.
  int windowLeft = -1;
  int windowRight = -1;
  /// Random pattern (random): pair (i, j) is kept when
  /// splitMix64(seed + (i * 2^32 + j + 1) * 0x9E3779B97F4A7C15) >> 32 <
  /// randomThreshold (0: no pattern); with randomPerCall the seed is mixed
  /// with the launch's (seed, offset) (templates/xfc/schedule.cuh).
  int64_t randomThreshold = 0;
  uint64_t randomSeed = 0;
  bool randomPerCall = false;

  /// Whether the random pattern keeps pair (i, j) (true without a pattern),
  /// for a launch with dropout stream (seed, offset): what the kernels
  /// compute, for references and tests.
  bool keepsRandomPair(int64_t i, int64_t j, uint64_t seed = 0,
                       uint64_t offset = 0) const;
};

/// The block layout of a block-sparse kernel (its "tables").
struct BlockLayout {
  int layoutBlock = 0;
  int layoutHeads = 0;
  int numBlocks = 0;
  int numTileRows = 0;
  /// Layout blocks a K/V tile gathers (TileBlocks): 2 where the sm_90a
  /// kernel loads each half of a tile from its own block, else 1.
  int tileBlocks = 1;
  /// [layoutHeads][numBlocks][numBlocks], row = query block.
  std::vector<uint8_t> blockBits;
  /// Global tokens (global): one 0/1 entry per token of the fixed sequence
  /// (the GlobalBits table); empty when the kernel has none.
  std::vector<uint8_t> globalBits;

  /// Tokens the layout covers: numBlocks * layoutBlock.
  int64_t getCoverage() const {
    return static_cast<int64_t>(numBlocks) * layoutBlock;
  }
  /// Whether token `t` is a global token (false without global tokens).
  bool isGlobal(int64_t t) const {
    return t >= 0 && t < static_cast<int64_t>(globalBits.size()) &&
           globalBits[t] != 0;
  }
  /// Whether query block `qb` attends to key block `kb` in layout head `lh`.
  bool isOn(int lh, int qb, int kb) const {
    return blockBits[(static_cast<std::size_t>(lh) * numBlocks + qb) *
                         numBlocks +
                     kb] != 0;
  }
};

/// A layout table that is an array in the kernel (the others are scalars):
/// its name in the manifest and the kernel source, and its C element type
/// and size. The emitter declares these arrays, `tables_at_load` modules
/// name them `<symbol>_<name>`, and the loader fills them.
struct LayoutArrayTable {
  const char *name;
  const char *cType;
  std::size_t elementBytes;
};
inline constexpr LayoutArrayTable kLayoutArrayTables[] = {
    {"TileRowPtr", "int", 4},
    {"TileCols", "int", 4},
    {"TilePartial", "unsigned char", 1},
    {"TileRowMask", "unsigned char", 1},
    {"TileOrder", "int", 4},
    {"BlockBits", "unsigned char", 1},
    {"GlobalBits", "unsigned char", 1}};

/// One entry of "kernels".
struct ManifestKernel {
  std::string symbol;
  std::string templateName;
  std::string arch;
  /// File names in the manifest's directory; empty when not written.
  std::string source, ptx, cubin;
  std::string params;
  std::array<int, 3> block = {1, 1, 1};
  std::vector<GridTerm> grid;
  int64_t sharedBytes = 0;
  int64_t workspaceBytes = 0;
  std::map<std::string, ManifestValue> traits;
  std::map<std::string, ManifestValue> tables;
  /// The array tables are not initialised in the cubin: the loader copies
  /// `tables` into the module's `<symbol>_<table>` globals.
  bool tablesAtLoad = false;
  /// Typed traits, present for "attention_forward" kernels.
  std::optional<AttentionTraits> attention;
  /// Present when the kernel has block-layout tables.
  std::optional<BlockLayout> layout;
};

/// A tensor of a launch: role ("q", "k", "v", "attn_mask", "key_padding"),
/// shape with -1 for sizes fixed only at run time, dtype.
struct ManifestTensor {
  std::string role;
  std::vector<int64_t> shape;
  DType dtype = DType::F16;
  /// Inputs: where the tensor comes from: a caller's tensor ("q", "k", "v",
  /// "attn_mask", "key_padding"), an earlier launch's result ("t<N>") or a
  /// parameter ("param:<name>"). Version 1 manifests: the role.
  std::string source;
  /// Output: "out" (the caller's output) or "t<N>" (an intermediate), and
  /// its sizes, each a constant or "batch", "heads", "q_len", "kv_len".
  std::string name;
  std::vector<std::string> sizes;
};

/// One entry of "launches".
struct ManifestLaunch {
  std::string kernel;
  double dropout = 0;
  /// Scalars of graph-op launches (xfc::OpParams alpha, beta, ints).
  double alpha = 1.0, beta = 0.0;
  std::vector<int64_t> ints;
  std::vector<ManifestTensor> inputs;
  ManifestTensor output;

  /// The input of `role`, or nullptr.
  const ManifestTensor *findInput(const std::string &role) const;
};

/// A learned parameter of the module: fp32 [rows, cols], initialised on the
/// host by `init` ("uniform": U(-initScale, initScale); "normal":
/// N(0, initScale^2)) from `seed`.
struct ManifestParameter {
  std::string name;
  int64_t rows = 0, cols = 0;
  std::string init;
  double initScale = 0;
  int64_t seed = 0;
};

/// The whole manifest.
struct Manifest {
  int manifestVersion = 0;
  int paramsVersion = 0;
  std::string xfcVersion;
  std::string nvrtcVersion;
  /// The canonical config, as JSON text.
  std::string configJson;
  std::string configSha256;
  /// arch, dtype, head_dim, ... as the compiler recorded them.
  std::map<std::string, std::string> specialization;
  std::vector<ManifestKernel> kernels;
  std::vector<ManifestLaunch> launches;
  std::vector<ManifestParameter> parameters;
  /// The directory the manifest was loaded from ("" when parsed from text).
  std::string directory;

  /// Parses manifest JSON; `sourceName` prefixes messages
  /// ("manifest.json: kernels[0].block: expected an array of 3 positive
  /// integers, got ...").
  static StatusOr<Manifest>
  parse(const std::string &text,
        const std::string &sourceName = "manifest.json");
  /// Reads and parses `path`; `directory` is set to its directory.
  static StatusOr<Manifest> load(const std::string &path);

  /// The kernel named `symbol`, or nullptr.
  const ManifestKernel *findKernel(const std::string &symbol) const;
};

/// Reads a whole file, or says why it cannot.
StatusOr<std::vector<char>> readBinaryFile(const std::string &path);

} // namespace xfc::runtime

#endif // XFC_RUNTIME_MANIFEST_H
