//===- Xfa.h - xfa dialect, attributes and ops ------------------*- C++ -*-===//

#ifndef XFC_DIALECT_XFA_IR_XFA_H
#define XFC_DIALECT_XFA_IR_XFA_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "xfc/Dialect/Xfa/IR/XfaDialect.h.inc"

#define GET_ATTRDEF_CLASSES
#include "xfc/Dialect/Xfa/IR/XfaAttrs.h.inc"

#define GET_OP_CLASSES
#include "xfc/Dialect/Xfa/IR/XfaOps.h.inc"

namespace xfc::xfa {

/// Block sizes every kernel template supports.
inline constexpr int64_t kSupportedBlockSizes[] = {16, 32, 64, 128};
/// Head dimensions the attention templates are instantiated for.
inline constexpr int64_t kSupportedHeadDims[] = {32, 64, 96, 128, 256};

/// Name used in diagnostics and manifests for an element type (fp16, bf16,
/// fp32).
llvm::StringRef getDtypeName(mlir::Type elementType);

} // namespace xfc::xfa

#endif // XFC_DIALECT_XFA_IR_XFA_H
