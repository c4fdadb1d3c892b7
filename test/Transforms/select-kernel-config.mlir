// RUN: xfc-opt %s -split-input-file -xfa-select-kernel-config | FileCheck %s
// RUN: xfc-opt %s -split-input-file -xfa-select-kernel-config="arch=sm_80" | FileCheck %s --check-prefix=SM80

// fp16/bf16 take the tensor-core path; the module's target is used unless
// the pass option overrides it. sm_90a: the warp-specialized wgmma kernel;
// causal at D=64, a producer warpgroup and one consumer warpgroup (8 warps,
// 64 query rows, two CTAs per SM), shared memory (2*64 + 2*2*128) * 64 * 2
// + 1024 bytes (two Q tiles); sm_80: the mma.sync kernel, (64 + 2*2*64) *
// 64 * 2 bytes.
// CHECK-LABEL: func.func @dense_bf16
// CHECK: kernel_config = #xfa.kernel_config<arch = "sm_90a", path = "mma_sync", block_m = 64, block_n = 128, warps = 8, stages = 2, shared_bytes = 82944>
// SM80-LABEL: func.func @dense_bf16
// SM80: #xfa.kernel_config<arch = "sm_80", path = "mma_sync", block_m = 64, block_n = 64, warps = 4, stages = 2, shared_bytes = 40960>
module attributes {xfc.target = "sm_90a"} {
func.func @dense_bf16(%q: tensor<?x8x?x64xbf16>) -> tensor<?x8x?x64xbf16> {
  %0 = xfa.attention %q, %q, %q {mask = #xfa.mask<causal = true>, scale = 0.125 : f32}
      : tensor<?x8x?x64xbf16>, tensor<?x8x?x64xbf16>, tensor<?x8x?x64xbf16> -> tensor<?x8x?x64xbf16>
  return %0 : tensor<?x8x?x64xbf16>
}
}

// -----

// Head dim 128: (2*128 + 4*128) * 128 * 2 + 1024 bytes (193 KiB, two Q
// tiles) on sm_90a, (64 + 4*64) * 128 * 2 = 80 KiB on sm_80.
// CHECK-LABEL: func.func @dense_d128
// CHECK: path = "mma_sync", block_m = 128, block_n = 128, warps = 12, stages = 2, shared_bytes = 197632
// SM80-LABEL: func.func @dense_d128
// SM80: path = "mma_sync", block_m = 64, block_n = 64, warps = 4, stages = 2, shared_bytes = 81920
module attributes {xfc.target = "sm_90a"} {
func.func @dense_d128(%q: tensor<?x8x?x128xf16>) -> tensor<?x8x?x128xf16> {
  %0 = xfa.attention %q, %q, %q {mask = #xfa.mask<>, scale = 0.088 : f32}
      : tensor<?x8x?x128xf16>, tensor<?x8x?x128xf16>, tensor<?x8x?x128xf16> -> tensor<?x8x?x128xf16>
  return %0 : tensor<?x8x?x128xf16>
}
}

// -----

// fp32 keeps full precision on the simt path.
// CHECK-LABEL: func.func @dense_fp32
// CHECK: path = "simt", block_m = 32, block_n = 32, warps = 4, stages = 2, shared_bytes = 20480
module attributes {xfc.target = "sm_80"} {
func.func @dense_fp32(%q: tensor<?x8x?x32xf32>) -> tensor<?x8x?x32xf32> {
  %0 = xfa.attention %q, %q, %q {mask = #xfa.mask<>, scale = 0.17 : f32}
      : tensor<?x8x?x32xf32>, tensor<?x8x?x32xf32>, tensor<?x8x?x32xf32> -> tensor<?x8x?x32xf32>
  return %0 : tensor<?x8x?x32xf32>
}
}

// -----

// Layout blocks of 16 share 64 x 64 tiles on sm_90a (one consumer
// warpgroup, two CTAs per SM), 64 x 32 tiles on sm_80.
// CHECK-LABEL: func.func @sparse_block16
// CHECK: block_m = 64, block_n = 64, warps = 8
// SM80-LABEL: func.func @sparse_block16
// SM80: block_m = 64, block_n = 32, warps = 4
module attributes {xfc.target = "sm_90a"} {
func.func @sparse_block16(%q: tensor<?x2x?x64xf16>) -> tensor<?x2x?x64xf16> {
  %0 = xfa.attention %q, %q, %q {mask = #xfa.mask<>, scale = 0.125 : f32,
      sparsity = #xfa.block_csr<block_size = 16, heads = 1, blocks = 2, row_ptr = [0, 1, 3], cols = [0, 0, 1], partial = [0, 0, 0], bits = dense<[[[1, 0], [1, 1]]]> : tensor<1x2x2xi8>>}
      : tensor<?x2x?x64xf16>, tensor<?x2x?x64xf16>, tensor<?x2x?x64xf16> -> tensor<?x2x?x64xf16>
  return %0 : tensor<?x2x?x64xf16>
}
}


// -----

// Head dims the wgmma kernel does not take keep mma.sync on sm_90a.
// CHECK-LABEL: func.func @dense_d96_sm90a
// CHECK: arch = "sm_90a", path = "mma_sync", block_m = 64, block_n = 64, warps = 4, stages = 2, shared_bytes = 61440
module attributes {xfc.target = "sm_90a"} {
func.func @dense_d96_sm90a(%q: tensor<?x8x?x96xf16>) -> tensor<?x8x?x96xf16> {
  %0 = xfa.attention %q, %q, %q {mask = #xfa.mask<>, scale = 0.1 : f32}
      : tensor<?x8x?x96xf16>, tensor<?x8x?x96xf16>, tensor<?x8x?x96xf16> -> tensor<?x8x?x96xf16>
  return %0 : tensor<?x8x?x96xf16>
}
}

// -----

// sm_90a, D=64, dense, not causal, no per-element masks or dropout, fp16
// and bf16: BlockM 64 (one consumer, two CTAs per SM; not 192,
// KernelConfig.cpp), two Q tiles.
// CHECK-LABEL: func.func @dense_d64_noncausal
// CHECK: kernel_config = #xfa.kernel_config<arch = "sm_90a", path = "mma_sync", block_m = 64, block_n = 128, warps = 8, stages = 2, shared_bytes = 82944>
// CHECK: kernel_config = #xfa.kernel_config<arch = "sm_90a", path = "mma_sync", block_m = 64, block_n = 128, warps = 8, stages = 2, shared_bytes = 82944>
// SM80-LABEL: func.func @dense_d64_noncausal
// SM80: block_m = 64, block_n = 64, warps = 4, stages = 2, shared_bytes = 40960
// SM80: block_m = 64, block_n = 64, warps = 4, stages = 2, shared_bytes = 40960
module attributes {xfc.target = "sm_90a"} {
func.func @dense_d64_noncausal(%q: tensor<?x8x?x64xbf16>, %h: tensor<?x8x?x64xf16>) -> (tensor<?x8x?x64xbf16>, tensor<?x8x?x64xf16>) {
  %0 = xfa.attention %q, %q, %q {mask = #xfa.mask<>, scale = 0.125 : f32}
      : tensor<?x8x?x64xbf16>, tensor<?x8x?x64xbf16>, tensor<?x8x?x64xbf16> -> tensor<?x8x?x64xbf16>
  %1 = xfa.attention %h, %h, %h {mask = #xfa.mask<>, scale = 0.125 : f32}
      : tensor<?x8x?x64xf16>, tensor<?x8x?x64xf16>, tensor<?x8x?x64xf16> -> tensor<?x8x?x64xf16>
  return %0, %1 : tensor<?x8x?x64xbf16>, tensor<?x8x?x64xf16>
}
}

// -----

// Per-element masks and dropout keep D=64 at BlockM 128 on sm_90a (at 192
// key padding and dropout spill): attn_mask, key padding, dropout, a window
// and a random pattern, each alone.
// CHECK-LABEL: func.func @d64_element_masks
// CHECK-COUNT-5: block_m = 128, block_n = 128, warps = 12, stages = 2, shared_bytes = 99328>
// CHECK-NOT: block_m = 192
module attributes {xfc.target = "sm_90a"} {
func.func @d64_element_masks(%q: tensor<2x8x16x64xbf16>, %m: tensor<16x16xf32>, %p: tensor<2x16xi1>)
    -> (tensor<2x8x16x64xbf16>, tensor<2x8x16x64xbf16>, tensor<2x8x16x64xbf16>, tensor<2x8x16x64xbf16>, tensor<2x8x16x64xbf16>) {
  %0 = xfa.attention %q, %q, %q attn_mask %m : tensor<16x16xf32>
      {mask = #xfa.mask<attn_mask = true>, scale = 0.125 : f32}
      : tensor<2x8x16x64xbf16>, tensor<2x8x16x64xbf16>, tensor<2x8x16x64xbf16> -> tensor<2x8x16x64xbf16>
  %1 = xfa.attention %q, %q, %q key_padding %p : tensor<2x16xi1>
      {mask = #xfa.mask<key_padding = true>, scale = 0.125 : f32}
      : tensor<2x8x16x64xbf16>, tensor<2x8x16x64xbf16>, tensor<2x8x16x64xbf16> -> tensor<2x8x16x64xbf16>
  %2 = xfa.attention %q, %q, %q {mask = #xfa.mask<>, scale = 0.125 : f32, dropout = 0.1 : f32}
      : tensor<2x8x16x64xbf16>, tensor<2x8x16x64xbf16>, tensor<2x8x16x64xbf16> -> tensor<2x8x16x64xbf16>
  %3 = xfa.attention %q, %q, %q {mask = #xfa.mask<window_left = 3, window_right = 3>, scale = 0.125 : f32}
      : tensor<2x8x16x64xbf16>, tensor<2x8x16x64xbf16>, tensor<2x8x16x64xbf16> -> tensor<2x8x16x64xbf16>
  %4 = xfa.attention %q, %q, %q {mask = #xfa.mask<random_threshold = 42950, random_seed = 7>, scale = 0.125 : f32}
      : tensor<2x8x16x64xbf16>, tensor<2x8x16x64xbf16>, tensor<2x8x16x64xbf16> -> tensor<2x8x16x64xbf16>
  return %0, %1, %2, %3, %4 : tensor<2x8x16x64xbf16>, tensor<2x8x16x64xbf16>, tensor<2x8x16x64xbf16>, tensor<2x8x16x64xbf16>, tensor<2x8x16x64xbf16>
}
}

// -----

// Block-sparse D=64 on sm_90a keeps 128 x 128 tiles under 128-blocks
// (with a second Q tile: (2*128 + 2*2*128) * 64 * 2 + 1024 bytes).
// CHECK-LABEL: func.func @sparse_block128_d64
// CHECK: block_m = 128, block_n = 128, warps = 12, stages = 2, shared_bytes = 99328
module attributes {xfc.target = "sm_90a"} {
func.func @sparse_block128_d64(%q: tensor<?x2x?x64xf16>) -> tensor<?x2x?x64xf16> {
  %0 = xfa.attention %q, %q, %q {mask = #xfa.mask<>, scale = 0.125 : f32,
      sparsity = #xfa.block_csr<block_size = 128, heads = 1, blocks = 2, row_ptr = [0, 1, 3], cols = [0, 0, 1], partial = [0, 0, 0], bits = dense<[[[1, 0], [1, 1]]]> : tensor<1x2x2xi8>>}
      : tensor<?x2x?x64xf16>, tensor<?x2x?x64xf16>, tensor<?x2x?x64xf16> -> tensor<?x2x?x64xf16>
  return %0 : tensor<?x2x?x64xf16>
}
}
