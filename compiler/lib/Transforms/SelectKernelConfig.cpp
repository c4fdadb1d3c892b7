//===- SelectKernelConfig.cpp - Choose kernel configurations once ---------===//
//
// Decides tile sizes, warps, stages and the template path of every attention
// op and stores them as #xfa.kernel_config; nothing later re-decides.
//
//===----------------------------------------------------------------------===//

#include "xfc/Transforms/KernelConfig.h"
#include "xfc/Transforms/Passes.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/DenseSet.h"

using namespace mlir;
using namespace xfc;
using namespace xfc::xfa;

namespace xfc {
#define GEN_PASS_DEF_XFASELECTKERNELCONFIG
#include "xfc/Transforms/Passes.h.inc"
} // namespace xfc

namespace {

/// Gathered K/V tiles (two layout blocks each) when query-block rows are
/// paired, over those when each row has its own: the sum over row pairs of
/// ceil(|union| / 2) against the sum over rows of ceil(|row| / 2).
double getPairedRowTileRatio(BlockCsrAttr csr) {
  int64_t blocks = csr.getBlocks();
  ArrayRef<int32_t> rowPtr = csr.getRowPtr().asArrayRef();
  ArrayRef<int32_t> cols = csr.getCols().asArrayRef();
  int64_t rowTiles = 0, pairTiles = 0;
  for (int64_t h = 0; h < csr.getHeads(); ++h) {
    auto row = [&](int64_t r) {
      size_t begin = rowPtr[h * (blocks + 1) + r];
      size_t end = rowPtr[h * (blocks + 1) + r + 1];
      return cols.slice(begin, end - begin);
    };
    for (int64_t r = 0; r < blocks; r += 2) {
      llvm::SmallDenseSet<int32_t> either(row(r).begin(), row(r).end());
      rowTiles += (row(r).size() + 1) / 2;
      if (r + 1 < blocks) {
        either.insert(row(r + 1).begin(), row(r + 1).end());
        rowTiles += (row(r + 1).size() + 1) / 2;
      }
      pairTiles += (either.size() + 1) / 2;
    }
  }
  return rowTiles ? static_cast<double>(pairTiles) / rowTiles : 0.0;
}

struct SelectKernelConfigPass
    : public xfc::impl::XfaSelectKernelConfigBase<SelectKernelConfigPass> {
  using XfaSelectKernelConfigBase::XfaSelectKernelConfigBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    std::string target = arch;
    if (target.empty()) {
      auto attr = module->getAttrOfType<StringAttr>("xfc.target");
      if (!attr) {
        module.emitError("no target architecture: set the module's "
                         "xfc.target attribute or the pass's arch option");
        return signalPassFailure();
      }
      target = attr.getValue().str();
    }

    // Benchmarks force tiles with the module attribute xfc.tile = "MxN",
    // or "MxNsS" for S K/V stages (xfc compile --tile).
    struct TileOverride {
      int64_t blockM, blockN, stages;
    };
    std::optional<TileOverride> tile;
    if (auto attr = module->getAttrOfType<StringAttr>("xfc.tile")) {
      auto [m, rest] = attr.getValue().split('x');
      auto [n, s] = rest.split('s');
      int64_t blockM, blockN, stages = 0;
      if (m.getAsInteger(10, blockM) || n.getAsInteger(10, blockN) ||
          (rest.contains('s') && s.getAsInteger(10, stages))) {
        module.emitError("xfc.tile: expected \"BLOCKMxBLOCKN\" or "
                         "\"BLOCKMxBLOCKNsSTAGES\", e.g. \"128x64\" or "
                         "\"128x128s3\", got \"")
            << attr.getValue() << "\"";
        return signalPassFailure();
      }
      tile = TileOverride{blockM, blockN, stages};
    }

    WalkResult result = module.walk([&](AttentionOp op) -> WalkResult {
      if (op.getMask().getLayout())
        return op.emitOpError("expected xfa-specialize-sparsity to run "
                              "before kernel configuration"),
               WalkResult::interrupt();
      KernelProblem problem;
      problem.arch = target;
      problem.headDim = op.getHeadDim();
      problem.elementBits = op.getElementType().getIntOrFloatBitWidth();
      MaskAttr mask = op.getMask();
      problem.causal = mask.getCausal();
      // The per-element components, as xfa-outline-kernels turns them into
      // the traits HasAttnMask, HasKeyPadding, HasDropout, WindowLeft/Right,
      // RandomThreshold and GlobalBits.
      problem.attnMask = mask.getAttnMask();
      problem.keyPadding = mask.getKeyPadding();
      problem.dropout = op.getDropout().convertToFloat() > 0.0f;
      problem.window = mask.hasWindow();
      problem.randomPattern = mask.hasRandom();
      problem.globalTokens = mask.hasGlobal();
      if (BlockCsrAttr csr = op.getSparsityAttr()) {
        problem.layoutBlockSize = csr.getBlockSize();
        // Only 64-blocks may pair their rows (selectKernelConfig).
        if (csr.getBlockSize() == 64)
          problem.pairedRowTileRatio = getPairedRowTileRatio(csr);
      }
      if (int64_t qLen = op.getQuery().getType().getDimSize(2);
          !ShapedType::isDynamic(qLen))
        problem.qLen = qLen;
      if (op.getValue().getType().getDimSize(3) != op.getHeadDim())
        return op.emitOpError("value head_dim ")
                   << op.getValue().getType().getDimSize(3)
                   << " differs from the query head_dim " << op.getHeadDim()
                   << "; the attention templates need them equal",
               WalkResult::interrupt();

      llvm::Expected<KernelChoice> choice = selectKernelConfig(problem);
      if (!choice)
        return op.emitOpError(llvm::toString(choice.takeError())),
               WalkResult::interrupt();
      if (tile)
        if (llvm::Error error = applyTileOverride(
                problem, *choice, tile->blockM, tile->blockN, tile->stages))
          return op.emitOpError(llvm::toString(std::move(error))),
                 WalkResult::interrupt();
      MLIRContext *context = op.getContext();
      op.setKernelConfigAttr(KernelConfigAttr::get(
          context, StringAttr::get(context, target),
          StringAttr::get(context, choice->path), choice->blockM,
          choice->blockN, choice->warps, choice->stages, choice->sharedBytes));
      return WalkResult::advance();
    });
    if (result.wasInterrupted())
      signalPassFailure();
  }
};

} // namespace
