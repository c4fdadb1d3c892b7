// RUN: xfc-opt %s -split-input-file -verify-diagnostics -xfa-outline-kernels | FileCheck %s

// Dense causal attention: one kernel with the configuration as traits, the
// grid (ceil(q_len / 64), heads, batch) and a launch in place of the op.
// CHECK-LABEL: func.func @dense
// CHECK: %[[O:.+]] = xfk.launch @attention_0(%{{.*}}, %{{.*}}, %{{.*}}) roles ["q", "k", "v"]
// CHECK: return %[[O]]
// CHECK: xfk.kernel @attention_0 template "attention_forward" arch "sm_90a" block [128, 1, 1] grid #{{.*}} shared 40960
// CHECK-SAME: BlockM = 64 : i64, BlockN = 64 : i64, Causal = true, Element = bf16
// CHECK-NOT: tables
// CHECK-NOT: xfa.attention
module {
func.func @dense(%q: tensor<?x8x?x64xbf16>) -> tensor<?x8x?x64xbf16> {
  %0 = xfa.attention %q, %q, %q {mask = #xfa.mask<causal = true>, scale = 0.125 : f32,
      kernel_config = #xfa.kernel_config<arch = "sm_90a", path = "mma_sync", block_m = 64, block_n = 64, warps = 4, stages = 2, shared_bytes = 40960>}
      : tensor<?x8x?x64xbf16>, tensor<?x8x?x64xbf16>, tensor<?x8x?x64xbf16> -> tensor<?x8x?x64xbf16>
  return %0 : tensor<?x8x?x64xbf16>
}
}

// -----

// A global first row (BigBird-like): its 8 tiles exceed twice the mean of
// 15 / 8 plus four, so one heavy rank; rows by decreasing count, ties in
// order.
// CHECK-LABEL: func.func @global_row_is_heavy
// CHECK: HeavyRanks = 1 : i64
// CHECK-SAME: TileOrder = array<i32: 0, 1, 2, 3, 4, 5, 6, 7>
module {
func.func @global_row_is_heavy(%q: tensor<?x2x?x64xf16>) -> tensor<?x2x?x64xf16> {
  %0 = xfa.attention %q, %q, %q {mask = #xfa.mask<>, scale = 0.125 : f32,
      sparsity = #xfa.block_csr<block_size = 64, heads = 1, blocks = 8, row_ptr = [0, 8, 9, 10, 11, 12, 13, 14, 15], cols = [0, 1, 2, 3, 4, 5, 6, 7, 1, 2, 3, 4, 5, 6, 7], partial = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                                bits = dense<[[[1, 1, 1, 1, 1, 1, 1, 1], [0, 1, 0, 0, 0, 0, 0, 0], [0, 0, 1, 0, 0, 0, 0, 0], [0, 0, 0, 1, 0, 0, 0, 0], [0, 0, 0, 0, 1, 0, 0, 0], [0, 0, 0, 0, 0, 1, 0, 0], [0, 0, 0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 0, 0, 1]]]> : tensor<1x8x8xi8>>,
      kernel_config = #xfa.kernel_config<arch = "sm_80", path = "mma_sync", block_m = 64, block_n = 64, warps = 4, stages = 2, shared_bytes = 40960>}
      : tensor<?x2x?x64xf16>, tensor<?x2x?x64xf16>, tensor<?x2x?x64xf16> -> tensor<?x2x?x64xf16>
  return %0 : tensor<?x2x?x64xf16>
}
}

// -----

// Per-head layouts: each head's tile rows by decreasing count (head 0's
// full row is its first, head 1's its last); none is heavy (4 tiles against
// twice the mean of 14 / 8 plus four).
// CHECK-LABEL: func.func @per_head_tile_order
// CHECK: HeavyRanks = 0 : i64
// CHECK-SAME: TileOrder = array<i32: 0, 1, 2, 3, 3, 0, 1, 2>
module {
func.func @per_head_tile_order(%q: tensor<?x2x?x64xf16>) -> tensor<?x2x?x64xf16> {
  %0 = xfa.attention %q, %q, %q {mask = #xfa.mask<>, scale = 0.125 : f32,
      sparsity = #xfa.block_csr<block_size = 64, heads = 2, blocks = 4, row_ptr = [0, 4, 5, 6, 7, 7, 8, 9, 10, 14], cols = [0, 1, 2, 3, 1, 2, 3, 0, 1, 2, 0, 1, 2, 3], partial = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                                bits = dense<[[[1, 1, 1, 1], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [1, 1, 1, 1]]]> : tensor<2x4x4xi8>>,
      kernel_config = #xfa.kernel_config<arch = "sm_80", path = "mma_sync", block_m = 64, block_n = 64, warps = 4, stages = 2, shared_bytes = 40960>}
      : tensor<?x2x?x64xf16>, tensor<?x2x?x64xf16>, tensor<?x2x?x64xf16> -> tensor<?x2x?x64xf16>
  return %0 : tensor<?x2x?x64xf16>
}
}

// -----

// Layout blocks of 16 under 64x32 tiles: each tile spans 4x2 blocks and is
// partial unless all of them are on (here none is complete).
// CHECK-LABEL: func.func @small_blocks_share_tiles
// CHECK: tables {BlockBits = array<i8: 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 1, 0, 0, 1, 1>, HeavyRanks = 0 : i64, LayoutBlock = 16 : i64, LayoutHeads = 1 : i64, NumBlocks = 4 : i64, NumTileRows = 1 : i64, TileCols = array<i32: 0, 1>, TileOrder = array<i32: 0>, TilePartial = array<i8: 1, 1>, TileRowPtr = array<i32: 0, 2>}
module {
func.func @small_blocks_share_tiles(%q: tensor<?x2x?x64xf16>) -> tensor<?x2x?x64xf16> {
  %0 = xfa.attention %q, %q, %q {mask = #xfa.mask<>, scale = 0.125 : f32,
      sparsity = #xfa.block_csr<block_size = 16, heads = 1, blocks = 4, row_ptr = [0, 1, 3, 5, 7], cols = [0, 0, 1, 2, 3, 2, 3], partial = [0, 0, 0, 0, 0, 0, 0],
                                bits = dense<[[[1, 0, 0, 0], [1, 1, 0, 0], [0, 0, 1, 1], [0, 0, 1, 1]]]> : tensor<1x4x4xi8>>,
      kernel_config = #xfa.kernel_config<arch = "sm_80", path = "mma_sync", block_m = 64, block_n = 32, warps = 4, stages = 2, shared_bytes = 24576>}
      : tensor<?x2x?x64xf16>, tensor<?x2x?x64xf16>, tensor<?x2x?x64xf16> -> tensor<?x2x?x64xf16>
  return %0 : tensor<?x2x?x64xf16>
}
}

// -----

// One causal block of 128 over 64x64 tiles: the tile below the diagonal is
// full, the two diagonal tiles are partial, the one above is absent.
// CHECK-LABEL: func.func @large_block_spans_tiles
// CHECK: NumTileRows = 2 : i64, TileCols = array<i32: 0, 0, 1>, TileOrder = array<i32: 1, 0>, TilePartial = array<i8: 1, 0, 1>, TileRowPtr = array<i32: 0, 1, 3>
module {
func.func @large_block_spans_tiles(%q: tensor<?x2x?x64xf16>) -> tensor<?x2x?x64xf16> {
  %0 = xfa.attention %q, %q, %q {mask = #xfa.mask<causal = true>, scale = 0.125 : f32,
      sparsity = #xfa.block_csr<block_size = 128, heads = 1, blocks = 1, row_ptr = [0, 1], cols = [0], partial = [1], bits = dense<1> : tensor<1x1x1xi8>>,
      kernel_config = #xfa.kernel_config<arch = "sm_80", path = "mma_sync", block_m = 64, block_n = 64, warps = 4, stages = 2, shared_bytes = 40960>}
      : tensor<?x2x?x64xf16>, tensor<?x2x?x64xf16>, tensor<?x2x?x64xf16> -> tensor<?x2x?x64xf16>
  return %0 : tensor<?x2x?x64xf16>
}
}

// -----

// The sm_90a kernel under 64-key layout blocks: 64 x 128 tiles, each K/V
// tile two gathered blocks of the row (TileBlocks 2, two TileCols entries a
// tile). Causal: the diagonal block is partial. Full blocks pair with full
// ones and partial with partial; an odd one out of each goes together
// (row 1: full 0 with partial 1, a partial tile) or alone, its second half
// absent (-1; rows 0, 2 and 3).
// CHECK-LABEL: func.func @gathered_tiles
// CHECK: NumTileRows = 4 : i64, TileBlocks = 2 : i64, TileCols = array<i32: 0, -1, 0, 1, 0, 1, 2, -1, 0, 2, 3, -1>, TileOrder = array<i32: 2, 3, 0, 1>, TilePartial = array<i8: 1, 1, 0, 1, 0, 1>, TileRowPtr = array<i32: 0, 1, 2, 4, 6>
module {
func.func @gathered_tiles(%q: tensor<?x2x?x128xbf16>) -> tensor<?x2x?x128xbf16> {
  %0 = xfa.attention %q, %q, %q {mask = #xfa.mask<causal = true>, scale = 0.125 : f32,
      sparsity = #xfa.block_csr<block_size = 64, heads = 1, blocks = 4, row_ptr = [0, 1, 3, 6, 9], cols = [0, 0, 1, 0, 1, 2, 0, 2, 3], partial = [1, 0, 1, 0, 0, 1, 0, 0, 1],
                                bits = dense<[[[1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0], [1, 0, 1, 1]]]> : tensor<1x4x4xi8>>,
      kernel_config = #xfa.kernel_config<arch = "sm_90a", path = "mma_sync", block_m = 64, block_n = 128, warps = 8, stages = 1, shared_bytes = 99328>}
      : tensor<?x2x?x128xbf16>, tensor<?x2x?x128xbf16>, tensor<?x2x?x128xbf16> -> tensor<?x2x?x128xbf16>
  return %0 : tensor<?x2x?x128xbf16>
}
}

// -----

// The same layout on sm_80 (mma.sync): contiguous 64 x 128 tiles, no
// TileBlocks; a tile is partial unless both of its blocks are on.
// CHECK-LABEL: func.func @contiguous_tiles_off_hopper
// CHECK-NOT: TileBlocks
// CHECK: TileCols = array<i32: 0, 0, 0, 1, 0, 1>, TileOrder = array<i32: 2, 3, 0, 1>, TilePartial = array<i8: 1, 1, 0, 1, 1, 1>, TileRowPtr = array<i32: 0, 1, 2, 4, 6>
module {
func.func @contiguous_tiles_off_hopper(%q: tensor<?x2x?x128xbf16>) -> tensor<?x2x?x128xbf16> {
  %0 = xfa.attention %q, %q, %q {mask = #xfa.mask<causal = true>, scale = 0.125 : f32,
      sparsity = #xfa.block_csr<block_size = 64, heads = 1, blocks = 4, row_ptr = [0, 1, 3, 6, 9], cols = [0, 0, 1, 0, 1, 2, 0, 2, 3], partial = [1, 0, 1, 0, 0, 1, 0, 0, 1],
                                bits = dense<[[[1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0], [1, 0, 1, 1]]]> : tensor<1x4x4xi8>>,
      kernel_config = #xfa.kernel_config<arch = "sm_80", path = "mma_sync", block_m = 64, block_n = 128, warps = 4, stages = 2, shared_bytes = 81920>}
      : tensor<?x2x?x128xbf16>, tensor<?x2x?x128xbf16>, tensor<?x2x?x128xbf16> -> tensor<?x2x?x128xbf16>
  return %0 : tensor<?x2x?x128xbf16>
}
}

// -----

// A static key length of 100 ends inside the second 64-key tile: that tile is
// partial even though its block is fully on.
// CHECK-LABEL: func.func @static_end_partial
// CHECK: TileCols = array<i32: 0, 1, 0, 1>, TileOrder = array<i32: 0, 1>, TilePartial = array<i8: 0, 1, 0, 1>, TileRowPtr = array<i32: 0, 2, 4>
module {
func.func @static_end_partial(%q: tensor<1x1x100x64xf16>) -> tensor<1x1x100x64xf16> {
  %0 = xfa.attention %q, %q, %q {mask = #xfa.mask<>, scale = 0.125 : f32,
      sparsity = #xfa.block_csr<block_size = 128, heads = 1, blocks = 1, row_ptr = [0, 1], cols = [0], partial = [1], bits = dense<1> : tensor<1x1x1xi8>>,
      kernel_config = #xfa.kernel_config<arch = "sm_80", path = "mma_sync", block_m = 64, block_n = 64, warps = 4, stages = 2, shared_bytes = 40960>}
      : tensor<1x1x100x64xf16>, tensor<1x1x100x64xf16>, tensor<1x1x100x64xf16> -> tensor<1x1x100x64xf16>
  return %0 : tensor<1x1x100x64xf16>
}
}

// -----

// Identical ops share one kernel; masks become launch inputs with roles.
// CHECK-LABEL: func.func @shared_kernel
// CHECK: xfk.launch @[[K:attention_[0-9]+]]({{.*}}) roles ["q", "k", "v", "key_padding"]
// CHECK: xfk.launch @[[K]]({{.*}}) roles ["q", "k", "v", "key_padding"]
// CHECK: xfk.kernel @[[K]]
// CHECK-SAME: HasKeyPadding = true
// CHECK-NOT: xfk.kernel
module {
func.func @shared_kernel(%q: tensor<2x8x16x64xf16>, %p: tensor<2x16xi1>) -> tensor<2x8x16x64xf16> {
  %0 = xfa.attention %q, %q, %q key_padding %p : tensor<2x16xi1> {mask = #xfa.mask<key_padding = true>, scale = 0.125 : f32,
      kernel_config = #xfa.kernel_config<arch = "sm_80", path = "mma_sync", block_m = 64, block_n = 64, warps = 4, stages = 2, shared_bytes = 40960>}
      : tensor<2x8x16x64xf16>, tensor<2x8x16x64xf16>, tensor<2x8x16x64xf16> -> tensor<2x8x16x64xf16>
  %1 = xfa.attention %0, %q, %q key_padding %p : tensor<2x16xi1> {mask = #xfa.mask<key_padding = true>, scale = 0.125 : f32,
      kernel_config = #xfa.kernel_config<arch = "sm_80", path = "mma_sync", block_m = 64, block_n = 64, warps = 4, stages = 2, shared_bytes = 40960>}
      : tensor<2x8x16x64xf16>, tensor<2x8x16x64xf16>, tensor<2x8x16x64xf16> -> tensor<2x8x16x64xf16>
  return %1 : tensor<2x8x16x64xf16>
}
}

// -----

module {
func.func @unconfigured(%q: tensor<?x8x?x64xbf16>) -> tensor<?x8x?x64xbf16> {
  // expected-error @+1 {{expected a kernel_config; run xfa-select-kernel-config first}}
  %0 = xfa.attention %q, %q, %q {mask = #xfa.mask<>, scale = 0.125 : f32}
      : tensor<?x8x?x64xbf16>, tensor<?x8x?x64xbf16>, tensor<?x8x?x64xbf16> -> tensor<?x8x?x64xbf16>
  return %0 : tensor<?x8x?x64xbf16>
}
}

// -----

// A random pattern: the Random* traits, on the dense schedule (no tables).
// CHECK-LABEL: func.func @random_traits
// CHECK: xfk.kernel
// CHECK-SAME: RandomPerCall = true, RandomSeed = 9 : i64, RandomThreshold = 3000000000 : i64
// CHECK-NOT: tables
module {
func.func @random_traits(%q: tensor<?x2x?x64xf16>) -> tensor<?x2x?x64xf16> {
  %0 = xfa.attention %q, %q, %q {mask = #xfa.mask<random_threshold = 3000000000, random_seed = 9, random_per_call = true>, scale = 0.125 : f32,
      kernel_config = #xfa.kernel_config<arch = "sm_80", path = "mma_sync", block_m = 64, block_n = 64, warps = 4, stages = 2, shared_bytes = 40960>}
      : tensor<?x2x?x64xf16>, tensor<?x2x?x64xf16>, tensor<?x2x?x64xf16> -> tensor<?x2x?x64xf16>
  return %0 : tensor<?x2x?x64xf16>
}
}

// -----

// Global tokens: a GlobalBits table (one byte per token); a tile is full
// only when all its queries or all its keys are global. Tokens 0..63 and
// 100 over 128: tiles (0, *) and (*, 0) are full, tile (1, 1) is partial.
// CHECK-LABEL: func.func @global_tables
// CHECK: GlobalBits = array<i8: 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>
// CHECK-SAME: TileCols = array<i32: 0, 1, 0, 1>, TileOrder = array<i32: 0, 1>, TilePartial = array<i8: 0, 0, 0, 1>, TileRowPtr = array<i32: 0, 2, 4>
module {
func.func @global_tables(%q: tensor<1x1x128x64xf16>) -> tensor<1x1x128x64xf16> {
  %0 = xfa.attention %q, %q, %q {mask = #xfa.mask<global_tokens = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 100]>, scale = 0.125 : f32,
      sparsity = #xfa.block_csr<block_size = 64, heads = 1, blocks = 2, row_ptr = [0, 2, 4], cols = [0, 1, 0, 1], partial = [0, 0, 0, 1], bits = dense<1> : tensor<1x2x2xi8>>,
      kernel_config = #xfa.kernel_config<arch = "sm_80", path = "mma_sync", block_m = 64, block_n = 64, warps = 4, stages = 2, shared_bytes = 40960>}
      : tensor<1x1x128x64xf16>, tensor<1x1x128x64xf16>, tensor<1x1x128x64xf16> -> tensor<1x1x128x64xf16>
  return %0 : tensor<1x1x128x64xf16>
}
}

// -----

// Global tokens without a block layout: the passes before were skipped.
module {
func.func @global_needs_layout(%q: tensor<1x1x128x64xf16>) -> tensor<1x1x128x64xf16> {
  // expected-error @+1 {{expected global tokens to come with a block layout; run xfa-canonicalize-mask and xfa-specialize-sparsity first}}
  %0 = xfa.attention %q, %q, %q {mask = #xfa.mask<global_tokens = [3]>, scale = 0.125 : f32,
      kernel_config = #xfa.kernel_config<arch = "sm_80", path = "mma_sync", block_m = 64, block_n = 64, warps = 4, stages = 2, shared_bytes = 40960>}
      : tensor<1x1x128x64xf16>, tensor<1x1x128x64xf16>, tensor<1x1x128x64xf16> -> tensor<1x1x128x64xf16>
  return %0 : tensor<1x1x128x64xf16>
}
}
