//===- XfaLandmarkOps.cpp - Verifiers of the xfa landmark ops -------------===//
//
// Nystrom's segment-mean landmarks and pseudo-inverse start, orthoformer's
// landmark selection.
//
//===----------------------------------------------------------------------===//

#include "xfc/Dialect/Xfa/IR/Xfa.h"

using namespace mlir;
using namespace xfc::xfa;

/// Sizes agree unless one of them is only known at run time.
static bool sameSize(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b;
}

/// `result` is [batch, heads, rows, dim] of `input` with `rows` rows.
static LogicalResult verifyRows(Operation *op, RankedTensorType input,
                                RankedTensorType result, int64_t rows) {
  if (input.getRank() != 4)
    return op->emitOpError("expected a rank-4 input, got ") << input;
  if (result.getRank() != 4)
    return op->emitOpError("expected a rank-4 result, got ") << result;
  if (result.getDimSize(2) != rows)
    return op->emitOpError("expected a result of ")
           << rows << " rows, got " << result;
  for (int d : {0, 1, 3})
    if (!sameSize(input.getDimSize(d), result.getDimSize(d)))
      return op->emitOpError("expected the batch, heads and head dim of the "
                             "input ")
             << input << ", got " << result;
  return success();
}

LogicalResult LandmarkPoolOp::verify() {
  int64_t m = getNumLandmarks();
  if (m < 1)
    return emitOpError("expected num_landmarks >= 1, got ") << m;
  RankedTensorType input = getInput().getType();
  if (failed(verifyRows(*this, input, getResult().getType(), m)))
    return failure();
  int64_t rows = input.getDimSize(2);
  if (!ShapedType::isDynamic(rows) && rows < m)
    return emitOpError("expected at least num_landmarks = ")
           << m << " rows, got " << rows;
  return success();
}

LogicalResult PinvInitOp::verify() {
  RankedTensorType input = getInput().getType();
  if (input.getRank() != 4)
    return emitOpError("expected a rank-4 input, got ") << input;
  if (!sameSize(input.getDimSize(2), input.getDimSize(3)))
    return emitOpError("expected square matrices, got ") << input;
  if (input.getShape() != getResult().getType().getShape())
    return emitOpError("expected the result to have the input's shape, got ")
           << getResult().getType();
  return success();
}

int64_t LandmarkSelectOp::getNumRows() {
  int64_t m = getNumLandmarks();
  return getSelection() == "random" ? 2 * (m / 2) : m;
}

LogicalResult LandmarkSelectOp::verify() {
  StringRef selection = getSelection();
  if (selection != "orthogonal" && selection != "kmeans" &&
      selection != "kmeans_spherical" && selection != "random")
    return emitOpError("expected selection \"orthogonal\", \"kmeans\", "
                       "\"kmeans_spherical\" or \"random\", got \"")
           << selection << "\"";
  int64_t m = getNumLandmarks();
  int64_t least = selection == "random" ? 2 : 1;
  if (m < least)
    return emitOpError("expected num_landmarks >= ")
           << least << " for selection \"" << selection << "\", got " << m;
  double fraction = getSubsampleFraction().convertToDouble();
  if (!(fraction > 0.0 && fraction <= 1.0))
    return emitOpError("expected subsample_fraction in (0, 1], got ")
           << fraction;
  RankedTensorType query = getQuery().getType(), key = getKey().getType();
  RankedTensorType result = getResult().getType();
  if (key.getRank() != 4 || !sameSize(key.getDimSize(3), query.getDimSize(3)))
    return emitOpError("expected a rank-4 key with the query's head dim, got ")
           << key;
  if (result.getElementType() != query.getElementType())
    return emitOpError("expected the result to have the query's element "
                       "type, got ")
           << result;
  return verifyRows(*this, query, result, getNumRows());
}

LogicalResult SequenceConvOp::verify() {
  RankedTensorType input = getInput().getType();
  RankedTensorType weight = getWeight().getType();
  RankedTensorType result = getResult().getType();
  if (input.getRank() != 4)
    return emitOpError("expected a rank-4 input, got ") << input;
  if (weight.getRank() != 2 || !weight.hasStaticShape())
    return emitOpError("expected a static [heads, kernel] weight, got ")
           << weight;
  if (weight.getDimSize(1) % 2 != 1)
    return emitOpError("expected an odd kernel size, got ")
           << weight.getDimSize(1);
  if (!sameSize(input.getDimSize(1), weight.getDimSize(0)))
    return emitOpError("expected one weight row per head (")
           << input.getDimSize(1) << "), got " << weight.getDimSize(0);
  if (result.getShape() != input.getShape())
    return emitOpError("expected the result to have the input's shape, got ")
           << result;
  if (Value addend = getAddend())
    if (cast<RankedTensorType>(addend.getType()).getShape() != input.getShape())
      return emitOpError("expected the addend to have the input's shape, got ")
             << addend.getType();
  return success();
}
