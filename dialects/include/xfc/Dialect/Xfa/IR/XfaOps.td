//===- XfaOps.td - xfa operations --------------------------*- tablegen -*-===//

#ifndef XFC_DIALECT_XFA_IR_XFAOPS_TD
#define XFC_DIALECT_XFA_IR_XFAOPS_TD

include "xfc/Dialect/Xfa/IR/XfaDialect.td"
include "xfc/Dialect/Xfa/IR/XfaAttrs.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/IR/CommonAttrConstraints.td"

def Xfa_AttentionElement : AnyTypeOf<[F16, BF16, F32]>;
def Xfa_AttentionTensor : RankedTensorOf<[F16, BF16, F32], [HasAnyRankOfPred<[4]>]>;

def Xfa_AttentionOp : Xfa_Op<"attention", [Pure, AttrSizedOperandSegments]> {
  let summary = "Softmax attention under a composed mask";
  let description = [{
    `result[b, h, i] = sum_j softmax_j(scale * q[b,h,i] . k[b,h,j] + m[b,h,i,j]) v[b,h,j]`
    where `m` is 0 for visible elements and `-inf` for hidden ones according
    to `mask` (plus the additive `attn_mask` operand when present). Dropout
    with probability `dropout` is applied to the normalized weights. Tensors
    are `[batch, heads, seq, head_dim]`; `attn_mask` is `[q_len, kv_len]` f32
    and `key_padding` `[batch, kv_len]` i1 (true = padding).

    `sparsity` replaces `mask.layout` after `xfa-specialize-sparsity`, and
    `kernel_config` is set by `xfa-select-kernel-config`.

    ```mlir
    %o = xfa.attention %q, %k, %v {mask = #xfa.mask<causal = true>,
                                   scale = 0.125 : f32, dropout = 0.0 : f32}
        : tensor<?x16x?x64xbf16>, tensor<?x16x?x64xbf16>,
          tensor<?x16x?x64xbf16> -> tensor<?x16x?x64xbf16>
    ```
  }];
  let arguments = (ins Xfa_AttentionTensor:$query, Xfa_AttentionTensor:$key,
                       Xfa_AttentionTensor:$value,
                       Optional<RankedTensorOf<[F32]>>:$attnMask,
                       Optional<RankedTensorOf<[I1]>>:$keyPadding,
                       Xfa_MaskAttr:$mask, F32Attr:$scale,
                       DefaultValuedAttr<F32Attr, "0.0">:$dropout,
                       OptionalAttr<Xfa_BlockCsrAttr>:$sparsity,
                       OptionalAttr<Xfa_KernelConfigAttr>:$kernel_config);
  let results = (outs Xfa_AttentionTensor:$result);
  let assemblyFormat = [{
    $query `,` $key `,` $value
    (`attn_mask` $attnMask^ `:` type($attnMask))?
    (`key_padding` $keyPadding^ `:` type($keyPadding))?
    attr-dict `:` type($query) `,` type($key) `,` type($value) `->` type($result)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    mlir::RankedTensorType getQueryType() { return getQuery().getType(); }
    /// Head dimension of queries and keys.
    int64_t getHeadDim() { return getQueryType().getDimSize(3); }
    /// Number of heads, or ShapedType::kDynamic.
    int64_t getNumHeads() { return getQueryType().getDimSize(1); }
    mlir::Type getElementType() { return getQueryType().getElementType(); }
  }];
}

#endif // XFC_DIALECT_XFA_IR_XFAOPS_TD
