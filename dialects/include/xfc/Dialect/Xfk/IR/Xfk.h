//===- Xfk.h - xfk dialect: kernels and launches ----------------*- C++ -*-===//

#ifndef XFC_DIALECT_XFK_IR_XFK_H
#define XFC_DIALECT_XFK_IR_XFK_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/SymbolTable.h"

#include "xfc/Dialect/Xfk/IR/XfkDialect.h.inc"

#define GET_OP_CLASSES
#include "xfc/Dialect/Xfk/IR/XfkOps.h.inc"

namespace xfc::xfk {

/// What an emitter needs to know about a template family.
struct TemplateSpec {
  llvm::StringRef name;
  /// The C++ function the entry point calls.
  llvm::StringRef entryFunction;
  /// Traits every instantiation must set, besides `Element`.
  llvm::ArrayRef<llvm::StringRef> requiredTraits;
  /// Traits an instantiation may set; each group (the traits sharing their
  /// first CamelCase word: Window*, Random*) is all present or absent.
  llvm::ArrayRef<llvm::StringRef> optionalTraits;
  /// Tables an instantiation may bake in.
  llvm::ArrayRef<llvm::StringRef> tables;
  /// Operand roles, in the order launches list them.
  llvm::ArrayRef<llvm::StringRef> roles;
  /// The struct the kernel takes by value.
  llvm::StringRef paramsType;
  /// Tables an instantiation may add to `tables` (GlobalBits).
  llvm::ArrayRef<llvm::StringRef> optionalTables = {};

  /// The softmax-attention family (xfc::AttentionParams), as opposed to the
  /// graph ops (xfc::OpParams).
  bool isAttention() const { return name == "attention_forward"; }
};

/// The template families xfc can instantiate, or nullptr.
const TemplateSpec *lookupTemplate(llvm::StringRef name);

} // namespace xfc::xfk

#endif // XFC_DIALECT_XFK_IR_XFK_H
