// RUN: xfc-opt %s -split-input-file -xfa-specialize-sparsity | FileCheck %s

// Rows list their present blocks in order; an empty row stays empty; the
// layout leaves the mask.
// CHECK-LABEL: func.func @rows_and_empty_row
// CHECK: mask = #xfa.mask<>
// CHECK-SAME: sparsity = #xfa.block_csr<block_size = 32, heads = 1, blocks = 3, row_ptr = [0, 2, 2, 5], cols = [0, 2, 0, 1, 2], partial = [0, 0, 0, 0, 0]
func.func @rows_and_empty_row(%q: tensor<?x2x?x64xf16>) -> tensor<?x2x?x64xf16> {
  %0 = xfa.attention %q, %q, %q {mask = #xfa.mask<layout = #xfa.block_layout<block_size = 32, bits = dense<[[[1, 0, 1], [0, 0, 0], [1, 1, 1]]]> : tensor<1x3x3xi8>>>, scale = 0.125 : f32}
      : tensor<?x2x?x64xf16>, tensor<?x2x?x64xf16>, tensor<?x2x?x64xf16> -> tensor<?x2x?x64xf16>
  return %0 : tensor<?x2x?x64xf16>
}

// -----

// Causal: diagonal blocks are partial, blocks above it are dropped.
// CHECK-LABEL: func.func @causal_diagonal_partial
// CHECK: mask = #xfa.mask<causal = true>
// CHECK-SAME: row_ptr = [0, 1, 3], cols = [0, 0, 1], partial = [1, 0, 1]
func.func @causal_diagonal_partial(%q: tensor<?x2x?x64xf16>) -> tensor<?x2x?x64xf16> {
  %0 = xfa.attention %q, %q, %q {mask = #xfa.mask<causal = true, layout = #xfa.block_layout<block_size = 64, bits = dense<1> : tensor<1x2x2xi8>>>, scale = 0.125 : f32}
      : tensor<?x2x?x64xf16>, tensor<?x2x?x64xf16>, tensor<?x2x?x64xf16> -> tensor<?x2x?x64xf16>
  return %0 : tensor<?x2x?x64xf16>
}

// -----

// A static key length of 40 ends inside block 1 (of 32): that block is
// partial, and block 2 (keys 64..95) holds no key at all and is dropped.
// CHECK-LABEL: func.func @static_length_end
// CHECK: row_ptr = [0, 2, 4, 6], cols = [0, 1, 0, 1, 0, 1], partial = [0, 1, 0, 1, 0, 1]
func.func @static_length_end(%q: tensor<1x1x40x32xf16>) -> tensor<1x1x40x32xf16> {
  %0 = xfa.attention %q, %q, %q {mask = #xfa.mask<layout = #xfa.block_layout<block_size = 32, bits = dense<1> : tensor<1x3x3xi8>>>, scale = 0.125 : f32}
      : tensor<1x1x40x32xf16>, tensor<1x1x40x32xf16>, tensor<1x1x40x32xf16> -> tensor<1x1x40x32xf16>
  return %0 : tensor<1x1x40x32xf16>
}

// -----

// Per-head layouts get one CSR per head, with absolute offsets.
// CHECK-LABEL: func.func @per_head
// CHECK: heads = 2, blocks = 2, row_ptr = [0, 1, 2, 2, 4, 5], cols = [0, 1, 0, 1, 1]
func.func @per_head(%q: tensor<1x2x64x64xbf16>) -> tensor<1x2x64x64xbf16> {
  %0 = xfa.attention %q, %q, %q {mask = #xfa.mask<layout = #xfa.block_layout<block_size = 32, bits = dense<[[[1, 0], [0, 1]], [[1, 1], [0, 1]]]> : tensor<2x2x2xi8>>>, scale = 0.125 : f32}
      : tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16> -> tensor<1x2x64x64xbf16>
  return %0 : tensor<1x2x64x64xbf16>
}

// -----

// Global tokens: a block is full only when its query block or its key block
// is global throughout (block 0 is: tokens 0..15); the others need the
// per-element predicate. The tokens stay in the mask.
// CHECK-LABEL: func.func @global_partial
// CHECK: mask = #xfa.mask<global_tokens = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 40]>
// CHECK-SAME: sparsity = #xfa.block_csr<block_size = 16, heads = 1, blocks = 3, row_ptr = [0, 3, 5, 8], cols = [0, 1, 2, 0, 2, 0, 1, 2], partial = [0, 0, 0, 0, 1, 0, 1, 1]
func.func @global_partial(%q: tensor<1x1x48x64xf16>) -> tensor<1x1x48x64xf16> {
  %0 = xfa.attention %q, %q, %q {mask = #xfa.mask<layout = #xfa.block_layout<block_size = 16, bits = dense<[[[1, 1, 1], [1, 0, 1], [1, 1, 1]]]> : tensor<1x3x3xi8>>, global_tokens = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 40]>, scale = 0.125 : f32}
      : tensor<1x1x48x64xf16>, tensor<1x1x48x64xf16>, tensor<1x1x48x64xf16> -> tensor<1x1x48x64xf16>
  return %0 : tensor<1x1x48x64xf16>
}
