// RUN: xfc-opt %s | xfc-opt | FileCheck %s
// Every xfa attribute and op prints and parses back unchanged.

// CHECK-LABEL: func.func @dense_causal
func.func @dense_causal(%q: tensor<?x16x?x64xbf16>, %k: tensor<?x16x?x64xbf16>,
                        %v: tensor<?x16x?x64xbf16>) -> tensor<?x16x?x64xbf16> {
  // CHECK: xfa.attention %{{.*}}, %{{.*}}, %{{.*}} {dropout = 1.000000e-01 : f32, mask = #xfa.mask<causal = true>, scale = 1.250000e-01 : f32}
  %0 = xfa.attention %q, %k, %v {mask = #xfa.mask<causal = true>, scale = 0.125 : f32, dropout = 0.1 : f32}
      : tensor<?x16x?x64xbf16>, tensor<?x16x?x64xbf16>, tensor<?x16x?x64xbf16> -> tensor<?x16x?x64xbf16>
  return %0 : tensor<?x16x?x64xbf16>
}

// CHECK-LABEL: func.func @masks
func.func @masks(%q: tensor<2x4x10x32xf16>, %k: tensor<2x4x12x32xf16>,
                 %v: tensor<2x4x12x32xf16>, %m: tensor<10x12xf32>,
                 %p: tensor<2x12xi1>) -> tensor<2x4x10x32xf16> {
  // CHECK: attn_mask %{{.*}} : tensor<10x12xf32> key_padding %{{.*}} : tensor<2x12xi1>
  // CHECK-SAME: mask = #xfa.mask<attn_mask = true, key_padding = true>
  %0 = xfa.attention %q, %k, %v attn_mask %m : tensor<10x12xf32> key_padding %p : tensor<2x12xi1>
      {mask = #xfa.mask<attn_mask = true, key_padding = true>, scale = 0.17 : f32}
      : tensor<2x4x10x32xf16>, tensor<2x4x12x32xf16>, tensor<2x4x12x32xf16> -> tensor<2x4x10x32xf16>
  return %0 : tensor<2x4x10x32xf16>
}

// CHECK-LABEL: func.func @layout
func.func @layout(%q: tensor<1x2x128x64xf16>, %k: tensor<1x2x128x64xf16>,
                  %v: tensor<1x2x128x64xf16>) -> tensor<1x2x128x64xf16> {
  // CHECK: #xfa.mask<layout = <block_size = 64, bits = dense<{{\[\[\[}}1, 0], [1, 1]]]> : tensor<1x2x2xi8>>>
  %0 = xfa.attention %q, %k, %v {mask = #xfa.mask<layout = #xfa.block_layout<block_size = 64, bits = dense<[[[1, 0], [1, 1]]]> : tensor<1x2x2xi8>>>, scale = 0.125 : f32}
      : tensor<1x2x128x64xf16>, tensor<1x2x128x64xf16>, tensor<1x2x128x64xf16> -> tensor<1x2x128x64xf16>
  return %0 : tensor<1x2x128x64xf16>
}

// CHECK-LABEL: func.func @specialized
func.func @specialized(%q: tensor<1x2x128x64xf16>, %k: tensor<1x2x128x64xf16>,
                       %v: tensor<1x2x128x64xf16>) -> tensor<1x2x128x64xf16> {
  // CHECK: kernel_config = #xfa.kernel_config<arch = "sm_80", path = "mma_sync", block_m = 64, block_n = 64, warps = 4, stages = 2, shared_bytes = 40960>
  // CHECK-SAME: sparsity = #xfa.block_csr<block_size = 64, heads = 1, blocks = 2, row_ptr = [0, 1, 3], cols = [0, 0, 1], partial = [0, 0, 0]
  %0 = xfa.attention %q, %k, %v {mask = #xfa.mask<>, scale = 0.125 : f32,
      sparsity = #xfa.block_csr<block_size = 64, heads = 1, blocks = 2, row_ptr = [0, 1, 3], cols = [0, 0, 1], partial = [0, 0, 0], bits = dense<[[[1, 0], [1, 1]]]> : tensor<1x2x2xi8>>,
      kernel_config = #xfa.kernel_config<arch = "sm_80", path = "mma_sync", block_m = 64, block_n = 64, warps = 4, stages = 2, shared_bytes = 40960>}
      : tensor<1x2x128x64xf16>, tensor<1x2x128x64xf16>, tensor<1x2x128x64xf16> -> tensor<1x2x128x64xf16>
  return %0 : tensor<1x2x128x64xf16>
}
