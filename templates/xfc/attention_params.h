//===- attention_params.h - Kernel parameters shared by host and device ---===//
//
// The one struct every xfc attention kernel takes by value. It is plain data so
// that the host runtime (C++), the test harnesses (ctypes) and the
// NVRTC-compiled kernels agree on its layout byte for byte. Keep fields 8-byte
// aligned and only append: the runtime and the manifests record
// `kParamsVersion`.
//
//===----------------------------------------------------------------------===//

#ifndef XFC_ATTENTION_PARAMS_H
#define XFC_ATTENTION_PARAMS_H

namespace xfc {

/// Bumped whenever the layout of AttentionParams changes.
constexpr int kParamsVersion = 5;

/// Arguments of one attention launch. Tensors are [batch, heads, seq, head_dim]
/// with the last dimension contiguous; strides are in elements, not bytes, so
/// FairSeq's [T, B, C] layout is expressed without copies.
struct AttentionParams {
  const void *q;
  const void *k;
  const void *v;
  void *o;

  long long qBatchStride, qHeadStride, qSeqStride;
  long long kBatchStride, kHeadStride, kSeqStride;
  long long vBatchStride, vHeadStride, vSeqStride;
  long long oBatchStride, oHeadStride, oSeqStride;

  int batch;
  int heads;
  int qLen;
  int kvLen;

  /// softmax scale times log2(e): kernels use exp2.
  float scaleLog2;
  /// Probability of dropping an attention weight (0 disables dropout).
  float dropoutP;
  unsigned long long dropoutSeed;
  unsigned long long dropoutOffset;

  /// Optional additive fp32 mask, element [b, h, i, j] at
  /// b*attnMaskBatchStride + h*attnMaskHeadStride + i*attnMaskRowStride + j.
  /// Zero strides broadcast. -inf masks an element.
  const float *attnMask;
  long long attnMaskBatchStride, attnMaskHeadStride, attnMaskRowStride;

  /// Optional key padding mask, byte [b, j] at b*keyPaddingBatchStride + j;
  /// nonzero means the key is padding and is never attended.
  const unsigned char *keyPadding;
  long long keyPaddingBatchStride;

  /// Optional log-sum-exp output (natural log) [batch, heads, qLen], fp32,
  /// contiguous. -inf for a row that attends to nothing.
  float *lse;

  /// Persistent launch (kernels that support it: the sm_90a wgmma kernel):
  /// when > 0, only the first persistentCtas CTAs work, each taking the work
  /// items (query tile, head, batch entry) CTA, CTA + persistentCtas, ...;
  /// launchers set it to the CTAs that fit on the device at once. 0: every
  /// CTA of the grid takes items with the grid's CTA count as the stride
  /// (one each for the usual (q tiles, heads, batch) grid). Other kernels
  /// ignore it.
  int persistentCtas;

  /// Nonzero when tmaQ, tmaK and tmaV hold TMA tensor maps (CUtensorMap) of
  /// q, k and v for the kernel's tiles; the sm_90a wgmma kernel then loads
  /// its tiles with cp.async.bulk.tensor, otherwise (0, or other kernels)
  /// with per-thread cp.async. Launchers encode them (cuTensorMapEncodeTiled:
  /// dims {headDim, seq, heads, batch}, box {64, BlockM or BlockN, 1, 1},
  /// 128-byte swizzle) and leave 0 where encoding fails (strides that are
  /// not multiples of 16 bytes, unaligned pointers).
  int tmaLoads;
  /// Nonzero when tmaO holds a tensor map of o (dims as q's, box {64, 64,
  /// 1, 1}: one consumer warpgroup's rows of one 128-byte column block);
  /// the sm_90a wgmma kernel then stores its output tiles with
  /// cp.async.bulk.tensor (rows >= qLen clipped by the map), otherwise with
  /// per-thread stores.
  int tmaStores;
  /// Tensor maps are 128 bytes, 64-byte aligned; the kernel reads them in
  /// place (its parameter is __grid_constant__).
  alignas(64) unsigned char tmaQ[128];
  alignas(64) unsigned char tmaK[128];
  alignas(64) unsigned char tmaV[128];
  alignas(64) unsigned char tmaO[128];

  /// Optional (kernels with persistent launches: the sm_90a wgmma kernel):
  /// two ints in device memory, zero before the launch, that a persistent
  /// launch hands out work items with (atomicAdd), so that CTAs take the
  /// next item as they finish one; the last CTA zeroes them again. One
  /// pair must not serve two launches at once (e.g. per stream). Null: the
  /// items are split statically, and only balanced ones (dense non-causal,
  /// block-sparse without heavy rows) run persistent.
  int *workCounter;
};

static_assert(sizeof(AttentionParams) == 832,
              "AttentionParams layout changed: bump kParamsVersion and update "
              "the harness mirror (test/gpu/harness/cubin_runner.py)");

} // namespace xfc

#endif // XFC_ATTENTION_PARAMS_H
