//===- Tensor.h - Non-owning views of device tensors ------------*- C++ -*-===//
//
// A TensorView is a pointer plus dtype, shape and strides (in elements), up to
// four dimensions. It owns nothing and is cheap to copy: tensors from any
// framework (PyTorch's data_ptr()/sizes()/strides(), a cudaMalloc'd buffer)
// are described without copies, transposed layouts such as FairSeq's
// [T, B, H * D] included. The check* helpers produce the runtime's messages:
// the argument's name, then what was expected and what was found.
//
//===----------------------------------------------------------------------===//

#ifndef XFC_RUNTIME_TENSOR_H
#define XFC_RUNTIME_TENSOR_H

#include "xfc/runtime/Status.h"

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace xfc::runtime {

/// Element types of the tensors the runtime accepts.
enum class DType { F16, BF16, F32, Bool, U8 };

/// "fp16", "bf16", "fp32", "bool", "u8" (the manifest's spelling).
const char *getDTypeName(DType dtype);
/// Bytes per element.
std::size_t getDTypeSize(DType dtype);
/// Parses a manifest dtype name ("fp16", "bf16", "fp32", "bool", "u8").
StatusOr<DType> parseDType(const std::string &name);

/// A non-owning, strided view of up to four dimensions. Strides count
/// elements, not bytes. A view whose shape and stride lists differ in length,
/// or that has more than four dimensions, gets rank -1 and fails every check.
struct TensorView {
  void *data = nullptr;
  DType dtype = DType::F32;
  int rank = 0;
  int64_t shape[4] = {0, 0, 0, 0};
  int64_t strides[4] = {0, 0, 0, 0};

  TensorView() = default;
  /// A contiguous (row-major) view of `shape`.
  TensorView(void *data, DType dtype, std::initializer_list<int64_t> shape);
  /// A strided view; `strides` has one entry per dimension.
  TensorView(void *data, DType dtype, std::initializer_list<int64_t> shape,
             std::initializer_list<int64_t> strides);
  /// The same, from vectors.
  static TensorView fromVectors(void *data, DType dtype,
                                const std::vector<int64_t> &shape,
                                const std::vector<int64_t> &strides);

  /// The [batch, heads, seq, head_dim] view of a contiguous sequence-first
  /// buffer [seq, batch, heads * head_dim] (FairSeq's [T, B, C]).
  static TensorView fromSeqFirst(void *data, DType dtype, int64_t seq,
                                 int64_t batch, int64_t heads, int64_t headDim);

  /// Number of elements (0 for an invalid view).
  int64_t getNumElements() const;
  /// Whether the view is row-major with no gaps.
  bool isContiguous() const;
  /// "[2, 8, 100, 64]".
  std::string getShapeString() const;
  /// Number of elements from the first to one past the last addressed one
  /// (what a buffer holding the view must have).
  int64_t getSpanElements() const;
};

/// "query: expected dtype bf16, got fp16".
Status checkDType(const TensorView &view, const std::string &name,
                  DType expected);
/// "key: expected 4 dimensions [batch, heads, seq, head_dim], got 3".
/// `dimNames` is the bracketed list, e.g. "[batch, heads, seq, head_dim]".
Status checkRank(const TensorView &view, const std::string &name, int rank,
                 const std::string &dimNames);
/// "value: expected head_dim 64, got 32" for dimension `dim` called
/// `dimName`.
Status checkDim(const TensorView &view, const std::string &name, int dim,
                const std::string &dimName, int64_t expected);
/// "key_padding_mask: expected shape [2, 100], got [2, 99]".
Status checkShape(const TensorView &view, const std::string &name,
                  const std::vector<int64_t> &expected);
/// "query: the last dimension must be contiguous (stride 1), got stride 3".
Status checkLastDimContiguous(const TensorView &view, const std::string &name);
/// "query: rows must be 16-byte aligned (...)": the data pointer and every
/// stride (times the element size) of a dimension longer than 1, except the
/// last, must be multiples of `alignment` bytes.
Status checkRowAlignment(const TensorView &view, const std::string &name,
                         std::size_t alignment = 16);
/// "query: the data pointer is null" (unless the view is empty), a malformed
/// view, negative sizes or strides.
Status checkWellFormed(const TensorView &view, const std::string &name);

/// fp16/bf16 <-> fp32 on the host (round to nearest even), for programs that
/// prepare inputs or read outputs.
uint16_t floatToF16(float value);
float f16ToFloat(uint16_t bits);
uint16_t floatToBF16(float value);
float bf16ToFloat(uint16_t bits);

} // namespace xfc::runtime

#endif // XFC_RUNTIME_TENSOR_H
