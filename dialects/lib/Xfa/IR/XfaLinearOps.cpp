//===- XfaLinearOps.cpp - Verifiers of favor's and lambda's ops -----------===//
//
// Performer's random-feature maps, the sums and scan of linear attention, and
// lambda's sequence softmax and relative-position term.
//
//===----------------------------------------------------------------------===//

#include "xfc/Dialect/Xfa/IR/Xfa.h"

using namespace mlir;
using namespace xfc::xfa;

/// Sizes agree unless one of them is only known at run time.
static bool compatibleSize(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b;
}

/// `a` and `b` have compatible sizes in dimensions [from, to).
static bool compatibleDims(RankedTensorType a, RankedTensorType b, int from,
                           int to) {
  for (int d = from; d < to; ++d)
    if (!compatibleSize(a.getDimSize(d), b.getDimSize(d)))
      return false;
  return true;
}

static LogicalResult checkRank4(Operation *op, ArrayRef<Value> values) {
  for (Value value : values) {
    auto type = cast<RankedTensorType>(value.getType());
    if (type.getRank() != 4)
      return op->emitOpError("expected rank-4 [batch, heads, seq, dim] "
                             "tensors, got ")
             << type;
  }
  return success();
}

LogicalResult FeatureMapOp::verify() {
  if (failed(checkRank4(*this, {getInput(), getResult()})))
    return failure();
  StringRef kind = getKind();
  if (kind != "sm_reg" && kind != "sm_hyp" && kind != "sm_orf")
    return emitOpError("expected kind \"sm_reg\", \"sm_hyp\" or \"sm_orf\", "
                       "got \"")
           << kind << "\"";
  RankedTensorType input = getInput().getType(), w = getFeatures().getType();
  RankedTensorType result = getType();
  if (w.getRank() != 2 || !w.hasStaticShape())
    return emitOpError("expected static [head_dim, features] features, got ")
           << w;
  if (!compatibleSize(input.getDimSize(3), w.getDimSize(0)))
    return emitOpError("features have ")
           << w.getDimSize(0) << " rows, expected the input's head dim "
           << input.getDimSize(3);
  int64_t m = kind == "sm_orf" ? w.getDimSize(1) : 2 * w.getDimSize(1);
  if (!compatibleSize(result.getDimSize(3), m))
    return emitOpError("expected ")
           << m << " features in the result (" << kind << " of " << w
           << "), got " << result.getDimSize(3);
  if (!compatibleDims(input, result, 0, 3))
    return emitOpError("expected the input's batch, heads and sequence");
  return success();
}

LogicalResult SumRowsOp::verify() {
  if (failed(checkRank4(*this, {getInput(), getResult()})))
    return failure();
  RankedTensorType input = getInput().getType(), result = getType();
  if (!compatibleDims(input, result, 0, 2) ||
      !compatibleSize(input.getDimSize(3), result.getDimSize(3)) ||
      result.getDimSize(2) != 1)
    return emitOpError("expected a [batch, heads, 1, cols] result, got ")
           << result;
  return success();
}

LogicalResult LinearNormalizeOp::verify() {
  if (failed(checkRank4(
          *this, {getNumerator(), getQfeatures(), getKsum(), getResult()})))
    return failure();
  RankedTensorType num = getNumerator().getType(),
                   qf = getQfeatures().getType(), ks = getKsum().getType();
  if (!compatibleDims(num, getType(), 0, 4))
    return emitOpError("expected the result to have the numerator's shape");
  if (!compatibleDims(num, qf, 0, 3))
    return emitOpError("expected query features of the numerator's batch, "
                       "heads and rows");
  if (ks.getDimSize(2) != 1 ||
      !compatibleSize(ks.getDimSize(3), qf.getDimSize(3)))
    return emitOpError("expected key sums [batch, heads, 1, ")
           << qf.getDimSize(3) << "], got " << ks;
  return success();
}

LogicalResult CausalLinearAttentionOp::verify() {
  if (failed(checkRank4(
          *this, {getQfeatures(), getKfeatures(), getValue(), getResult()})))
    return failure();
  RankedTensorType qf = getQfeatures().getType(), kf = getKfeatures().getType(),
                   v = getValue().getType(), result = getType();
  if (!compatibleDims(qf, kf, 0, 4))
    return emitOpError("expected query and key features of the same shape, "
                       "got ")
           << qf << " and " << kf;
  if (!compatibleDims(kf, v, 0, 3))
    return emitOpError("expected values of the key features' batch, heads "
                       "and sequence");
  if (!compatibleDims(qf, result, 0, 3) ||
      !compatibleSize(result.getDimSize(3), v.getDimSize(3)))
    return emitOpError("expected a [batch, heads, q_len, value dim] result");
  int64_t m = qf.getDimSize(3);
  if (ShapedType::isDynamic(m) || m < 1 || m > 2048)
    return emitOpError("expected a static number of features in [1, 2048] "
                       "(the scan keeps m / 32 running sums per thread), got ")
           << (ShapedType::isDynamic(m) ? std::string("?") : std::to_string(m));
  return success();
}

LogicalResult SequenceSoftmaxOp::verify() {
  if (failed(checkRank4(*this, {getInput(), getResult()})))
    return failure();
  if (!compatibleDims(getInput().getType(), getType(), 0, 4))
    return emitOpError("expected the result to have the input's shape");
  return success();
}

LogicalResult LambdaPositionOp::verify() {
  if (failed(checkRank4(*this,
                        {getQuery(), getValue(), getAddend(), getResult()})))
    return failure();
  RankedTensorType q = getQuery().getType(), v = getValue().getType(),
                   e = getEmbeddings().getType(), result = getType();
  if (e.getRank() != 2 || !e.hasStaticShape() || e.getDimSize(0) % 2 != 1)
    return emitOpError("expected static [2 * seq_len - 1, head_dim] "
                       "embeddings, got ")
           << e;
  if (!compatibleSize(e.getDimSize(1), q.getDimSize(3)))
    return emitOpError("embeddings have ")
           << e.getDimSize(1) << " columns, expected the query's head dim "
           << q.getDimSize(3);
  if (!compatibleDims(q, v, 0, 3))
    return emitOpError("expected query and value of the same batch, heads "
                       "and sequence");
  if (!compatibleDims(q, result, 0, 3) ||
      !compatibleSize(result.getDimSize(3), v.getDimSize(3)))
    return emitOpError("expected a [batch, heads, seq, value dim] result");
  if (!compatibleDims(result, getAddend().getType(), 0, 4))
    return emitOpError("expected the addend to have the result's shape");
  return success();
}
