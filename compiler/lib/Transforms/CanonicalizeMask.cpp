//===- CanonicalizeMask.cpp - Normal form for attention masks -------------===//
//
// Clears layout blocks that causality hides entirely and folds per-head
// layouts whose heads agree into one shared head, so that later passes and the
// kernel cache see one form for equal masks.
//
//===----------------------------------------------------------------------===//

#include "xfc/Transforms/Passes.h"

#include "mlir/IR/BuiltinOps.h"

using namespace mlir;
using namespace xfc;
using namespace xfc::xfa;

namespace xfc {
#define GEN_PASS_DEF_XFACANONICALIZEMASK
#include "xfc/Transforms/Passes.h.inc"
} // namespace xfc

namespace {

/// Returns the canonical layout, or the same attribute when nothing changes.
BlockLayoutAttr canonicalizeLayout(BlockLayoutAttr layout, bool causal) {
  int64_t heads = layout.getNumHeads();
  int64_t blocks = layout.getNumBlocks();
  SmallVector<int8_t> bits;
  bits.reserve(heads * blocks * blocks);
  for (const APInt &bit : layout.getBits().getValues<APInt>())
    bits.push_back(!bit.isZero());

  bool changed = false;
  if (causal) {
    // Key block j > query block i holds only keys after every query of i.
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t i = 0; i < blocks; ++i)
        for (int64_t j = i + 1; j < blocks; ++j) {
          int8_t &bit = bits[(h * blocks + i) * blocks + j];
          changed |= bit != 0;
          bit = 0;
        }
  }

  int64_t headSize = blocks * blocks;
  bool allHeadsEqual = true;
  for (int64_t h = 1; h < heads && allHeadsEqual; ++h)
    allHeadsEqual = std::equal(bits.begin(), bits.begin() + headSize,
                               bits.begin() + h * headSize);
  int64_t newHeads = heads;
  if (heads > 1 && allHeadsEqual) {
    bits.resize(headSize);
    newHeads = 1;
    changed = true;
  }
  if (!changed)
    return layout;

  auto type = RankedTensorType::get({newHeads, blocks, blocks},
                                    IntegerType::get(layout.getContext(), 8));
  return BlockLayoutAttr::get(layout.getContext(), layout.getBlockSize(),
                              DenseIntElementsAttr::get(type, ArrayRef(bits)));
}

struct CanonicalizeMaskPass
    : public xfc::impl::XfaCanonicalizeMaskBase<CanonicalizeMaskPass> {
  void runOnOperation() override {
    getOperation().walk([](AttentionOp op) {
      MaskAttr mask = op.getMask();
      BlockLayoutAttr layout = mask.getLayout();
      if (!layout)
        return;
      BlockLayoutAttr canonical = canonicalizeLayout(layout, mask.getCausal());
      if (canonical == layout)
        return;
      op.setMaskAttr(mask.withLayout(canonical));
    });
  }
};

} // namespace
