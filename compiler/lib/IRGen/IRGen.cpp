//===- IRGen.cpp - Attention variants to xfa IR ---------------------------===//

#include "xfc/IRGen/IRGen.h"

#include "xfc/Dialect/Xfa/IR/Xfa.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Verifier.h"

#include <cmath>

using namespace mlir;
using namespace xfc;

namespace {

class IRGenImpl {
public:
  IRGenImpl(MLIRContext &context, const AttentionSpec &spec)
      : builder(&context), spec(spec) {}

  OwningOpRef<ModuleOp> build() {
    OwningOpRef<ModuleOp> module = ModuleOp::create(spec.configLoc);
    (*module)->setAttr("xfc.target", builder.getStringAttr(spec.arch));
    builder.setInsertionPointToEnd(module->getBody());

    FailureOr<Type> element = getElementType();
    if (failed(element))
      return nullptr;

    LogicalResult built = failure();
    if (spec.variant == "scaled_dot_product" || spec.variant == "blocksparse" ||
        spec.variant == "local" || spec.variant == "random" ||
        spec.variant == "global")
      built = buildSoftmaxAttention(*element);
    else if (spec.variant == "linformer")
      built = buildLinformer(*element);
    else if (spec.variant == "fourier_mix")
      built = buildFourierMix(*element);
    else if (spec.variant == "pooling")
      built = buildPooling(*element);
    else if (spec.variant == "visual")
      built = buildVisual(*element);
    else if (spec.variant == "nystrom")
      built = buildNystrom(*element);
    else if (spec.variant == "orthoformer")
      built = buildOrthoformer(*element);
    else if (spec.variant == "compositional")
      built = buildCompositional(*element);
    else if (spec.variant == "favor")
      built = buildFavor(*element);
    else if (spec.variant == "lambda")
      built = buildLambda(*element);
    else
      emitError(spec.configLoc)
          << "variant '" << spec.variant
          << "' is recognised but has no lowering yet; supported: "
             "scaled_dot_product, blocksparse, local, linformer, fourier_mix, "
             "compositional";
    if (failed(built) || failed(verify(*module)))
      return nullptr;
    return module;
  }

private:
  FailureOr<Type> getElementType() {
    if (spec.dtype == "fp16")
      return Type(builder.getF16Type());
    if (spec.dtype == "bf16")
      return Type(builder.getBF16Type());
    if (spec.dtype == "fp32")
      return Type(builder.getF32Type());
    return emitError(spec.configLoc)
           << "dtype: expected one of fp16, bf16, fp32, got '" << spec.dtype
           << "'";
  }

  static int64_t sizeOrDynamic(std::optional<int64_t> size) {
    return size ? *size : ShapedType::kDynamic;
  }

  /// random_threshold of a rate r in (0, 1]: ceil(r * 2^32), at least 1,
  /// so that a pair is kept when the top 32 bits of its hash are below it.
  static int64_t getRandomThreshold(double rate) {
    double scaled = std::ceil(rate * 4294967296.0);
    if (!(scaled >= 1.0))
      return 1;
    return scaled >= 4294967296.0 ? xfa::MaskAttr::kRandomAll
                                  : static_cast<int64_t>(scaled);
  }

  /// softmax(QK^T * scale + M) V with M from causality, a block layout, a
  /// sliding window, a random pattern, global tokens and run-time masks:
  /// scaled_dot_product, blocksparse, local, random and global share this
  /// graph (one xfa.attention whose #xfa.mask composes them).
  LogicalResult buildSoftmaxAttention(Type element) {
    if (spec.variant == "global" && !spec.seqLen)
      return emitError(spec.layoutLoc)
             << "global: the sequence length is fixed by "
                "attention_query_mask; with a list of token indices give "
                "seq_len (or --seq-len)";
    if (spec.variant == "random" &&
        !(spec.randomRate > 0.0 && spec.randomRate <= 1.0))
      return emitError(spec.configLoc)
             << "random.r: expected a number in (0, 1], got "
             << spec.randomRate;
    int64_t heads = sizeOrDynamic(spec.numHeads);
    int64_t qLen = sizeOrDynamic(spec.seqLen);
    int64_t kvLen = sizeOrDynamic(spec.kvSeqLen ? spec.kvSeqLen : spec.seqLen);
    auto qType = RankedTensorType::get(
        {ShapedType::kDynamic, heads, qLen, spec.headDim}, element);
    auto kvType = RankedTensorType::get(
        {ShapedType::kDynamic, heads, kvLen, spec.headDim}, element);

    SmallVector<Type> inputs = {qType, kvType, kvType};
    RankedTensorType attnMaskType, keyPaddingType;
    if (spec.attnMask) {
      attnMaskType = RankedTensorType::get({qLen, kvLen}, builder.getF32Type());
      inputs.push_back(attnMaskType);
    }
    if (spec.keyPadding) {
      keyPaddingType = RankedTensorType::get({ShapedType::kDynamic, kvLen},
                                             builder.getI1Type());
      inputs.push_back(keyPaddingType);
    }
    auto func = builder.create<func::FuncOp>(
        spec.configLoc, "attention", builder.getFunctionType(inputs, {qType}));
    Block *body = func.addEntryBlock();
    OpBuilder::InsertionGuard guard(builder);
    builder.setInsertionPointToStart(body);

    xfa::BlockLayoutAttr layout;
    if (spec.layout) {
      const AttentionSpec::Layout &l = *spec.layout;
      if (static_cast<int64_t>(l.bits.size()) !=
          l.heads * l.numBlocks * l.numBlocks)
        return emitError(spec.layoutLoc)
               << "layout: expected " << l.heads * l.numBlocks * l.numBlocks
               << " bits, got " << l.bits.size();
      auto bitsType = RankedTensorType::get({l.heads, l.numBlocks, l.numBlocks},
                                            builder.getI8Type());
      SmallVector<int8_t> bits(l.bits.begin(), l.bits.end());
      auto bitsAttr = DenseIntElementsAttr::get(bitsType, ArrayRef(bits));
      layout = xfa::BlockLayoutAttr::getChecked(
          [&] { return emitError(spec.layoutLoc); }, builder.getContext(),
          l.blockSize, bitsAttr);
      if (!layout)
        return failure();
    } else if (spec.variant == "blocksparse") {
      return emitError(spec.configLoc)
             << "blocksparse: missing required field 'layout'";
    }

    int64_t randomThreshold =
        spec.randomRate > 0.0 ? getRandomThreshold(spec.randomRate) : 0;
    DenseI32ArrayAttr globalTokens;
    if (!spec.globalTokens.empty()) {
      SmallVector<int32_t> tokens;
      for (int64_t token : spec.globalTokens) {
        if (token < 0 || token >= *spec.seqLen)
          return emitError(spec.layoutLoc)
                 << "attention_query_mask: token index " << token
                 << " is out of range for seq_len " << *spec.seqLen;
        tokens.push_back(static_cast<int32_t>(token));
      }
      globalTokens = builder.getDenseI32ArrayAttr(tokens);
    }
    auto mask = xfa::MaskAttr::getChecked(
        [&] { return emitError(spec.configLoc); }, builder.getContext(),
        spec.causal, layout, spec.attnMask, spec.keyPadding, spec.windowLeft,
        spec.windowRight, randomThreshold,
        randomThreshold ? spec.randomSeed : 0,
        randomThreshold ? spec.randomPerCall : false, globalTokens);
    if (!mask)
      return failure();
    float scale = 1.0f / std::sqrt(static_cast<float>(spec.headDim));
    Value attnMask = spec.attnMask ? body->getArgument(3) : Value();
    Value keyPadding =
        spec.keyPadding ? body->getArgument(spec.attnMask ? 4 : 3) : Value();
    Location opLoc =
        spec.layout || globalTokens ? spec.layoutLoc : spec.configLoc;
    auto attention = builder.create<xfa::AttentionOp>(
        opLoc, qType, body->getArgument(0), body->getArgument(1),
        body->getArgument(2), attnMask, keyPadding, mask,
        builder.getF32FloatAttr(scale),
        builder.getF32FloatAttr(static_cast<float>(spec.dropout)),
        /*sparsity=*/nullptr, /*kernel_config=*/nullptr);
    builder.create<func::ReturnOp>(spec.configLoc, attention.getResult());
    return success();
  }

  /// The graph variants take query, key and value only: the masks of
  /// softmax attention have no meaning for them.
  LogicalResult checkNoRunTimeMasks() {
    if (spec.attnMask)
      return emitError(spec.configLoc)
             << spec.variant << ": takes no attn_mask (as in xFormers)";
    if (spec.keyPadding)
      return emitError(spec.configLoc)
             << spec.variant << ": takes no key_padding_mask (as in xFormers)";
    return success();
  }

  /// func.func @attention(q, k, v) -> out, all [batch, heads, ?, head_dim];
  /// the builder is left at the start of its body.
  Block *beginGraphFunction(Type element, RankedTensorType &qkvType) {
    qkvType = RankedTensorType::get({ShapedType::kDynamic,
                                     sizeOrDynamic(spec.numHeads),
                                     ShapedType::kDynamic, spec.headDim},
                                    element);
    return beginFunction(qkvType);
  }

  /// func.func @attention(q, k, v) -> out, all of `type`; the builder is
  /// left at the start of its body.
  Block *beginFunction(RankedTensorType type) {
    auto func = builder.create<func::FuncOp>(
        spec.configLoc, "attention",
        builder.getFunctionType({type, type, type}, {type}));
    Block *body = func.addEntryBlock();
    builder.setInsertionPointToStart(body);
    return body;
  }

  int64_t getInt(const char *name, int64_t fallback) const {
    auto it = spec.intFields.find(name);
    return it == spec.intFields.end() ? fallback : it->second;
  }

  bool getBool(const char *name, bool fallback) const {
    auto it = spec.boolFields.find(name);
    return it == spec.boolFields.end() ? fallback : it->second;
  }

  /// The flags of createMatmul.
  enum MatmulFlags : unsigned {
    kTransposeLhs = 1,
    kTransposeRhs = 2,
    kTruncateLhs = 4,
  };

  /// `alpha * op(lhs) op(rhs) + beta * addend` (xfa.matmul).
  Value createMatmul(Location loc, RankedTensorType type, Value lhs, Value rhs,
                     unsigned flags = 0, Value addend = Value(),
                     float alpha = 1.0f, float beta = 0.0f) {
    auto unit = [&](unsigned flag) {
      return flags & flag ? builder.getUnitAttr() : UnitAttr();
    };
    return builder
        .create<xfa::MatmulOp>(loc, type, lhs, rhs, addend, unit(kTransposeLhs),
                               unit(kTransposeRhs), unit(kTruncateLhs),
                               builder.getF32FloatAttr(alpha),
                               builder.getF32FloatAttr(beta))
        .getResult();
  }

  /// A learned fp32 [rows, cols] parameter (xfa.parameter).
  Value createParameter(Location loc, StringRef name, int64_t rows,
                        int64_t cols, StringRef init, double scale,
                        int64_t seed) {
    return builder.create<xfa::ParameterOp>(
        loc, RankedTensorType::get({rows, cols}, builder.getF32Type()),
        builder.getStringAttr(name), builder.getStringAttr(init),
        builder.getF64FloatAttr(scale), builder.getI64IntegerAttr(seed));
  }

  /// Linformer: K' = E K and V' = F V project the sequence to k rows with
  /// learned E, F in R^{k x seq_len} shared by all heads (initialised like
  /// torch's nn.Linear(seq_len, k): U(-1/sqrt(seq_len), 1/sqrt(seq_len))),
  /// then softmax(Q K'^T / sqrt(Dh)) V'. Shorter sequences use the first
  /// columns of E and F, as xFormers' zero padding does.
  LogicalResult buildLinformer(Type element) {
    if (failed(checkNoRunTimeMasks()))
      return failure();
    int64_t maxLen = getInt("seq_len", spec.seqLen.value_or(0));
    if (maxLen < 1)
      return emitError(spec.configLoc)
             << "linformer: missing required field 'seq_len'";
    int64_t k = getInt("k", std::max<int64_t>(1, maxLen / 4));
    if (k < 1)
      return emitError(spec.configLoc)
             << "linformer: expected k >= 1, got " << k;
    if (spec.causal)
      return emitError(spec.causalLoc)
             << "linformer: causal is not supported (the projections mix "
                "the whole sequence)";

    OpBuilder::InsertionGuard guard(builder);
    RankedTensorType qkvType;
    Block *body = beginGraphFunction(element, qkvType);
    Location loc = spec.configLoc;
    double bound = 1.0 / std::sqrt(static_cast<double>(maxLen));
    Value e = createParameter(loc, "E", k, maxLen, "uniform", bound, 1);
    Value f = createParameter(loc, "F", k, maxLen, "uniform", bound, 2);
    auto projectedType = RankedTensorType::get(
        {ShapedType::kDynamic, qkvType.getDimSize(1), k, spec.headDim},
        element);
    Value kp =
        createMatmul(loc, projectedType, e, body->getArgument(1), kTruncateLhs);
    Value vp =
        createMatmul(loc, projectedType, f, body->getArgument(2), kTruncateLhs);
    auto mask = xfa::MaskAttr::get(builder.getContext(), false, nullptr, false,
                                   false, -1, -1);
    float scale = 1.0f / std::sqrt(static_cast<float>(spec.headDim));
    auto attention = builder.create<xfa::AttentionOp>(
        loc, qkvType, body->getArgument(0), kp, vp, Value(), Value(), mask,
        builder.getF32FloatAttr(scale),
        builder.getF32FloatAttr(static_cast<float>(spec.dropout)),
        /*sparsity=*/nullptr, /*kernel_config=*/nullptr);
    builder.create<func::ReturnOp>(loc, attention.getResult());
    return success();
  }

  /// fourier_mix (FNet): Re(FFT2(q)) over (sequence, head dim). With the
  /// DFT F = C + iN (C = cos, N = -sin), Re(F_S X F_D) = C_S X C_D -
  /// N_S X N_D: four real products whose DFT factors are generated in the
  /// kernels. Key and value are ignored, as in xFormers.
  LogicalResult buildFourierMix(Type element) {
    if (failed(checkNoRunTimeMasks()))
      return failure();
    if (spec.causal)
      return emitError(spec.causalLoc)
             << "fourier_mix: causal is not supported (the transform mixes "
                "the whole sequence)";
    OpBuilder::InsertionGuard guard(builder);
    RankedTensorType qkvType;
    Block *body = beginGraphFunction(element, qkvType);
    Location loc = spec.configLoc;
    Value q = body->getArgument(0);
    Type f32 = builder.getF32Type();
    auto square = RankedTensorType::get(
        {ShapedType::kDynamic, ShapedType::kDynamic}, f32);
    auto headSquare = RankedTensorType::get({spec.headDim, spec.headDim}, f32);
    auto dft = [&](StringRef part, int64_t dim) {
      return builder
          .create<xfa::DftMatrixOp>(loc, dim == 2 ? square : headSquare, q,
                                    builder.getStringAttr(part),
                                    builder.getI64IntegerAttr(dim))
          .getResult();
    };
    auto intermediate = RankedTensorType::get(qkvType.getShape(), f32);
    Value cq = createMatmul(loc, intermediate, dft("cos", 2), q);
    Value nq = createMatmul(loc, intermediate, dft("neg_sin", 2), q);
    Value real = createMatmul(loc, intermediate, cq, dft("cos", 3));
    Value out =
        createMatmul(loc, qkvType, nq, dft("neg_sin", 3), 0, real, -1.0f, 1.0f);
    builder.create<func::ReturnOp>(loc, out);
    return success();
  }

  /// pooling and visual read the sequence as a square token grid: a fixed
  /// seq_len must be a square (the runtime checks S otherwise). Neither has
  /// attention weights, so dropout has nothing to drop (xFormers ignores it
  /// too).
  LogicalResult checkTokenGrid() {
    if (failed(checkNoRunTimeMasks()))
      return failure();
    if (spec.causal)
      return emitError(spec.causalLoc)
             << spec.variant << ": causal is not supported (the grid mixes "
             << "tokens in both directions)";
    for (std::optional<int64_t> len : {spec.seqLen, spec.kvSeqLen}) {
      if (!len)
        continue;
      auto side = static_cast<int64_t>(std::llround(std::sqrt(double(*len))));
      if (side * side != *len)
        return emitError(spec.configLoc)
               << spec.variant << ": seq_len " << *len
               << " is not a square token grid (S = H * W with H = W)";
    }
    if (spec.dropout > 0)
      emitWarning(spec.configLoc)
          << spec.variant << ": dropout " << spec.dropout
          << " has no effect (there are no attention weights to drop; "
             "xFormers ignores it too)";
    return success();
  }

  /// pooling (PoolFormer's token mixer): AvgPool2d(pool_size, stride 1,
  /// padding pool_size // 2, count_include_pad=False)(x) - x over the
  /// square token grid of q, every feature on its own (so per head on
  /// head_dim features, exactly). Key and value are ignored, as in xFormers.
  LogicalResult buildPooling(Type element) {
    if (failed(checkTokenGrid()))
      return failure();
    int64_t poolSize = getInt("pool_size", 3), stride = getInt("stride", 1);
    if (poolSize % 2 == 0)
      return emitError(spec.configLoc)
             << "pooling: pool_size " << poolSize
             << " must be odd: with padding pool_size // 2 an even window "
                "gives a grid one larger than the input, and pool(x) - x "
                "fails on the shapes in xFormers";
    if (stride != 1)
      return emitError(spec.configLoc)
             << "pooling: stride " << stride
             << " is not supported: a stride above 1 shrinks the grid, and "
                "pool(x) - x fails on the shapes in xFormers; use stride 1";
    if (auto padding = spec.intFields.find("padding");
        padding != spec.intFields.end() && padding->second != poolSize / 2)
      emitWarning(spec.configLoc)
          << "pooling: padding " << padding->second
          << " is ignored; pool_size // 2 = " << poolSize / 2
          << " is used (as in xFormers)";
    OpBuilder::InsertionGuard guard(builder);
    RankedTensorType qkvType;
    Block *body = beginGraphFunction(element, qkvType);
    auto pool = builder.create<xfa::GridPoolOp>(
        spec.configLoc, qkvType, body->getArgument(0),
        builder.getI64IntegerAttr(poolSize), builder.getF32FloatAttr(-1.0f));
    builder.create<func::ReturnOp>(spec.configLoc, pool.getResult());
    return success();
  }

  /// visual (Visual Attention Network block, xFormers' Visual): on the
  /// square token grid of x = q, with C = dim_model channels,
  ///   u = GELU(Conv1x1(x)); a = Conv1x1(dwConv7x7,dil3(dwConv5x5(u)));
  ///   out = x + Conv1x1(u * a).
  /// The 1x1 convolutions mix all channels, so the plan takes one head of
  /// dim_model features: q is [batch, 1, seq, dim_model]. The convolutions'
  /// weights and biases are parameters named as in the module's state dict,
  /// initialised as torch's Conv2d does (kaiming-uniform a = sqrt(5), i.e.
  /// U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and the same bound for biases).
  LogicalResult buildVisual(Type element) {
    if (failed(checkTokenGrid()))
      return failure();
    const int64_t channels = getInt("dim_model", 0);
    if (channels < 1)
      return emitError(spec.configLoc)
             << "visual: expected dim_model >= 1, got " << channels;
    if (spec.numHeads && *spec.numHeads != 1)
      return emitError(spec.configLoc)
             << "visual: num_heads must be 1, got " << *spec.numHeads
             << ": the block's 1x1 convolutions mix all dim_model channels, "
                "so it takes the unsplit input as one head of dim_model "
                "features ([batch, 1, seq, dim_model])";
    if (spec.headDim != channels)
      return emitError(spec.configLoc)
             << "visual: head_dim " << spec.headDim << " must equal dim_model "
             << channels
             << " (the block takes the unsplit input as one head of "
                "dim_model features)";

    OpBuilder::InsertionGuard guard(builder);
    Location loc = spec.configLoc;
    const int64_t dyn = ShapedType::kDynamic;
    Type f32 = builder.getF32Type();
    auto ioType = RankedTensorType::get({dyn, 1, dyn, channels}, element);
    auto gridType = RankedTensorType::get({dyn, 1, dyn, channels}, f32);
    Block *body = beginFunction(ioType);
    Value x = body->getArgument(0);

    int64_t seed = 1;
    auto parameter = [&](std::string name, int64_t rows, int64_t cols,
                         int64_t fanIn) -> Value {
      return createParameter(loc, name, rows, cols, "uniform",
                             1.0 / std::sqrt(static_cast<double>(fanIn)),
                             seed++);
    };
    struct Conv {
      Value weight, bias;
    };
    // Conv2d(C, C, 1): weight [C, C, 1, 1] as [C, C], fan_in C.
    auto pointwise = [&](const std::string &name) {
      return Conv{parameter(name + ".weight", channels, channels, channels),
                  parameter(name + ".bias", 1, channels, channels)};
    };
    // Conv2d(C, C, k, groups=C): weight [C, 1, k, k] as [C, k * k].
    auto depthwise = [&](const std::string &name, int64_t k) {
      return Conv{parameter(name + ".weight", channels, k * k, k * k),
                  parameter(name + ".bias", 1, channels, k * k)};
    };
    Conv proj1 = pointwise("block.0");
    Conv conv0 = depthwise("block.2.conv0", 5);
    Conv spatial = depthwise("block.2.conv_spatial", 7);
    Conv conv1 = pointwise("block.2.conv1");
    Conv proj2 = pointwise("block.3");

    // x W^T, the bias is added by the consumer.
    auto matmul = [&](Value input, Value weight) {
      return createMatmul(loc, gridType, input, weight, kTransposeRhs);
    };
    auto elementwise = [&](RankedTensorType type, StringRef kind, Value lhs,
                           Value rhs, Value bias) -> Value {
      return builder
          .create<xfa::ElementwiseOp>(loc, type, builder.getStringAttr(kind),
                                      lhs, rhs, bias)
          .getResult();
    };
    auto conv = [&](Value input, const Conv &c, int64_t k,
                    int64_t dilation) -> Value {
      return builder
          .create<xfa::DepthwiseConv2dOp>(loc, gridType, input, c.weight,
                                          c.bias, builder.getI64IntegerAttr(k),
                                          builder.getI64IntegerAttr(dilation))
          .getResult();
    };
    Value u = elementwise(gridType, "gelu", matmul(x, proj1.weight), Value(),
                          proj1.bias);
    Value attn = conv(conv(u, conv0, 5, 1), spatial, 7, 3);
    Value gated =
        elementwise(gridType, "mul", matmul(attn, conv1.weight), u, conv1.bias);
    Value out =
        elementwise(ioType, "add", matmul(gated, proj2.weight), x, proj2.bias);
    builder.create<func::ReturnOp>(loc, out);
    return success();
  }

  /// Compositional attention (Mittal et al.; xFormers' CompositionalAttention)
  /// owns its projections, so q, k, v are [batch, 1, seq, dim_model]:
  /// projections (q_proj shared by k and v unless use_separate_proj_weight),
  /// H searches softmax(Q_h K_h^T / sqrt(dh)), every search applied to every
  /// rule's values (R retrievals of dim_attn / R features), a soft selection
  /// among the rules per search (linear, MLP or query-key scores, from
  /// value_q's selection queries), the searches' results concatenated and
  /// projected by out_proj. Parameters are named as in the PyTorch module's
  /// state dict and initialised as it does (xavier-uniform weights,
  /// nn.Linear's default biases, a zero out_proj bias).
  LogicalResult buildCompositional(Type element) {
    if (failed(checkNoRunTimeMasks()))
      return failure();
    if (spec.dropout > 0)
      return emitError(spec.configLoc)
             << "compositional: dropout is not supported yet; set it to 0";
    const int64_t model = getInt("dim_model", 0);
    const int64_t searches = getInt("num_heads", 0);
    const int64_t rules = getInt("num_rules", searches);
    const int64_t dimKey = getInt("dim_key", model);
    const int64_t dimValue = getInt("dim_value", model);
    const int64_t dimAttn = getInt("dim_attn", model);
    const int64_t dimSelection =
        getInt("dim_selection", searches ? model / searches : 0);
    const bool qkRule = getBool("qk_rule", false);
    const bool nonlinear = getBool("nonlinear", false);
    const bool qCompose = getBool("q_compose", false);
    const bool bias = getBool("bias", true);
    const bool separate = getBool("use_separate_proj_weight", false);
    auto fail = [&](const llvm::Twine &message) {
      return emitError(spec.configLoc) << "compositional: " << message;
    };
    if (model < 1 || searches < 1 || rules < 1 || dimSelection < 1)
      return fail("dim_model, num_heads, num_rules and dim_selection must "
                  "be positive");
    if (spec.headDim != model)
      return fail("head_dim " + llvm::Twine(spec.headDim) +
                  " must equal dim_model " + llvm::Twine(model) +
                  " (the variant owns its projections and takes q, k, v of "
                  "dim_model features)");
    if (model % searches != 0)
      return fail("dim_model " + llvm::Twine(model) +
                  " is not divisible by num_heads " + llvm::Twine(searches));
    if (dimKey != model)
      return fail("dim_key " + llvm::Twine(dimKey) +
                  " must equal dim_model (queries split into num_heads "
                  "searches of dim_model / num_heads)");
    int64_t valueWidth = separate ? dimValue : dimKey;
    if (dimAttn % rules != 0 || valueWidth != dimAttn)
      return fail("the projected values (" + llvm::Twine(valueWidth) +
                  " features) must be dim_attn " + llvm::Twine(dimAttn) +
                  ", divisible by num_rules " + llvm::Twine(rules));
    if (rules > 32)
      return fail("at most 32 rules, got " + llvm::Twine(rules));
    if (spec.causal && spec.seqLen && spec.kvSeqLen &&
        *spec.seqLen != *spec.kvSeqLen)
      return fail("causal needs equal query and key lengths");
    const int64_t headDim = model / searches, valueDim = dimAttn / rules;

    OpBuilder::InsertionGuard guard(builder);
    Location loc = spec.configLoc;
    Type f32 = builder.getF32Type();
    const int64_t dyn = ShapedType::kDynamic;
    auto ioType = RankedTensorType::get({dyn, 1, dyn, model}, element);
    Block *body = beginFunction(ioType);

    int64_t seed = 1;
    auto parameter = [&](StringRef name, int64_t rows, int64_t cols,
                         double bound) {
      return createParameter(loc, name, rows, cols, "uniform", bound, seed++);
    };
    auto xavier = [](int64_t rows, int64_t cols, double gain) {
      return gain * std::sqrt(6.0 / static_cast<double>(rows + cols));
    };
    // nn.Linear(in, out): weight [out, in] (xavier-uniform here), bias
    // U(-1/sqrt(in), 1/sqrt(in)) as [1, out].
    struct Linear {
      Value weight, bias;
    };
    auto linear = [&](StringRef name, int64_t in, int64_t out, double gain,
                      bool zeroBias = false) {
      Linear l;
      l.weight =
          parameter((name + ".weight").str(), out, in, xavier(out, in, gain));
      if (bias)
        l.bias = parameter((name + ".bias").str(), 1, out,
                           zeroBias ? 0.0
                                    : 1.0 / std::sqrt(static_cast<double>(in)));
      return l;
    };
    auto apply = [&](const Linear &l, Value x, Type resultElement,
                     float alpha = 1.0f) -> Value {
      auto xType = cast<RankedTensorType>(x.getType());
      auto wType = cast<RankedTensorType>(l.weight.getType());
      auto type =
          RankedTensorType::get({xType.getDimSize(0), xType.getDimSize(1),
                                 xType.getDimSize(2), wType.getDimSize(0)},
                                resultElement);
      return createMatmul(loc, type, x, l.weight, kTransposeRhs, l.bias, alpha,
                          l.bias ? 1.0f : 0.0f);
    };
    auto regroup = [&](Value x, int64_t heads, int64_t dim, bool split) {
      auto xType = cast<RankedTensorType>(x.getType());
      auto type = RankedTensorType::get({xType.getDimSize(0), split ? heads : 1,
                                         xType.getDimSize(2),
                                         split ? dim : heads * dim},
                                        xType.getElementType());
      return builder
          .create<xfa::RegroupHeadsOp>(loc, type, x,
                                       split ? builder.getUnitAttr() : nullptr)
          .getResult();
    };

    Linear qProj = linear("in_proj_container.q_proj", model, dimKey, 1.0);
    Linear kProj = separate
                       ? linear("in_proj_container.k_proj", model, dimKey, 1.0)
                       : qProj;
    Linear vProj =
        separate ? linear("in_proj_container.v_proj", model, dimValue, 1.0)
                 : qProj;
    double selectionGain = qkRule ? 1.0 / std::sqrt(2.0) : 1.0;
    Linear valueQ =
        qCompose
            ? linear("value_q", headDim, dimSelection, selectionGain)
            : linear("value_q", model, dimSelection * searches, selectionGain);
    SmallVector<Value> scoreWeights;
    StringRef mode = qkRule ? "qk" : nonlinear ? "mlp" : "linear";
    if (qkRule) {
      Linear valueK =
          linear("value_k", valueDim, dimSelection, 1.0 / std::sqrt(2.0));
      scoreWeights = {valueK.weight};
      if (bias)
        scoreWeights.push_back(valueK.bias);
    } else if (nonlinear) {
      Linear hidden =
          linear("score_network.0", dimSelection + valueDim, dimSelection, 1.0);
      Linear score = linear("score_network.2", dimSelection, 1, 1.0);
      scoreWeights = {hidden.weight};
      if (bias)
        scoreWeights.push_back(hidden.bias);
      scoreWeights.push_back(score.weight);
      if (bias)
        scoreWeights.push_back(score.bias);
    } else {
      Linear score = linear("score_network", dimSelection + valueDim, 1, 1.0);
      scoreWeights = {score.weight};
      if (bias)
        scoreWeights.push_back(score.bias);
    }
    Linear outProj = linear("out_proj", searches * valueDim, model, 1.0,
                            /*zeroBias=*/true);

    Value q = body->getArgument(0), k = body->getArgument(1),
          v = body->getArgument(2);
    Value qh = regroup(apply(qProj, q, f32), searches, headDim, true);
    Value kh = regroup(apply(kProj, k, f32), searches, headDim, true);
    Value vr = regroup(apply(vProj, v, f32), rules, valueDim, true);
    // The searches: softmax(Q_h K_h^T / sqrt(dh)), causal if asked.
    auto logitsType = RankedTensorType::get({dyn, searches, dyn, dyn}, f32);
    Value logits = createMatmul(loc, logitsType, qh, kh, kTransposeRhs);
    float scaling = 1.0f / std::sqrt(static_cast<float>(headDim));
    Value weights =
        builder
            .create<xfa::SoftmaxOp>(
                loc, logitsType, logits, builder.getF32FloatAttr(scaling),
                spec.causal ? builder.getUnitAttr() : nullptr,
                builder.getI64IntegerAttr(0))
            .getResult();
    // Every search with every rule: [B, H*R, Sq, valueDim].
    auto retrievalsType =
        RankedTensorType::get({dyn, searches * rules, dyn, valueDim}, f32);
    Value retrievals =
        builder.create<xfa::RetrieveOp>(loc, retrievalsType, weights, vr)
            .getResult();
    // Selection queries [B, H, Sq, dim_selection]: value_q of the unprojected
    // query split per search, or (q_compose) of each search's scaled query.
    Value selection =
        qCompose ? apply(valueQ, qh, f32, scaling)
                 : regroup(apply(valueQ, q, f32), searches, dimSelection, true);
    auto selectedType =
        RankedTensorType::get({dyn, searches, dyn, valueDim}, f32);
    Value selected =
        builder
            .create<xfa::SelectRulesOp>(
                loc, selectedType, retrievals, selection, scoreWeights,
                builder.getStringAttr(mode), builder.getI64IntegerAttr(rules),
                bias ? builder.getUnitAttr() : nullptr,
                builder.getF32FloatAttr(
                    1.0f / std::sqrt(static_cast<float>(dimSelection))))
            .getResult();
    Value merged = regroup(selected, searches, valueDim, false);
    Value out = apply(outProj, merged, element);
    builder.create<func::ReturnOp>(loc, out);
    return success();
  }

  /// Softmax attention with a causal (top-left) mask or none, no run-time
  /// masks: the pieces of the landmark variants.
  Value landmarkAttention(Location loc, RankedTensorType type, Value q, Value k,
                          Value v, bool causal, double dropout) {
    auto mask = xfa::MaskAttr::get(builder.getContext(), causal, nullptr, false,
                                   false, -1, -1);
    float scale = 1.0f / std::sqrt(static_cast<float>(spec.headDim));
    return builder
        .create<xfa::AttentionOp>(
            loc, type, q, k, v, Value(), Value(), mask,
            builder.getF32FloatAttr(scale),
            builder.getF32FloatAttr(static_cast<float>(dropout)),
            /*sparsity=*/nullptr, /*kernel_config=*/nullptr)
        .getResult();
  }

  /// Nystrom (Xiong et al.; xFormers' NystromAttention): landmarks Q~, K~
  /// = means of m contiguous segments; K1 = softmax(Q K~^T / sqrt(Dh)),
  /// K2 = softmax(Q~ K~^T / sqrt(Dh)), K3 = softmax(Q~ K^T / sqrt(Dh)) V;
  /// out = K1 (pinv(K2) K3). K3 and K1 (..) are attention kernels (q = Q~,
  /// then k = K~ and v = pinv(K2) K3), so nothing S x m is stored; pinv is
  /// Razavi's iteration in fp32 products. With causal, all three kernels get
  /// xFormers' top-left causal masks. Exact attention when m >= S: chosen
  /// here when seq_len is given, otherwise the plan refuses S <= m.
  LogicalResult buildNystrom(Type element) {
    Location loc = spec.configLoc;
    const int64_t m = getInt("num_landmarks", 64);
    const int64_t iterations = getInt("inv_iterations", 6);
    if (spec.attnMask)
      return emitError(loc) << "nystrom: takes no attn_mask (as in xFormers, "
                               "whose nystrom supports only a "
                               "key_padding_mask)";
    if (spec.keyPadding)
      return emitError(loc) << "nystrom: key_padding_mask is not supported "
                               "yet";
    const int64_t convSize = getInt("conv_kernel_size", 0);
    if (spec.intFields.count("conv_kernel_size") && convSize % 2 != 1)
      return emitError(loc)
             << "nystrom.conv_kernel_size: expected an odd size (with an "
                "even one xFormers' padding of size // 2 lengthens the "
                "sequence and its skip connection fails), got "
             << convSize;
    if (m < 1 || iterations < 1)
      return emitError(loc) << "nystrom: expected num_landmarks >= 1 and "
                               "inv_iterations >= 1";
    if (spec.seqLen && m >= *spec.seqLen) {
      if (!convSize)
        return buildSoftmaxAttention(element);
      // Exact attention plus the skip, for sequences of exactly seq_len.
      OpBuilder::InsertionGuard guard(builder);
      auto type = RankedTensorType::get({ShapedType::kDynamic,
                                         sizeOrDynamic(spec.numHeads),
                                         *spec.seqLen, spec.headDim},
                                        element);
      Block *body = beginFunction(type);
      Value out = landmarkAttention(loc, type, body->getArgument(0),
                                    body->getArgument(1), body->getArgument(2),
                                    spec.causal, spec.dropout);
      out = addConvolutionSkip(loc, body->getArgument(2), out, convSize);
      builder.create<func::ReturnOp>(loc, out);
      return success();
    }
    if (!getBool("use_razavi_pinverse", true))
      return emitError(loc)
             << "nystrom.use_razavi_pinverse: false (torch.linalg.pinv) is "
                "not supported; use the iterative pseudo-inverse (true, the "
                "default)";
    const bool causal = spec.causal;
    const bool globalInit = getBool("pinverse_original_init", false);

    OpBuilder::InsertionGuard guard(builder);
    RankedTensorType qkvType;
    Block *body = beginGraphFunction(element, qkvType);
    Value q = body->getArgument(0), k = body->getArgument(1),
          v = body->getArgument(2);
    const int64_t heads = qkvType.getDimSize(1), batch = ShapedType::kDynamic;
    Type f32 = builder.getF32Type();
    auto landmarkType =
        RankedTensorType::get({batch, heads, m, spec.headDim}, element);
    auto squareType = RankedTensorType::get({batch, heads, m, m}, f32);
    auto landmarkF32 =
        RankedTensorType::get({batch, heads, m, spec.headDim}, f32);
    auto pool = [&](Value x, RankedTensorType type, bool longer) {
      return builder
          .create<xfa::LandmarkPoolOp>(loc, type, x,
                                       builder.getI64IntegerAttr(m),
                                       longer ? builder.getUnitAttr() : nullptr)
          .getResult();
    };
    auto matmul = [&](RankedTensorType type, Value lhs, Value rhs,
                      bool transposeRhs, Value addend, float alpha,
                      float beta) {
      return createMatmul(loc, type, lhs, rhs,
                          transposeRhs ? kTransposeRhs : 0u, addend, alpha,
                          beta);
    };
    float scale = 1.0f / std::sqrt(static_cast<float>(spec.headDim));

    Value qLandmarks = pool(q, landmarkType, true);
    Value kLandmarks = pool(k, landmarkType, true);
    // K2 = softmax(Q~ K~^T / sqrt(Dh)), m x m in fp32.
    Value logits =
        matmul(squareType, qLandmarks, kLandmarks, true, Value(), 1.0f, 0.0f);
    Value k2 = builder
                   .create<xfa::SoftmaxOp>(
                       loc, squareType, logits, builder.getF32FloatAttr(scale),
                       causal ? builder.getUnitAttr() : nullptr,
                       builder.getI64IntegerAttr(0))
                   .getResult();
    // K3 = softmax(Q~ K^T / sqrt(Dh)) V.
    Value k3 =
        landmarkAttention(loc, landmarkType, qLandmarks, k, v, causal, 0.0);
    // Razavi: Z <- Z (13 I - KZ (15 I - KZ (7 I - KZ))) / 4, with the
    // identities folded into the products' addends:
    //   P = KZ (7 I - KZ) = 7 KZ - KZ KZ,  T = KZ (15 I - P) = 15 KZ - KZ P,
    //   Z' = Z (13 I - T) / 4 = 3.25 Z - 0.25 Z T.
    Value z = builder
                  .create<xfa::PinvInitOp>(loc, squareType, k2,
                                           globalInit ? builder.getUnitAttr()
                                                      : nullptr)
                  .getResult();
    for (int64_t i = 0; i < iterations; ++i) {
      Value kz = matmul(squareType, k2, z, false, Value(), 1.0f, 0.0f);
      Value p = matmul(squareType, kz, kz, false, kz, -1.0f, 7.0f);
      Value t = matmul(squareType, kz, p, false, kz, -1.0f, 15.0f);
      z = matmul(squareType, z, t, false, z, -0.25f, 3.25f);
    }
    // X = pinv(K2) K3 in fp32, then in the element type (a pool of m
    // segments of one row) as the last attention's values.
    Value x32 = matmul(landmarkF32, z, k3, false, Value(), 1.0f, 0.0f);
    Value x = pool(x32, landmarkType, false);
    // out = softmax(Q K~^T / sqrt(Dh)) X.
    Value out =
        landmarkAttention(loc, qkvType, q, kLandmarks, x, causal, spec.dropout);
    if (convSize)
      out = addConvolutionSkip(loc, v, out, convSize);
    builder.create<func::ReturnOp>(loc, out);
    return success();
  }

  /// out + xFormers' skip connection: Conv2d(H, H, (ks, 1), padding (ks //
  /// 2, 0), groups=H, bias=False) on V, a per-head convolution along the
  /// sequence with learned weights "skip_connection.weight" [H, ks]
  /// (Conv2d's default init: U(-1/sqrt(ks), 1/sqrt(ks))).
  Value addConvolutionSkip(Location loc, Value v, Value out, int64_t size) {
    int64_t heads = getInt("num_heads", spec.numHeads.value_or(1));
    Value weight =
        createParameter(loc, "skip_connection.weight", heads, size, "uniform",
                        1.0 / std::sqrt(static_cast<double>(size)), 1);
    return builder
        .create<xfa::SequenceConvOp>(loc, out.getType(), v, weight, out)
        .getResult();
  }

  /// Orthoformer (Patrick et al.; xFormers' OrthoFormerAttention): m
  /// landmarks L chosen from the queries (xfa.landmark_select: orthogonal,
  /// kmeans, kmeans_spherical or random, with a fixed seed where xFormers
  /// draws random numbers); out = softmax(Q L^T / sqrt(Dh)) (softmax(L K^T /
  /// sqrt(Dh)) V): two attention kernels. Exact attention when m == S:
  /// chosen here when seq_len is given, otherwise the plan refuses S == m.
  LogicalResult buildOrthoformer(Type element) {
    Location loc = spec.configLoc;
    const int64_t m = getInt("num_landmarks", 32);
    auto fractionIt = spec.floatFields.find("subsample_fraction");
    const double fraction =
        fractionIt == spec.floatFields.end() ? 1.0 : fractionIt->second;
    auto selectionIt = spec.stringFields.find("landmark_selection");
    const std::string selection = selectionIt == spec.stringFields.end()
                                      ? "orthogonal"
                                      : selectionIt->second;
    if (spec.keyPadding)
      return emitError(loc) << "orthoformer: takes no key_padding_mask (as "
                               "in xFormers)";
    if (spec.seqLen && m == *spec.seqLen)
      return buildSoftmaxAttention(element);
    if (spec.attnMask)
      return emitError(loc)
             << "orthoformer: attn_mask is only honoured where orthoformer "
                "is exact attention (num_landmarks == seq_len; give seq_len); "
                "with landmarks xFormers drops it";
    if (spec.causal)
      return emitError(spec.causalLoc) << "orthoformer: has no causal form";
    bool kmeans = selection == "kmeans" || selection == "kmeans_spherical";
    if (kmeans && (m > 256 || m * spec.headDim > kOrthoformerMaxCentroids))
      return emitError(loc)
             << "orthoformer: " << selection
             << " keeps num_landmarks x head_dim centroids in shared memory: "
                "at most "
             << kOrthoformerMaxCentroids << " values and 256 landmarks, got "
             << m << " x " << spec.headDim;
    if (selection == "random" && m < 2)
      return emitError(loc) << "orthoformer: \"random\" landmark selection "
                               "takes num_landmarks / 2 queries and as many "
                               "keys: expected num_landmarks >= 2, got "
                            << m;

    OpBuilder::InsertionGuard guard(builder);
    RankedTensorType qkvType;
    Block *body = beginGraphFunction(element, qkvType);
    Value q = body->getArgument(0), k = body->getArgument(1),
          v = body->getArgument(2);
    const int64_t rows = selection == "random" ? 2 * (m / 2) : m;
    auto landmarkType = RankedTensorType::get(
        {ShapedType::kDynamic, qkvType.getDimSize(1), rows, spec.headDim},
        element);
    Value landmarks =
        builder
            .create<xfa::LandmarkSelectOp>(
                loc, landmarkType, q, k, builder.getStringAttr(selection),
                builder.getI64IntegerAttr(m), builder.getF64FloatAttr(fraction),
                builder.getI64IntegerAttr(kOrthoformerSeed))
            .getResult();
    Value kernel2 =
        landmarkAttention(loc, landmarkType, landmarks, k, v, false, 0.0);
    Value out = landmarkAttention(loc, qkvType, q, landmarks, kernel2, false,
                                  spec.dropout);
    builder.create<func::ReturnOp>(loc, out);
    return success();
  }

  /// The seed of orthoformer's landmark draws (recorded in the IR and the
  /// manifest's launch ints).
  static constexpr int64_t kOrthoformerSeed = 0x5eed;
  /// xfc::kLandmarkMaxCentroidFloats (templates/xfc/nystrom_ops.cuh).
  static constexpr int64_t kOrthoformerMaxCentroids = 8192;

  /// alpha op(lhs) rhs, op transposing with `transposeLhs`, no addend.
  /// favor (Performer): phi(Q)(phi(K)^T V) / phi(Q)(phi(K)^T 1) with
  /// positive random features phi (xFormers' feature_maps/softmax.py) of one
  /// module-owned projection W [Dh, m'] shared by queries and keys, all in
  /// fp32; causal: prefix sums over the sequence (a scan kernel), not
  /// xFormers' sum over the features.
  LogicalResult buildFavor(Type element) {
    if (failed(checkNoRunTimeMasks()))
      return failure();
    if (spec.dropout > 0)
      return emitError(spec.configLoc)
             << "favor: dropout > 0 is not supported (xfc's favor plans are "
                "for inference)";
    int64_t dh = spec.headDim;
    double dhf = static_cast<double>(dh);
    int64_t m = getInt(
        "dim_features",
        2 * (static_cast<int64_t>(std::ceil(dhf * (1.0 + std::log2(dhf)))) /
             2));
    auto kindIt = spec.stringFields.find("feature_map");
    std::string kind =
        kindIt == spec.stringFields.end() ? "sm_reg" : kindIt->second;
    if (kind != "sm_reg" && kind != "sm_hyp" && kind != "sm_orf")
      return emitError(spec.configLoc)
             << "favor.feature_map: expected sm_reg, sm_hyp or sm_orf, got '"
             << kind << "'";
    if (m < 1 || (kind != "sm_orf" && m % 2 != 0))
      return emitError(spec.configLoc)
             << "favor.dim_features: expected a positive"
             << (kind != "sm_orf" ? " even" : "") << " number, got " << m;
    if (spec.causal && m > 2048)
      return emitError(spec.causalLoc)
             << "favor: causal favor supports at most 2048 features (the "
                "scan keeps m / 32 running sums per thread), got "
             << m;

    OpBuilder::InsertionGuard guard(builder);
    RankedTensorType qkvType;
    Block *body = beginGraphFunction(element, qkvType);
    Location loc = spec.configLoc;
    Type f32 = builder.getF32Type();
    int64_t heads = qkvType.getDimSize(1), dyn = ShapedType::kDynamic;
    // W: SMReg's rows are scaled by sqrt(Dh), SMHyp's and SMOrf's by chi
    // norms (xFormers' NormDistribution.Xi).
    int64_t half = kind == "sm_orf" ? m : m / 2;
    Value w =
        createParameter(loc, "features", dh, half,
                        kind == "sm_reg" ? "orthogonal" : "orthogonal_chi",
                        kind == "sm_reg" ? std::sqrt(dhf) : 1.0, 1);
    auto featuresType = RankedTensorType::get({dyn, heads, dyn, m}, f32);
    float scale = static_cast<float>(std::pow(dhf, -0.25));
    float offset =
        static_cast<float>(-std::log(std::sqrt(static_cast<double>(m))) + 1e-6);
    auto featureMap = [&](Value x) {
      return builder
          .create<xfa::FeatureMapOp>(
              loc, featuresType, x, w, builder.getStringAttr(kind),
              builder.getF32FloatAttr(scale), builder.getF32FloatAttr(offset))
          .getResult();
    };
    Value qp = featureMap(body->getArgument(0));
    Value kp = featureMap(body->getArgument(1));
    Value v = body->getArgument(2);
    Value out;
    if (spec.causal) {
      out =
          builder.create<xfa::CausalLinearAttentionOp>(loc, qkvType, qp, kp, v);
    } else {
      Value kv =
          createMatmul(loc, RankedTensorType::get({dyn, heads, m, dh}, f32), kp,
                       v, kTransposeLhs);
      Value num = createMatmul(
          loc, RankedTensorType::get({dyn, heads, dyn, dh}, f32), qp, kv);
      Value ksum = builder.create<xfa::SumRowsOp>(
          loc, RankedTensorType::get({dyn, heads, 1, m}, f32), kp);
      out = builder.create<xfa::LinearNormalizeOp>(loc, qkvType, num, qp, ksum);
    }
    builder.create<func::ReturnOp>(loc, out);
    return success();
  }

  /// lambda (LambdaNetworks): y = Q softmax_S(K)^T V + y_p with the
  /// position term y_p[n] = sum_m (q_n . E[m - n + L - 1]) v_m and learned
  /// relative embeddings E [2L - 1, Dh] (torch.randn init), L = seq_len.
  /// xFormers softmaxes K over the features and pairs E with V at the same
  /// position; xfc follows the paper.
  LogicalResult buildLambda(Type element) {
    if (failed(checkNoRunTimeMasks()))
      return failure();
    if (spec.dropout > 0)
      return emitError(spec.configLoc)
             << "lambda: dropout > 0 is not supported (xFormers' lambda "
                "layer applies none)";
    if (spec.causal)
      return emitError(spec.causalLoc)
             << "lambda: causal is not supported (the content lambda sums "
                "over the whole sequence)";
    int64_t len = getInt("seq_len", spec.seqLen.value_or(0));
    if (len < 1)
      return emitError(spec.configLoc)
             << "lambda: missing required field 'seq_len'";
    int64_t dh = spec.headDim;
    if (dh % 16 != 0 || dh > 128)
      return emitError(spec.configLoc)
             << "lambda: head_dim must be a multiple of 16 and at most 128 "
                "(the position kernel's tiles), got "
             << dh;

    OpBuilder::InsertionGuard guard(builder);
    RankedTensorType qkvType;
    Block *body = beginGraphFunction(element, qkvType);
    Location loc = spec.configLoc;
    Type f32 = builder.getF32Type();
    int64_t heads = qkvType.getDimSize(1), dyn = ShapedType::kDynamic;
    Value q = body->getArgument(0), k = body->getArgument(1),
          v = body->getArgument(2);
    Value e =
        createParameter(loc, "rel_pos_emb", 2 * len - 1, dh, "normal", 1.0, 1);
    Value ks = builder.create<xfa::SequenceSoftmaxOp>(
        loc, RankedTensorType::get({dyn, heads, dyn, dh}, f32), k);
    Value content =
        createMatmul(loc, RankedTensorType::get({dyn, heads, dh, dh}, f32), ks,
                     v, kTransposeLhs);
    Value yc = createMatmul(
        loc, RankedTensorType::get({dyn, heads, dyn, dh}, f32), q, content);
    Value out =
        builder.create<xfa::LambdaPositionOp>(loc, qkvType, q, v, e, yc);
    builder.create<func::ReturnOp>(loc, out);
    return success();
  }

  OpBuilder builder;
  const AttentionSpec &spec;
};

} // namespace

OwningOpRef<ModuleOp> xfc::buildAttentionModule(MLIRContext &context,
                                                const AttentionSpec &spec) {
  context.loadDialect<func::FuncDialect, xfa::XfaDialect>();
  return IRGenImpl(context, spec).build();
}
