//===- XfaConvOps.cpp - Verifiers of the xfa token-grid ops ---------------===//
//
// pooling's average pool and visual's depthwise convolutions over the square
// token grid, and the element-wise ops between visual's convolutions.
//
//===----------------------------------------------------------------------===//

#include "xfc/Dialect/Xfa/IR/Xfa.h"

using namespace mlir;
using namespace xfc::xfa;

/// Sizes agree unless one of them is only known at run time.
static bool sameGridSize(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b;
}

/// `result` has the shape of the rank-4 `input`.
static LogicalResult verifySameGrid(Operation *op, RankedTensorType input,
                                    RankedTensorType result,
                                    StringRef inputName = "input") {
  if (input.getRank() != 4)
    return op->emitOpError("expected a rank-4 ")
           << inputName << " [batch, heads, seq, features], got " << input;
  if (result.getRank() != 4)
    return op->emitOpError("expected a rank-4 result, got ") << result;
  for (int64_t d = 0; d < 4; ++d)
    if (!sameGridSize(input.getDimSize(d), result.getDimSize(d)))
      return op->emitOpError("expected the result to have the ")
             << inputName << "'s shape " << input << ", got " << result;
  return success();
}

/// A `[1, channels]` bias row.
static LogicalResult verifyBiasRow(Operation *op, RankedTensorType bias,
                                   int64_t channels) {
  if (bias.getRank() != 2 || bias.getDimSize(0) != 1 ||
      !sameGridSize(bias.getDimSize(1), channels))
    return op->emitOpError("expected a bias of [1, ")
           << channels << "], got " << bias;
  return success();
}

LogicalResult GridPoolOp::verify() {
  int64_t k = getPoolSize();
  if (k < 1 || k % 2 == 0)
    return emitOpError("expected an odd pool_size >= 1 (stride 1 and padding "
                       "pool_size // 2 keep the grid only then), got ")
           << k;
  return verifySameGrid(*this, getInput().getType(), getType());
}

LogicalResult DepthwiseConv2dOp::verify() {
  int64_t k = getKernelSize(), dilation = getDilation();
  if (k < 1 || k % 2 == 0)
    return emitOpError("expected an odd kernel_size >= 1, got ") << k;
  if (dilation < 1)
    return emitOpError("expected dilation >= 1, got ") << dilation;
  RankedTensorType input = getInput().getType();
  if (failed(verifySameGrid(*this, input, getType())))
    return failure();
  int64_t channels = input.getDimSize(3);
  if (ShapedType::isDynamic(channels))
    return emitOpError("expected a static number of features, got ") << input;
  RankedTensorType weight = getWeight().getType();
  if (weight.getRank() != 2 || weight.getDimSize(0) != channels ||
      weight.getDimSize(1) != k * k)
    return emitOpError("expected a weight of [")
           << channels << ", " << k * k << "] (one " << k << "x" << k
           << " filter per feature), got " << weight;
  return verifyBiasRow(*this, getBias().getType(), channels);
}

LogicalResult ElementwiseOp::verify() {
  StringRef kind = getKind();
  bool binary = kind == "mul" || kind == "add";
  if (!binary && kind != "gelu")
    return emitOpError("expected kind \"gelu\", \"mul\" or \"add\", got \"")
           << kind << "\"";
  if (binary != static_cast<bool>(getRhs()))
    return emitOpError("kind \"")
           << kind << "\" takes " << (binary ? "two operands" : "one operand");
  RankedTensorType lhs = getLhs().getType();
  if (failed(verifySameGrid(*this, lhs, getType(), "lhs")))
    return failure();
  if (Value rhs = getRhs())
    if (failed(verifySameGrid(*this, cast<RankedTensorType>(rhs.getType()),
                              getType(), "rhs")))
      return failure();
  if (Value bias = getBias())
    return verifyBiasRow(*this, cast<RankedTensorType>(bias.getType()),
                         lhs.getDimSize(3));
  return success();
}
