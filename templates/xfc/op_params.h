//===- op_params.h - Parameters of the graph-op kernels ---------*- C++ -*-===//
//
// Variants other than plain softmax attention (linformer, nystrom, favor,
// fourier_mix, ...) run as a graph of small kernels: matrix products,
// softmaxes, reductions. Each of those kernels takes this one struct by value.
// Tensors are rank-4 views [batch, heads, rows, cols] with element strides (a
// parameter shared by all heads has batch = heads = 1); the kernel's traits fix
// the element types, so `dtype` is only checked by the runtime. Plain data:
// the host runtime and NVRTC-compiled kernels agree on its layout byte for
// byte. Keep fields 8-byte aligned and only append (kOpParamsVersion).
//
//===----------------------------------------------------------------------===//

#ifndef XFC_OP_PARAMS_H
#define XFC_OP_PARAMS_H

namespace xfc {

constexpr int kOpParamsVersion = 1;

/// Inputs an op kernel may take.
constexpr int kOpMaxInputs = 8;

/// Element type codes of graph-op tensors (traits and OpTensor::dtype).
enum OpDType : int { kOpF32 = 0, kOpF16 = 1, kOpBF16 = 2 };

/// How a matrix product operand is produced (traits ASource / BSource).
enum OperandSource : int {
  kFromMemory = 0,
  /// cos(2 pi r c / n) and -sin(2 pi r c / n): the real and imaginary parts
  /// of the n-point DFT matrix, n = the contraction length.
  kDftCos = 1,
  kDftNegSin = 2,
};

/// A rank-4 tensor view. Element [b, h, r, c] is at
/// data + b*strides[0] + h*strides[1] + r*strides[2] + c*strides[3]; a
/// dimension of size 1 broadcasts (its stride is ignored).
struct OpTensor {
  const void *data;
  long long dims[4];
  long long strides[4];
  int dtype;
  int reserved;
};

struct OpParams {
  /// Inputs in the order of the template's roles; unused ones are zero.
  OpTensor in[kOpMaxInputs];
  /// The output, dtype = the kernel's Element trait.
  OpTensor out;
  /// Op-specific scalars (a product's alpha and beta, a softmax scale).
  float alpha;
  float beta;
  /// Op-specific integers (a segment count, a causal offset).
  long long ints[4];
};

} // namespace xfc

#endif // XFC_OP_PARAMS_H
