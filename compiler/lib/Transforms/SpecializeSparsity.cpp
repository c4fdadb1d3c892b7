//===- SpecializeSparsity.cpp - Block layouts into per-row block lists ----===//
//
// The layout is known at compile time, so the kernel should never look at a
// block that is off. This pass lists, per layout head and query block, the
// key blocks that are on, and marks which of them need per-element masking.
//
//===----------------------------------------------------------------------===//

#include "xfc/Transforms/Passes.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/STLExtras.h"

using namespace mlir;
using namespace xfc;
using namespace xfc::xfa;

namespace xfc {
#define GEN_PASS_DEF_XFASPECIALIZESPARSITY
#include "xfc/Transforms/Passes.h.inc"
} // namespace xfc

namespace {

/// Whether every token of block `block` is global (so any pair touching
/// it is visible).
bool isAllGlobal(ArrayRef<int32_t> tokens, int64_t block, int64_t blockSize) {
  const int32_t *first = llvm::lower_bound(tokens, block * blockSize);
  const int32_t *last = llvm::lower_bound(tokens, (block + 1) * blockSize);
  return last - first == blockSize;
}

BlockCsrAttr buildBlockCsr(BlockLayoutAttr layout, bool causal,
                           int64_t staticKvLen, bool randomPattern,
                           DenseI32ArrayAttr globalTokens) {
  int64_t heads = layout.getNumHeads();
  int64_t blocks = layout.getNumBlocks();
  int64_t blockSize = layout.getBlockSize();
  // With global tokens, a block is full only when its query block or its
  // key block is global throughout.
  SmallVector<bool> allGlobal(blocks, true);
  if (globalTokens)
    for (int64_t b = 0; b < blocks; ++b)
      allGlobal[b] = isAllGlobal(globalTokens.asArrayRef(), b, blockSize);
  SmallVector<int32_t> rowPtr, cols;
  SmallVector<int8_t> partial;
  for (int64_t h = 0; h < heads; ++h) {
    rowPtr.push_back(cols.size());
    for (int64_t row = 0; row < blocks; ++row) {
      for (int64_t col = 0; col < blocks; ++col) {
        if (!layout.isSet(h, row, col))
          continue;
        // Entirely above the diagonal: nothing in the block is visible.
        if (causal && col > row)
          continue;
        // Entirely past a statically known end of the keys.
        if (!ShapedType::isDynamic(staticKvLen) &&
            col * blockSize >= staticKvLen)
          continue;
        bool crossesEnd = !ShapedType::isDynamic(staticKvLen) &&
                          (col + 1) * blockSize > staticKvLen;
        cols.push_back(col);
        bool globalPartial = !allGlobal[row] && !allGlobal[col];
        partial.push_back((causal && col == row) || crossesEnd ||
                          randomPattern || globalPartial);
      }
      rowPtr.push_back(cols.size());
    }
  }
  MLIRContext *context = layout.getContext();
  return BlockCsrAttr::get(context, blockSize, heads, blocks,
                           DenseI32ArrayAttr::get(context, rowPtr),
                           DenseI32ArrayAttr::get(context, cols),
                           DenseI8ArrayAttr::get(context, partial),
                           layout.getBits());
}

struct SpecializeSparsityPass
    : public xfc::impl::XfaSpecializeSparsityBase<SpecializeSparsityPass> {
  void runOnOperation() override {
    getOperation().walk([](AttentionOp op) {
      MaskAttr mask = op.getMask();
      BlockLayoutAttr layout = mask.getLayout();
      if (!layout)
        return;
      int64_t kvLen = op.getKey().getType().getDimSize(2);
      op.setSparsityAttr(buildBlockCsr(layout, mask.getCausal(), kvLen,
                                       mask.hasRandom(),
                                       mask.getGlobalTokens()));
      op.setMaskAttr(mask.withLayout(/*layout=*/nullptr));
    });
  }
};

} // namespace
