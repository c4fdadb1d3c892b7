//===- XfkOps.td - xfk dialect: kernels and launches -------*- tablegen -*-===//

#ifndef XFC_DIALECT_XFK_IR_XFKOPS_TD
#define XFC_DIALECT_XFK_IR_XFKOPS_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/SymbolInterfaces.td"
include "mlir/IR/CommonAttrConstraints.td"

def Xfk_Dialect : Dialect {
  let name = "xfk";
  let summary = "Kernels instantiated from xfc's CUDA templates, and their launches";
  let description = [{
    `xfk` is the last IR before CUDA is printed. An `xfk.kernel` names a
    template, the traits it is instantiated with, the tables it bakes in and
    how it is launched; an `xfk.launch` in the host function binds tensors to
    a kernel. The emitter only reads this IR.
  }];
  let cppNamespace = "::xfc::xfk";
}

class Xfk_Op<string mnemonic, list<Trait> traits = []>
    : Op<Xfk_Dialect, mnemonic, traits>;

def Xfk_KernelOp : Xfk_Op<"kernel", [Symbol, IsolatedFromAbove]> {
  let summary = "One CUDA kernel instantiated from a template";
  let description = [{
    `template` names a kernel template family (`attention_forward`),
    `traits` are the compile-time constants of its traits struct (integers,
    booleans, and the element type), and `tables` the constant arrays it
    bakes in (for block-sparse kernels: the tile-level CSR and the layout
    bits). `grid` maps the launch's run-time sizes
    `[batch, heads, q_len, kv_len]` to the grid, each result being a symbol,
    a constant or `symbol ceildiv constant`; `block` is the CTA shape and
    `shared_bytes` the dynamic shared memory.

    ```mlir
    xfk.kernel @attention_0 template "attention_forward" arch "sm_90a"
        block [128, 1, 1]
        grid affine_map<()[s0, s1, s2, s3] -> (s2 ceildiv 64, s1, s0)>
        shared 40960
        traits {Element = bf16, HeadDim = 64 : i64, ...}
    ```
  }];
  let arguments = (ins SymbolNameAttr:$sym_name, StrAttr:$template_name,
                       StrAttr:$arch, DenseI32ArrayAttr:$block,
                       AffineMapAttr:$grid, I64Attr:$shared_bytes,
                       DictionaryAttr:$traits,
                       OptionalAttr<DictionaryAttr>:$tables);
  let assemblyFormat = [{
    $sym_name `template` $template_name `arch` $arch `block` $block
    `grid` $grid `shared` $shared_bytes `traits` $traits
    (`tables` $tables^)? attr-dict
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// Threads per CTA.
    int64_t getNumThreads();
    /// The element type trait.
    mlir::Type getElementType();
    /// An integer or boolean trait; asserts that it exists.
    int64_t getIntTrait(llvm::StringRef name);
    /// Checks that TileOrder permutes each layout head's tile rows.
    mlir::LogicalResult verifyTileOrder(mlir::DictionaryAttr tables);
    /// Bytes of the array tables (i32 and i8 entries).
    int64_t getTableBytes();
    /// Whether the tables are too large to print into the kernel source:
    /// they are then uninitialised `__device__` arrays that the runtime
    /// fills when it loads the module (manifest `tables_at_load`).
    bool loadsTablesAtRuntime() { return getTableBytes() > kMaxInlineTableBytes; }
    /// Tables up to this size are printed into the source (its size and
    /// NVRTC's time grow with them).
    static constexpr int64_t kMaxInlineTableBytes = 64 * 1024;
  }];
}

def Xfk_LaunchOp : Xfk_Op<"launch",
    [DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "Runs a kernel on tensors";
  let description = [{
    Binds the operands to the kernel's parameters by role (`q`, `k`, `v`,
    `attn_mask`, `key_padding`) and produces the output tensor. The run-time
    sizes `[batch, heads, q_len, kv_len]` that the kernel's grid map takes
    come from the query and key shapes.

    Launches of graph-op templates (`matmul`, `softmax`) also carry the
    op's scalars (`alpha`, `beta`, `ints`, see templates/xfc/op_params.h),
    and every launch of a multi-launch plan its result's `sizes`: each
    dimension a constant or the run-time size `batch`, `heads`, `q_len`,
    `kv_len` it equals, so that the runtime can allocate it.

    ```mlir
    %o = xfk.launch @attention_0(%q, %k, %v) roles ["q", "k", "v"]
        : (tensor<?x16x?x64xbf16>, tensor<?x16x?x64xbf16>,
           tensor<?x16x?x64xbf16>) -> tensor<?x16x?x64xbf16>
    ```
  }];
  let arguments = (ins FlatSymbolRefAttr:$kernel,
                       Variadic<AnyRankedTensor>:$inputs,
                       StrArrayAttr:$roles,
                       DefaultValuedAttr<F32Attr, "0.0">:$dropout,
                       OptionalAttr<F32Attr>:$alpha,
                       OptionalAttr<F32Attr>:$beta,
                       OptionalAttr<DenseI64ArrayAttr>:$ints,
                       OptionalAttr<StrArrayAttr>:$sizes);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $kernel `(` $inputs `)` `roles` $roles attr-dict `:`
    functional-type($inputs, $result)
  }];
  let hasVerifier = 1;
}

#endif // XFC_DIALECT_XFK_IR_XFKOPS_TD
