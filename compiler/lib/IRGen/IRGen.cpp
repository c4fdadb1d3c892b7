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
        spec.variant == "local")
      built = buildSoftmaxAttention(*element);
    else
      emitError(spec.configLoc)
          << "variant '" << spec.variant
          << "' is recognised but has no lowering yet; supported: "
             "scaled_dot_product, blocksparse, local";
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

  /// softmax(QK^T * scale + M) V with M from causality, a block layout, a
  /// sliding window and run-time masks: scaled_dot_product, blocksparse and
  /// local share this graph.
  LogicalResult buildSoftmaxAttention(Type element) {
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

    auto mask = xfa::MaskAttr::getChecked(
        [&] { return emitError(spec.configLoc); }, builder.getContext(),
        spec.causal, layout, spec.attnMask, spec.keyPadding, spec.windowLeft,
        spec.windowRight);
    if (!mask)
      return failure();
    float scale = 1.0f / std::sqrt(static_cast<float>(spec.headDim));
    Value attnMask = spec.attnMask ? body->getArgument(3) : Value();
    Value keyPadding =
        spec.keyPadding ? body->getArgument(spec.attnMask ? 4 : 3) : Value();
    Location opLoc = spec.layout ? spec.layoutLoc : spec.configLoc;
    auto attention = builder.create<xfa::AttentionOp>(
        opLoc, qType, body->getArgument(0), body->getArgument(1),
        body->getArgument(2), attnMask, keyPadding, mask,
        builder.getF32FloatAttr(scale),
        builder.getF32FloatAttr(static_cast<float>(spec.dropout)),
        /*sparsity=*/nullptr, /*kernel_config=*/nullptr);
    builder.create<func::ReturnOp>(spec.configLoc, attention.getResult());
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
