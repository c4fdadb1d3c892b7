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
constexpr int kParamsVersion = 2;

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
};

} // namespace xfc

#endif // XFC_ATTENTION_PARAMS_H
