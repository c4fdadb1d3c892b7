//===- KernelConfig.cpp - Kernel configuration heuristics -----------------===//

#include "xfc/Transforms/KernelConfig.h"
#include "xfc/Dialect/Xfa/IR/Xfa.h"
#include "xfc/types.cuh"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MathExtras.h"

using namespace llvm;

namespace xfc {

ArrayRef<StringRef> getSupportedArchs() {
  static constexpr StringRef archs[] = {"sm_80", "sm_86", "sm_89", "sm_90",
                                        "sm_90a"};
  return archs;
}

int64_t computeSharedBytes(StringRef path, int64_t blockM, int64_t blockN,
                           int64_t stages, int64_t headDim, bool wgmma) {
  // The templates' own formulas (templates/xfc/types.cuh), which their
  // static_asserts check SharedBytes against: Q tile(s) plus `stages` K and
  // V tiles; the wgmma kernel takes two Q tiles where they fit in 227 KiB
  // and 1024 bytes to align its 128-byte swizzle atoms.
  auto narrow = [](int64_t value) { return static_cast<int>(value); };
  if (path == "mma_sync" && wgmma)
    return wgmmaSharedBytes(narrow(blockM), narrow(blockN), narrow(stages),
                            narrow(headDim));
  if (path == "mma_sync")
    return flashSharedBytes(narrow(blockM), narrow(blockN), narrow(stages),
                            narrow(headDim));
  return simtSharedBytes(narrow(blockM), narrow(blockN), narrow(stages),
                         narrow(headDim));
}

namespace {
int64_t getWgmmaWarps(int64_t blockM) {
  return wgmmaWarps(static_cast<int>(blockM));
}

/// K/V stages of the wgmma kernel's blockM x blockN tiles for `problem`:
/// two, but one for dense head_dim 256 without element masks (cuDNN's
/// tiles: 128 keys beside one Q tile, P in S's registers; bench/NOTES.md
/// v17) and for one consumer (BlockM 64) whose two CTAs an SM would not fit
/// in its 228 KiB with two (each CTA also takes 1 KiB the system reserves):
/// the 64 x 128 tiles at D=128 (v23).
int64_t getWgmmaStages(const KernelProblem &problem, int64_t blockM,
                       int64_t blockN) {
  if (problem.headDim == 256 && problem.layoutBlockSize == 0 &&
      !problem.hasElementMasks())
    return 1;
  if (blockM == 64 && 2 * (wgmmaSharedBytes(64, static_cast<int>(blockN), 2,
                                            static_cast<int>(problem.headDim)) +
                           1024) >
                          228 * 1024)
    return 1;
  return 2;
}
} // namespace

bool usesWgmmaKernel(const KernelProblem &problem) {
  return problem.arch == "sm_90a" && problem.elementBits == 16 &&
         wgmmaTakesHeadDim(static_cast<int>(problem.headDim));
}

Expected<KernelChoice> selectKernelConfig(const KernelProblem &problem) {
  if (!is_contained(getSupportedArchs(), problem.arch))
    return createStringError(inconvertibleErrorCode(),
                             formatv("unsupported arch '{0}'; supported: {1}",
                                     problem.arch,
                                     join(getSupportedArchs(), ", ")));
  if (!is_contained(xfa::kSupportedHeadDims, problem.headDim))
    return createStringError(
        inconvertibleErrorCode(),
        formatv("head_dim {0} is not supported by the attention templates; "
                "supported: {1}",
                problem.headDim,
                make_range(std::begin(xfa::kSupportedHeadDims),
                           std::end(xfa::kSupportedHeadDims))));
  if (problem.elementBits != 16 && problem.elementBits != 32)
    return createStringError(inconvertibleErrorCode(),
                             "expected a 16- or 32-bit element type");

  KernelChoice choice;
  if (usesWgmmaKernel(problem)) {
    // sm_90a: the warp-specialized wgmma kernel (templates/xfc/
    // flash_fwd_sm90.cuh), measured at 1.5-1.7x the mma.sync kernel on an
    // H100 (bench/NOTES.md). A producer warpgroup and two consumer
    // warpgroups of 64 query rows each; 128-key K/V tiles, two stages
    // (D=128: 160 KiB of shared memory). Layout blocks under 128 take
    // 64-row tiles and one consumer (two CTAs per SM), so that no tile
    // computes the blocks of a neighbouring row that are off (BigBird's
    // random blocks differ per row). Their K/V tiles are two layout blocks
    // wide, gathered (wgmmaTileBlocks): any two present blocks of the row,
    // so no tile computes a block that is off either. Block 64 thus takes
    // 64 x 128 tiles, at D=128 in one stage so that two CTAs still fit
    // (dense proxies on an H100, bench/NOTES.md v23: 552 TFLOP/s against
    // 487 for 64 x 64 tiles in two stages and 447 for two stages of 128
    // keys, one CTA per SM); blocks of 32 take 64 x 64 tiles (two blocks
    // gathered), of 16 64 x 64 tiles of four neighbouring blocks. (128-row
    // tiles of two block-64 rows, each consumer masking the blocks only the
    // other row has, measured 5-10% slower than 64-row tiles on windows and
    // fixed layouts, v24, before the half-width GEMMs went (v25); xfc
    // compile --tile 128x128 builds 128-row tiles whose one-row blocks are
    // masked element by element. Rows that pair up: below.)
    choice.path = "mma_sync";
    choice.wgmma = true;
    choice.blockM = 128;
    choice.blockN = 128;
    if (problem.layoutBlockSize > 0 && problem.layoutBlockSize < 128) {
      choice.blockM = 64;
      choice.blockN = problem.layoutBlockSize == 64 ? 128 : 64;
    }
    // ... except block-64 layouts whose neighbouring rows share nearly all
    // their blocks (fixed, sliding windows): a 128-row tile of two rows
    // loads each K/V block once for both (the 64-row tiles' K/V fill is at
    // the L2's limit, bench/NOTES.md v29) and runs the two-consumer kernel;
    // each consumer masks the blocks only the other row has as a whole
    // (TileRowMask). Measured on an H100 at 2x16x8192x128 (v30), paired
    // against 64-row tiles in turns: fixed and sliding window (paired tile
    // ratio 0.5) 7-8% faster, bslongformer (0.66) 15% and bigbird (0.76)
    // 29% slower; a paired tile costs about 0.92 of its two 64-row tiles'
    // share, so the break-even ratio is about 0.54. Only where measured:
    // D=128, not causal, no per-element masks. At D=64 (v31, 2x16x8192x64)
    // paired tiles gained nothing: fixed 0.266 ms against 0.264 for 64-row
    // tiles (two stages there), sliding window 0.201 against 0.195.
    if (problem.layoutBlockSize == 64 && problem.pairedRowTileRatio > 0.0 &&
        problem.pairedRowTileRatio <= 0.52 && problem.headDim == 128 &&
        !problem.causal && !problem.hasElementMasks()) {
      choice.blockM = 128;
      choice.blockN = 128;
    }
    // D=64 dense without per-element masks: BlockM 64 (one consumer
    // warpgroup, two CTAs per SM, BlockN 128). Causal: +10-12% over 128 at
    // 16x16x512 and 8x16x2048 on an H100 (bench/NOTES.md, v6): causal items
    // are short and uneven, and a second CTA on the SM hides one's pipeline
    // fill and epilogue under the other's GEMMs. Not causal (v10-v11, with
    // the folded softmax scale): +5% at 16x16x512, -3% at 8x16x2048 against
    // 128, whose two consumers share one turn-taking CTA.
    if (problem.layoutBlockSize == 0 && problem.headDim == 64 &&
        !problem.hasElementMasks())
      choice.blockM = 64;
    // ... except where the config fixes a long query length that 192-row
    // tiles cover with at most 5% padding (non-causal): three consumer
    // warpgroups, one item per CTA, so that each softmax runs under two
    // other warpgroups' GEMMs. On an H100 (bench/NOTES.md, v14, v20) +7% at
    // 8x16x2048x64 over BlockM 64; at 512 rows it was 18% slower.
    if (choice.blockM == 64 && problem.layoutBlockSize == 0 &&
        !problem.causal && problem.qLen >= 2048 &&
        (divideCeil(problem.qLen, 192) * 192 - problem.qLen) * 20 <=
            problem.qLen)
      choice.blockM = 192;
    // Not BlockM 192 at D=64 otherwise: three consumer warpgroups (160
    // registers each) spill in the persistent item loop unless they give up
    // the intra-warpgroup overlap and the work counter; measured on an H100
    // (bench/NOTES.md, v11) one item per CTA is +7% at 8x16x2048x64 but
    // -18% at 16x16x512x64 against BlockM 64, persistent without overlap
    // +7% and -6%. Key padding and dropout spill at 192.
    // D=256: the O accumulators take 128 registers a consumer thread, so two
    // consumers of 232 whatever the layout (one consumer would get 200, and
    // two CTAs' tiles would not fit in shared memory). cuDNN's tiles: 128
    // keys in one K/V stage beside one Q tile (193 KiB; K(j+1) loads once
    // S(j) is done, under the softmax and P V), without the S/PV overlap so
    // that P takes S's registers: +4-7% over 64-key tiles in two stages
    // with the overlap (bench/NOTES.md, v17). Block-sparse layouts and
    // element masks keep 64-key tiles in two stages: beside 128-key tiles
    // their state spilled 8-128 bytes (ptxas 13.0).
    if (problem.headDim == 256) {
      choice.blockM = 128;
      choice.blockN = 64;
      if (problem.layoutBlockSize == 0 && !problem.hasElementMasks())
        choice.blockN = 128;
    }
    choice.stages = getWgmmaStages(problem, choice.blockM, choice.blockN);
    choice.warps = getWgmmaWarps(choice.blockM);
    choice.sharedBytes =
        computeSharedBytes(choice.path, choice.blockM, choice.blockN,
                           choice.stages, problem.headDim, /*wgmma=*/true);
    return choice;
  }
  if (problem.elementBits == 32) {
    // fp32 keeps full precision on CUDA cores: one warp per 8 query rows.
    choice.path = "simt";
    choice.blockM = 32;
    choice.blockN = 32;
    choice.warps = 4;
    choice.stages = 2;
    // D=256: 16-key tiles keep the two stages within the 99 KiB of sm_86
    // and sm_89 (96 KiB).
    if (problem.headDim == 256)
      choice.blockN = 16;
  } else {
    // One warp owns 16 query rows of m16n8k16 tiles. Large head dims keep
    // the K/V tiles at 64 keys: the two-stage pipeline then needs 80 KiB.
    choice.path = "mma_sync";
    choice.blockM = 64;
    choice.blockN = 64;
    choice.warps = 4;
    choice.stages = 2;
    // D=256: the O accumulators take 128 registers a thread and Q is read
    // from shared memory; 16-key tiles keep S small enough (32 keys spill
    // 16 bytes at 255 registers, ptxas 13.0; 16 use 231) and the two stages
    // at 64 KiB. An attn_mask with key padding or dropout does not fit
    // beside them (8-28 bytes spilled): a clear error here rather than
    // ptxas's.
    if (problem.headDim == 256) {
      choice.blockN = 16;
      if (problem.attnMask && (problem.keyPadding || problem.dropout))
        return createStringError(
            inconvertibleErrorCode(),
            formatv("head_dim 256 with an attn_mask and {0} is not supported "
                    "on {1} (the mma.sync kernel's registers would spill); "
                    "compile for sm_90a, or drop the attn_mask",
                    problem.keyPadding ? "a key_padding_mask" : "dropout",
                    problem.arch));
    }
  }
  // Block-sparse: a KV tile must not be wider than a layout block can be
  // skipped at; small blocks share a tile (the tile is partial unless all of
  // them are on).
  if (problem.layoutBlockSize > 0 && problem.layoutBlockSize < choice.blockN)
    choice.blockN = std::max<int64_t>(32, problem.layoutBlockSize);
  choice.sharedBytes =
      computeSharedBytes(choice.path, choice.blockM, choice.blockN,
                         choice.stages, problem.headDim);
  return choice;
}

Error applyTileOverride(const KernelProblem &problem, KernelChoice &choice,
                        int64_t blockM, int64_t blockN, int64_t stages) {
  auto fail = [&](const Twine &why) {
    return createStringError(
        inconvertibleErrorCode(),
        formatv("tile {0}x{1}{2}: {3}", blockM, blockN,
                stages ? "s" + std::to_string(stages) : std::string(),
                why.str()));
  };
  if (!choice.wgmma)
    return fail("a tile override applies to the sm_90a wgmma kernel (16-bit "
                "elements, head_dim 64, 128 or 256)");
  // The template's static_asserts (templates/xfc/flash_fwd_sm90.cuh).
  if (blockM != 64 && blockM != 128 && blockM != 192)
    return fail("BlockM must be 64, 128 or 192 (one consumer warpgroup per "
                "64 rows)");
  if (blockN % 16 != 0 || blockN < 64 || blockN > 256)
    return fail("BlockN must be a multiple of 16 in [64, 256]");
  choice.stages = getWgmmaStages(problem, blockM, blockN);
  if (stages != 0) {
    if (stages < 1 || stages > 4)
      return fail("NumStages must be 1 to 4");
    choice.stages = stages;
  }
  // One stage: no S/PV overlap, and at D=256 P takes S's registers.
  int64_t accumulatorLimit = blockM == 192 ? 96
                             : problem.headDim == 256 && choice.stages == 1
                                 ? 192
                                 : 160;
  if (blockN / 2 + problem.headDim / 2 > accumulatorLimit)
    return fail("the S and O accumulators would not fit in registers");
  if (problem.headDim == 256 && blockM != 128)
    return fail("head_dim 256 takes BlockM 128 (two consumer warpgroups: one "
                "alone has 200 registers, too few beside its 64 x 256 O "
                "tile)");
  if (int64_t block = problem.layoutBlockSize) {
    auto fits = [&](int64_t tile) {
      return tile % block == 0 || block % tile == 0;
    };
    if (!fits(blockM) || !fits(blockN))
      return fail(formatv("tiles must be multiples or divisors of the layout "
                          "block {0}",
                          block)
                      .str());
  }
  choice.blockM = blockM;
  choice.blockN = blockN;
  choice.warps = getWgmmaWarps(blockM);
  choice.sharedBytes =
      computeSharedBytes(choice.path, blockM, blockN, choice.stages,
                         problem.headDim, /*wgmma=*/true);
  if (choice.sharedBytes > 227 * 1024)
    return fail(formatv("{0} bytes of shared memory exceed the 227 KiB of "
                        "an SM",
                        choice.sharedBytes)
                    .str());
  return Error::success();
}

} // namespace xfc
