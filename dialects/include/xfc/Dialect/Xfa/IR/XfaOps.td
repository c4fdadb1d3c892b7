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

//===----------------------------------------------------------------------===//
// Graph ops: the pieces variants other than softmax attention are built of.
//===----------------------------------------------------------------------===//

def Xfa_GraphTensor : RankedTensorOf<[F16, BF16, F32]>;

def Xfa_ParameterOp : Xfa_Op<"parameter", [Pure]> {
  let summary = "A learned parameter owned by the module";
  let description = [{
    A rank-2 fp32 tensor the module owns (linformer's E and F, favor's
    random features, ...). `init` names how it is initialised, as in the
    published version of the variant: `uniform` draws U(-init_scale,
    init_scale), `normal` draws N(0, init_scale^2); `seed` makes the draw
    reproducible. `orthogonal` and `orthogonal_chi` (favor's random
    features, [Dh, m']) make every block of m' consecutive rows orthonormal
    (Gram-Schmidt of Gaussian rows) and scale the rows by `init_scale`
    (`orthogonal`) or by the norms of independent m'-dimensional Gaussian
    vectors times `init_scale` (`orthogonal_chi`: chi-distributed norms).
    Users may overwrite it from host arrays.

    ```mlir
    %e = xfa.parameter "E" init "uniform" {init_scale = 0.0625 : f64,
                                          seed = 1 : i64} : tensor<64x256xf32>
    ```
  }];
  let arguments = (ins StrAttr:$name, StrAttr:$init, F64Attr:$init_scale,
                       I64Attr:$seed);
  let results = (outs RankedTensorOf<[F32]>:$result);
  let assemblyFormat = "$name `init` $init attr-dict `:` type($result)";
  let hasVerifier = 1;
}

def Xfa_DftMatrixOp : Xfa_Op<"dft_matrix", [Pure]> {
  let summary = "The real or imaginary part of a DFT matrix";
  let description = [{
    The n x n matrix cos(2 pi r c / n) (`part = "cos"`) or -sin(2 pi r c / n)
    (`part = "neg_sin"`), n being dimension `dim` of `source` (known at run
    time only). Kernels generate its entries where they are used, so it is
    never stored.

    ```mlir
    %c = xfa.dft_matrix "cos" of %x dim 2 : tensor<?x?x?x64xf16> -> tensor<?x?xf32>
    ```
  }];
  let arguments = (ins Xfa_GraphTensor:$source, StrAttr:$part, I64Attr:$dim);
  let results = (outs RankedTensorOf<[F32]>:$result);
  let assemblyFormat = [{
    $part `of` $source `dim` $dim attr-dict `:` type($source) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Xfa_MatmulOp : Xfa_Op<"matmul", [Pure]> {
  let summary = "Batched matrix product";
  let description = [{
    `result[b, h] = alpha * op(lhs[b, h]) op(rhs[b, h]) + beta * addend[b, h]`
    where op transposes the last two dimensions when `transpose_lhs` /
    `transpose_rhs` is set. Rank-4 operands are `[batch, heads, rows, cols]`;
    a rank-2 operand is shared by every batch and head. With
    `truncate_lhs`, the lhs may be longer along the contraction than the rhs
    (a parameter sized for the longest sequence): only its first entries are
    used, as if the rhs were zero-padded. The addend may be rank 2 and
    broadcasts along dimensions of size 1 (a bias row).

    ```mlir
    %kp = xfa.matmul %e, %k {truncate_lhs}
        : tensor<64x256xf32>, tensor<?x8x?x64xf16> -> tensor<?x8x64x64xf16>
    ```
  }];
  let arguments = (ins Xfa_GraphTensor:$lhs, Xfa_GraphTensor:$rhs,
                       Optional<Xfa_GraphTensor>:$addend,
                       UnitAttr:$transpose_lhs, UnitAttr:$transpose_rhs,
                       UnitAttr:$truncate_lhs,
                       DefaultValuedAttr<F32Attr, "1.0">:$alpha,
                       DefaultValuedAttr<F32Attr, "0.0">:$beta);
  let results = (outs Xfa_GraphTensor:$result);
  let assemblyFormat = [{
    $lhs `,` $rhs (`add` $addend^ `:` type($addend))? attr-dict `:`
    type($lhs) `,` type($rhs) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Xfa_SoftmaxOp : Xfa_Op<"softmax", [Pure]> {
  let summary = "Softmax over the last dimension";
  let description = [{
    `result[b, h, r, :] = softmax(scale * input[b, h, r, :])`; with `causal`,
    columns c > r + causal_offset are masked out first. A row with nothing
    visible is 0.

    ```mlir
    %p = xfa.softmax %s {scale = 0.125 : f32, causal}
        : tensor<?x8x64x64xf32> -> tensor<?x8x64x64xf32>
    ```
  }];
  let arguments = (ins Xfa_GraphTensor:$input,
                       DefaultValuedAttr<F32Attr, "1.0">:$scale,
                       UnitAttr:$causal,
                       DefaultValuedAttr<I64Attr, "0">:$causal_offset);
  let results = (outs Xfa_GraphTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Landmark ops: nystrom's segment means and pseudo-inverse start, and
// orthoformer's landmark selection.
//===----------------------------------------------------------------------===//

def Xfa_LandmarkPoolOp : Xfa_Op<"landmark_pool", [Pure]> {
  let summary = "Means of num_landmarks contiguous segments of the sequence";
  let description = [{
    Nystrom's landmarks (xFormers' `get_avg_pool`): with S rows, seg = S /
    m and r = S % m, the first m - r landmarks are the means of segments of
    seg rows and the last r the means of segments of seg + 1 rows (all of
    seg rows when r = 0). Needs S >= m; with `require_longer` the run time
    also rejects S == m (nystrom is exact attention there and this plan
    computes the approximation). With m == S it is a conversion to the
    result's element type.

    ```mlir
    %ql = xfa.landmark_pool %q {num_landmarks = 64, require_longer}
        : tensor<?x8x?x64xf16> -> tensor<?x8x64x64xf16>
    ```
  }];
  let arguments = (ins Xfa_GraphTensor:$input, I64Attr:$num_landmarks,
                       UnitAttr:$require_longer);
  let results = (outs Xfa_GraphTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def Xfa_PinvInitOp : Xfa_Op<"pinv_init", [Pure]> {
  let summary = "Start of the iterative pseudo-inverse: K^T / max column sum";
  let description = [{
    `result[b, h] = input[b, h]^T / c` where c is the largest column sum of
    `input[b, h]` (xFormers' default) or, with `global`, of every batch and
    head together (`pinverse_original_init`). The start Z0 of the Razavi
    iteration Z <- Z (13 I - K Z (15 I - K Z (7 I - K Z))) / 4.

    ```mlir
    %z = xfa.pinv_init %k2 : tensor<?x8x64x64xf32> -> tensor<?x8x64x64xf32>
    ```
  }];
  let arguments = (ins RankedTensorOf<[F32]>:$input, UnitAttr:$global);
  let results = (outs RankedTensorOf<[F32]>:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def Xfa_LandmarkSelectOp : Xfa_Op<"landmark_select", [Pure]> {
  let summary = "Orthoformer's landmarks, chosen from the queries";
  let description = [{
    m = `num_landmarks` rows per batch and head, chosen as xFormers'
    orthoformer does from N sampled queries (N = S, or max(floor(S *
    subsample_fraction), m) drawn with replacement when the fraction is
    below 1): `orthogonal` greedily adds the sample of smallest largest
    |cosine| to those chosen (starting from a random one) and returns the
    chosen queries; `kmeans` and `kmeans_spherical` run 6 Lloyd iterations
    (on normalized samples for the spherical form, whose centroids are
    renormalized) from m distinct random samples; `random` takes m / 2
    random queries and m / 2 random keys (2 * (m / 2) rows). The draws are
    deterministic functions of `seed`. Needs S > m at run time.

    ```mlir
    %l = xfa.landmark_select %q, %k {selection = "orthogonal",
        num_landmarks = 32, subsample_fraction = 1.0, seed = 0}
        : tensor<?x8x?x64xf16>, tensor<?x8x?x64xf16> -> tensor<?x8x32x64xf16>
    ```
  }];
  let arguments = (ins Xfa_GraphTensor:$query, Xfa_GraphTensor:$key,
                       StrAttr:$selection, I64Attr:$num_landmarks,
                       F64Attr:$subsample_fraction, I64Attr:$seed);
  let results = (outs Xfa_GraphTensor:$result);
  let assemblyFormat = [{
    $query `,` $key attr-dict `:` type($query) `,` type($key) `->`
    type($result)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// Rows of the result: num_landmarks, or 2 * (num_landmarks / 2) for
    /// "random" (half from the queries, half from the keys).
    int64_t getNumRows();
  }];
}

def Xfa_SequenceConvOp : Xfa_Op<"sequence_conv", [Pure]> {
  let summary = "Per-head convolution along the sequence, plus an addend";
  let description = [{
    `result[b, h, s, d] = addend[b, h, s, d] + sum_t weight[h, t] *
    input[b, h, s + t - ks / 2, d]` (zero outside the sequence), ks = the
    weight's (odd) column count: nystrom's skip connection, xFormers'
    depthwise `Conv2d(H, H, (ks, 1), padding=(ks // 2, 0), groups=H,
    bias=False)` on V.

    ```mlir
    %o = xfa.sequence_conv %v, %w add %x : tensor<?x4x?x64xf16>
        : tensor<?x4x?x64xf16>, tensor<4x33xf32> -> tensor<?x4x?x64xf16>
    ```
  }];
  let arguments = (ins Xfa_GraphTensor:$input, RankedTensorOf<[F32]>:$weight,
                       Optional<Xfa_GraphTensor>:$addend);
  let results = (outs Xfa_GraphTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight (`add` $addend^ `:` type($addend))? attr-dict `:`
    type($input) `,` type($weight) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Xfa_RegroupHeadsOp : Xfa_Op<"regroup_heads", [Pure]> {
  let summary = "Split the features into heads, or merge heads into features";
  let description = [{
    With `split`: `result[b, h, s, d] = input[b, 0, s, h * D + d]`
    (`[B, 1, S, H*D]` to `[B, H, S, D]`); without: the reverse. For variants
    that own their projections (compositional).

    ```mlir
    %h = xfa.regroup_heads %x {split} : tensor<?x1x?x64xf32> -> tensor<?x4x?x16xf32>
    ```
  }];
  let arguments = (ins Xfa_GraphTensor:$input, UnitAttr:$split);
  let results = (outs Xfa_GraphTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def Xfa_SelectRulesOp : Xfa_Op<"select_rules", [Pure]> {
  let summary = "Compositional attention's soft selection among retrievals";
  let description = [{
    `retrievals` is `[B, H*R, S, Dv]` (search h, rule r at head h*R + r),
    `selection` the selection queries `[B, H, S, Dsel]`. Per (b, h, s) a
    score is computed for every rule, `mode` saying how (xFormers'
    CompositionalAttention): `"linear"` w . [O_r; Q] + b (weights: w
    `[1, Dv+Dsel]`, b `[1, 1]`); `"mlp"` w2 . relu(W1 [O_r; Q] + b1) + b2
    (W1 `[Dsel, Dv+Dsel]`, b1 `[1, Dsel]`, w2 `[1, Dsel]`, b2 `[1, 1]`);
    `"qk"` alpha * Q . (Wk O_r + bk) (Wk `[Dsel, Dv]`, bk `[1, Dsel]`).
    Biases are absent without `bias`. The result `[B, H, S, Dv]` is
    `sum_r softmax_r(score_r) O_r`.
  }];
  let arguments = (ins RankedTensorOf<[F32]>:$retrievals,
                       RankedTensorOf<[F32]>:$selection,
                       Variadic<RankedTensorOf<[F32]>>:$weights,
                       StrAttr:$mode, I64Attr:$rules, UnitAttr:$bias,
                       DefaultValuedAttr<F32Attr, "1.0">:$alpha);
  let results = (outs Xfa_GraphTensor:$result);
  let assemblyFormat = [{
    $retrievals `,` $selection `weights` `(` $weights `)` attr-dict `:`
    type($retrievals) `,` type($selection) `,` type($weights) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Xfa_RetrieveOp : Xfa_Op<"retrieve", [Pure]> {
  let summary = "Every search's weights applied to every rule's values";
  let description = [{
    Compositional attention's retrieval: `result[b, h*R + r] =
    weights[b, h] values[b, r]` for the H searches of `weights`
    `[B, H, Sq, Sk]` and the R rules of `values` `[B, R, Sk, Dv]`, giving
    `[B, H*R, Sq, Dv]`. Runs as the matmul template with outer heads.
  }];
  let arguments = (ins Xfa_GraphTensor:$weights, Xfa_GraphTensor:$values);
  let results = (outs Xfa_GraphTensor:$result);
  let assemblyFormat = [{
    $weights `,` $values attr-dict `:` type($weights) `,` type($values) `->`
    type($result)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Favor (Performer) and lambda ops: random-feature maps, sequence sums, the
// causal prefix-sum scan, and lambda's sequence softmax and relative-position
// term.
//===----------------------------------------------------------------------===//

def Xfa_FeatureMapOp : Xfa_Op<"feature_map", [Pure]> {
  let summary = "Performer's positive random features of a sequence";
  let description = [{
    With x_s = `scale` * x (scale = Dh^-1/4) and
    off = -||x_s||^2 / 2 + `offset` (offset = -log sqrt(m) + 1e-6), for
    the projections p = x_s W (`features` W is [Dh, m']):
    `kind = "sm_reg"` and `"sm_hyp"` give [exp(p + off), exp(-p + off)]
    (m = 2 m' features), `"sm_orf"` gives exp(p + off) (m = m'). Computed
    and returned in fp32, as xFormers does for 16-bit inputs.

    ```mlir
    %qp = xfa.feature_map %q, %w {kind = "sm_reg", scale = 0.3535 : f32,
                                  offset = -3.05 : f32}
        : tensor<?x8x?x64xf16>, tensor<64x224xf32> -> tensor<?x8x?x448xf32>
    ```
  }];
  let arguments = (ins Xfa_GraphTensor:$input, RankedTensorOf<[F32]>:$features,
                       StrAttr:$kind, F32Attr:$scale, F32Attr:$offset);
  let results = (outs RankedTensorOf<[F32]>:$result);
  let assemblyFormat = [{
    $input `,` $features attr-dict `:` type($input) `,` type($features) `->`
    type($result)
  }];
  let hasVerifier = 1;
}

def Xfa_SumRowsOp : Xfa_Op<"sum_rows", [Pure]> {
  let summary = "Sum over the sequence (rows) of every batch and head";
  let description = [{
    `result[b, h, 0, c] = sum_r input[b, h, r, c]`, in fp32 (favor's
    normaliser phi(K)^T 1).

    ```mlir
    %z = xfa.sum_rows %kp : tensor<?x8x?x448xf32> -> tensor<?x8x1x448xf32>
    ```
  }];
  let arguments = (ins Xfa_GraphTensor:$input);
  let results = (outs RankedTensorOf<[F32]>:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def Xfa_LinearNormalizeOp : Xfa_Op<"linear_normalize", [Pure]> {
  let summary = "Linear attention's normalisation";
  let description = [{
    `result[b, h, r, :] = numerator[b, h, r, :] / (qfeatures[b, h, r, :] .
    ksum[b, h, 0, :])`: favor's phi(Q)(phi(K)^T V) / phi(Q)(phi(K)^T 1),
    the numerator and the key sums computed before.

    ```mlir
    %o = xfa.linear_normalize %num, %qp, %z
        : tensor<?x8x?x64xf32>, tensor<?x8x?x448xf32>, tensor<?x8x1x448xf32>
          -> tensor<?x8x?x64xf16>
    ```
  }];
  let arguments = (ins RankedTensorOf<[F32]>:$numerator,
                       RankedTensorOf<[F32]>:$qfeatures,
                       RankedTensorOf<[F32]>:$ksum);
  let results = (outs Xfa_GraphTensor:$result);
  let assemblyFormat = [{
    $numerator `,` $qfeatures `,` $ksum attr-dict `:` type($numerator) `,`
    type($qfeatures) `,` type($ksum) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Xfa_CausalLinearAttentionOp : Xfa_Op<"causal_linear_attention", [Pure]> {
  let summary = "Causal linear attention by prefix sums over the sequence";
  let description = [{
    `result[b, h, i] = qf_i (sum_{j <= i} kf_j v_j^T) / (qf_i . sum_{j <= i}
    kf_j)` with qf, kf the query and key features (fp32) and v the values:
    a scan along the sequence that never forms the S x S matrix (favor's
    causal form; xFormers sums over the features instead). Needs
    q_len == kv_len at run time.

    ```mlir
    %o = xfa.causal_linear_attention %qp, %kp, %v
        : tensor<?x8x?x448xf32>, tensor<?x8x?x448xf32>, tensor<?x8x?x64xf16>
          -> tensor<?x8x?x64xf16>
    ```
  }];
  let arguments = (ins RankedTensorOf<[F32]>:$qfeatures,
                       RankedTensorOf<[F32]>:$kfeatures,
                       Xfa_GraphTensor:$value);
  let results = (outs Xfa_GraphTensor:$result);
  let assemblyFormat = [{
    $qfeatures `,` $kfeatures `,` $value attr-dict `:` type($qfeatures) `,`
    type($kfeatures) `,` type($value) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Xfa_SequenceSoftmaxOp : Xfa_Op<"sequence_softmax", [Pure]> {
  let summary = "Softmax over the sequence (dimension 2), per column";
  let description = [{
    `result[b, h, :, c] = softmax(input[b, h, :, c])`: the normalised keys
    of lambda's content lambda softmax_S(K)^T V (the LambdaNetworks paper;
    xFormers normalises over the features instead). fp32 result.

    ```mlir
    %ks = xfa.sequence_softmax %k : tensor<?x8x?x64xf16> -> tensor<?x8x?x64xf32>
    ```
  }];
  let arguments = (ins Xfa_GraphTensor:$input);
  let results = (outs RankedTensorOf<[F32]>:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def Xfa_LambdaPositionOp : Xfa_Op<"lambda_position", [Pure]> {
  let summary = "Lambda's relative-position term";
  let description = [{
    `result[b, h, n] = addend[b, h, n] + sum_m (q[b, h, n] .
    E[m - n + L - 1]) v[b, h, m]` with the learned relative embeddings
    `embeddings` E of [2L - 1, Dh] (L = the config's seq_len): the position
    lambdas of the LambdaNetworks paper, O(S^2 Dh) without storing S x S.
    Needs S <= L and q_len == kv_len at run time.

    ```mlir
    %o = xfa.lambda_position %q, %v, %e add %yc
        : tensor<?x8x?x64xf16>, tensor<?x8x?x64xf16>, tensor<511x64xf32>,
          tensor<?x8x?x64xf32> -> tensor<?x8x?x64xf16>
    ```
  }];
  let arguments = (ins Xfa_GraphTensor:$query, Xfa_GraphTensor:$value,
                       RankedTensorOf<[F32]>:$embeddings,
                       RankedTensorOf<[F32]>:$addend);
  let results = (outs Xfa_GraphTensor:$result);
  let assemblyFormat = [{
    $query `,` $value `,` $embeddings `add` $addend attr-dict `:`
    type($query) `,` type($value) `,` type($embeddings) `,` type($addend)
    `->` type($result)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Token-grid ops: pooling and visual read the sequence as a square grid.
//===----------------------------------------------------------------------===//

def Xfa_GridPoolOp : Xfa_Op<"grid_pool", [Pure]> {
  let summary = "Average pooling over the square token grid, plus beta * input";
  let description = [{
    The sequence (dimension 2) of every batch and head is read as a square
    H x H grid, token t at row t / H, column t % H (S = H * H, checked at run
    time). Each feature (dimension 3) is pooled on its own:
    `result = AvgPool2d(pool_size, stride 1, padding pool_size // 2,
    count_include_pad = False)(input) + beta * input`: the mean of the
    window's positions inside the grid. PoolFormer's token mixer is
    `beta = -1`. `pool_size` is odd, so the result has the input's shape.

    ```mlir
    %p = xfa.grid_pool %q {pool_size = 3 : i64, beta = -1.0 : f32}
        : tensor<?x?x?x64xf16> -> tensor<?x?x?x64xf16>
    ```
  }];
  let arguments = (ins Xfa_GraphTensor:$input, I64Attr:$pool_size,
                       DefaultValuedAttr<F32Attr, "0.0">:$beta);
  let results = (outs Xfa_GraphTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def Xfa_DepthwiseConv2dOp : Xfa_Op<"depthwise_conv2d", [Pure]> {
  let summary = "Depthwise 2-D convolution over the square token grid";
  let description = [{
    The sequence is read as a square H x H grid (see `xfa.grid_pool`) and
    every feature c is convolved with its own `kernel_size` x
    `kernel_size` filter, dilated by `dilation`, stride 1 and zero padding
    `dilation * (kernel_size - 1) / 2` (the result keeps the grid):
    `result[b, h, (y, x), c] = bias[0, c] + sum_{i, j} weight[c, i * k + j]
    * input[b, h, (y - p + i * dilation, x - p + j * dilation), c]`, as
    torch's `Conv2d(C, C, k, padding = p, dilation = d, groups = C)` with
    its weight `[C, 1, k, k]` stored as `[C, k * k]` and its bias as `[1, C]`.

    ```mlir
    %y = xfa.depthwise_conv2d %x, %w, %b {kernel_size = 7 : i64, dilation = 3 : i64}
        : tensor<?x1x?x64xf32>, tensor<64x49xf32>, tensor<1x64xf32> -> tensor<?x1x?x64xf32>
    ```
  }];
  let arguments = (ins Xfa_GraphTensor:$input, RankedTensorOf<[F32]>:$weight,
                       RankedTensorOf<[F32]>:$bias, I64Attr:$kernel_size,
                       DefaultValuedAttr<I64Attr, "1">:$dilation);
  let results = (outs Xfa_GraphTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight `,` $bias attr-dict `:` type($input) `,` type($weight)
    `,` type($bias) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Xfa_ElementwiseOp : Xfa_Op<"elementwise", [Pure, AttrSizedOperandSegments]> {
  let summary = "An element-wise function of a tensor (plus a channel bias)";
  let description = [{
    With `a = lhs + bias` (`bias` an optional `[1, C]` row added to every
    row of `lhs`, as a 1x1 convolution's bias):
    `kind = "gelu"`: `result = a * (1 + erf(a / sqrt(2))) / 2` (torch's
    exact GELU; no `rhs`); `"mul"`: `result = a * rhs`; `"add"`:
    `result = a + rhs` (`rhs` of the result's shape).

    ```mlir
    %u = xfa.elementwise "gelu" %t bias %b : tensor<1x64xf32>
        : tensor<?x1x?x64xf32> -> tensor<?x1x?x64xf32>
    %o = xfa.elementwise "add" %t, %q : tensor<?x1x?x64xf16>
        : tensor<?x1x?x64xf32> -> tensor<?x1x?x64xf16>
    ```
  }];
  let arguments = (ins StrAttr:$kind, Xfa_GraphTensor:$lhs,
                       Optional<Xfa_GraphTensor>:$rhs,
                       Optional<RankedTensorOf<[F32]>>:$bias);
  let results = (outs Xfa_GraphTensor:$result);
  let assemblyFormat = [{
    $kind $lhs (`,` $rhs^ `:` type($rhs))? (`bias` $bias^ `:` type($bias))?
    attr-dict `:` type($lhs) `->` type($result)
  }];
  let hasVerifier = 1;
}

#endif // XFC_DIALECT_XFA_IR_XFAOPS_TD
