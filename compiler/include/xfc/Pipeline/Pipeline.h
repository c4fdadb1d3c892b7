//===- Pipeline.h - The compilation stages, in order ------------*- C++ -*-===//
//
// One function per stage. Stage names double as the driver's -emit= values
// (config | xfa | xfa-specialized | xfk | cuda | ptx | cubin), so each stage
// can be printed, tested and used to bisect a bad kernel.
//
//===----------------------------------------------------------------------===//

#ifndef XFC_PIPELINE_PIPELINE_H
#define XFC_PIPELINE_PIPELINE_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/LogicalResult.h"
#include "llvm/ADT/StringRef.h"

#include <optional>

namespace xfc {

enum class Stage { Config, Xfa, XfaSpecialized, Xfk, Cuda, Ptx, Cubin };

/// Parses an -emit= value.
std::optional<Stage> parseStage(llvm::StringRef name);
/// The -emit= name of a stage.
llvm::StringRef getStageName(Stage stage);

/// Adds the passes that take xfa IR to the xfa-specialized stage.
/// Post-condition: no attention op has a mask layout; each has a
/// `sparsity` (if it had a layout) and a `kernel_config`.
void buildSpecializationPipeline(mlir::OpPassManager &pm);

/// Adds the passes that take xfa-specialized IR to the xfk stage.
/// Post-condition: no xfa op is left; every xfk.kernel has its
/// content-derived symbol and every launch refers to one.
void buildKernelPipeline(mlir::OpPassManager &pm);

/// Runs the passes that produce `stage` (XfaSpecialized from xfa, or Xfk
/// from xfa-specialized) on `module`. `configure`, when given, adjusts the
/// pass manager first; tools pass mlir::applyPassManagerCLOptions so that
/// -mlir-print-ir-after-all and friends work.
mlir::LogicalResult runStage(
    mlir::ModuleOp module, Stage stage,
    llvm::function_ref<mlir::LogicalResult(mlir::PassManager &)> configure =
        nullptr);

} // namespace xfc

#endif // XFC_PIPELINE_PIPELINE_H
