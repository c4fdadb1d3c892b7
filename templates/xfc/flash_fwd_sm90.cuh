//===- flash_fwd_sm90.cuh - Warp-specialized wgmma attention forward ------===//
//
// Flash attention forward for f16/bf16 on sm_90a (Hopper), FlashAttention-3
// style:
//   - warpgroup 0 is the producer: after setmaxnreg.dec it copies the Q tile
//     and each K/V tile into 128-byte-swizzled shared tiles, completing them
//     on mbarriers: with TMA (params.tmaLoads: one thread issues
//     cp.async.bulk.tensor boxes, the barrier counts their bytes) or, where
//     the launcher has no tensor maps, with the 128 threads' cp.async
//     (cp.async.mbarrier.arrive.noinc); it
//     waits on the stage's `empty` mbarrier of K (of V) before reusing it:
//     a K stage is released as soon as S has been computed from it, a V
//     stage once P V has, so the next loads start a tile early;
//   - warpgroups 1..BlockM/64 are consumers (setmaxnreg.inc), each owning
//     64 query rows: S = Q K^T with wgmma (Q and K from shared memory),
//     online softmax in the exp2 domain in registers, O += P V with wgmma
//     (P from registers, V from shared memory, transposed descriptor);
//   - the consumers take turns issuing their GEMMs (named barriers, round
//     robin), so one warpgroup's softmax runs under the others' GEMMs; with
//     `Overlap`, a
//     consumer also issues S(j) before P(j-1) V(j-1) and computes softmax(j)
//     while that product runs;
//   - persistent launches (params.persistentCtas) keep the CTAs that fit,
//     each walking work items (query tile, head, batch entry): the next one
//     from params.workCounter (the producer takes it and hands it to the
//     consumers in shared memory) or, without a counter, a static split.
// The interface, traits and semantics are those of flashForwardSm80 (see
// templates/README.md); the path is chosen by the warp count:
// NumWarps == 4 * (BlockM / 64 + 1).
//
// Shared layout of a tile of R rows (Q: BlockM, K/V: BlockN) and HeadDim
// columns: HeadDim / 64 column blocks of [R][64] elements, 128 bytes a row,
// the 16-byte chunk c of row r stored at chunk c ^ (r % 8) (the 128B swizzle
// of wgmma descriptors), every 8-row atom 1024-byte aligned.
//
//===----------------------------------------------------------------------===//

#ifndef XFC_FLASH_FWD_SM90_CUH
#define XFC_FLASH_FWD_SM90_CUH

#include "xfc/attention_params.h"
#include "xfc/dropout.cuh"
#include "xfc/schedule.cuh"
#include "xfc/sm90_sync.cuh"
#include "xfc/sm90_wgmma.cuh"
#include "xfc/types.cuh"

namespace xfc {

// Item timeline for bench/trace_items.py, compiled in only with XFC_TRACE
// (nvcc -DXFC_TRACE; never by xfc): clock64 stamps per CTA, warpgroup, item
// and event in xfcTrace, which the script reads back with
// cuModuleGetGlobal. Events are listed in bench/trace_items.py. Every stamp
// is XFC_TRACE_BY(who, ...), taken by the threads where `who` holds; the
// variables only stamps read are declared under XFC_TRACE.
#if defined(XFC_TRACE)
constexpr int TraceCtas = 512, TraceGroups = 4, TraceItems = 64,
              TraceEvents = 24;
} // namespace xfc
extern "C" __device__ long long xfcTrace[xfc::TraceCtas * xfc::TraceGroups *
                                         xfc::TraceItems * xfc::TraceEvents];
namespace xfc {
XFC_DEVICE long long traceGlobalTime() {
  long long t;
  asm volatile("mov.u64 %0, %%globaltimer;\n" : "=l"(t));
  return t;
}
XFC_DEVICE void traceStamp(int cta, int group, int item, int event,
                           long long value) {
  if (cta < TraceCtas && item < TraceItems)
    xfcTrace[((cta * TraceGroups + group) * TraceItems + item) * TraceEvents +
             event] = value;
}
#define XFC_TRACE_BY(who, group, item, event, value)                           \
  do {                                                                         \
    if (who)                                                                   \
      traceStamp(cta, group, item, event, value);                              \
  } while (0)
#define XFC_TRACE_TIMED(sum, statement)                                        \
  do {                                                                         \
    const long long traceStart = clock64();                                    \
    statement;                                                                 \
    sum += clock64() - traceStart;                                             \
  } while (0)
#define XFC_TRACE_MARK(mark) const long long mark = clock64()
#define XFC_TRACE_ADD(sum, mark) sum += clock64() - mark
#else
#define XFC_TRACE_BY(who, group, item, event, value) ((void)0)
#define XFC_TRACE_TIMED(sum, statement) statement
#define XFC_TRACE_MARK(mark) ((void)0)
#define XFC_TRACE_ADD(sum, mark) ((void)0)
#endif

/// True when Traits select the warp-specialized wgmma kernel: 16-bit
/// elements and one producer warpgroup plus one consumer warpgroup per 64
/// query rows.
template <typename Traits> XFC_HOST_DEVICE constexpr bool usesWgmmaPath() {
  return isHalfElement<typename Traits::Element> &&
         isWgmmaTile(Traits::BlockM, Traits::NumWarps);
}

/// CTAs per SM an attention kernel is built for (its launch bounds' second
/// number). The wgmma kernel with one consumer warpgroup (BlockM 64, what
/// layouts of blocks under 128 get) runs two: two query tiles, each with its
/// own list of KV tiles, take turns on the tensor cores as the two
/// consumers of a BlockM 128 CTA do, but neither computes the other's
/// blocks. Every other configuration runs one.
template <typename Traits> XFC_HOST_DEVICE constexpr int attentionCtasPerSm() {
  return usesWgmmaPath<Traits>() && Traits::BlockM == 64 ? 2 : 1;
}

} // namespace xfc

#if defined(__CUDACC__)

namespace xfc {

/// What the producer hands the consumers with each Q buffer use: the work
/// item (past the last: stop), its place and its first K/V tile.
struct Sm90ItemSlot {
  int item;
  TilePlace place;
  KvTile first;
};

/// Copies rows [row0, row0 + Rows) of a [seq, HeadDim] matrix into a
/// 128B-swizzled tile of TileRows rows (a column block every TileRows * 128
/// bytes; Rows < TileRows: one half of a gathered tile) with the 128
/// producer threads; rows >= rowEnd are
/// zero-filled so that masked keys hold finite values. A pass copies
/// RowsPerPass rows of PassChunks chunks, at least 8 rows so that a thread's
/// row keeps its swizzle (r % 8) from pass to pass: HeadDim 256 (32 chunks a
/// row) takes two column halves of 16 chunks.
template <int Rows, int HeadDim, int TileRows = Rows, typename E>
XFC_DEVICE void sm90CopyTile(const E *base, long long seqStride, int row0,
                             int rowEnd, unsigned dst, int ptid) {
  constexpr int RowChunks = HeadDim / 8;
  constexpr int PassChunks = RowChunks < 16 ? RowChunks : 16;
  constexpr int RowsPerPass = 128 / PassChunks;
  static_assert(RowsPerPass % 8 == 0 && Rows % RowsPerPass == 0,
                "tile rows must be a multiple of the rows one pass copies");
  const int r = ptid / PassChunks;
  const long long step = RowsPerPass * seqStride;
#pragma unroll
  for (int half = 0; half < RowChunks / PassChunks; ++half) {
    const int c = half * PassChunks + ptid % PassChunks;
    const unsigned dstBase =
        dst + (c / 8) * TileRows * 128 + r * 128 + (((c % 8) ^ (r % 8)) * 16);
    const E *src = base + static_cast<long long>(row0 + r) * seqStride + c * 8;
    // Partly unrolled: the producer runs on few registers.
#pragma unroll 4
    for (int pass = 0; pass < Rows / RowsPerPass; ++pass) {
      bool valid = row0 + r + pass * RowsPerPass < rowEnd;
      cpAsync16(dstBase + pass * RowsPerPass * 128, valid ? src : base, valid);
      src += step;
    }
  }
}

/// Overlap: 1 issues S(j) and P(j-1) V(j-1) together and computes softmax(j)
/// under P(j-1) V(j-1) (FA3's intra-warpgroup overlap); 0 runs S, softmax,
/// PV in order (the consumers still take turns). -1 picks: 1, except for
/// HeadDim 128 or three consumers (160 registers each) with element masks,
/// dropout or a block-sparse schedule, whose extra live state spills with S,
/// P and O live together (ptxas 13.0).
///
/// QRegs: 1 keeps the consumer's Q fragments in registers (ldmatrix once)
/// and computes S with A from registers, so that the GEMM reads only K from
/// shared memory; 0 (and -1) reads Q from shared memory in every S GEMM.
/// It fits without spills (ptxas 13.0) up to two consumers with S + P + O +
/// Q fragments <= 192 registers; measured no faster on an H100 (v3).
///
/// Reverse: 1 maps blockIdx.x to query tiles from the last one down, so
/// that with Causal the longest tiles start first and the short ones fill
/// the tail of the grid. -1 picks 1 for Causal.
///
/// ChainsChoice: independent partial maxima and sums per row in the softmax
/// (a power of two; fewer where BlockN / 8 needs it); 1 is one sequential
/// chain.
///
/// Knobs (bit mask; -1 picks the measured defaults below; other values are
/// for bench/hopper comparisons):
///   bit 0 keeps the softmax ahead of the wait for P V (Overlap): ptxas
///     13.0 otherwise hoists `wgmma.wait_group 0` (it carries no register
///     operands) up to the last memory operation before it, so the row max,
///     exp2 and sums ran after P V had finished and the overlap was lost
///     (bench/NOTES.md, v4). A shared store of the row sums (one float per
///     consumer thread, never read) is that memory operation, after the
///     softmax by data dependence;
///   bit 1 folds the softmax scale into exp2's argument (one FFMA per score,
///     max on raw scores) where no additive mask needs the scaled scores;
///   bit 2 rescales O only where a row max of the warp moved (a warp vote);
///   bit 3 leaves the work-counter path out of kernels whose items are
///     balanced (they gain nothing from it, v7), giving their producer the
///     40 (dense) or 56 registers it had before the counter and the
///     consumers the rest; a launch's counter is then ignored;
///   bit 4 computes a quarter of the softmax's exponentials with exp2Poly
///     (FMA pipe) instead of ex2.approx (MUFU, 16 a clock per SM, as busy
///     as the tensor cores at HeadDim 64); bit 5 half of them;
///   bit 6 is unused (it gave dense HeadDim 128 schedules the two Q
///     buffers every kernel up to BlockN 128 now has, v12);
///   bit 7 splits items that differ in work (causal) statically over a
///     persistent launch without a work counter;
///   bit 8 lets three consumers (BlockM 192) run persistent: spill-free
///     (ptxas 13.0) only without Overlap and without the counter path
///     (bit 3, balanced items); measured below BlockM 64 at short
///     sequences (v11), so not a default;
///   bit 9 hands the next item over after the current one's second K/V
///     tile instead of after its last: measured 1-7% slower on causal and
///     D=64 rows (the CTA claims its next item too early), 0-1% faster on
///     D=128 non-causal ones (v13), 1-4% faster on all eight block-128
///     layouts of bench_blocksparse (v25: items of 3-32 tiles, where the
///     next item's claim and table reads otherwise start too late);
///   bit 10 lets HeadDim 256 kernels run persistent (with one Q buffer and
///     long items they gain little; spill-free, ptxas 13.0, only for dense
///     non-causal 64-key kernels with bits 0-3);
///   bit 11 gives the producer of dense one-item-per-CTA kernels 24
///     registers (consumers 240, FA3's split) instead of 40 (v16: no gain);
///   bit 12 takes one item per CTA (no persistent loop; v16: no gain);
///   bit 13 issues S's first k-step as an output-only GEMM (FreshS), so
///     that without the S/PV overlap P can live in S's registers (the
///     default of HeadDim 256's single-stage kernels, v17);
///   bit 14 keeps the consumers' turns running from one item to the next
///     (OpenTurns, see the consumers' turns), so that consumer 0's first S
///     of an item does not wait for the last consumer's epilogue of the
///     previous one;
///   bit 15 waits for a TMA store's read of the staged output (which frees
///     the Q buffer for the producer) after the next item's first S instead
///     of before it (DeferStoreWait): the warpgroup's next GEMM no longer
///     waits on its first thread's store. Bits 14 and 15 together took
///     0.3-0.5 us off each item boundary of a two-consumer block-sparse kernel
///     (bench/trace_items.py, v31).
/// (v22 measured issuing a persistent one-consumer kernel's next item's
/// first S with the current item's last P V: 4-8% slower at D=64, so it was
/// removed.)
template <typename Traits, typename Schedule, int OverlapChoice = -1,
          int QRegsChoice = -1, int ReverseChoice = -1, int ChainsChoice = 4,
          int KnobsChoice = -1>
XFC_DEVICE void flashForwardSm90(const AttentionParams &params) {
  using Element = typename Traits::Element;
  constexpr int HeadDim = Traits::HeadDim;
  constexpr int BlockM = Traits::BlockM;
  constexpr int BlockN = Traits::BlockN;
  constexpr int Stages = Traits::NumStages;
  constexpr int Consumers = BlockM / 64;
  constexpr int RowChunks = HeadDim / 8;
  constexpr int QBytes = BlockM * HeadDim * 2;
  constexpr int KvBytes = BlockN * HeadDim * 2;
  constexpr bool ElementMasks =
      Traits::HasAttnMask || Traits::HasKeyPadding || Traits::HasDropout;
  constexpr bool Dense = IsSame<Schedule, DenseSchedule<Traits>>::value;
  // Gathered K/V tiles (block-sparse layouts whose blocks are half a tile,
  // wgmmaTileBlocks): each half of a K or V stage holds a present block of
  // PieceRows keys of its own, loaded by its own TMA boxes or copies.
  constexpr int TileBlocks = Schedule::TileBlocks;
  constexpr int PieceRows = BlockN / TileBlocks;
  static_assert(TileBlocks == 1 || (TileBlocks == 2 && PieceRows % 32 == 0),
                "gathered tiles take two halves of a multiple of 32 keys");
  // With one stage, S(j) would wait for K(j) in the stage that P(j-1) V(j-1)
  // has not released yet: no overlap. Element masks at HeadDim 128 (or
  // with three consumers, or gathered tiles: the global variant's 64 x 128
  // tiles with both masks spilled 4 bytes at HeadDim 64) keep the
  // sequential order: their per-row state does not fit beside S, P and O.
  // Block-sparse schedules overlap (their partial tiles' predicate fits,
  // ptxas 13.0, no spill), except at HeadDim 256 (O alone is 128
  // registers): there block-sparse schedules, random patterns and windows
  // spilled 4-34 bytes (ptxas 13.0).
  constexpr int Overlap =
      Stages == 1          ? 0
      : OverlapChoice >= 0 ? OverlapChoice
      : (ElementMasks && (HeadDim > 64 || Consumers == 3 || TileBlocks == 2)) ||
              (!Dense && Consumers == 3) ||
              (HeadDim == 256 &&
               (!Dense || RandomPattern<Traits>::Enabled ||
                WindowOf<Traits>::Left >= 0 || WindowOf<Traits>::Right >= 0))
          ? 0
          : 1;
  // Accumulator and fragment registers with Q kept: S, P, O and Q.
  constexpr int QRegsLive = (BlockN + HeadDim) * 3 / 4;
  // Off by default: no gain measured (v3), and it is fragile (below).
  constexpr int QRegs = QRegsChoice >= 0 ? QRegsChoice : 0;
  (void)QRegsLive;
  static_assert(!(QRegs && Overlap == 0 && HeadDim > 64),
                "QRegs without Overlap gave wrong results at HeadDim 128 on "
                "an H100 (bench/NOTES.md, v3): not supported");
  constexpr bool Reverse =
      ReverseChoice >= 0 ? ReverseChoice != 0 : Traits::Causal;
  // Knobs: with bit 0, S, P, O and the softmax live together (the softmax
  // then really runs under P V): at HeadDim 128, BlockN 176 that spills
  // (ptxas 13.0, 232 registers). None measured faster with cp.async loads (v4,
  // bench/NOTES.md); with TMA loads bits 0-2 together gave +2-8% at HeadDim 128
  // (v5), so -1 picks 7 there for kernels that overlap S and P V and have no
  // per-element masks (the configuration measured; BlockN 176 spills with it).
  // At HeadDim 64 the folded scale alone (bit 1) gave +2-7%, and bits 0 and 2
  // cost 2-6% (v10): 2 there, without per-element masks. Dense schedules at
  // HeadDim 64 leave the work counter out of balanced kernels (bit 3: +2-4%
  // non-causal, v8); at HeadDim 128 two Q buffers gained more (v12) and
  // spill without it; block-sparse ones keep it (their items differ in
  // tile count). HeadDim 256 with the S/PV overlap (64-key tiles, v15):
  // 7 non-causal (+1-2% over 6), 2 causal (+3% over 6; with bit 0 causal
  // kernels that write the LSE spill 4 bytes, ptxas 13.0). Without it
  // (xfc's 128-key single-stage tiles, v17: +4-7% over those) FreshS, so
  // that P takes S's registers, and the folded scale. HeadDim 128 in one
  // stage (the 64 x 128 gathered tiles of block-64 layouts): the folded
  // scale, the dense proxy measured (v23: 552 TFLOP/s; with FreshS too 541).
  // Non-causal block-sparse schedules with two consumers hand items over
  // early (bit 9, v25); with one consumer (block 64) that was 1-3% slower.
  // They also run their turns on across items and wait for the output's
  // TMA store late (bits 14 and 15, v31: 1-2% faster on block-128 layouts
  // and paired block-64 rows; the late wait alone was 1-3% slower with one
  // consumer). Dense non-causal HeadDim 128 kernels take all three and TMA
  // stores (ShortRowHandOver, v33): 3-8% faster with 256-2048 keys a row,
  // level with 8192.
  constexpr bool ShortRowHandOver =
      !Traits::Causal && Consumers == 2 && (!Dense || HeadDim == 128);
  constexpr int Knobs =
      KnobsChoice >= 0
          ? KnobsChoice
          : (HeadDim == 128 && BlockN <= 128 && Overlap && !ElementMasks ? 7
             : HeadDim == 256 && Overlap && !ElementMasks
                 ? (Traits::Causal ? 2 : 7)
             : HeadDim == 256                 ? (8192 | (ElementMasks ? 0 : 2))
             : HeadDim == 64 && !ElementMasks ? 2
             : HeadDim == 128 && Stages == 1 && !ElementMasks ? 2
                                                              : 0) |
                (Dense && HeadDim == 64 ? 8 : 0) |
                (ShortRowHandOver ? 512 | 16384 | 32768 : 0);
  // Persistent launches (params.persistentCtas) keep the item loop's
  // counters live beside the consumer state: with per-element masks
  // (attn_mask, key padding, dropout, a random pattern or a window) that
  // spilled (ptxas 13.0: dropout at HeadDim 64, a window at 128, random +
  // masks), so those kernels take one work item per CTA whatever the
  // launcher asks.
  //
  // Without params.workCounter items are split over the CTAs statically,
  // which balances only items of similar work: measured
  // (bench/results/2026-11-27-persistent-v1) +4-10% on dense non-causal
  // shapes, but up to 30% slower with causal rows and block-sparse layouts
  // with global rows. So then only schedules whose items are balanced
  // (Schedule::BalancedItems) run persistent; with a counter every CTA
  // takes the next item when it is done with one, and all run persistent.
  //
  // Three consumers (BlockM 192, 160 registers each) spilled 68 bytes with
  // the item loop (ptxas 13.0) and are spill-free without it: one item per
  // CTA, unless Knobs bit 8.
  constexpr bool Persistent =
      (Consumers < 3 || (Knobs & 256) != 0) &&
      (HeadDim <= 128 || (Knobs & 1024) != 0) && (Knobs & 4096) == 0 &&
      !ElementMasks && !RandomPattern<Traits>::Enabled &&
      WindowOf<Traits>::Left < 0 && WindowOf<Traits>::Right < 0;
  // Q buffers: two, so that a persistent CTA loads the next item's Q while
  // it computes the current one (items of a few tiles would otherwise wait
  // for it each time: +18% at 16x16x512x64, bench/NOTES.md v5; dense D=128
  // +0.5-3.5%, v12). Dense kernels at HeadDim 128 then keep the counter
  // path (216 registers a consumer): with the static split's item
  // arithmetic instead they spill at 232 (ptxas 13.0).
  constexpr int QBuffers = wgmmaQBuffers(BlockM, BlockN, Stages, HeadDim);
  constexpr bool OrderWait = (Knobs & 1) != 0;
  constexpr bool FoldScale = (Knobs & 2) != 0 && !Traits::HasAttnMask;
  constexpr bool LazyRescale = (Knobs & 4) != 0;
  // S's first k-step overwrites it as an output-only operand: S is dead
  // from P's packing to the next S GEMM, and without the S/PV overlap P can
  // take its registers.
  constexpr bool FreshS = (Knobs & 8192) != 0;
  constexpr bool OpenTurns = (Knobs & 16384) != 0;
  constexpr bool DeferStoreWait = (Knobs & 32768) != 0;
  // Every PolyPeriod-th column group of 8 takes exp2Poly (0: none).
  constexpr int PolyPeriod = (Knobs & 32) ? 2 : (Knobs & 16) ? 4 : 0;
  // Register split: the producer keeps few, the consumers take the rest of
  // what the CTA starts with (launch bounds: 65536 / threads, rounded down
  // to 8). The producer needs room beyond its copies where it walks a
  // block-sparse layout's tile tables (40 spilled under NVRTC: bigbird, 16
  // heads, block 128) and more where it takes items from a work counter
  // (persistent kernels: 56 spilled at HeadDim 128, causal and
  // block-sparse) and more again with the hand-over of an item's place,
  // first tile and schedule (v13: 72 spilled with Knobs bit 9; 80 is the
  // split measured). Two
  // consumers: producer 80 / consumers 208 for kernels with the counter
  // path, 56 / 224 for other persistent ones and block-sparse ones, 40 /
  // 232 for other dense ones (one item per CTA: windows at HeadDim 128
  // spill at 216). One consumer: two CTAs share the SM
  // (attentionCtasPerSm), 128 registers per thread at entry, so producer +
  // consumer = 256.
  // Whether the kernel takes items from params.workCounter (Knobs bit 3).
  constexpr bool CounterPath =
      Persistent && !((Knobs & 8) != 0 && Schedule::BalancedItems);
  constexpr int EntryRegs =
      65536 / attentionCtasPerSm<Traits>() / (128 * (Consumers + 1)) / 8 * 8;
  constexpr int ProducerRegs = Consumers == 3   ? 32
                               : Consumers == 1 ? 56
                               : CounterPath    ? 80
                               : Dense && !Persistent
                                   ? ((Knobs & 2048) ? 24 : 40)
                                   : 56;
  constexpr int ConsumerRegs =
      (EntryRegs * (Consumers + 1) - ProducerRegs) / Consumers / 8 * 8;
  static_assert(ProducerRegs + Consumers * ConsumerRegs <=
                    EntryRegs * (Consumers + 1),
                "the register split exceeds what the CTA starts with");
  static_assert(attentionCtasPerSm<Traits>() == (Consumers == 1 ? 2 : 1),
                "the register split assumes two CTAs per SM for one consumer");

  static_assert(isHalfElement<Element>,
                "the wgmma path takes xfc::f16 or xfc::bf16 elements");
  static_assert(usesWgmmaPath<Traits>(),
                "the wgmma path needs NumWarps == 4 * (BlockM / 64 + 1)");
  static_assert(wgmmaTakesHeadDim(HeadDim),
                "the wgmma path supports HeadDim 64, 128 and 256");
  static_assert(BlockM == 64 || BlockM == 128 || BlockM == 192,
                "the wgmma path takes BlockM 64, 128 or 192 (one consumer "
                "warpgroup per 64 rows)");
  static_assert(BlockN % 16 == 0 && BlockN >= 64 && BlockN <= 256,
                "BlockN must be a multiple of 16 in [64, 256] on the wgmma "
                "path");
  static_assert(BlockN / 2 + HeadDim / 2 <=
                    (Consumers == 3                        ? 96
                     : Overlap == 0 && (Knobs & 8192) != 0 ? 208
                     : HeadDim == 256                      ? 168
                                                           : 160),
                "S and O accumulators would not fit in registers");
  static_assert(Stages >= 1 && Stages <= 4, "NumStages must be 1 to 4");
  static_assert(isPowerOf2(ChainsChoice), "Chains must be a power of two");
  // The largest power of two <= ChainsChoice dividing BlockN / 8.
  constexpr int Chains = (BlockN / 8) % ChainsChoice == 0 ? ChainsChoice
                         : (BlockN / 8) % (ChainsChoice / 2) == 0
                             ? ChainsChoice / 2
                             : 1;
  static_assert(Traits::SharedBytes ==
                    wgmmaSharedBytes(BlockM, BlockN, Stages, HeadDim),
                "SharedBytes must be (QBuffers * BlockM + 2 * NumStages * "
                "BlockN) * HeadDim * 2 + 1024 on the wgmma path, QBuffers 2 "
                "where that fits in 227 KiB and 1 otherwise "
                "(templates/README.md)");

#if defined(__CUDA_ARCH__) && !defined(__CUDA_ARCH_FEAT_SM90_ALL)
  static_assert(sizeof(Traits) == 0,
                "the wgmma path needs sm_90a (wgmma, setmaxnreg); compile "
                "for sm_90a or pick the mma.sync configuration");
#else
  const int qLen = params.qLen, kvLen = params.kvLen;
  // Work items: (query tile, head, batch entry). A persistent launch
  // (params.persistentCtas > 0) keeps that many CTAs, each walking items
  // with that stride; the others leave at once.
  const WorkItems work{ceilDiv(qLen, BlockM), params.heads, params.batch};
  const int numCtas = static_cast<int>(gridDim.x * gridDim.y * gridDim.z);
  // Dynamic: items come from params.workCounter (first item: the CTA's
  // number; then ctaStride + the counter's next value).
  const bool dynamic =
      CounterPath && params.persistentCtas > 0 && params.workCounter != nullptr;
  const int ctaStride =
      Persistent && params.persistentCtas > 0 &&
              (Schedule::BalancedItems || dynamic || (Knobs & 128) != 0)
          ? mini(params.persistentCtas, numCtas)
          : numCtas;
  const int cta = linearBlockIndex();
  if (cta >= ctaStride)
    return;
  // Round r of the CTAs takes items [r * ctaStride, (r + 1) * ctaStride),
  // in reverse CTA order every other round: schedules number items
  // heaviest first within a head, so a CTA that drew a heavy item draws a
  // light one next (a plain stride that divides the items of a head would
  // hand the same rank to the same CTA every round).
  auto itemOf = [&](int round) {
    return round * ctaStride + ((round & 1) ? ctaStride - 1 - cta : cta);
  };

  // Two Q buffers, so that a persistent CTA loads the next item's Q while
  // it computes the current one: item i uses buffer i % 2. Per buffer,
  // qFull and qEmpty (the consumers are done with the Q tile and the
  // output staged in its place); K/V full and empty per stage.
  __shared__ alignas(8) unsigned long long barriers[4 + 4 * Stages];
  // Each Q buffer's current item, its place, first tile and schedule,
  // written by the producer before it arrives on the buffer's qFull: the
  // consumers read them after their wait instead of the counter and the
  // layout tables.
  __shared__ Sm90ItemSlot itemSlot[2];
  __shared__ alignas(16) unsigned char scheduleSlot[2][sizeof(Schedule)];
  // Dynamic with cp.async: the next item, from the producer thread that
  // took it to the other 127.
  __shared__ int fetchedItem;
  // Written, never read: orders the softmax before `wgmma.wait_group 0`.
  __shared__ float waitSink[OrderWait ? 128 * Consumers : 1];
  const unsigned bar0 = smemAddress(&barriers[0]);
  auto qFull = [&](int b) { return bar0 + 8 * b; };
  auto kFull = [&](int s) { return bar0 + 8 * (2 + s); };
  auto vFull = [&](int s) { return bar0 + 8 * (2 + Stages + s); };
  auto kEmpty = [&](int s) { return bar0 + 8 * (2 + 2 * Stages + s); };
  auto vEmpty = [&](int s) { return bar0 + 8 * (2 + 3 * Stages + s); };
  auto qEmpty = [&](int b) { return bar0 + 8 * (2 + 4 * Stages + b); };

  const unsigned sQ0 = (smemAddress(xfcSharedMemory) + 1023u) & ~1023u;
  auto qBuffer = [&](int b) { return sQ0 + b * QBytes; };
  const unsigned sK = sQ0 + QBuffers * QBytes;
  const unsigned sV = sK + Stages * KvBytes;

  const int tid = threadIdx.x;
  const int warpgroup = tid / 128;
  // TMA stores of the output (params.tmaStores): only with TMA loads, whose
  // maps the launcher encodes together with O's, and only for block-sparse
  // schedules and dense ones that hand items over early: measured on an
  // H100 (bench/NOTES.md, v21) 0-3% faster on all 16 rows of
  // bench_blocksparse, but 2-3% slower at dense D=64 (one thread's store
  // must be read before the Q buffer is free) and within +-4% at D=128 and
  // 256 alone; with the early hand-over at dense D=128, 1-4% faster on rows
  // of 256-1152 keys (v33).
  const bool tmaStore = (!Dense || ShortRowHandOver) && params.tmaLoads != 0 &&
                        params.tmaStores != 0;
  // TMA loads (the launcher encoded tensor maps): one producer thread
  // issues every copy and the full barriers wait for one arrival plus the
  // bytes; otherwise the 128 producer threads copy with cp.async and each
  // arrives.
  const bool tma = params.tmaLoads != 0;
  const unsigned fullArrivals = tma ? 1 : 128;

  if (tid == 0) {
#pragma unroll
    for (int b = 0; b < 2; ++b) {
      sm90::mbarInit(qFull(b), fullArrivals);
      sm90::mbarInit(qEmpty(b), 4 * Consumers);
    }
#pragma unroll
    for (int s = 0; s < Stages; ++s) {
      sm90::mbarInit(kFull(s), fullArrivals);
      sm90::mbarInit(vFull(s), fullArrivals);
      sm90::mbarInit(kEmpty(s), 4 * Consumers);
      sm90::mbarInit(vEmpty(s), 4 * Consumers);
    }
  }
  __syncthreads();

  if (warpgroup == 0) {
    // ---------------------------------------------------------- producer
    sm90::setMaxRegsDec<ProducerRegs>();
    const int ptid = tid;
    if (tma) {
      if (ptid != 0)
        return;
      sm90::prefetchTensorMap(params.tmaQ);
      sm90::prefetchTensorMap(params.tmaK);
      sm90::prefetchTensorMap(params.tmaV);
    }
    // Pieces of PieceRows rows, piece i from rows[i] into dst + i *
    // PieceRows rows of a tile of TileRows rows, completing on `full`: a Q
    // tile or a contiguous K/V tile is one piece, a gathered K/V tile two
    // (its halves). With TMA one box of 64 columns per piece and 128-byte
    // column block (the map's 128-byte swizzle is the layout of the wgmma
    // descriptors), with cp.async the producer threads' 16-byte chunks.
    // The cp.async path computes the tensor's address only where it copies:
    // the TMA path keeps no pointers live (the producer's registers are few).
    auto loadPieces = [&](auto piecesTag, auto pieceRowsTag, auto tileRowsTag,
                          const void *map, const void *tensor,
                          long long batchStride, long long headStride,
                          long long seqStride, const int(&rows)[2], int rowEnd,
                          int head, int batch, unsigned dst, unsigned full) {
      constexpr int Pieces = decltype(piecesTag)::value;
      constexpr int PieceRows = decltype(pieceRowsTag)::value;
      constexpr int TileRows = decltype(tileRowsTag)::value;
      if (tma) {
        sm90::mbarArriveExpectTx(full, Pieces * PieceRows * HeadDim * 2);
#pragma unroll
        for (int piece = 0; piece < Pieces; ++piece)
#pragma unroll
          for (int c = 0; c < HeadDim / 64; ++c)
            sm90::tmaLoad4d(dst + c * TileRows * 128 + piece * PieceRows * 128,
                            map, c * 64, rows[piece], head, batch, full);
      } else {
        const Element *base = static_cast<const Element *>(tensor) +
                              batch * batchStride + head * headStride;
#pragma unroll
        for (int piece = 0; piece < Pieces; ++piece)
          sm90CopyTile<PieceRows, HeadDim, TileRows>(
              base, seqStride, rows[piece], rowEnd,
              dst + piece * PieceRows * 128, ptid);
        sm90::cpAsyncArriveNoinc(full);
      }
    };
    // A K or V tile: contiguous keys from row0 or, gathered, two halves
    // from row0 and row1 (the stage's byte count covers both).
    auto loadKv = [&](const void *map, const void *tensor,
                      long long batchStride, long long headStride,
                      long long seqStride, int row0, int row1, int head,
                      int batch, unsigned dst, unsigned full) {
      const int rows[2] = {row0, row1};
      loadPieces(IntConstant<TileBlocks>{}, IntConstant<PieceRows>{},
                 IntConstant<BlockN>{}, map, tensor, batchStride, headStride,
                 seqStride, rows, kvLen, head, batch, dst, full);
    };
    // The CTA's count-th item: the CTA's own number first, then the next
    // from the counter (one thread takes it; with cp.async the producer's
    // threads share it through shared memory, named barrier 15) or the
    // static split.
    auto claim = [&](int count) {
      int item = itemOf(count);
      if (dynamic && count > 0) {
        if (ptid == 0)
          item = ctaStride + atomicAdd(params.workCounter, 1);
        if (!tma) {
          if (ptid == 0)
            fetchedItem = item;
          sm90::namedBarSync(15, 128);
          item = fetchedItem;
          sm90::namedBarSync(15, 128);
        }
      }
      return item;
    };
    // Hands the CTA's count-th item to the consumers in Q buffer count %
    // QBuffers: waits until they are done with the buffer's previous item
    // (its Q tile also staged that item's output), writes the slot and
    // loads Q. An item past the last tells them to stop (dynamic: the last
    // CTA to get there zeroes the counter for the next launch); one
    // without tiles has no Q to load, the consumers write its zeros.
    auto publish = [&](int count, int item) {
      const int qb = count % QBuffers;
      if (count >= QBuffers)
        sm90::mbarWait(qEmpty(qb), ((count / QBuffers) - 1) & 1);
      if (item >= work.count()) {
        if (ptid == 0) {
          itemSlot[qb].item = item;
          // Ordered before this thread's arrival on qFull.
          __threadfence_block();
        }
        sm90::mbarArrive(qFull(qb));
        if (dynamic && ptid == 0) {
          __threadfence();
          if (atomicAdd(params.workCounter + 1, 1) == ctaStride - 1) {
            atomicExch(params.workCounter, 0);
            atomicExch(params.workCounter + 1, 0);
          }
        }
        return;
      }
      const TilePlace place = Schedule::place(work, item, Reverse);
      const Schedule schedule(params, place.head, place.mTile);
      const int numTiles = schedule.numTiles();
      if (ptid == 0) {
        itemSlot[qb].item = item;
        itemSlot[qb].place = place;
        itemSlot[qb].first =
            numTiles > 0 ? schedule.tile(0) : KvTile{0, -1, false};
        // Word by word: NVRTC has no memcpy; schedules are trivially
        // copyable.
        static_assert(sizeof(Schedule) % 4 == 0 && alignof(Schedule) <= 16,
                      "a schedule is copied into its slot in 4-byte words");
#pragma unroll
        for (int w = 0; w < static_cast<int>(sizeof(Schedule) / 4); ++w)
          reinterpret_cast<int *>(scheduleSlot[qb])[w] =
              reinterpret_cast<const int *>(&schedule)[w];
        __threadfence_block();
      }
      if (numTiles == 0) {
        sm90::mbarArrive(qFull(qb));
        return;
      }
      const int qRows[2] = {place.mTile * BlockM, 0};
      loadPieces(IntConstant<1>{}, IntConstant<BlockM>{}, IntConstant<BlockM>{},
                 params.tmaQ, params.q, params.qBatchStride, params.qHeadStride,
                 params.qSeqStride, qRows, qLen, place.head, place.batch,
                 qBuffer(qb), qFull(qb));
    };
    // The next item is handed over once the current one's last K/V loads
    // are issued, Stages tiles ahead of the consumers (Knobs bit 9: after
    // its second tile, which claimed items too early, v13). Handing over
    // early needs two Q buffers: the previous item frees the buffer.
    constexpr bool EarlyPublish = QBuffers == 2 && (Knobs & 512) != 0;
    // K/V tiles loaded by this CTA before the current item: the ring's
    // stages and phases run on across items.
    int kvBase = 0;
    int item = claim(0);
    publish(0, item);
    for (int itemCount = 0; item < work.count(); ++itemCount) {
      const TilePlace place = Schedule::place(work, item, Reverse);
      const int head = place.head, batch = place.batch;
      const Schedule schedule(params, head, place.mTile);
      const int numTiles = schedule.numTiles();
      int next = 0;
      bool published = false;
#if defined(XFC_TRACE)
      long long traceEmptyWait = 0;
#endif
      XFC_TRACE_BY(ptid == 0, 0, itemCount, 0, clock64());
      XFC_TRACE_BY(ptid == 0, 0, itemCount, 5, numTiles);
      XFC_TRACE_BY(ptid == 0, 0, itemCount, 6, item);
      // Each tile's index is loaded one tile ahead: a block-sparse table
      // read (an L2 round trip) then never sits between two copies. An
      // absent second half loads the first one again (finite values; the
      // consumers mask it).
      KvTile nextTile = numTiles > 0 ? schedule.tile(0) : KvTile{0, -1, false};
      for (int idx = 0; idx < numTiles; ++idx) {
        const int slot = kvBase + idx;
        const int stage = slot % Stages;
        const unsigned parity = ((slot / Stages) - 1) & 1;
        const int key0 = nextTile.index * PieceRows;
        const int key1 = nextTile.secondLoaded() * PieceRows;
        if (idx + 1 < numTiles)
          nextTile = schedule.tile(idx + 1);
        if (slot >= Stages)
          XFC_TRACE_TIMED(traceEmptyWait,
                          sm90::mbarWait(kEmpty(stage), parity));
        XFC_TRACE_BY(ptid == 0 && idx == 0, 0, itemCount, 1, clock64());
        loadKv(params.tmaK, params.k, params.kBatchStride, params.kHeadStride,
               params.kSeqStride, key0, key1, head, batch, sK + stage * KvBytes,
               kFull(stage));
        if (slot >= Stages)
          XFC_TRACE_TIMED(traceEmptyWait,
                          sm90::mbarWait(vEmpty(stage), parity));
        loadKv(params.tmaV, params.v, params.vBatchStride, params.vHeadStride,
               params.vSeqStride, key0, key1, head, batch, sV + stage * KvBytes,
               vFull(stage));
        if (Persistent && EarlyPublish && idx == mini(1, numTiles - 1)) {
          XFC_TRACE_BY(ptid == 0, 0, itemCount, 7, clock64());
          next = claim(itemCount + 1);
          publish(itemCount + 1, next);
          XFC_TRACE_BY(ptid == 0, 0, itemCount, 3, clock64());
          published = true;
        }
      }
      XFC_TRACE_BY(ptid == 0, 0, itemCount, 2, clock64());
      XFC_TRACE_BY(ptid == 0, 0, itemCount, 4, traceEmptyWait);
      kvBase += numTiles;
      if constexpr (!Persistent)
        break;
      if (!published) {
        XFC_TRACE_BY(ptid == 0, 0, itemCount, 7, clock64());
        next = claim(itemCount + 1);
        publish(itemCount + 1, next);
        XFC_TRACE_BY(ptid == 0, 0, itemCount, 3, clock64());
      }
      item = next;
    }
    asm volatile("cp.async.wait_all;\n" ::: "memory");
    return;
  }

  // ------------------------------------------------------------ consumers
  sm90::setMaxRegsInc<ConsumerRegs>();
  const int wg = warpgroup - 1;
  const int ctid = tid - 128 * warpgroup;
  const int warp = ctid / 32, lane = ctid % 32;
  const int g = lane / 4, t = lane % 4;
  // Rows of this thread: g and g + 8 of the warp's 16.
  const int rowInTile = wg * 64 + warp * 16 + g;
  int kvBase = 0;
  // OpenTurns: whether the last consumer has opened consumer 0's turns.
  bool turnsOpen = false;
  // Threads of a turn's named barrier: two consumer warpgroups.
  constexpr int TurnThreads = 256;
  // The warpgroup's first thread, once its TMA store has read the output
  // staged in Q buffer `b`: frees the buffer for the producer, arriving for
  // the warpgroup's four warps.
  auto freeStoredQ = [&](int b) {
    sm90::bulkWaitRead();
#pragma unroll
    for (int w = 0; w < 4; ++w)
      sm90::mbarArrive(qEmpty(b));
  };
  // DeferStoreWait: the Q buffer whose staged output a TMA store may still
  // be reading (-1: none); freed after the next item's first S.
  int stagedQb = -1;
  auto releaseStaged = [&]() {
    if constexpr (DeferStoreWait) {
      if (stagedQb >= 0) {
        if (ctid == 0)
          freeStoredQ(stagedQb);
        stagedQb = -1;
      }
    }
  };
  for (int itemCount = 0;; ++itemCount) {
    // This item's Q buffer (see the producer) and its use count's phase;
    // the item, its place and schedule come with the buffer.
    const int qb = itemCount % QBuffers;
#if defined(XFC_TRACE)
    const bool traceThread = ctid == 0;
    long long traceLoadWait = 0, traceTurnWait = 0, traceSWait = 0,
              tracePVWait = 0, traceIssue = 0, traceSoftmax = 0,
              traceRescale = 0, traceFirstKWait = 0;
#endif
    XFC_TRACE_BY(traceThread, warpgroup, itemCount, 0, clock64());
    XFC_TRACE_BY(traceThread, warpgroup, itemCount, 10, traceGlobalTime());
    sm90::mbarWait(qFull(qb), (itemCount / QBuffers) & 1);
    XFC_TRACE_BY(traceThread, warpgroup, itemCount, 1, clock64());
    if (itemSlot[qb].item >= work.count()) {
      releaseStaged();
      break;
    }
    const TilePlace place = itemSlot[qb].place;
    const int mTile = place.mTile, head = place.head, batch = place.batch;
    const Schedule schedule =
        *reinterpret_cast<const Schedule *>(scheduleSlot[qb]);
    const int numTiles = schedule.numTiles();
    const int row0 = mTile * BlockM + rowInTile;
    // Stage and phase of the item's idx-th K/V tile in the CTA's ring.
    auto stageOf = [&](int idx) { return (kvBase + idx) % Stages; };
    auto phaseOf = [&](int idx) {
      return static_cast<unsigned>((kvBase + idx) / Stages) & 1u;
    };
    const unsigned sQ = qBuffer(qb);

    RowMasks<Traits> masks[2];
    masks[0].init(params, batch, head, row0);
    masks[1].init(params, batch, head, row0 + 8);

    float o[HeadDim / 2];
#pragma unroll
    for (int i = 0; i < HeadDim / 2; ++i)
      o[i] = 0.0f;
    float rowMax[2] = {negInf(), negInf()};
    // exp2's argument is (s - rowMax) * postScale (see preScale below).
    const float postScale = FoldScale ? params.scaleLog2 : 1.0f;
    float rowSum[2] = {0.0f, 0.0f};

    if (numTiles > 0) {
      float s[BlockN / 2];
#pragma unroll
      for (int i = 0; i < BlockN / 2; ++i)
        s[i] = 0.0f;
      unsigned p[BlockN / 16][4];
#pragma unroll
      for (int k = 0; k < BlockN / 16; ++k)
#pragma unroll
        for (int e = 0; e < 4; ++e)
          p[k][e] = 0u;

      Dropout dropout(params, batch, head);
      unsigned dropRowKey[2] = {0u, 0u};
      if constexpr (Traits::HasDropout) {
        dropRowKey[0] = dropout.rowKey(row0);
        dropRowKey[1] = dropout.rowKey(row0 + 8);
      }
      const float scaleLog2 = params.scaleLog2;
      // Scores enter the softmax multiplied by preScale; exp2's argument is
      // (s - max) * postScale. With FoldScale the max runs on raw scores and
      // each probability costs one FFMA; rowMax is kept in the units of s.
      const float preScale = FoldScale ? 1.0f : scaleLog2;
      const unsigned sinkAddr =
          smemAddress(&waitSink[OrderWait ? tid - 128 : 0]);

      // Descriptors: K-major Q and K (the k-step advances 32 bytes inside a
      // 128-byte row, a column block every 4 steps), MN-major V (LBO: the next
      // 64 columns, SBO: the next 8 keys; a k-step is 16 keys).
      // The start address sits in the low 14 bits in 16-byte units and every
      // address stays below 256 KiB: offsets add to the descriptor directly.
      const unsigned long long qDesc0 =
          sm90::sw128Desc(sQ + wg * 64 * 128, 16, 1024);
      const unsigned long long kDesc0 = sm90::sw128Desc(sK, 16, 1024);
      const unsigned long long vDesc0 = sm90::sw128Desc(sV, BlockN * 128, 1024);
      auto qDesc = [&](int kk) {
        return qDesc0 + ((kk / 4) * BlockM * 128 + (kk % 4) * 32) / 16;
      };
      auto kDesc = [&](int stage, int kk) {
        return kDesc0 + static_cast<unsigned>(stage * (KvBytes / 16)) +
               ((kk / 4) * BlockN * 128 + (kk % 4) * 32) / 16;
      };
      auto vDesc = [&](int stage, int kk) {
        return vDesc0 + static_cast<unsigned>(stage * (KvBytes / 16)) +
               kk * 16 * 128 / 16;
      };

      // Turns, round robin: consumer c waits on barrier 1 + c, then opens
      // the next one's. The last consumer opens consumer 0's first turn.
      // Without OpenTurns it does so in every item and skips its own last
      // arrive, so that every barrier phase completes within the item; with
      // OpenTurns only in the CTA's first item with tiles, and its last turn
      // of an item opens consumer 0's first turn of the next (consumer 0
      // takes the last arrive after the loop): consumer 0's first S then
      // waits for its own Q and K, not for the last consumer's epilogue.
      auto turnBegin = [&]() {
        if constexpr (Consumers > 1)
          sm90::namedBarSync(1 + wg, TurnThreads);
      };
      auto turnEnd = [&](bool last) {
        if constexpr (Consumers > 1) {
          if (OpenTurns || !(wg == Consumers - 1 && last))
            sm90::namedBarArrive(1 + (wg + 1) % Consumers, TurnThreads);
        }
      };
      if constexpr (Consumers > 1) {
        if (wg == Consumers - 1 && !(OpenTurns && turnsOpen))
          sm90::namedBarArrive(1, TurnThreads);
      }
      turnsOpen = true;

      // Q as A fragments (QRegs): ldmatrix x4 from the swizzled tile, matrices
      // rows +0/+8/+0/+8, chunks +0/+0/+1/+1 of the warp's 16 rows.
      unsigned qFrag[QRegs ? HeadDim / 16 : 1][4];
      auto loadQFrag = [&]() {
        const int r = wg * 64 + warp * 16 + (lane % 8) + ((lane / 8) & 1) * 8;
#pragma unroll
        for (int kk = 0; kk < HeadDim / 16; ++kk) {
          const int c = 2 * kk + lane / 16;
          ldmatrixX4(qFrag[kk], sQ + (c / 8) * BlockM * 128 + r * 128 +
                                    (((c % 8) ^ (r % 8)) * 16));
        }
      };
      // A gathered tile whose second half is absent runs at full width, the
      // half masked by the softmax: half-width GEMMs for it (a second,
      // narrower view of S chosen at run time) made ptxas move accumulators
      // and fence or serialize the wgmma pipeline (C7519, C7511) in every
      // tile, 0-10% slower on all block-64 layouts (bench/NOTES.md, v25).
      auto issueS = [&](int stage) {
#pragma unroll
        for (int kk = 0; kk < HeadDim / 16; ++kk) {
          if constexpr (QRegs)
            Wgmma<Element, BlockN>::rsk(s, qFrag[kk], kDesc(stage, kk), kk > 0);
          else if (FreshS && kk == 0)
            Wgmma<Element, BlockN>::ssFresh(s, qDesc(kk), kDesc(stage, kk));
          else
            Wgmma<Element, BlockN>::ss(s, qDesc(kk), kDesc(stage, kk), kk > 0);
        }
        sm90::wgmmaCommit();
      };
      auto issuePV = [&](int stage) {
#pragma unroll
        for (int kk = 0; kk < BlockN / 16; ++kk)
          Wgmma<Element, HeadDim>::rs(o, p[kk], vDesc(stage, kk), 1);
        sm90::wgmmaCommit();
      };
      // One arrival per consumer warp once its reads of the stage are done.
      auto release = [&](unsigned bar) {
        __syncwarp();
        if (lane == 0)
          sm90::mbarArrive(bar);
      };

      // Masks and online softmax of the S tile in registers: s becomes the
      // probabilities; returns the factor the old O and sum are scaled by.
      // rowBits: this consumer's row mask bits of the tile (bit h: its block
      // row lacks half h; tiles of two 64-block rows, Schedule::RowMasks).
      auto softmax = [&](const KvTile &tile, unsigned rowBits,
                         float(&scaleOld)[2]) {
        // Key of column n * 8 + (e & 1) of this thread: colBase[half] + n * 8
        // + (e & 1), half = n * 8 / PieceRows (a constant once unrolled). An
        // absent second half reads the first one's keys (loaded there
        // again), then is masked.
        int colBase[TileBlocks];
        colBase[0] = tile.index * PieceRows + 2 * t;
        if constexpr (TileBlocks == 2)
          colBase[1] = (tile.secondLoaded() - 1) * PieceRows + 2 * t;
        auto colOf = [&](int n, int e) {
          return colBase[n * 8 / PieceRows] + n * 8 + (e & 1);
        };
#pragma unroll
        for (int n = 0; n < BlockN / 8; ++n)
#pragma unroll
          for (int e = 0; e < 4; ++e)
            s[4 * n + e] = scoreWithMasks<Traits>(
                s[4 * n + e], preScale, colOf(n, e), kvLen, masks[e / 2]);
        if (tile.partial) {
#pragma unroll
          for (int n = 0; n < BlockN / 8; ++n)
#pragma unroll
            for (int e = 0; e < 4; ++e)
              if (!schedule.visible(row0 + (e / 2) * 8, colOf(n, e)))
                s[4 * n + e] = negInf();
        }
        if constexpr (TileBlocks == 2) {
          if (tile.second < 0) {
#pragma unroll
            for (int n = BlockN / 16; n < BlockN / 8; ++n)
#pragma unroll
              for (int e = 0; e < 4; ++e)
                s[4 * n + e] = negInf();
          }
        }
        if constexpr (Schedule::RowMasks) {
          // Warp-uniform: a half this consumer's row lacks, as a whole.
          if (rowBits != 0) {
#pragma unroll
            for (int n = 0; n < BlockN / 8; ++n)
#pragma unroll
              for (int e = 0; e < 4; ++e)
                if (rowBits & (n < BlockN / 16 ? 1u : 2u))
                  s[4 * n + e] = negInf();
          }
        } else {
          (void)rowBits;
        }
        // Row max and sum over Chains independent partial results: short
        // dependency chains instead of one BlockN / 4 long.
        float negOffset[2];
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          float part[Chains];
#pragma unroll
          for (int c = 0; c < Chains; ++c)
            part[c] = rowMax[h];
#pragma unroll
          for (int n = 0; n < BlockN / 8; ++n)
            part[n % Chains] =
                fmaxf(part[n % Chains],
                      fmaxf(s[4 * n + 2 * h], s[4 * n + 2 * h + 1]));
#pragma unroll
          for (int w = Chains / 2; w >= 1; w /= 2)
#pragma unroll
            for (int c = 0; c < w; ++c)
              part[c] = fmaxf(part[c], part[c + w]);
          float m = part[0];
          m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, 1));
          m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, 2));
          // A row that has seen only masked keys keeps max -inf: subtract 0
          // so that exp2 gives 0, not NaN (its O and sum are 0: factor 1).
          // An unchanged max gives a factor of exactly 1 (LazyRescale).
          negOffset[h] = m == negInf() ? 0.0f : -m * postScale;
          scaleOld[h] =
              m == negInf() ? 1.0f : exp2Fast((rowMax[h] - m) * postScale);
          rowMax[h] = m;
        }
        float sum[2][Chains];
#pragma unroll
        for (int h = 0; h < 2; ++h)
#pragma unroll
          for (int c = 0; c < Chains; ++c)
            sum[h][c] = 0.0f;
#pragma unroll
        for (int n = 0; n < BlockN / 8; ++n)
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const float arg = fmaf(s[4 * n + e], postScale, negOffset[e / 2]);
            float pr = PolyPeriod && n % PolyPeriod == PolyPeriod - 1
                           ? exp2Poly(arg)
                           : exp2Fast(arg);
            sum[e / 2][n % Chains] += pr;
            if constexpr (Traits::HasDropout) {
              if (!dropout.keep(dropRowKey[e / 2], colOf(n, e)))
                pr = 0.0f;
            }
            s[4 * n + e] = pr;
          }
#pragma unroll
        for (int h = 0; h < 2; ++h) {
#pragma unroll
          for (int w = Chains / 2; w >= 1; w /= 2)
#pragma unroll
            for (int c = 0; c < w; ++c)
              sum[h][c] += sum[h][c + w];
          rowSum[h] = rowSum[h] * scaleOld[h] + sum[h][0];
        }
      };
      auto rescaleO = [&](const float(&scaleOld)[2]) {
        if constexpr (LazyRescale) {
          // Warp-uniform: skip when no row of the warp moved its max.
          if (!__any_sync(0xffffffffu,
                          scaleOld[0] != 1.0f || scaleOld[1] != 1.0f))
            return;
        }
#pragma unroll
        for (int i = 0; i < HeadDim / 2; ++i)
          o[i] *= scaleOld[(i / 2) & 1];
      };
      auto packP = [&]() {
#pragma unroll
        for (int k = 0; k < BlockN / 16; ++k)
#pragma unroll
          for (int e = 0; e < 4; ++e)
            p[k][e] = packPair<Element>(s[8 * k + 2 * e], s[8 * k + 2 * e + 1]);
      };

      // S alone from a stage: wait for K, S = Q K^T in this consumer's
      // turn, release the K stage.
      auto computeS = [&](int stage, unsigned phase, bool lastTurn) {
        XFC_TRACE_TIMED(traceFirstKWait, sm90::mbarWait(kFull(stage), phase));
        if (!tma)
          sm90::fenceProxyAsync();
        turnBegin();
        XFC_TRACE_BY(traceThread, warpgroup, itemCount, 20, clock64());
        sm90::fenceRegs(s);
        sm90::wgmmaFence();
        issueS(stage);
        sm90::fenceRegs(s);
        turnEnd(lastTurn);
        XFC_TRACE_BY(traceThread, warpgroup, itemCount, 21, clock64());
        sm90::wgmmaWait<0>();
        sm90::fenceRegs(s);
        release(kEmpty(stage));
      };
      // P V alone from a stage: wait for V, O += P V, release the V stage.
      auto finishPV = [&](int stage, unsigned phase) {
        sm90::mbarWait(vFull(stage), phase);
        if (!tma)
          sm90::fenceProxyAsync();
        sm90::fenceRegs(o);
        sm90::fenceRegs(p);
        sm90::wgmmaFence();
        issuePV(stage);
        sm90::wgmmaWait<0>();
        sm90::fenceRegs(o);
        sm90::fenceRegs(p);
        release(vEmpty(stage));
      };

      // The next tile's table entries are read an iteration ahead, before
      // the barrier waits, and decoded only when the tile is used: the reads
      // are in flight while the GEMMs run instead of stalling the consumer.
      // Tile 0 comes decoded with the item.
      const KvTile firstTile = itemSlot[qb].first;
      TileEntry pending = numTiles > 1 ? schedule.entry(1) : TileEntry{};
      // With row masks, this consumer's bits of the tile too (rowBits).
      unsigned firstRowBits = 0, rowBits = 0;
      if constexpr (Schedule::RowMasks)
        firstRowBits = (schedule.rowMask(0) >> (2 * wg)) & 3u;
      auto advance = [&](int idx) {
        if (idx == 0) {
          rowBits = firstRowBits;
          return firstTile;
        }
        const KvTile tile = schedule.decode(pending);
        if constexpr (Schedule::RowMasks)
          rowBits = (pending.rowMask >> (2 * wg)) & 3u;
        if (idx + 1 < numTiles)
          pending = schedule.entry(idx + 1);
        return tile;
      };

      if constexpr (QRegs)
        loadQFrag();
      XFC_TRACE_BY(traceThread, warpgroup, itemCount, 22, clock64());

      if constexpr (Overlap) {
        // Tile 0: S only.
        {
          const KvTile tile = advance(0);
          computeS(stageOf(0), phaseOf(0), numTiles == 1);
          releaseStaged();
          XFC_TRACE_BY(traceThread, warpgroup, itemCount, 2, clock64());
          float scaleOld[2];
          softmax(tile, rowBits, scaleOld);
          packP();
          XFC_TRACE_BY(traceThread, warpgroup, itemCount, 3, clock64());
        }
        for (int idx = 1; idx < numTiles; ++idx) {
          const int stage = stageOf(idx), prev = stageOf(idx - 1);
          const KvTile tile = advance(idx);
          XFC_TRACE_TIMED(traceLoadWait,
                          sm90::mbarWait(kFull(stage), phaseOf(idx)));
          XFC_TRACE_TIMED(traceLoadWait,
                          sm90::mbarWait(vFull(prev), phaseOf(idx - 1)));
          if (!tma)
            sm90::fenceProxyAsync();
          XFC_TRACE_TIMED(traceTurnWait, turnBegin());
          XFC_TRACE_MARK(traceIssueStart);
          sm90::fenceRegs(s);
          sm90::fenceRegs(o);
          sm90::fenceRegs(p);
          sm90::wgmmaFence();
          issueS(stage);
          issuePV(prev);
          sm90::fenceRegs(s);
          sm90::fenceRegs(o);
          sm90::fenceRegs(p);
          turnEnd(idx == numTiles - 1);
          XFC_TRACE_ADD(traceIssue, traceIssueStart);
          XFC_TRACE_TIMED(traceSWait, sm90::wgmmaWait<1>());
          sm90::fenceRegs(s);
          release(kEmpty(stage));
          float scaleOld[2];
          XFC_TRACE_MARK(traceSoftmaxStart);
          softmax(tile, rowBits, scaleOld);
          XFC_TRACE_ADD(traceSoftmax, traceSoftmaxStart);
          if constexpr (OrderWait)
            asm volatile("st.shared.f32 [%0], %1;\n" ::"r"(sinkAddr),
                         "f"(rowSum[0] + rowSum[1])
                         : "memory");
          XFC_TRACE_TIMED(tracePVWait, sm90::wgmmaWait<0>());
          sm90::fenceRegs(o);
          sm90::fenceRegs(p);
          release(vEmpty(prev));
          XFC_TRACE_MARK(traceRescaleStart);
          rescaleO(scaleOld);
          packP();
          XFC_TRACE_ADD(traceRescale, traceRescaleStart);
        }
        XFC_TRACE_BY(traceThread, warpgroup, itemCount, 4, clock64());
        // The last P V.
        finishPV(stageOf(numTiles - 1), phaseOf(numTiles - 1));
        XFC_TRACE_BY(traceThread, warpgroup, itemCount, 5, clock64());
      } else {
        for (int idx = 0; idx < numTiles; ++idx) {
          const int stage = stageOf(idx);
          const unsigned parity = phaseOf(idx);
          const KvTile tile = advance(idx);
          computeS(stage, parity, idx == numTiles - 1);
          if (idx == 0)
            releaseStaged();
          float scaleOld[2];
          softmax(tile, rowBits, scaleOld);
          rescaleO(scaleOld);
          packP();
          finishPV(stage, parity);
        }
      }
    }

    // Epilogue: normalise, stage through this warp's own Q rows (swizzled),
    // then write 16-byte chunks of rows < qLen.
    releaseStaged();
    float rowScale[2];
    float keepScale = 1.0f;
    if constexpr (Traits::HasDropout)
      keepScale = Dropout(params, batch, head).scale();
    const float rowMaxLog2[2] = {rowMax[0] * postScale, rowMax[1] * postScale};
    finishRows<Traits>(params, batch, head, row0, lane, rowSum, rowMaxLog2,
                       keepScale, rowScale);

    auto stageOffset = [&](int r, int c) {
      return (c / 8) * BlockM * 128 + r * 128 + (((c % 8) ^ (r % 8)) * 16);
    };
#pragma unroll
    for (int n = 0; n < HeadDim / 8; ++n)
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        unsigned v = packPair<Element>(o[4 * n + 2 * h] * rowScale[h],
                                       o[4 * n + 2 * h + 1] * rowScale[h]);
        asm volatile("st.shared.u32 [%0], %1;\n" ::"r"(
                         sQ + stageOffset(rowInTile + 8 * h, n) + 4 * t),
                     "r"(v)
                     : "memory");
      }
    XFC_TRACE_BY(traceThread, warpgroup, itemCount, 17, clock64());
    if (tmaStore) {
      // The warpgroup's 64 staged rows leave as HeadDim / 64 TMA boxes
      // (the staging layout is a box's swizzled layout; the map clips rows
      // >= qLen). Once the boxes have been read, the buffer is free for the
      // producer: one thread arrives for the warpgroup's four warps.
      sm90::fenceProxyAsync();
      sm90::namedBarSync(8 + wg, 128);
      XFC_TRACE_BY(traceThread, warpgroup, itemCount, 18, clock64());
      if (ctid == 0) {
#pragma unroll
        for (int c = 0; c < HeadDim / 64; ++c)
          sm90::tmaStore4d(params.tmaO, c * 64, mTile * BlockM + wg * 64, head,
                           batch, sQ + c * BlockM * 128 + wg * 64 * 128);
        sm90::bulkCommit();
        if constexpr (!DeferStoreWait)
          freeStoredQ(qb);
      }
      if constexpr (DeferStoreWait)
        stagedQb = qb;
    } else {
      __syncwarp();

      // Each lane writes one 16-byte chunk column c of rows r0, r0 +
      // RowsPerPass, ...: the address moves by a fixed stride, and a warp
      // whose 16 rows are all below qLen (every one but the last tile's)
      // stores without a predicate per chunk (v13: the epilogue's address
      // arithmetic and branches were 12% of the samples at density 0.05).
      constexpr int RowsPerPass = 32 / RowChunks;
      const int warpRow0 = wg * 64 + warp * 16;
      const int c = lane % RowChunks, r0 = lane / RowChunks;
      const int firstRow = mTile * BlockM + warpRow0;
      Element *out = static_cast<Element *>(params.o) +
                     batch * params.oBatchStride + head * params.oHeadStride +
                     (firstRow + r0) * params.oSeqStride + c * 8;
      const long long passStride = RowsPerPass * params.oSeqStride;
      auto storePass = [&](int pass) {
        const int r = r0 + pass * RowsPerPass;
        Chunk16 chunk;
        asm volatile("ld.shared.v4.u32 {%0, %1, %2, %3}, [%4];\n"
                     : "=r"(chunk.x), "=r"(chunk.y), "=r"(chunk.z),
                       "=r"(chunk.w)
                     : "r"(sQ + stageOffset(warpRow0 + r, c))
                     : "memory");
        *reinterpret_cast<Chunk16 *>(out + pass * passStride) = chunk;
      };
      if (firstRow + 16 <= qLen) {
#pragma unroll
        for (int pass = 0; pass < 16 / RowsPerPass; ++pass)
          storePass(pass);
      } else {
#pragma unroll
        for (int pass = 0; pass < 16 / RowsPerPass; ++pass)
          if (firstRow + r0 + pass * RowsPerPass < qLen)
            storePass(pass);
      }
      // This warp has read its staged rows back: once every consumer warp
      // has, the producer may load the Q of the item after next over them
      // (with TMA, an async-proxy write: the fence orders this thread's
      // generic accesses of the buffer before it).
      sm90::fenceProxyAsync();
      __syncwarp();
      if (lane == 0)
        sm90::mbarArrive(qEmpty(qb));
    }
    XFC_TRACE_BY(traceThread, warpgroup, itemCount, 6, clock64());
    XFC_TRACE_BY(traceThread, warpgroup, itemCount, 7, numTiles);
    XFC_TRACE_BY(traceThread, warpgroup, itemCount, 8, traceLoadWait);
    XFC_TRACE_BY(traceThread, warpgroup, itemCount, 9, traceTurnWait);
    XFC_TRACE_BY(traceThread, warpgroup, itemCount, 11, traceGlobalTime());
    XFC_TRACE_BY(traceThread, warpgroup, itemCount, 12, traceSWait);
    XFC_TRACE_BY(traceThread, warpgroup, itemCount, 13, tracePVWait);
    XFC_TRACE_BY(traceThread, warpgroup, itemCount, 14, traceIssue);
    XFC_TRACE_BY(traceThread, warpgroup, itemCount, 15, traceSoftmax);
    XFC_TRACE_BY(traceThread, warpgroup, itemCount, 16, traceFirstKWait);
    XFC_TRACE_BY(traceThread, warpgroup, itemCount, 19, traceRescale);
    kvBase += numTiles;
    if constexpr (!Persistent)
      break;
  }
  // OpenTurns: the last consumer's last arrive opened a turn of consumer 0
  // that no item took; take it, so that the barrier's phase completes.
  if constexpr (OpenTurns && Consumers > 1) {
    if (turnsOpen && wg == 0)
      sm90::namedBarSync(1, TurnThreads);
  }
  // Output tiles stored with TMA must be written before the CTA ends.
  if (tmaStore && ctid == 0)
    sm90::bulkWait();
#endif
}

} // namespace xfc

#endif // defined(__CUDACC__)

#endif // XFC_FLASH_FWD_SM90_CUH
