//===- XfaDialect.td - xfa dialect definition --------------*- tablegen -*-===//
//
// The xfa dialect: attention as a tensor-level graph, before any decision about
// kernels has been made.
//
//===----------------------------------------------------------------------===//

#ifndef XFC_DIALECT_XFA_IR_XFADIALECT_TD
#define XFC_DIALECT_XFA_IR_XFADIALECT_TD

include "mlir/IR/OpBase.td"

def Xfa_Dialect : Dialect {
  let name = "xfa";
  let summary = "Tensor-level attention graphs";
  let description = [{
    `xfa` describes what an attention variant computes, on tensors laid out
    `[batch, heads, seq, head_dim]`. Masking is an attribute
    (`#xfa.mask<...>`) that composes causality, a block layout and the
    presence of run-time masks; passes canonicalize it, specialize it into
    per-row block lists (`#xfa.block_csr<...>`) and choose a kernel
    configuration (`#xfa.kernel_config<...>`) before outlining to `xfk`.
  }];
  let cppNamespace = "::xfc::xfa";
  let useDefaultAttributePrinterParser = 1;
  let dependentDialects = ["::mlir::func::FuncDialect"];
}

class Xfa_Op<string mnemonic, list<Trait> traits = []>
    : Op<Xfa_Dialect, mnemonic, traits>;

#endif // XFC_DIALECT_XFA_IR_XFADIALECT_TD
