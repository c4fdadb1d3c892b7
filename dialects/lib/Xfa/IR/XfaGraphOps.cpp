//===- XfaGraphOps.cpp - Verifiers of the xfa graph ops -------------------===//
//
// The ops that variants other than softmax attention are built of: learned
// parameters, generated DFT matrices, matrix products and softmaxes.
//
//===----------------------------------------------------------------------===//

#include "xfc/Dialect/Xfa/IR/Xfa.h"

using namespace mlir;
using namespace xfc::xfa;

/// Sizes agree unless one of them is only known at run time.
static bool compatible(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b;
}

static std::string formatSize(int64_t size) {
  return ShapedType::isDynamic(size) ? "?" : std::to_string(size);
}

LogicalResult ParameterOp::verify() {
  RankedTensorType type = getResult().getType();
  if (type.getRank() != 2 || !type.hasStaticShape())
    return emitOpError("expected a static rank-2 tensor, got ") << type;
  if (getName().empty())
    return emitOpError("expected a non-empty name");
  StringRef init = getInit();
  if (init != "uniform" && init != "normal" && init != "orthogonal" &&
      init != "orthogonal_chi")
    return emitOpError("expected init \"uniform\", \"normal\", "
                       "\"orthogonal\" or \"orthogonal_chi\", got \"")
           << init << "\"";
  if (!(getInitScale().convertToDouble() >= 0.0))
    return emitOpError("expected init_scale >= 0");
  return success();
}

LogicalResult DftMatrixOp::verify() {
  if (getPart() != "cos" && getPart() != "neg_sin")
    return emitOpError("expected part \"cos\" or \"neg_sin\", got \"")
           << getPart() << "\"";
  RankedTensorType source = getSource().getType();
  int64_t dim = getDim();
  if (dim < 0 || dim >= source.getRank())
    return emitOpError("dim ") << dim << " is out of range for " << source;
  RankedTensorType type = getResult().getType();
  int64_t n = source.getDimSize(dim);
  if (type.getRank() != 2 || !compatible(type.getDimSize(0), n) ||
      !compatible(type.getDimSize(1), n))
    return emitOpError("expected a [") << formatSize(n) << ", " << formatSize(n)
                                       << "] result, got " << type;
  return success();
}

/// Rows and columns of an operand after the optional transpose.
static std::pair<int64_t, int64_t> matrixSizes(RankedTensorType type,
                                               bool transpose) {
  int64_t rows = type.getDimSize(type.getRank() - 2);
  int64_t cols = type.getDimSize(type.getRank() - 1);
  return transpose ? std::make_pair(cols, rows) : std::make_pair(rows, cols);
}

LogicalResult MatmulOp::verify() {
  RankedTensorType lhs = getLhs().getType(), rhs = getRhs().getType();
  RankedTensorType result = getResult().getType();
  for (auto [name, type] :
       {std::pair<const char *, RankedTensorType>{"lhs", lhs}, {"rhs", rhs}})
    if (type.getRank() != 2 && type.getRank() != 4)
      return emitOpError("expected ")
             << name << " of rank 2 or 4, got " << type;
  if (result.getRank() != 4)
    return emitOpError("expected a rank-4 result, got ") << result;
  auto [m, kl] = matrixSizes(lhs, getTransposeLhs());
  auto [kr, n] = matrixSizes(rhs, getTransposeRhs());
  if (getTruncateLhs()) {
    if (!ShapedType::isDynamic(kl) && !ShapedType::isDynamic(kr) && kr > kl)
      return emitOpError("contraction: rhs has ")
             << kr << " entries, more than the lhs's " << kl;
  } else if (!compatible(kl, kr)) {
    return emitOpError("contraction sizes differ: lhs ")
           << formatSize(kl) << ", rhs " << formatSize(kr);
  }
  if (!compatible(result.getDimSize(2), m) ||
      !compatible(result.getDimSize(3), n))
    return emitOpError("expected result rows x cols ")
           << formatSize(m) << " x " << formatSize(n) << ", got " << result;
  for (Value operand : {getLhs(), getRhs()}) {
    auto type = cast<RankedTensorType>(operand.getType());
    if (type.getRank() == 4)
      for (int d = 0; d < 2; ++d)
        if (!compatible(type.getDimSize(d), result.getDimSize(d)))
          return emitOpError("batch and head sizes of ")
                 << type << " differ from the result's " << result;
  }
  if (Value addend = getAddend()) {
    // Rank 4 or 2 ([rows, cols] of every batch and head); a dimension of
    // size 1 broadcasts (a bias row).
    auto type = cast<RankedTensorType>(addend.getType());
    if (type.getRank() != 4 && type.getRank() != 2)
      return emitOpError("expected a rank-2 or rank-4 addend, got ") << type;
    int64_t offset = 4 - type.getRank();
    for (int64_t d = 0; d < type.getRank(); ++d)
      if (type.getDimSize(d) != 1 &&
          !compatible(type.getDimSize(d), result.getDimSize(d + offset)))
        return emitOpError("expected the addend to have the result's shape "
                           "or to broadcast to it, got ")
               << type;
  }
  return success();
}

LogicalResult SoftmaxOp::verify() {
  RankedTensorType input = getInput().getType();
  RankedTensorType result = getResult().getType();
  if (input.getRank() != 4)
    return emitOpError("expected a rank-4 input, got ") << input;
  if (input.getShape() != result.getShape())
    return emitOpError("expected the result to have the input's shape, got ")
           << result;
  return success();
}

LogicalResult RegroupHeadsOp::verify() {
  RankedTensorType input = getInput().getType(), result = getType();
  if (input.getRank() != 4 || result.getRank() != 4)
    return emitOpError("expected rank-4 tensors");
  RankedTensorType merged = getSplit() ? input : result;
  RankedTensorType split = getSplit() ? result : input;
  if (!compatible(merged.getDimSize(1), 1))
    return emitOpError("expected the merged tensor to have one head, got ")
           << merged;
  int64_t heads = split.getDimSize(1), dim = split.getDimSize(3);
  if (!ShapedType::isDynamic(heads) && !ShapedType::isDynamic(dim) &&
      !compatible(merged.getDimSize(3), heads * dim))
    return emitOpError("expected ")
           << heads * dim << " merged features (" << heads << " heads of "
           << dim << "), got " << merged.getDimSize(3);
  if (!compatible(input.getDimSize(0), result.getDimSize(0)) ||
      !compatible(input.getDimSize(2), result.getDimSize(2)))
    return emitOpError("expected the same batch and sequence");
  return success();
}

LogicalResult SelectRulesOp::verify() {
  StringRef mode = getMode();
  size_t weights = getWeights().size();
  size_t expected = mode == "linear" ? 1
                    : mode == "mlp"  ? 2
                    : mode == "qk"   ? 1
                                     : 0;
  if (!expected)
    return emitOpError("expected mode \"linear\", \"mlp\" or \"qk\", got \"")
           << mode << "\"";
  if (getBias())
    expected *= 2;
  if (weights != expected)
    return emitOpError("mode \"")
           << mode << "\"" << (getBias() ? " with biases" : "") << " takes "
           << expected << " weights, got " << weights;
  int64_t rules = getRules();
  if (rules < 1 || rules > 32)
    return emitOpError("expected 1 to 32 rules, got ") << rules;
  RankedTensorType o = getRetrievals().getType(), q = getSelection().getType();
  if (o.getRank() != 4 || q.getRank() != 4 || getType().getRank() != 4)
    return emitOpError("expected rank-4 retrievals, selection and result");
  if (!ShapedType::isDynamic(o.getDimSize(1)) &&
      !ShapedType::isDynamic(q.getDimSize(1)) &&
      o.getDimSize(1) != q.getDimSize(1) * rules)
    return emitOpError("expected ")
           << q.getDimSize(1) * rules << " retrieval heads (searches x rules), "
           << "got " << o.getDimSize(1);
  if (!compatible(getType().getDimSize(3), o.getDimSize(3)))
    return emitOpError("expected the result to have the retrievals' features");
  return success();
}

LogicalResult RetrieveOp::verify() {
  RankedTensorType weights = getWeights().getType(),
                   values = getValues().getType(), result = getType();
  if (weights.getRank() != 4 || values.getRank() != 4 || result.getRank() != 4)
    return emitOpError("expected rank-4 weights, values and result");
  int64_t searches = weights.getDimSize(1), rules = values.getDimSize(1);
  if (!ShapedType::isDynamic(searches) && !ShapedType::isDynamic(rules) &&
      !compatible(result.getDimSize(1), searches * rules))
    return emitOpError("expected ") << searches * rules << " result heads ("
                                    << searches << " searches x " << rules
                                    << " rules), got " << result.getDimSize(1);
  if (!compatible(weights.getDimSize(3), values.getDimSize(2)))
    return emitOpError("the weights' keys (")
           << formatSize(weights.getDimSize(3)) << ") and the values' ("
           << formatSize(values.getDimSize(2)) << ") differ";
  if (!compatible(result.getDimSize(2), weights.getDimSize(2)) ||
      !compatible(result.getDimSize(3), values.getDimSize(3)))
    return emitOpError("expected a [batch, searches x rules, queries, "
                       "value features] result, got ")
           << result;
  return success();
}
