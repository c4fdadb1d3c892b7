//===- XfaAttrs.td - xfa attributes ------------------------*- tablegen -*-===//

#ifndef XFC_DIALECT_XFA_IR_XFAATTRS_TD
#define XFC_DIALECT_XFA_IR_XFAATTRS_TD

include "xfc/Dialect/Xfa/IR/XfaDialect.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/BuiltinAttributeInterfaces.td"

class Xfa_Attr<string name, string attrMnemonic, list<Trait> traits = []>
    : AttrDef<Xfa_Dialect, name, traits> {
  let mnemonic = attrMnemonic;
}

def Xfa_BlockLayoutAttr : Xfa_Attr<"BlockLayout", "block_layout"> {
  let summary = "A block-sparsity layout: which key blocks each query block sees";
  let description = [{
    `bits` is an `i8` tensor `[heads, blocks, blocks]` of 0/1 where row `i`,
    column `j` says whether query block `i` attends to key block `j`. One head
    means the layout is shared by all heads. Blocks are `block_size` tokens;
    the last block may be partial when the sequence is not a multiple of it.

    ```mlir
    #xfa.block_layout<block_size = 64,
                      bits = dense<[[[1, 0], [1, 1]]]> : tensor<1x2x2xi8>>
    ```
  }];
  let parameters = (ins "int64_t":$block_size,
                        "::mlir::DenseIntElementsAttr":$bits);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    int64_t getNumHeads() const;
    int64_t getNumBlocks() const;
    /// Bit of (head, query block, key block); head is taken modulo the
    /// number of layout heads so a shared layout answers for every head.
    bool isSet(int64_t head, int64_t row, int64_t col) const;
    /// Fraction of blocks that are on, over all layout heads.
    double getDensity() const;
  }];
}

def Xfa_MaskAttr : Xfa_Attr<"Mask", "mask"> {
  let summary = "The composition of everything that hides keys from queries";
  let description = [{
    An element (query `i`, key `j`) is visible when every present component
    allows it:
    - `causal`: `j <= i` (top-left aligned);
    - `layout`: the block layout's bit for `(i / block_size, j / block_size)`;
    - `attn_mask`: a run-time additive float mask (a `-inf` hides);
    - `key_padding`: a run-time `[batch, kv_len]` mask (true hides);
    - `window_left` / `window_right`: `i - window_left <= j <= i +
      window_right` (-1: no bound on that side), the `local` variant;
    - `random_threshold` / `random_seed` / `random_per_call`: the `random`
      variant; with threshold T > 0, `(i, j)` is kept when
      `splitmix64(seed + (i * 2^32 + j + 1) * 0x9E3779B97F4A7C15) >> 32 < T`
      (the SplitMix64 finaliser; T = ceil(r * 2^32), so a fraction r of the
      pairs). `random_per_call`: the seed is also mixed with the launch's
      random stream, so each call draws a new pattern;
    - `global_tokens`: the `global` variant; sorted token indices g, and
      `(i, j)` is visible when `i` or `j` is in g. It needs a static
      sequence length, the same for queries and keys.
    A query with no visible key produces zeros.

    ```mlir
    #xfa.mask<causal = true, key_padding = true>
    #xfa.mask<random_threshold = 42950, random_seed = 7>
    #xfa.mask<global_tokens = [0, 64]>
    ```
  }];
  let parameters = (ins
    DefaultValuedParameter<"bool", "false">:$causal,
    OptionalParameter<"::xfc::xfa::BlockLayoutAttr">:$layout,
    DefaultValuedParameter<"bool", "false">:$attn_mask,
    DefaultValuedParameter<"bool", "false">:$key_padding,
    DefaultValuedParameter<"int64_t", "-1">:$window_left,
    DefaultValuedParameter<"int64_t", "-1">:$window_right,
    DefaultValuedParameter<"int64_t", "0">:$random_threshold,
    DefaultValuedParameter<"int64_t", "0">:$random_seed,
    DefaultValuedParameter<"bool", "false">:$random_per_call,
    OptionalParameter<"::mlir::DenseI32ArrayAttr">:$global_tokens);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let builders = [
    // The masks without random or global components.
    AttrBuilder<(ins "bool":$causal, "::xfc::xfa::BlockLayoutAttr":$layout,
                     "bool":$attnMask, "bool":$keyPadding,
                     "int64_t":$windowLeft, "int64_t":$windowRight), [{
      return $_get($_ctxt, causal, layout, attnMask, keyPadding, windowLeft,
                   windowRight, /*randomThreshold=*/0, /*randomSeed=*/0,
                   /*randomPerCall=*/false, ::mlir::DenseI32ArrayAttr());
    }]>
  ];
  let extraClassDeclaration = [{
    /// Largest random_threshold: every pair kept.
    static constexpr int64_t kRandomAll = int64_t(1) << 32;
    /// True when no component hides anything.
    bool isFull() const {
      return !getCausal() && !getLayout() && !getAttnMask() &&
             !getKeyPadding() && !hasWindow() && !hasRandom() && !hasGlobal();
    }
    /// The same mask with `layout` in place of its layout (null drops it).
    MaskAttr withLayout(BlockLayoutAttr layout) const {
      return MaskAttr::get(getContext(), getCausal(), layout, getAttnMask(),
                           getKeyPadding(), getWindowLeft(), getWindowRight(),
                           getRandomThreshold(), getRandomSeed(),
                           getRandomPerCall(), getGlobalTokens());
    }
    /// The same mask without its random component.
    MaskAttr withoutRandom() const {
      return MaskAttr::get(getContext(), getCausal(), getLayout(),
                           getAttnMask(), getKeyPadding(), getWindowLeft(),
                           getWindowRight(), 0, 0, false, getGlobalTokens());
    }
    /// True when a sliding window bounds either side.
    bool hasWindow() const {
      return getWindowLeft() >= 0 || getWindowRight() >= 0;
    }
    /// True when a random pattern hides pairs.
    bool hasRandom() const { return getRandomThreshold() > 0; }
    /// True when global tokens restrict the pairs.
    bool hasGlobal() const {
      return getGlobalTokens() && !getGlobalTokens().empty();
    }
  }];
}

def Xfa_BlockCsrAttr : Xfa_Attr<"BlockCsr", "block_csr"> {
  let summary = "A block layout specialized into per-row lists of present blocks";
  let description = [{
    Compressed sparse rows over layout blocks, one CSR per layout head:
    `row_ptr` has `heads * (blocks + 1)` entries (absolute offsets into
    `cols`), `cols` lists present key blocks in ascending order and `partial`
    marks the blocks that need per-element masking (a causal diagonal block,
    or a block crossing the end of a statically known sequence). Empty blocks
    are absent; a row with no entries outputs zeros. `bits` keeps the layout
    for element-level predicates when kernel tiles span several blocks.

    ```mlir
    #xfa.block_csr<block_size = 64, heads = 1, blocks = 2,
                   row_ptr = [0, 1, 3], cols = [0, 0, 1],
                   partial = [1, 0, 1],
                   bits = dense<[[[1, 0], [1, 1]]]> : tensor<1x2x2xi8>>
    ```
  }];
  let parameters = (ins "int64_t":$block_size, "int64_t":$heads,
                        "int64_t":$blocks,
                        "::mlir::DenseI32ArrayAttr":$row_ptr,
                        "::mlir::DenseI32ArrayAttr":$cols,
                        "::mlir::DenseI8ArrayAttr":$partial,
                        "::mlir::DenseIntElementsAttr":$bits);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// Number of present blocks over all heads.
    int64_t getNumPresent() const { return getCols().size(); }
  }];
}

def Xfa_KernelConfigAttr : Xfa_Attr<"KernelConfig", "kernel_config"> {
  let summary = "The kernel configuration chosen once for an attention op";
  let description = [{
    Chosen by `xfa-select-kernel-config`; later passes only read it.
    `path` names the template family (`mma_sync`: the sm_80+ tensor-core
    flash kernel; `simt`: the fp32 CUDA-core kernel). `block_m` query rows and
    `block_n` keys per tile, `warps` per CTA, `stages` of the K/V pipeline and
    the dynamic shared memory the template needs.

    ```mlir
    #xfa.kernel_config<arch = "sm_90a", path = "mma_sync", block_m = 64,
                       block_n = 64, warps = 4, stages = 2,
                       shared_bytes = 40960>
    ```
  }];
  let parameters = (ins "::mlir::StringAttr":$arch, "::mlir::StringAttr":$path,
                        "int64_t":$block_m, "int64_t":$block_n, "int64_t":$warps,
                        "int64_t":$stages, "int64_t":$shared_bytes);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

#endif // XFC_DIALECT_XFA_IR_XFAATTRS_TD
