//===- xfc-opt.cpp - Test driver for xfc dialects and passes --------------===//

#include "xfc/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Transforms/Passes.h"

int main(int argc, char **argv) {
  xfc::registerXfcPasses();
  mlir::registerCanonicalizerPass();
  mlir::registerCSEPass();

  mlir::DialectRegistry registry;
  registry.insert<mlir::func::FuncDialect, xfc::xfa::XfaDialect,
                  xfc::xfk::XfkDialect>();
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "xfc optimizer driver\n", registry));
}
