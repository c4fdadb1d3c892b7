//===- SpecializeSparsity.cpp - Block layouts into per-row block lists ----===//
//
// The layout is known at compile time, so the kernel should never look at a
// block that is off. This pass lists, per layout head and query block, the
// key blocks that are on, and marks which of them need per-element masking.
//
//===----------------------------------------------------------------------===//

#include "xfc/Transforms/Passes.h"

#include "mlir/IR/BuiltinOps.h"

using namespace mlir;
using namespace xfc;
using namespace xfc::xfa;

namespace xfc {
#define GEN_PASS_DEF_XFASPECIALIZESPARSITY
#include "xfc/Transforms/Passes.h.inc"
} // namespace xfc

namespace {

BlockCsrAttr buildBlockCsr(BlockLayoutAttr layout, bool causal,
                           int64_t staticKvLen) {
  int64_t heads = layout.getNumHeads();
  int64_t blocks = layout.getNumBlocks();
  int64_t blockSize = layout.getBlockSize();
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
        partial.push_back((causal && col == row) || crossesEnd);
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
      op.setSparsityAttr(buildBlockCsr(layout, mask.getCausal(), kvLen));
      op.setMaskAttr(mask.withLayout(/*layout=*/nullptr));
    });
  }
};

} // namespace
