// RUN: xfc-opt %s -split-input-file -xfa-select-kernel-config | FileCheck %s
// RUN: xfc-opt %s -split-input-file -xfa-select-kernel-config="arch=sm_80" | FileCheck %s --check-prefix=SM80

// fp16/bf16 take the tensor-core path; the module's target is used unless
// the pass option overrides it. Shared memory: (64 + 2*2*64) * 64 * 2 bytes.
// CHECK-LABEL: func.func @dense_bf16
// CHECK: kernel_config = #xfa.kernel_config<arch = "sm_90a", path = "mma_sync", block_m = 64, block_n = 64, warps = 4, stages = 2, shared_bytes = 40960>
// SM80-LABEL: func.func @dense_bf16
// SM80: #xfa.kernel_config<arch = "sm_80"
module attributes {xfc.target = "sm_90a"} {
func.func @dense_bf16(%q: tensor<?x8x?x64xbf16>) -> tensor<?x8x?x64xbf16> {
  %0 = xfa.attention %q, %q, %q {mask = #xfa.mask<causal = true>, scale = 0.125 : f32}
      : tensor<?x8x?x64xbf16>, tensor<?x8x?x64xbf16>, tensor<?x8x?x64xbf16> -> tensor<?x8x?x64xbf16>
  return %0 : tensor<?x8x?x64xbf16>
}
}

// -----

// Head dim 128: (64 + 4*64) * 128 * 2 = 80 KiB of shared memory.
// CHECK-LABEL: func.func @dense_d128
// CHECK: path = "mma_sync", block_m = 64, block_n = 64, warps = 4, stages = 2, shared_bytes = 81920
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

// Layout blocks of 16 share KV tiles of 32 keys.
// CHECK-LABEL: func.func @sparse_block16
// CHECK: block_m = 64, block_n = 32
module attributes {xfc.target = "sm_90a"} {
func.func @sparse_block16(%q: tensor<?x2x?x64xf16>) -> tensor<?x2x?x64xf16> {
  %0 = xfa.attention %q, %q, %q {mask = #xfa.mask<>, scale = 0.125 : f32,
      sparsity = #xfa.block_csr<block_size = 16, heads = 1, blocks = 2, row_ptr = [0, 1, 3], cols = [0, 0, 1], partial = [0, 0, 0], bits = dense<[[[1, 0], [1, 1]]]> : tensor<1x2x2xi8>>}
      : tensor<?x2x?x64xf16>, tensor<?x2x?x64xf16>, tensor<?x2x?x64xf16> -> tensor<?x2x?x64xf16>
  return %0 : tensor<?x2x?x64xf16>
}
}

