//===- Passes.td - xfc compiler passes ---------------------*- tablegen -*-===//

#ifndef XFC_TRANSFORMS_PASSES_TD
#define XFC_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def XfaCanonicalizeMask : Pass<"xfa-canonicalize-mask", "::mlir::ModuleOp"> {
  let summary = "Bring every attention mask to one normal form";
  let description = [{
    Rewrites `#xfa.mask` so that equal masks look equal and no layout block
    is kept that cannot contribute:
    - with `causal`, blocks strictly above the diagonal are cleared (every
      element in them is hidden);
    - a per-head layout whose heads are all equal becomes one shared head;
    - a random pattern that keeps every pair (`random_threshold` = 2^32) is
      dropped;
    - global tokens become a block layout too (blocks of 64, or the given
      layout's block size, ANDed with it): a block is on when its query
      block or its key block holds a global token, so blocks of non-global
      tokens only are never visited; the tokens stay in the mask as the
      per-element predicate. Global tokens covering the whole sequence are
      dropped (they hide nothing).
    The sequence-length bound a layout implies is unchanged.
  }];
  let dependentDialects = ["::xfc::xfa::XfaDialect"];
}

def XfaSpecializeSparsity : Pass<"xfa-specialize-sparsity", "::mlir::ModuleOp"> {
  let summary = "Turn block layouts into per-row lists of present blocks";
  let description = [{
    Replaces `mask.layout` by a `sparsity = #xfa.block_csr<...>` attribute:
    for every layout head and query block, the ascending list of key blocks
    that are on, with a flag for the blocks that need per-element masking
    (causal diagonal blocks, and the last block when a statically known
    sequence length ends inside it). Empty blocks are dropped; a row with no
    blocks stays empty and its output is zero.
  }];
  let dependentDialects = ["::xfc::xfa::XfaDialect"];
}

def XfaSelectKernelConfig : Pass<"xfa-select-kernel-config", "::mlir::ModuleOp"> {
  let summary = "Choose the kernel configuration of every attention op once";
  let description = [{
    Picks the template path (tensor-core `mma_sync` for fp16/bf16, `simt`
    for fp32), the tile sizes, warps and pipeline stages from the head
    dimension, element type, causality, block size and target architecture,
    and stores them as `kernel_config = #xfa.kernel_config<...>`. The target
    comes from the module's `xfc.target` attribute unless `arch` is given.
    Later passes only read the attribute.
  }];
  let options = [
    Option<"arch", "arch", "std::string", /*default=*/"\"\"",
           "Target architecture (sm_80, sm_86, sm_89, sm_90, sm_90a); "
           "overrides the module's xfc.target">
  ];
  let dependentDialects = ["::xfc::xfa::XfaDialect"];
}

def XfaOutlineKernels : Pass<"xfa-outline-kernels", "::mlir::ModuleOp"> {
  let summary = "Outline configured attention ops into xfk kernels and launches";
  let description = [{
    Every `xfa.attention` with a `kernel_config` becomes an `xfk.kernel` at
    module level (template, traits, grid and block, and for block-sparse ops
    the layout mapped onto kernel tiles: a tile-level CSR with full/partial
    flags plus the layout bits) and an `xfk.launch` in its place. Several
    small layout blocks may share one kernel tile, and one large layout block
    may span several tiles; a tile is full only when every element in it is
    visible. Identical kernels are outlined once.
  }];
  let dependentDialects = ["::xfc::xfa::XfaDialect", "::xfc::xfk::XfkDialect"];
}

def XfaOutlineGraphOps : Pass<"xfa-outline-graph-ops", "::mlir::ModuleOp"> {
  let summary = "Outline the graph ops of multi-op variants into xfk kernels";
  let description = [{
    Every `xfa.matmul` and `xfa.softmax` becomes an `xfk.kernel` of the
    `matmul` or `softmax` template plus an `xfk.launch` carrying the op's
    scalars; a `xfa.dft_matrix` operand is fused into the product (its
    entries are generated in the kernel, never stored). Runs after
    `xfa-outline-kernels`, then gives every launch of a multi-launch plan the
    symbolic `sizes` of its result (constants, or the run-time `batch`,
    `heads`, `q_len`, `kv_len`), which the runtime allocates from.
    `xfa.parameter` ops stay: the manifest lists them as the module's learned
    parameters. Identical kernels are outlined once.
  }];
  let dependentDialects = ["::xfc::xfa::XfaDialect", "::xfc::xfk::XfkDialect"];
}

def XfkPrepareForEmission : Pass<"xfk-prepare-for-emission", "::mlir::ModuleOp"> {
  let summary = "Make the IR printable as CUDA without further changes";
  let description = [{
    Renames every kernel to `xfc_attn_<hash>`, a hash of its template,
    architecture, traits and tables, so that identical kernels share a symbol
    (and a cache entry) across configs; updates the launches; checks that
    no `xfa.attention` is left. After this pass the emitter only reads.
  }];
  let dependentDialects = ["::xfc::xfk::XfkDialect"];
}

#endif // XFC_TRANSFORMS_PASSES_TD
