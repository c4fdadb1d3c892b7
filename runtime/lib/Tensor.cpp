//===- Tensor.cpp - Non-owning views of device tensors --------------------===//

#include "xfc/runtime/Tensor.h"

#include <cmath>
#include <cstring>

namespace xfc::runtime {

const char *getDTypeName(DType dtype) {
  switch (dtype) {
  case DType::F16:
    return "fp16";
  case DType::BF16:
    return "bf16";
  case DType::F32:
    return "fp32";
  case DType::Bool:
    return "bool";
  case DType::U8:
    return "u8";
  }
  return "?";
}

std::size_t getDTypeSize(DType dtype) {
  switch (dtype) {
  case DType::F16:
  case DType::BF16:
    return 2;
  case DType::F32:
    return 4;
  case DType::Bool:
  case DType::U8:
    return 1;
  }
  return 0;
}

StatusOr<DType> parseDType(const std::string &name) {
  for (DType dtype :
       {DType::F16, DType::BF16, DType::F32, DType::Bool, DType::U8})
    if (name == getDTypeName(dtype))
      return dtype;
  if (name == "uint8")
    return DType::U8;
  return Status::error("dtype: expected one of fp16, bf16, fp32, bool, u8, "
                       "got '" +
                       name + "'");
}

TensorView::TensorView(void *data, DType dtype,
                       std::initializer_list<int64_t> shape)
    : data(data), dtype(dtype) {
  if (shape.size() > 4) {
    rank = -1;
    return;
  }
  rank = static_cast<int>(shape.size());
  int i = 0;
  for (int64_t size : shape)
    this->shape[i++] = size;
  int64_t stride = 1;
  for (int d = rank - 1; d >= 0; --d) {
    strides[d] = stride;
    stride *= this->shape[d];
  }
}

TensorView::TensorView(void *data, DType dtype,
                       std::initializer_list<int64_t> shape,
                       std::initializer_list<int64_t> strides)
    : TensorView(fromVectors(data, dtype, shape, strides)) {}

TensorView TensorView::fromVectors(void *data, DType dtype,
                                   const std::vector<int64_t> &shape,
                                   const std::vector<int64_t> &strides) {
  TensorView view;
  view.data = data;
  view.dtype = dtype;
  if (shape.size() > 4 || shape.size() != strides.size()) {
    view.rank = -1;
    return view;
  }
  view.rank = static_cast<int>(shape.size());
  for (int d = 0; d < view.rank; ++d) {
    view.shape[d] = shape[d];
    view.strides[d] = strides[d];
  }
  return view;
}

TensorView TensorView::fromSeqFirst(void *data, DType dtype, int64_t seq,
                                    int64_t batch, int64_t heads,
                                    int64_t headDim) {
  return TensorView(data, dtype, {batch, heads, seq, headDim},
                    {heads * headDim, headDim, batch * heads * headDim, 1});
}

int64_t TensorView::getNumElements() const {
  if (rank < 0)
    return 0;
  int64_t count = 1;
  for (int d = 0; d < rank; ++d)
    count *= shape[d];
  return count;
}

bool TensorView::isContiguous() const {
  if (rank < 0)
    return false;
  int64_t expected = 1;
  for (int d = rank - 1; d >= 0; --d) {
    if (shape[d] != 1 && strides[d] != expected)
      return false;
    expected *= shape[d];
  }
  return true;
}

std::string TensorView::getShapeString() const {
  if (rank < 0)
    return "<malformed>";
  std::string text = "[";
  for (int d = 0; d < rank; ++d)
    text += (d ? ", " : "") + std::to_string(shape[d]);
  return text + "]";
}

int64_t TensorView::getSpanElements() const {
  if (rank < 0 || getNumElements() == 0)
    return 0;
  int64_t last = 0;
  for (int d = 0; d < rank; ++d)
    last += (shape[d] - 1) * strides[d];
  return last + 1;
}

static std::string shapeString(const std::vector<int64_t> &shape) {
  std::string text = "[";
  for (std::size_t d = 0; d < shape.size(); ++d)
    text += (d ? ", " : "") + std::to_string(shape[d]);
  return text + "]";
}

Status checkWellFormed(const TensorView &view, const std::string &name) {
  if (view.rank < 0 || view.rank > 4)
    return Status::error(name +
                         ": malformed view: expected at most 4 dimensions "
                         "with one stride each");
  for (int d = 0; d < view.rank; ++d) {
    if (view.shape[d] < 0)
      return Status::error(name + ": expected non-negative sizes, got shape " +
                           view.getShapeString());
    if (view.strides[d] < 0)
      return Status::error(name + ": expected non-negative strides, got " +
                           std::to_string(view.strides[d]) + " in dimension " +
                           std::to_string(d));
  }
  if (!view.data && view.getNumElements() > 0)
    return Status::error(name + ": the data pointer is null");
  return Status::ok();
}

Status checkDType(const TensorView &view, const std::string &name,
                  DType expected) {
  if (view.dtype == expected)
    return Status::ok();
  return Status::error(name + ": expected dtype " + getDTypeName(expected) +
                       ", got " + getDTypeName(view.dtype));
}

Status checkRank(const TensorView &view, const std::string &name, int rank,
                 const std::string &dimNames) {
  if (view.rank == rank)
    return Status::ok();
  std::string got = view.rank < 0 ? std::string("a malformed view")
                                  : std::to_string(view.rank);
  return Status::error(name + ": expected " + std::to_string(rank) +
                       " dimensions " + dimNames + ", got " + got);
}

Status checkDim(const TensorView &view, const std::string &name, int dim,
                const std::string &dimName, int64_t expected) {
  if (dim < 0 || dim >= view.rank)
    return Status::error(name + ": expected a " + dimName + " dimension, got " +
                         std::to_string(view.rank) + " dimensions");
  if (view.shape[dim] == expected)
    return Status::ok();
  return Status::error(name + ": expected " + dimName + " " +
                       std::to_string(expected) + ", got " +
                       std::to_string(view.shape[dim]));
}

Status checkShape(const TensorView &view, const std::string &name,
                  const std::vector<int64_t> &expected) {
  bool same = view.rank == static_cast<int>(expected.size());
  for (int d = 0; same && d < view.rank; ++d)
    same = view.shape[d] == expected[d];
  if (same)
    return Status::ok();
  return Status::error(name + ": expected shape " + shapeString(expected) +
                       ", got " + view.getShapeString());
}

Status checkLastDimContiguous(const TensorView &view, const std::string &name) {
  if (view.rank <= 0)
    return Status::ok();
  int last = view.rank - 1;
  if (view.strides[last] == 1 || view.shape[last] <= 1)
    return Status::ok();
  return Status::error(name +
                       ": the last dimension must be contiguous (stride 1), "
                       "got stride " +
                       std::to_string(view.strides[last]));
}

Status checkRowAlignment(const TensorView &view, const std::string &name,
                         std::size_t alignment) {
  std::string prefix =
      name + ": rows must be " + std::to_string(alignment) + "-byte aligned";
  auto address = reinterpret_cast<std::uintptr_t>(view.data);
  if (address % alignment)
    return Status::error(prefix + " (the data pointer is " +
                         std::to_string(address % alignment) +
                         " bytes past a multiple of " +
                         std::to_string(alignment) + ")");
  std::size_t size = getDTypeSize(view.dtype);
  for (int d = 0; d + 1 < view.rank; ++d) {
    if (view.shape[d] <= 1)
      continue;
    std::size_t bytes = static_cast<std::size_t>(view.strides[d]) * size;
    if (bytes % alignment)
      return Status::error(prefix + " (the stride of dimension " +
                           std::to_string(d) + " is " +
                           std::to_string(view.strides[d]) +
                           " elements = " + std::to_string(bytes) + " bytes)");
  }
  return Status::ok();
}

uint16_t floatToF16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  uint32_t sign = (bits >> 16) & 0x8000u;
  uint32_t exponent = (bits >> 23) & 0xffu;
  uint32_t mantissa = bits & 0x7fffffu;
  if (exponent == 0xff) // Inf or NaN (keep a quiet NaN).
    return static_cast<uint16_t>(sign | 0x7c00u | (mantissa ? 0x200u : 0u));
  int e = static_cast<int>(exponent) - 127 + 15;
  if (e >= 31)
    return static_cast<uint16_t>(sign | 0x7c00u);
  if (e <= 0) {
    // Subnormal half (or zero): shift the full mantissa into place.
    if (e < -10)
      return static_cast<uint16_t>(sign);
    uint32_t full = mantissa | 0x800000u;
    int shift = 14 - e;
    uint32_t half = full >> shift;
    uint32_t rest = full & ((1u << shift) - 1);
    uint32_t halfway = 1u << (shift - 1);
    if (rest > halfway || (rest == halfway && (half & 1u)))
      ++half;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t half = (static_cast<uint32_t>(e) << 10) | (mantissa >> 13);
  uint32_t rest = mantissa & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (half & 1u)))
    ++half; // May carry into the exponent, up to Inf: that is correct.
  return static_cast<uint16_t>(sign | half);
}

float f16ToFloat(uint16_t bits) {
  uint32_t sign = (bits & 0x8000u) << 16;
  uint32_t exponent = (bits >> 10) & 0x1fu;
  uint32_t mantissa = bits & 0x3ffu;
  uint32_t result;
  if (exponent == 0x1f) {
    result = sign | 0x7f800000u | (mantissa << 13);
  } else if (exponent == 0) {
    if (mantissa == 0) {
      result = sign;
    } else {
      float value = std::ldexp(static_cast<float>(mantissa), -24);
      return sign ? -value : value;
    }
  } else {
    result = sign | ((exponent - 15 + 127) << 23) | (mantissa << 13);
  }
  float value;
  std::memcpy(&value, &result, 4);
  return value;
}

uint16_t floatToBF16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  if ((bits & 0x7f800000u) == 0x7f800000u && (bits & 0x7fffffu))
    return static_cast<uint16_t>((bits >> 16) | 0x40u); // Quiet NaN.
  uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>((bits + rounding) >> 16);
}

float bf16ToFloat(uint16_t bits) {
  uint32_t result = static_cast<uint32_t>(bits) << 16;
  float value;
  std::memcpy(&value, &result, 4);
  return value;
}

} // namespace xfc::runtime
