//===- Pipeline.cpp - The compilation stages, in order --------------------===//

#include "xfc/Pipeline/Pipeline.h"

#include "xfc/Transforms/Passes.h"

#include "llvm/ADT/StringSwitch.h"

using namespace mlir;

namespace xfc {

std::optional<Stage> parseStage(llvm::StringRef name) {
  return llvm::StringSwitch<std::optional<Stage>>(name)
      .Case("config", Stage::Config)
      .Case("xfa", Stage::Xfa)
      .Case("xfa-specialized", Stage::XfaSpecialized)
      .Case("xfk", Stage::Xfk)
      .Case("cuda", Stage::Cuda)
      .Case("ptx", Stage::Ptx)
      .Case("cubin", Stage::Cubin)
      .Default(std::nullopt);
}

llvm::StringRef getStageName(Stage stage) {
  switch (stage) {
  case Stage::Config:
    return "config";
  case Stage::Xfa:
    return "xfa";
  case Stage::XfaSpecialized:
    return "xfa-specialized";
  case Stage::Xfk:
    return "xfk";
  case Stage::Cuda:
    return "cuda";
  case Stage::Ptx:
    return "ptx";
  case Stage::Cubin:
    return "cubin";
  }
  llvm_unreachable("unknown stage");
}

void buildSpecializationPipeline(OpPassManager &pm) {
  pm.addPass(createXfaCanonicalizeMask());
  pm.addPass(createXfaSpecializeSparsity());
  pm.addPass(createXfaSelectKernelConfig());
}

void buildKernelPipeline(OpPassManager &pm) {
  pm.addPass(createXfaOutlineKernels());
  pm.addPass(createXfaOutlineGraphOps());
  pm.addPass(createXfkPrepareForEmission());
}

LogicalResult runStage(ModuleOp module, Stage stage,
                       function_ref<LogicalResult(PassManager &)> configure) {
  PassManager pm(module->getContext());
  if (configure && failed(configure(pm)))
    return failure();
  switch (stage) {
  case Stage::XfaSpecialized:
    buildSpecializationPipeline(pm);
    break;
  case Stage::Xfk:
    buildKernelPipeline(pm);
    break;
  default:
    llvm_unreachable("only the MLIR pass stages run passes");
  }
  return pm.run(module);
}

} // namespace xfc
