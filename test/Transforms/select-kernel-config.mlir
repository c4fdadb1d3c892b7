// RUN: xfc-opt %s -split-input-file -xfa-select-kernel-config | FileCheck %s
// RUN: xfc-opt %s -split-input-file -xfa-select-kernel-config="arch=sm_80" | FileCheck %s --check-prefix=SM80

// fp16/bf16 take the tensor-core path; the module's target is used unless
// the pass option overrides it. sm_90a: the warp-specialized wgmma kernel,
// a producer warpgroup and two consumer warpgroups (12 warps, 128 query
// rows), shared memory (128 + 2*2*128) * 64 * 2 + 1024 bytes; sm_80: the
// mma.sync kernel, (64 + 2*2*64) * 64 * 2 bytes.
// CHECK-LABEL: func.func @dense_bf16
// CHECK: kernel_config = #xfa.kernel_config<arch = "sm_90a", path = "mma_sync", block_m = 128, block_n = 128, warps = 12, stages = 2, shared_bytes = 82944>
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

// Head dim 128: (128 + 4*128) * 128 * 2 + 1024 bytes (161 KiB) on sm_90a,
// (64 + 4*64) * 128 * 2 = 80 KiB on sm_80.
// CHECK-LABEL: func.func @dense_d128
// CHECK: path = "mma_sync", block_m = 128, block_n = 128, warps = 12, stages = 2, shared_bytes = 164864
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
