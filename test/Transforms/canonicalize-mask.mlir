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

// -----

// A random pattern that keeps every pair (r = 1) is dropped; a sparser one
// stays as it is.
// CHECK-LABEL: func.func @random_all_dropped
// CHECK: mask = #xfa.mask<causal = true>,
// CHECK: mask = #xfa.mask<random_threshold = 42949673, random_seed = 5>
func.func @random_all_dropped(%q: tensor<?x8x?x64xbf16>) -> (tensor<?x8x?x64xbf16>, tensor<?x8x?x64xbf16>) {
  %0 = xfa.attention %q, %q, %q {mask = #xfa.mask<causal = true, random_threshold = 4294967296, random_seed = 5>, scale = 0.125 : f32}
      : tensor<?x8x?x64xbf16>, tensor<?x8x?x64xbf16>, tensor<?x8x?x64xbf16> -> tensor<?x8x?x64xbf16>
  %1 = xfa.attention %q, %q, %q {mask = #xfa.mask<random_threshold = 42949673, random_seed = 5>, scale = 0.125 : f32}
      : tensor<?x8x?x64xbf16>, tensor<?x8x?x64xbf16>, tensor<?x8x?x64xbf16> -> tensor<?x8x?x64xbf16>
  return %0, %1 : tensor<?x8x?x64xbf16>, tensor<?x8x?x64xbf16>
}

// -----

// Global tokens 5 and 130 over 200 tokens: blocks of 64, and a block is on
// when its query block or its key block holds one (blocks 0 and 2); the
// tokens stay as the element predicate.
// CHECK-LABEL: func.func @global_layout
// CHECK: mask = #xfa.mask<layout = <block_size = 64, bits = dense<{{\[\[\[}}1, 1, 1, 1], [1, 0, 1, 0], [1, 1, 1, 1], [1, 0, 1, 0]]]> : tensor<1x4x4xi8>>, global_tokens = [5, 130]>
func.func @global_layout(%q: tensor<?x2x200x64xf16>) -> tensor<?x2x200x64xf16> {
  %0 = xfa.attention %q, %q, %q {mask = #xfa.mask<global_tokens = [5, 130]>, scale = 0.125 : f32}
      : tensor<?x2x200x64xf16>, tensor<?x2x200x64xf16>, tensor<?x2x200x64xf16> -> tensor<?x2x200x64xf16>
  return %0 : tensor<?x2x200x64xf16>
}

// -----

// Causal global attention: token 70 is in block 1 of 3; the derived layout
// (row and column 1) is then cleared above the diagonal like any other.
// CHECK-LABEL: func.func @global_causal
// CHECK: bits = dense<{{\[\[\[}}0, 0, 0], [1, 1, 0], [0, 1, 0]]]> : tensor<1x3x3xi8>>, global_tokens = [70]>
func.func @global_causal(%q: tensor<?x1x150x64xf16>) -> tensor<?x1x150x64xf16> {
  %0 = xfa.attention %q, %q, %q {mask = #xfa.mask<causal = true, global_tokens = [70]>, scale = 0.125 : f32}
      : tensor<?x1x150x64xf16>, tensor<?x1x150x64xf16>, tensor<?x1x150x64xf16> -> tensor<?x1x150x64xf16>
  return %0 : tensor<?x1x150x64xf16>
}

// -----

// With a layout already there, global tokens AND into it at its block size:
// token 40 is in block 2 of 16-token blocks, so only row and column 2 stay.
// CHECK-LABEL: func.func @global_and_layout
// CHECK: bits = dense<{{\[\[\[}}0, 0, 0], [0, 0, 0], [0, 0, 1]]]> : tensor<1x3x3xi8>>, global_tokens = [40]>
func.func @global_and_layout(%q: tensor<1x1x48x64xf16>) -> tensor<1x1x48x64xf16> {
  %0 = xfa.attention %q, %q, %q {mask = #xfa.mask<layout = #xfa.block_layout<block_size = 16, bits = dense<[[[1, 0, 0], [0, 1, 0], [0, 0, 1]]]> : tensor<1x3x3xi8>>, global_tokens = [40]>, scale = 0.125 : f32}
      : tensor<1x1x48x64xf16>, tensor<1x1x48x64xf16>, tensor<1x1x48x64xf16> -> tensor<1x1x48x64xf16>
  return %0 : tensor<1x1x48x64xf16>
}

// -----

// Every token global: nothing is hidden, the tokens go.
// CHECK-LABEL: func.func @global_everything
// CHECK: mask = #xfa.mask<>
func.func @global_everything(%q: tensor<1x1x3x64xf16>) -> tensor<1x1x3x64xf16> {
  %0 = xfa.attention %q, %q, %q {mask = #xfa.mask<global_tokens = [0, 1, 2]>, scale = 0.125 : f32}
      : tensor<1x1x3x64xf16>, tensor<1x1x3x64xf16>, tensor<1x1x3x64xf16> -> tensor<1x1x3x64xf16>
  return %0 : tensor<1x1x3x64xf16>
}
