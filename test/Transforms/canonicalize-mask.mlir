// RUN: xfc-opt %s -split-input-file -xfa-canonicalize-mask | FileCheck %s

// Causal hides every block above the diagonal: those bits are cleared.
// CHECK-LABEL: func.func @causal_clears_upper_blocks
// CHECK: bits = dense<{{\[\[\[}}1, 0, 0], [1, 1, 0], [0, 1, 1]]]>
func.func @causal_clears_upper_blocks(%q: tensor<1x1x48x64xf16>) -> tensor<1x1x48x64xf16> {
  %0 = xfa.attention %q, %q, %q {mask = #xfa.mask<causal = true, layout = #xfa.block_layout<block_size = 16, bits = dense<[[[1, 1, 1], [1, 1, 0], [0, 1, 1]]]> : tensor<1x3x3xi8>>>, scale = 0.125 : f32}
      : tensor<1x1x48x64xf16>, tensor<1x1x48x64xf16>, tensor<1x1x48x64xf16> -> tensor<1x1x48x64xf16>
  return %0 : tensor<1x1x48x64xf16>
}

// -----

// Without causal the layout is already canonical.
// CHECK-LABEL: func.func @non_causal_unchanged
// CHECK: bits = dense<{{\[\[\[}}1, 1, 1], [1, 1, 0], [0, 1, 1]]]> : tensor<1x3x3xi8>
func.func @non_causal_unchanged(%q: tensor<1x1x48x64xf16>) -> tensor<1x1x48x64xf16> {
  %0 = xfa.attention %q, %q, %q {mask = #xfa.mask<layout = #xfa.block_layout<block_size = 16, bits = dense<[[[1, 1, 1], [1, 1, 0], [0, 1, 1]]]> : tensor<1x3x3xi8>>>, scale = 0.125 : f32}
      : tensor<1x1x48x64xf16>, tensor<1x1x48x64xf16>, tensor<1x1x48x64xf16> -> tensor<1x1x48x64xf16>
  return %0 : tensor<1x1x48x64xf16>
}

// -----

// Equal per-head layouts fold into one shared head.
// CHECK-LABEL: func.func @equal_heads_fold
// CHECK: bits = dense<{{\[\[\[}}1, 0], [1, 1]]]> : tensor<1x2x2xi8>
func.func @equal_heads_fold(%q: tensor<1x3x64x64xbf16>) -> tensor<1x3x64x64xbf16> {
  %0 = xfa.attention %q, %q, %q {mask = #xfa.mask<layout = #xfa.block_layout<block_size = 32, bits = dense<[[[1, 0], [1, 1]], [[1, 0], [1, 1]], [[1, 0], [1, 1]]]> : tensor<3x2x2xi8>>>, scale = 0.125 : f32}
      : tensor<1x3x64x64xbf16>, tensor<1x3x64x64xbf16>, tensor<1x3x64x64xbf16> -> tensor<1x3x64x64xbf16>
  return %0 : tensor<1x3x64x64xbf16>
}

// -----

// Heads that differ stay per head; causal makes heads 0 and 1 equal but
// head 2 still differs.
// CHECK-LABEL: func.func @different_heads_kept
// CHECK: bits = dense<{{\[\[\[}}1, 0], [1, 1]], {{\[\[}}1, 0], [1, 1]], {{\[\[}}1, 0], [0, 1]]]> : tensor<3x2x2xi8>
func.func @different_heads_kept(%q: tensor<1x3x64x64xbf16>) -> tensor<1x3x64x64xbf16> {
  %0 = xfa.attention %q, %q, %q {mask = #xfa.mask<causal = true, layout = #xfa.block_layout<block_size = 32, bits = dense<[[[1, 0], [1, 1]], [[1, 1], [1, 1]], [[1, 0], [0, 1]]]> : tensor<3x2x2xi8>>>, scale = 0.125 : f32}
      : tensor<1x3x64x64xbf16>, tensor<1x3x64x64xbf16>, tensor<1x3x64x64xbf16> -> tensor<1x3x64x64xbf16>
  return %0 : tensor<1x3x64x64xbf16>
}

// -----

// Dense masks have nothing to canonicalize.
// CHECK-LABEL: func.func @dense
// CHECK: mask = #xfa.mask<causal = true>
func.func @dense(%q: tensor<?x8x?x64xbf16>) -> tensor<?x8x?x64xbf16> {
  %0 = xfa.attention %q, %q, %q {mask = #xfa.mask<causal = true>, scale = 0.125 : f32}
      : tensor<?x8x?x64xbf16>, tensor<?x8x?x64xbf16>, tensor<?x8x?x64xbf16> -> tensor<?x8x?x64xbf16>
  return %0 : tensor<?x8x?x64xbf16>
}
