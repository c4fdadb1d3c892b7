//===- PrepareForEmission.cpp - Last IR changes before printing CUDA ------===//
//
// Gives every kernel a content-derived symbol so that equal kernels share a
// name (and a cache entry) across configs, merges duplicates, and checks that
// nothing the emitter cannot print is left. The emitter only reads.
//
//===----------------------------------------------------------------------===//

#include "xfc/Transforms/Passes.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/SHA256.h"

using namespace mlir;
using namespace xfc;

namespace xfc {
#define GEN_PASS_DEF_XFKPREPAREFOREMISSION
#include "xfc/Transforms/Passes.h.inc"
} // namespace xfc

namespace {

/// `xfc_attn_` plus the first 16 hex digits of the sha256 of everything that
/// determines the kernel's code.
std::string contentSymbol(xfk::KernelOp kernel) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << kernel.getTemplateName() << '\n' << kernel.getArch() << '\n';
  kernel.getBlockAttr().print(os);
  os << '\n';
  kernel.getGridAttr().print(os);
  os << '\n' << kernel.getSharedBytes() << '\n';
  kernel.getTraitsAttr().print(os);
  os << '\n';
  if (DictionaryAttr tables = kernel.getTablesAttr())
    tables.print(os);
  std::array<uint8_t, 32> digest = llvm::SHA256::hash(ArrayRef<uint8_t>(
      reinterpret_cast<const uint8_t *>(text.data()), text.size()));
  std::string prefix = kernel.getTemplateName() == "attention_forward"
                           ? "xfc_attn_"
                           : "xfc_" + kernel.getTemplateName().str() + "_";
  return prefix + llvm::toHex(ArrayRef(digest).take_front(8),
                              /*LowerCase=*/true);
}

struct PrepareForEmissionPass
    : public xfc::impl::XfkPrepareForEmissionBase<PrepareForEmissionPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    WalkResult leftover = module.walk([](Operation *op) {
      if (isa<xfa::AttentionOp>(op)) {
        op->emitOpError("was not outlined into a kernel; run "
                        "xfa-outline-kernels before emission");
        return WalkResult::interrupt();
      }
      if (isa<xfa::MatmulOp, xfa::SoftmaxOp, xfa::DftMatrixOp>(op)) {
        op->emitOpError("was not outlined into a kernel; run "
                        "xfa-outline-graph-ops before emission");
        return WalkResult::interrupt();
      }
      return WalkResult::advance();
    });
    if (leftover.wasInterrupted())
      return signalPassFailure();

    llvm::StringMap<xfk::KernelOp> bySymbol;
    SmallVector<xfk::KernelOp> kernels(module.getOps<xfk::KernelOp>());
    for (xfk::KernelOp kernel : kernels) {
      std::string symbol = contentSymbol(kernel);
      StringAttr newName = StringAttr::get(module.getContext(), symbol);
      if (failed(SymbolTable::replaceAllSymbolUses(kernel.getSymNameAttr(),
                                                   newName, module))) {
        kernel.emitOpError("could not rename its uses to ") << symbol;
        return signalPassFailure();
      }
      if (bySymbol.count(symbol)) {
        // Same content under another name: the launches now use the first.
        kernel.erase();
        continue;
      }
      kernel.setSymName(symbol);
      bySymbol[symbol] = kernel;
    }
  }
};

} // namespace
