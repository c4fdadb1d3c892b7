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
    auto type = cast<RankedTensorType>(addend.getType());
    if (type.getRank() != 4)
      return emitOpError("expected a rank-4 addend, got ") << type;
    for (int d = 0; d < 4; ++d)
      if (!compatible(type.getDimSize(d), result.getDimSize(d)))
        return emitOpError("expected the addend to have the result's shape, "
                           "got ")
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
