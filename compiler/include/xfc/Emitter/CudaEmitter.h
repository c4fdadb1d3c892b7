//===- CudaEmitter.h - xfk kernels to CUDA translation units ----*- C++ -*-===//
//
// Prints each xfk.kernel as a short CUDA translation unit: the umbrella
// template header, a traits struct of constants, baked-in tables and one
// extern "C" __global__ entry point. The emitter only reads the IR.
//
//===----------------------------------------------------------------------===//

#ifndef XFC_EMITTER_CUDAEMITTER_H
#define XFC_EMITTER_CUDAEMITTER_H

#include "xfc/Dialect/Xfk/IR/Xfk.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/LogicalResult.h"
#include "llvm/Support/raw_ostream.h"

#include <string>
#include <vector>

namespace xfc {

/// Writes the CUDA translation unit of one kernel.
mlir::LogicalResult emitKernelSource(xfk::KernelOp kernel,
                                     llvm::raw_ostream &os);

/// One emitted kernel.
struct KernelSource {
  std::string symbol;
  std::string arch;
  std::string source;
};

/// Emits every kernel of a module prepared by xfk-prepare-for-emission.
mlir::FailureOr<std::vector<KernelSource>>
emitKernelSources(mlir::ModuleOp module);

} // namespace xfc

#endif // XFC_EMITTER_CUDAEMITTER_H
