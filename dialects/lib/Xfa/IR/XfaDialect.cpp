//===- XfaDialect.cpp - xfa dialect, attribute and op verifiers -----------===//

#include "xfc/Dialect/Xfa/IR/Xfa.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace xfc::xfa;

#include "xfc/Dialect/Xfa/IR/XfaDialect.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "xfc/Dialect/Xfa/IR/XfaAttrs.cpp.inc"

#define GET_OP_CLASSES
#include "xfc/Dialect/Xfa/IR/XfaOps.cpp.inc"

void XfaDialect::initialize() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "xfc/Dialect/Xfa/IR/XfaAttrs.cpp.inc"
      >();
  addOperations<
#define GET_OP_LIST
#include "xfc/Dialect/Xfa/IR/XfaOps.cpp.inc"
      >();
}

StringRef xfc::xfa::getDtypeName(Type elementType) {
  if (elementType.isF16())
    return "fp16";
  if (elementType.isBF16())
    return "bf16";
  if (elementType.isF32())
    return "fp32";
  return "unsupported";
}

static std::string joinSizes(ArrayRef<int64_t> sizes) {
  std::string text;
  llvm::raw_string_ostream os(text);
  llvm::interleaveComma(sizes, os);
  return text;
}

/// Checks that `bits` is an i8 tensor [heads, blocks, blocks] of 0/1.
static LogicalResult
verifyLayoutBits(function_ref<InFlightDiagnostic()> emitError,
                 DenseIntElementsAttr bits) {
  auto type = llvm::cast<ShapedType>(bits.getType());
  if (!type.getElementType().isInteger(8))
    return emitError() << "expected layout bits of type i8, got "
                       << type.getElementType();
  if (type.getRank() != 3 || type.getDimSize(1) != type.getDimSize(2) ||
      type.getDimSize(0) < 1 || type.getDimSize(1) < 1)
    return emitError() << "expected layout bits of shape [heads, blocks, "
                          "blocks], got "
                       << type;
  int64_t index = 0;
  for (const APInt &bit : bits.getValues<APInt>()) {
    if (bit != 0 && bit != 1) {
      int64_t blocks = type.getDimSize(1);
      return emitError() << "expected layout bits to be 0 or 1, got "
                         << bit.getSExtValue() << " at ["
                         << index / (blocks * blocks) << "]["
                         << (index / blocks) % blocks << "][" << index % blocks
                         << "]";
    }
    ++index;
  }
  return success();
}

static LogicalResult
verifyBlockSize(function_ref<InFlightDiagnostic()> emitError,
                int64_t blockSize) {
  if (!llvm::is_contained(kSupportedBlockSizes, blockSize))
    return emitError() << "expected block_size to be one of "
                       << joinSizes(kSupportedBlockSizes) << ", got "
                       << blockSize;
  return success();
}

//===----------------------------------------------------------------------===//
// BlockLayoutAttr
//===----------------------------------------------------------------------===//

LogicalResult
BlockLayoutAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                        int64_t blockSize, DenseIntElementsAttr bits) {
  if (failed(verifyBlockSize(emitError, blockSize)))
    return failure();
  return verifyLayoutBits(emitError, bits);
}

int64_t BlockLayoutAttr::getNumHeads() const {
  return llvm::cast<ShapedType>(getBits().getType()).getDimSize(0);
}

int64_t BlockLayoutAttr::getNumBlocks() const {
  return llvm::cast<ShapedType>(getBits().getType()).getDimSize(1);
}

bool BlockLayoutAttr::isSet(int64_t head, int64_t row, int64_t col) const {
  int64_t blocks = getNumBlocks();
  int64_t index = ((head % getNumHeads()) * blocks + row) * blocks + col;
  return !(*(getBits().value_begin<APInt>() + index)).isZero();
}

double BlockLayoutAttr::getDensity() const {
  int64_t on = 0, total = 0;
  for (const APInt &bit : getBits().getValues<APInt>()) {
    on += !bit.isZero();
    ++total;
  }
  return total ? static_cast<double>(on) / total : 0.0;
}

//===----------------------------------------------------------------------===//
// MaskAttr
//===----------------------------------------------------------------------===//

LogicalResult MaskAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                               bool causal, BlockLayoutAttr layout,
                               bool attnMask, bool keyPadding,
                               int64_t windowLeft, int64_t windowRight,
                               int64_t randomThreshold, int64_t randomSeed,
                               bool randomPerCall,
                               DenseI32ArrayAttr globalTokens) {
  if (windowLeft < -1 || windowRight < -1)
    return emitError() << "expected window bounds >= 0, or -1 for none, got "
                       << windowLeft << " and " << windowRight;
  bool window = windowLeft >= 0 || windowRight >= 0;
  if (window && layout)
    return emitError() << "a window and a block layout in one mask are not "
                          "supported; give one of them";
  if (randomThreshold < 0 || randomThreshold > kRandomAll)
    return emitError() << "expected random_threshold in [0, 2^32] (0: no "
                          "random pattern), got "
                       << randomThreshold;
  if (randomSeed < 0)
    return emitError() << "expected random_seed >= 0, got " << randomSeed;
  if (randomThreshold == 0 && (randomSeed != 0 || randomPerCall))
    return emitError() << "random_seed and random_per_call need a "
                          "random_threshold > 0";
  if (globalTokens) {
    ArrayRef<int32_t> tokens = globalTokens.asArrayRef();
    if (tokens.empty())
      return emitError() << "expected at least one global token";
    for (size_t i = 0; i < tokens.size(); ++i)
      if (tokens[i] < 0 || (i > 0 && tokens[i] <= tokens[i - 1]))
        return emitError() << "expected global_tokens to be ascending token "
                              "indices >= 0, got "
                           << tokens[i] << " at position " << i;
    if (window)
      return emitError() << "a window and global tokens in one mask are not "
                            "supported; give one of them";
  }
  return success();
}

//===----------------------------------------------------------------------===//
// BlockCsrAttr
//===----------------------------------------------------------------------===//

LogicalResult BlockCsrAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                   int64_t blockSize, int64_t heads,
                                   int64_t blocks, DenseI32ArrayAttr rowPtr,
                                   DenseI32ArrayAttr cols,
                                   DenseI8ArrayAttr partial,
                                   DenseIntElementsAttr bits) {
  if (failed(verifyBlockSize(emitError, blockSize)) ||
      failed(verifyLayoutBits(emitError, bits)))
    return failure();
  auto bitsType = llvm::cast<ShapedType>(bits.getType());
  if (bitsType.getDimSize(0) != heads || bitsType.getDimSize(1) != blocks)
    return emitError() << "expected bits of shape [" << heads << ", " << blocks
                       << ", " << blocks << "], got " << bitsType;
  if (static_cast<int64_t>(rowPtr.size()) != heads * (blocks + 1))
    return emitError() << "expected row_ptr to have heads * (blocks + 1) = "
                       << heads * (blocks + 1) << " entries, got "
                       << rowPtr.size();
  if (cols.size() != partial.size())
    return emitError() << "expected as many partial flags as cols, got "
                       << partial.size() << " and " << cols.size();
  ArrayRef<int32_t> ptr = rowPtr.asArrayRef();
  for (int64_t h = 0; h < heads; ++h) {
    ArrayRef<int32_t> headPtr = ptr.slice(h * (blocks + 1), blocks + 1);
    for (int64_t r = 0; r < blocks; ++r) {
      if (headPtr[r] > headPtr[r + 1] || headPtr[r + 1] > cols.size())
        return emitError() << "expected non-decreasing row_ptr within [0, "
                           << cols.size() << "] for head " << h << ", row "
                           << r;
      for (int32_t e = headPtr[r]; e < headPtr[r + 1]; ++e) {
        int32_t col = cols[e];
        if (col < 0 || col >= blocks)
          return emitError() << "expected cols in [0, " << blocks << "), got "
                             << col << " in head " << h << ", row " << r;
        if (e > headPtr[r] && cols[e - 1] >= col)
          return emitError() << "expected strictly ascending cols in head " << h
                             << ", row " << r;
        if (partial[e] != 0 && partial[e] != 1)
          return emitError() << "expected partial flags to be 0 or 1";
      }
    }
  }
  return success();
}

//===----------------------------------------------------------------------===//
// KernelConfigAttr
//===----------------------------------------------------------------------===//

LogicalResult
KernelConfigAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                         StringAttr arch, StringAttr path, int64_t blockM,
                         int64_t blockN, int64_t warps, int64_t stages,
                         int64_t sharedBytes) {
  if (!arch || !arch.getValue().starts_with("sm_"))
    return emitError() << "expected arch like sm_80 or sm_90a, got " << arch;
  if (!path || (path.getValue() != "mma_sync" && path.getValue() != "simt"))
    return emitError() << "expected path to be mma_sync or simt, got " << path;
  if (blockM <= 0 || blockM % 16 != 0)
    return emitError() << "expected block_m to be a positive multiple of 16, "
                          "got "
                       << blockM;
  if (blockN <= 0 || blockN % 16 != 0)
    return emitError() << "expected block_n to be a positive multiple of 16, "
                          "got "
                       << blockN;
  if (warps <= 0 || warps > 32)
    return emitError() << "expected warps in [1, 32], got " << warps;
  if (stages < 1 || stages > 4)
    return emitError() << "expected stages in [1, 4], got " << stages;
  if (sharedBytes < 0 || sharedBytes > 227 * 1024)
    return emitError() << "expected shared_bytes in [0, 232448], got "
                       << sharedBytes;
  return success();
}

//===----------------------------------------------------------------------===//
// AttentionOp
//===----------------------------------------------------------------------===//

LogicalResult AttentionOp::verify() {
  RankedTensorType qType = getQuery().getType();
  RankedTensorType kType = getKey().getType();
  RankedTensorType vType = getValue().getType();
  RankedTensorType oType = getResult().getType();
  Type element = qType.getElementType();
  if (kType.getElementType() != element || vType.getElementType() != element ||
      oType.getElementType() != element)
    return emitOpError("expected query, key, value and result to share one "
                       "element type, got ")
           << qType.getElementType() << ", " << kType.getElementType() << ", "
           << vType.getElementType() << " and " << oType.getElementType();

  // Static sizes must agree where two tensors share a dimension.
  auto mismatch = [](int64_t a, int64_t b) {
    return !ShapedType::isDynamic(a) && !ShapedType::isDynamic(b) && a != b;
  };
  const char *dimNames[] = {"batch", "heads"};
  for (int dim = 0; dim < 2; ++dim) {
    for (RankedTensorType other : {kType, vType, oType}) {
      if (mismatch(qType.getDimSize(dim), other.getDimSize(dim)))
        return emitOpError("expected the ")
               << dimNames[dim] << " size of query (" << qType.getDimSize(dim)
               << ") to match " << other << "";
    }
  }
  if (mismatch(qType.getDimSize(3), kType.getDimSize(3)))
    return emitOpError("expected query and key head_dim to match, got ")
           << qType.getDimSize(3) << " and " << kType.getDimSize(3);
  if (mismatch(kType.getDimSize(2), vType.getDimSize(2)))
    return emitOpError("expected key and value sequence lengths to match, got ")
           << kType.getDimSize(2) << " and " << vType.getDimSize(2);
  if (mismatch(qType.getDimSize(2), oType.getDimSize(2)) ||
      mismatch(vType.getDimSize(3), oType.getDimSize(3)))
    return emitOpError("expected result of shape [batch, heads, q_len, "
                       "value head_dim], got ")
           << oType;
  if (ShapedType::isDynamic(qType.getDimSize(3)))
    return emitOpError("expected a static head_dim");

  float dropout = getDropout().convertToFloat();
  if (!(dropout >= 0.0f && dropout < 1.0f))
    return emitOpError("expected dropout in [0, 1), got ") << dropout;
  if (!(getScale().convertToFloat() > 0.0f))
    return emitOpError("expected a positive scale, got ")
           << getScale().convertToFloat();

  MaskAttr mask = getMask();
  if (mask.getAttnMask() != static_cast<bool>(getAttnMask()))
    return emitOpError("mask.attn_mask is ")
           << (mask.getAttnMask() ? "true" : "false") << " but the attn_mask "
           << "operand is " << (getAttnMask() ? "present" : "absent");
  if (mask.getKeyPadding() != static_cast<bool>(getKeyPadding()))
    return emitOpError("mask.key_padding is ")
           << (mask.getKeyPadding() ? "true" : "false")
           << " but the key_padding operand is "
           << (getKeyPadding() ? "present" : "absent");
  if (Value attnMask = getAttnMask()) {
    auto type = llvm::cast<RankedTensorType>(attnMask.getType());
    if (type.getRank() != 2 ||
        mismatch(type.getDimSize(0), qType.getDimSize(2)) ||
        mismatch(type.getDimSize(1), kType.getDimSize(2)))
      return emitOpError("expected attn_mask of shape [q_len, kv_len], got ")
             << type;
  }
  if (Value keyPadding = getKeyPadding()) {
    auto type = llvm::cast<RankedTensorType>(keyPadding.getType());
    if (type.getRank() != 2 ||
        mismatch(type.getDimSize(0), qType.getDimSize(0)) ||
        mismatch(type.getDimSize(1), kType.getDimSize(2)))
      return emitOpError("expected key_padding of shape [batch, kv_len], got ")
             << type;
  }

  // A layout or its specialized form fixes the longest sequence it covers.
  int64_t heads = qType.getDimSize(1);
  auto checkCoverage = [&](int64_t layoutHeads, int64_t blocks,
                           int64_t blockSize, StringRef what) -> LogicalResult {
    if (layoutHeads != 1 && !ShapedType::isDynamic(heads) &&
        layoutHeads != heads)
      return emitOpError("expected ")
             << what << " with 1 or " << heads << " heads, got " << layoutHeads;
    for (int64_t len : {qType.getDimSize(2), kType.getDimSize(2)})
      if (!ShapedType::isDynamic(len) && len > blocks * blockSize)
        return emitOpError("sequence length ")
               << len << " exceeds the " << what << "'s " << blocks
               << " blocks of " << blockSize;
    return success();
  };
  if (DenseI32ArrayAttr tokens = mask.getGlobalTokens()) {
    int64_t qLen = qType.getDimSize(2), kvLen = kType.getDimSize(2);
    if (ShapedType::isDynamic(qLen) || qLen != kvLen)
      return emitOpError("mask.global_tokens needs one static sequence length "
                         "for queries and keys, got ")
             << qType << " and " << kType;
    if (tokens.asArrayRef().back() >= qLen)
      return emitOpError("global token ")
             << tokens.asArrayRef().back() << " is out of range for length "
             << qLen;
  }
  if (BlockLayoutAttr layout = mask.getLayout()) {
    if (getSparsity())
      return emitOpError("expected either mask.layout or sparsity, not both");
    if (failed(checkCoverage(layout.getNumHeads(), layout.getNumBlocks(),
                             layout.getBlockSize(), "layout")))
      return failure();
  }
  if (BlockCsrAttr csr = getSparsityAttr())
    if (failed(checkCoverage(csr.getHeads(), csr.getBlocks(),
                             csr.getBlockSize(), "sparsity")))
      return failure();

  if (KernelConfigAttr config = getKernelConfigAttr()) {
    if (mask.getLayout())
      return emitOpError("expected the layout to be specialized (sparsity) "
                         "before a kernel configuration is chosen");
    if (config.getPath().getValue() == "simt" && !element.isF32())
      return emitOpError("the simt path takes fp32 only, got ") << element;
    if (config.getPath().getValue() == "mma_sync" && element.isF32())
      return emitOpError("the mma_sync path takes fp16 or bf16, got ")
             << element;
  }
  return success();
}
