//===- Passes.h - xfc compiler passes ---------------------------*- C++ -*-===//

#ifndef XFC_TRANSFORMS_PASSES_H
#define XFC_TRANSFORMS_PASSES_H

#include "mlir/Pass/Pass.h"
#include "xfc/Dialect/Xfa/IR/Xfa.h"
#include "xfc/Dialect/Xfk/IR/Xfk.h"

namespace xfc {

#define GEN_PASS_DECL
#include "xfc/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "xfc/Transforms/Passes.h.inc"

} // namespace xfc

#endif // XFC_TRANSFORMS_PASSES_H
