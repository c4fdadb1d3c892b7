//===- CanonicalizeMask.cpp - Normal form for attention masks -------------===//
//
// Clears layout blocks that causality hides entirely and folds per-head
// layouts whose heads agree into one shared head, so that later passes and the
// kernel cache see one form for equal masks. Global tokens become a block
// layout (the blocks their rows and columns touch); a random pattern that
// keeps everything is dropped.
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

/// Block size of the layout derived from global tokens alone.
constexpr int64_t kGlobalBlockSize = 64;

/// The layout of `layout` (or of an all-on one of kGlobalBlockSize blocks
/// over `length` tokens) with only the blocks whose query or key block
/// holds a global token left on.
BlockLayoutAttr restrictToGlobal(MLIRContext *context, BlockLayoutAttr layout,
                                 ArrayRef<int32_t> tokens, int64_t length) {
  int64_t blockSize = layout ? layout.getBlockSize() : kGlobalBlockSize;
  int64_t blocks =
      layout ? layout.getNumBlocks() : (length + blockSize - 1) / blockSize;
  int64_t heads = layout ? layout.getNumHeads() : 1;
  SmallVector<bool> touched(blocks, false);
  for (int32_t token : tokens)
    if (token / blockSize < blocks)
      touched[token / blockSize] = true;
  SmallVector<int8_t> bits;
  bits.reserve(heads * blocks * blocks);
  if (layout)
    for (const APInt &bit : layout.getBits().getValues<APInt>())
      bits.push_back(!bit.isZero());
  else
    bits.assign(blocks * blocks, 1);
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t i = 0; i < blocks; ++i)
      for (int64_t j = 0; j < blocks; ++j)
        if (!touched[i] && !touched[j])
          bits[(h * blocks + i) * blocks + j] = 0;
  auto type = RankedTensorType::get({heads, blocks, blocks},
                                    IntegerType::get(context, 8));
  return BlockLayoutAttr::get(context, blockSize,
                              DenseIntElementsAttr::get(type, ArrayRef(bits)));
}

struct CanonicalizeMaskPass
    : public xfc::impl::XfaCanonicalizeMaskBase<CanonicalizeMaskPass> {
  void runOnOperation() override {
    getOperation().walk([](AttentionOp op) {
      MaskAttr mask = op.getMask();
      // A random pattern that keeps every pair hides nothing.
      if (mask.getRandomThreshold() >= MaskAttr::kRandomAll) {
        mask = mask.withoutRandom();
        op.setMaskAttr(mask);
      }
      if (mask.hasGlobal()) {
        // The verifier guarantees one static length for queries and keys.
        int64_t length = op.getQuery().getType().getDimSize(2);
        ArrayRef<int32_t> tokens = mask.getGlobalTokens().asArrayRef();
        if (static_cast<int64_t>(tokens.size()) == length) {
          // Every token is global: nothing is hidden.
          mask =
              MaskAttr::get(op.getContext(), mask.getCausal(), mask.getLayout(),
                            mask.getAttnMask(), mask.getKeyPadding(),
                            mask.getWindowLeft(), mask.getWindowRight(),
                            mask.getRandomThreshold(), mask.getRandomSeed(),
                            mask.getRandomPerCall(), DenseI32ArrayAttr());
          op.setMaskAttr(mask);
        } else {
          BlockLayoutAttr restricted = restrictToGlobal(
              op.getContext(), mask.getLayout(), tokens, length);
          if (restricted != mask.getLayout()) {
            mask = mask.withLayout(restricted);
            op.setMaskAttr(mask);
          }
        }
      }
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
