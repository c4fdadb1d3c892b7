//===- OutlineKernels.cpp - Configured attention ops into xfk kernels -----===//
//
// Each configured xfa.attention becomes an xfk.kernel (template, traits,
// launch geometry and, for block-sparse attention, the layout mapped onto the
// kernel's tiles) plus an xfk.launch in its place.
//
//===----------------------------------------------------------------------===//

#include "xfc/Transforms/Passes.h"
#include "xfc/types.cuh"

#include "mlir/IR/AffineExpr.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/DenseMap.h"

#include <algorithm>
#include <numeric>

using namespace mlir;
using namespace xfc;
using namespace xfc::xfa;

namespace xfc {
#define GEN_PASS_DEF_XFAOUTLINEKERNELS
#include "xfc/Transforms/Passes.h.inc"
} // namespace xfc

namespace {

/// The layout mapped onto kernel tiles of blockM queries by blockN keys: a
/// tile is present when any visible element falls in it and full when every
/// element in it is visible (so the kernel skips per-element masking).
struct TileCsr {
  int64_t numTileRows = 0;
  /// Row pointers index tiles (`partial` has one entry a tile); `cols` holds
  /// one tile column a tile, or with gathered tiles two layout blocks, the
  /// second -1 where absent.
  SmallVector<int32_t> rowPtr, cols;
  SmallVector<int8_t> partial;
  /// Tiles of two block rows (128 rows over 64-blocks, one consumer
  /// warpgroup a block row): bit 2 * c + h is set where consumer c's block
  /// row lacks the tile's half h, which that consumer masks as a whole.
  /// Only for such tiles (`rowMasks`).
  bool rowMasks = false;
  SmallVector<int8_t> rowMask;
  /// Per head, the tile rows by decreasing tile count (ties in row order):
  /// the order in which the kernel starts them.
  SmallVector<int32_t> order;
  /// Leading ranks of `order` whose rows (in some head) hold more than
  /// twice the mean tile count plus four: the kernel starts them across all
  /// heads first, the other rows head by head.
  int64_t heavyRanks = 0;
};

/// Appends to `tiles.order` the tile rows of the head whose row pointers
/// start at `headRowPtr`, heaviest first.
void appendHeaviestFirst(TileCsr &tiles, size_t headRowPtr) {
  SmallVector<int32_t> rows(tiles.numTileRows);
  std::iota(rows.begin(), rows.end(), 0);
  auto count = [&](int32_t row) {
    return tiles.rowPtr[headRowPtr + row + 1] - tiles.rowPtr[headRowPtr + row];
  };
  std::stable_sort(rows.begin(), rows.end(),
                   [&](int32_t a, int32_t b) { return count(a) > count(b); });
  tiles.order.append(rows.begin(), rows.end());
}

/// The ranks (in every head's heaviest-first order) whose rows are heavy:
/// more than twice the mean tile count per row, plus four, in some head.
/// Global rows (BigBird, Longformer, fixed) are; a random layout's are not.
int64_t countHeavyRanks(const TileCsr &tiles) {
  int64_t rows = tiles.numTileRows;
  if (rows == 0)
    return 0;
  int64_t heads = static_cast<int64_t>(tiles.order.size()) / rows;
  if (heads == 0)
    return 0;
  double mean = static_cast<double>(tiles.partial.size()) / (rows * heads);
  int64_t heavy = 0;
  for (int64_t rank = 0; rank < rows; ++rank) {
    int64_t most = 0;
    for (int64_t h = 0; h < heads; ++h) {
      int64_t row = tiles.order[h * rows + rank];
      size_t ptr = h * (rows + 1) + row;
      most = std::max<int64_t>(most, tiles.rowPtr[ptr + 1] - tiles.rowPtr[ptr]);
    }
    // Four tiles of slack: at low density a row of a random layout often
    // holds twice the mean of a few tiles, which is noise, not a global row.
    if (most <= 2 * mean + 4)
      break;
    heavy = rank + 1;
  }
  return heavy;
}

TileCsr mapBlocksToTiles(BlockCsrAttr csr, bool causal, bool randomPattern,
                         ArrayRef<int8_t> globalBits, int64_t blockM,
                         int64_t blockN, int64_t tileBlocks,
                         int64_t staticKvLen) {
  // Gathered tiles over two rows of 64-blocks: a block only one of the rows
  // has is masked by the other row's consumer as a whole (TileRowMask), not
  // element by element.
  bool rowMasks = tileBlocks == 2 && csr.getBlockSize() == 64 && blockM == 128;
  // Global tokens: a tile is full only when all its queries or all its keys
  // are global (tokens past the table are not).
  auto allGlobal = [&](int64_t begin, int64_t end) {
    if (globalBits.empty())
      return true;
    for (int64_t t = begin; t < end; ++t)
      if (t >= static_cast<int64_t>(globalBits.size()) || !globalBits[t])
        return false;
    return true;
  };
  int64_t blockSize = csr.getBlockSize();
  int64_t blocks = csr.getBlocks();
  int64_t seqLen = blocks * blockSize;
  TileCsr tiles;
  tiles.numTileRows = (seqLen + blockM - 1) / blockM;
  tiles.rowMasks = rowMasks;
  // Gathered tiles are made of whole layout blocks: the columns are blocks.
  int64_t colWidth = blockN / tileBlocks;
  int64_t numTileCols = (seqLen + colWidth - 1) / colWidth;

  ArrayRef<int32_t> rowPtr = csr.getRowPtr().asArrayRef();
  ArrayRef<int32_t> cols = csr.getCols().asArrayRef();
  // The block-level partial flags are not used: causality and the end of
  // the keys are re-derived per tile, where they are more precise (a tile
  // below the diagonal of a diagonal block is full).
  int64_t keyEnd = ShapedType::isDynamic(staticKvLen)
                       ? seqLen
                       : std::min(seqLen, staticKvLen);

  for (int64_t h = 0; h < csr.getHeads(); ++h) {
    // Per head: which (query block, key block) pairs are present.
    SmallVector<bool> present(blocks * blocks, false);
    for (int64_t row = 0; row < blocks; ++row) {
      int64_t begin = rowPtr[h * (blocks + 1) + row];
      int64_t end = rowPtr[h * (blocks + 1) + row + 1];
      for (int64_t e = begin; e < end; ++e)
        present[row * blocks + cols[e]] = true;
    }

    size_t headRowPtr = tiles.rowPtr.size();
    // Row pointers count the tiles of every head together.
    tiles.rowPtr.push_back(tiles.partial.size());
    for (int64_t tileRow = 0; tileRow < tiles.numTileRows; ++tileRow) {
      int64_t qBegin = tileRow * blockM;
      int64_t qEnd = std::min(qBegin + blockM, seqLen);
      // Gathered tiles: the row's present blocks, full and partial apart;
      // with row masks, each block's rows that lack it.
      SmallVector<int32_t> fullBlocks, partialBlocks;
      DenseMap<int32_t, int8_t> missingRows;
      for (int64_t tileCol = 0; tileCol < numTileCols; ++tileCol) {
        int64_t kBegin = tileCol * colWidth;
        int64_t kEnd = std::min(kBegin + colWidth, seqLen);
        // Causal: nothing visible when the first key follows the last query.
        if ((causal && kBegin > qEnd - 1) || kBegin >= keyEnd)
          continue;
        bool any = false, all = true;
        int8_t missing = 0;
        for (int64_t rb = qBegin / blockSize; rb <= (qEnd - 1) / blockSize;
             ++rb) {
          for (int64_t cb = kBegin / blockSize; cb <= (kEnd - 1) / blockSize;
               ++cb) {
            bool on = present[rb * blocks + cb];
            any |= on;
            all &= on;
            if (!on)
              missing |= 1 << (rb - qBegin / blockSize);
          }
        }
        if (!any)
          continue;
        if (rowMasks) {
          // A tile row that ends with the layout has no second block row.
          if (qEnd - qBegin <= blockSize)
            missing |= 2;
          all = true;
          missingRows[tileCol] = missing;
        }
        bool causalFull = !causal || kEnd - 1 <= qBegin;
        bool insideKeys = kBegin + colWidth <= keyEnd;
        bool globalFull = allGlobal(qBegin, qBegin + blockM) ||
                          allGlobal(kBegin, kBegin + colWidth);
        bool partial =
            !(all && causalFull && insideKeys && globalFull && !randomPattern);
        if (tileBlocks == 1) {
          tiles.cols.push_back(tileCol);
          tiles.partial.push_back(partial);
        } else {
          (partial ? partialBlocks : fullBlocks).push_back(tileCol);
        }
      }
      if (tileBlocks == 2) {
        // Full blocks pair with full ones and partial with partial, so that
        // as few tiles as possible pay the per-element predicate; an odd
        // block out of each pairs with the other's, or stands alone (the
        // kernel masks the absent half).
        // Row mask bit 2 * c + h: block row c lacks half h's block.
        auto emitRowMask = [&](int32_t first, int32_t second) {
          if (!rowMasks)
            return;
          int8_t mask = 0;
          for (int c = 0; c < 2; ++c) {
            if (missingRows.lookup(first) & (1 << c))
              mask |= 1 << (2 * c);
            if (second >= 0 && (missingRows.lookup(second) & (1 << c)))
              mask |= 1 << (2 * c + 1);
          }
          tiles.rowMask.push_back(mask);
        };
        auto emitPairs = [&](ArrayRef<int32_t> blocks, bool partial) {
          for (size_t i = 0; i + 1 < blocks.size(); i += 2) {
            tiles.cols.append({blocks[i], blocks[i + 1]});
            tiles.partial.push_back(partial);
            emitRowMask(blocks[i], blocks[i + 1]);
          }
        };
        emitPairs(fullBlocks, false);
        emitPairs(partialBlocks, true);
        bool fullLeft = fullBlocks.size() % 2,
             partialLeft = partialBlocks.size() % 2;
        if (fullLeft || partialLeft) {
          int32_t first = fullLeft ? fullBlocks.back() : partialBlocks.back();
          int32_t second = fullLeft && partialLeft ? partialBlocks.back() : -1;
          tiles.cols.append({first, second});
          tiles.partial.push_back(partialLeft);
          emitRowMask(first, second);
        }
      }
      tiles.rowPtr.push_back(tiles.partial.size());
    }
    appendHeaviestFirst(tiles, headRowPtr);
  }
  tiles.heavyRanks = countHeavyRanks(tiles);
  return tiles;
}

struct OutlineKernelsPass
    : public xfc::impl::XfaOutlineKernelsBase<OutlineKernelsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *context = module.getContext();
    OpBuilder moduleBuilder = OpBuilder::atBlockEnd(module.getBody());
    SymbolTable symbols(module);
    // Identical kernels are outlined once: key = the kernel's attributes.
    llvm::DenseMap<DictionaryAttr, xfk::KernelOp> outlined;
    int64_t counter = 0;

    WalkResult result = module.walk([&](AttentionOp op) -> WalkResult {
      KernelConfigAttr config = op.getKernelConfigAttr();
      if (!config)
        return op.emitOpError("expected a kernel_config; run "
                              "xfa-select-kernel-config first"),
               WalkResult::interrupt();
      MaskAttr mask = op.getMask();
      Builder b(context);

      NamedAttrList traits;
      traits.append("Element", TypeAttr::get(op.getElementType()));
      traits.append("HeadDim", b.getI64IntegerAttr(op.getHeadDim()));
      traits.append("BlockM", b.getI64IntegerAttr(config.getBlockM()));
      traits.append("BlockN", b.getI64IntegerAttr(config.getBlockN()));
      traits.append("NumWarps", b.getI64IntegerAttr(config.getWarps()));
      traits.append("NumStages", b.getI64IntegerAttr(config.getStages()));
      traits.append("Causal", b.getBoolAttr(mask.getCausal()));
      traits.append("HasAttnMask", b.getBoolAttr(mask.getAttnMask()));
      traits.append("HasKeyPadding", b.getBoolAttr(mask.getKeyPadding()));
      traits.append("HasDropout",
                    b.getBoolAttr(op.getDropout().convertToFloat() > 0.0f));
      traits.append("WriteLse", b.getBoolAttr(false));
      traits.append("SharedBytes",
                    b.getI64IntegerAttr(config.getSharedBytes()));
      if (mask.hasWindow()) {
        traits.append("WindowLeft", b.getI64IntegerAttr(mask.getWindowLeft()));
        traits.append("WindowRight",
                      b.getI64IntegerAttr(mask.getWindowRight()));
      }
      if (mask.hasRandom()) {
        traits.append("RandomThreshold",
                      b.getI64IntegerAttr(mask.getRandomThreshold()));
        traits.append("RandomSeed", b.getI64IntegerAttr(mask.getRandomSeed()));
        traits.append("RandomPerCall", b.getBoolAttr(mask.getRandomPerCall()));
      }

      // Global tokens as one byte per token of the (static) sequence.
      SmallVector<int8_t> globalBits;
      if (mask.hasGlobal()) {
        if (!op.getSparsityAttr())
          return op.emitOpError("expected global tokens to come with a "
                                "block layout; run xfa-canonicalize-mask "
                                "and xfa-specialize-sparsity first"),
                 WalkResult::interrupt();
        globalBits.assign(op.getQuery().getType().getDimSize(2), 0);
        for (int32_t token : mask.getGlobalTokens().asArrayRef())
          globalBits[token] = 1;
      }

      DictionaryAttr tables;
      if (BlockCsrAttr csr = op.getSparsityAttr()) {
        // The wgmma kernel gathers K/V tiles of two layout blocks
        // (wgmmaTileBlocks); mma.sync and SIMT tiles are contiguous.
        bool wgmma = config.getArch().getValue() == "sm_90a" &&
                     op.getElementType().getIntOrFloatBitWidth() == 16 &&
                     isWgmmaTile(static_cast<int>(config.getBlockM()),
                                 static_cast<int>(config.getWarps()));
        int64_t tileBlocks =
            wgmma ? wgmmaTileBlocks(static_cast<int>(config.getBlockN()),
                                    static_cast<int>(csr.getBlockSize()))
                  : 1;
        TileCsr tiles =
            mapBlocksToTiles(csr, mask.getCausal(), mask.hasRandom(),
                             globalBits, config.getBlockM(), config.getBlockN(),
                             tileBlocks, op.getKey().getType().getDimSize(2));
        SmallVector<int8_t> bits;
        for (const APInt &bit : csr.getBits().getValues<APInt>())
          bits.push_back(!bit.isZero());
        NamedAttrList entries;
        entries.append("LayoutBlock", b.getI64IntegerAttr(csr.getBlockSize()));
        entries.append("LayoutHeads", b.getI64IntegerAttr(csr.getHeads()));
        entries.append("NumBlocks", b.getI64IntegerAttr(csr.getBlocks()));
        entries.append("NumTileRows", b.getI64IntegerAttr(tiles.numTileRows));
        entries.append("TileRowPtr", b.getDenseI32ArrayAttr(tiles.rowPtr));
        entries.append("TileCols", b.getDenseI32ArrayAttr(tiles.cols));
        entries.append("TilePartial", b.getDenseI8ArrayAttr(tiles.partial));
        entries.append("TileOrder", b.getDenseI32ArrayAttr(tiles.order));
        entries.append("HeavyRanks", b.getI64IntegerAttr(tiles.heavyRanks));
        if (tileBlocks != 1)
          entries.append("TileBlocks", b.getI64IntegerAttr(tileBlocks));
        if (tiles.rowMasks)
          entries.append("TileRowMask", b.getDenseI8ArrayAttr(tiles.rowMask));
        entries.append("BlockBits", b.getDenseI8ArrayAttr(bits));
        if (!globalBits.empty())
          entries.append("GlobalBits", b.getDenseI8ArrayAttr(globalBits));
        tables = entries.getDictionary(context);
      }

      DictionaryAttr traitDict = traits.getDictionary(context);
      NamedAttrList keyList;
      keyList.append("traits", traitDict);
      keyList.append("arch", config.getArch());
      if (tables)
        keyList.append("tables", tables);
      DictionaryAttr key = keyList.getDictionary(context);

      xfk::KernelOp kernel = outlined.lookup(key);
      if (!kernel) {
        // grid = (ceil(q_len / BlockM), heads, batch) over the symbols
        // [batch, heads, q_len, kv_len].
        AffineExpr batch = getAffineSymbolExpr(0, context);
        AffineExpr heads = getAffineSymbolExpr(1, context);
        AffineExpr qLen = getAffineSymbolExpr(2, context);
        AffineMap grid = AffineMap::get(
            0, 4, {qLen.ceilDiv(config.getBlockM()), heads, batch}, context);
        std::string name = "attention_" + std::to_string(counter++);
        while (symbols.lookup(name))
          name = "attention_" + std::to_string(counter++);
        kernel = moduleBuilder.create<xfk::KernelOp>(
            op.getLoc(), b.getStringAttr(name),
            b.getStringAttr("attention_forward"), config.getArch(),
            b.getDenseI32ArrayAttr(
                {static_cast<int32_t>(config.getWarps() * 32), 1, 1}),
            AffineMapAttr::get(grid),
            b.getI64IntegerAttr(config.getSharedBytes()), traitDict, tables);
        symbols.insert(kernel);
        outlined[key] = kernel;
      }

      OpBuilder builder(op);
      SmallVector<Value> inputs = {op.getQuery(), op.getKey(), op.getValue()};
      SmallVector<StringRef> roles = {"q", "k", "v"};
      if (Value attnMask = op.getAttnMask()) {
        inputs.push_back(attnMask);
        roles.push_back("attn_mask");
      }
      if (Value keyPadding = op.getKeyPadding()) {
        inputs.push_back(keyPadding);
        roles.push_back("key_padding");
      }
      auto launch = builder.create<xfk::LaunchOp>(
          op.getLoc(), op.getResult().getType(),
          FlatSymbolRefAttr::get(kernel.getSymNameAttr()), inputs,
          builder.getStrArrayAttr(roles), op.getDropoutAttr(),
          /*alpha=*/nullptr, /*beta=*/nullptr, /*ints=*/nullptr,
          /*sizes=*/nullptr);
      op.getResult().replaceAllUsesWith(launch.getResult());
      op.erase();
      return WalkResult::advance();
    });
    if (result.wasInterrupted())
      signalPassFailure();
  }
};

} // namespace
