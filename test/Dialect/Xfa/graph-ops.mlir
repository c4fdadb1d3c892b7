// RUN: xfc-opt %s -split-input-file -verify-diagnostics | FileCheck %s

// The graph ops round-trip.
// CHECK-LABEL: func.func @linformer_projection
// CHECK: xfa.parameter "E" init "uniform" {init_scale = 6.250000e-02 : f64, seed = 1 : i64} : tensor<64x256xf32>
// CHECK: xfa.matmul %{{.*}}, %{{.*}} {truncate_lhs} : tensor<64x256xf32>, tensor<?x8x?x64xbf16> -> tensor<?x8x64x64xbf16>
func.func @linformer_projection(%k: tensor<?x8x?x64xbf16>) -> tensor<?x8x64x64xbf16> {
  %e = xfa.parameter "E" init "uniform" {init_scale = 0.0625 : f64, seed = 1 : i64} : tensor<64x256xf32>
  %kp = xfa.matmul %e, %k {truncate_lhs} : tensor<64x256xf32>, tensor<?x8x?x64xbf16> -> tensor<?x8x64x64xbf16>
  return %kp : tensor<?x8x64x64xbf16>
}

// -----

// CHECK-LABEL: func.func @dft_and_softmax
// CHECK: xfa.dft_matrix "cos" of %{{.*}} dim 2 : tensor<?x?x?x32xf32> -> tensor<?x?xf32>
// CHECK: xfa.matmul %{{.*}}, %{{.*}} add %{{.*}} : tensor<?x?x?x32xf32> {alpha = -1.000000e+00 : f32, beta = 1.000000e+00 : f32}
// CHECK: xfa.softmax %{{.*}} {causal, causal_offset = 2 : i64, scale = 5.000000e-01 : f32}
func.func @dft_and_softmax(%x: tensor<?x?x?x32xf32>) -> tensor<?x?x?x32xf32> {
  %c = xfa.dft_matrix "cos" of %x dim 2 : tensor<?x?x?x32xf32> -> tensor<?x?xf32>
  %y = xfa.matmul %c, %x add %x : tensor<?x?x?x32xf32> {alpha = -1.0 : f32, beta = 1.0 : f32} : tensor<?x?xf32>, tensor<?x?x?x32xf32> -> tensor<?x?x?x32xf32>
  %p = xfa.softmax %y {scale = 0.5 : f32, causal, causal_offset = 2} : tensor<?x?x?x32xf32> -> tensor<?x?x?x32xf32>
  return %p : tensor<?x?x?x32xf32>
}

// -----

func.func @parameter_rank(%x: tensor<4xf32>) {
  // expected-error @+1 {{expected a static rank-2 tensor}}
  %e = xfa.parameter "E" init "uniform" {init_scale = 1.0 : f64, seed = 1 : i64} : tensor<4xf32>
  return
}

// -----

func.func @parameter_init() {
  // expected-error @+1 {{expected init "uniform", "normal", "orthogonal" or "orthogonal_chi", got "xavier"}}
  %e = xfa.parameter "E" init "xavier" {init_scale = 1.0 : f64, seed = 1 : i64} : tensor<4x4xf32>
  return
}

// -----

func.func @dft_part(%x: tensor<?x?x?x32xf32>) {
  // expected-error @+1 {{expected part "cos" or "neg_sin", got "sin"}}
  %c = xfa.dft_matrix "sin" of %x dim 3 : tensor<?x?x?x32xf32> -> tensor<32x32xf32>
  return
}

// -----

func.func @dft_size(%x: tensor<?x?x?x32xf32>) {
  // expected-error @+1 {{expected a [32, 32] result}}
  %c = xfa.dft_matrix "cos" of %x dim 3 : tensor<?x?x?x32xf32> -> tensor<16x16xf32>
  return
}

// -----

func.func @contraction(%a: tensor<?x8x10x64xf32>, %b: tensor<?x8x32x64xf32>) {
  // expected-error @+1 {{contraction sizes differ: lhs 64, rhs 32}}
  %c = xfa.matmul %a, %b : tensor<?x8x10x64xf32>, tensor<?x8x32x64xf32> -> tensor<?x8x10x64xf32>
  return
}

// -----

func.func @truncation(%e: tensor<4x16xf32>, %k: tensor<?x8x32x64xf32>) {
  // expected-error @+1 {{contraction: rhs has 32 entries, more than the lhs's 16}}
  %c = xfa.matmul %e, %k {truncate_lhs} : tensor<4x16xf32>, tensor<?x8x32x64xf32> -> tensor<?x8x4x64xf32>
  return
}

// -----

func.func @result_size(%a: tensor<?x8x10x64xf32>, %b: tensor<?x8x64x32xf32>) {
  // expected-error @+1 {{expected result rows x cols 10 x 32}}
  %c = xfa.matmul %a, %b : tensor<?x8x10x64xf32>, tensor<?x8x64x32xf32> -> tensor<?x8x10x64xf32>
  return
}

// -----

func.func @batch_heads(%a: tensor<?x8x10x64xf32>, %b: tensor<?x4x64x32xf32>) {
  // expected-error @+1 {{batch and head sizes of}}
  %c = xfa.matmul %a, %b : tensor<?x8x10x64xf32>, tensor<?x4x64x32xf32> -> tensor<?x8x10x32xf32>
  return
}

// -----

func.func @softmax_shape(%a: tensor<?x8x10x64xf32>) {
  // expected-error @+1 {{expected the result to have the input's shape}}
  %p = xfa.softmax %a : tensor<?x8x10x64xf32> -> tensor<?x8x10x32xf32>
  return
}

// -----

// Compositional attention's ops round-trip.
// CHECK-LABEL: func.func @compositional_ops
// CHECK: xfa.regroup_heads %{{.*}} {split} : tensor<?x1x?x64xf32> -> tensor<?x4x?x16xf32>
// CHECK: xfa.retrieve %{{.*}}, %{{.*}} : tensor<?x4x?x?xf32>, tensor<?x2x?x32xf32> -> tensor<?x8x?x32xf32>
// CHECK: xfa.select_rules %{{.*}}, %{{.*}} weights(%{{.*}}, %{{.*}}) {bias, mode = "linear", rules = 2 : i64}
// CHECK: xfa.regroup_heads %{{.*}} : tensor<?x4x?x32xf32> -> tensor<?x1x?x128xf32>
func.func @compositional_ops(%x: tensor<?x1x?x64xf32>, %a: tensor<?x4x?x?xf32>, %v: tensor<?x2x?x32xf32>,
                             %w: tensor<1x48xf32>, %b: tensor<1x1xf32>) -> tensor<?x1x?x128xf32> {
  %q = xfa.regroup_heads %x {split} : tensor<?x1x?x64xf32> -> tensor<?x4x?x16xf32>
  %o = xfa.retrieve %a, %v : tensor<?x4x?x?xf32>, tensor<?x2x?x32xf32> -> tensor<?x8x?x32xf32>
  %s = xfa.select_rules %o, %q weights(%w, %b) {mode = "linear", rules = 2, bias} : tensor<?x8x?x32xf32>, tensor<?x4x?x16xf32>, tensor<1x48xf32>, tensor<1x1xf32> -> tensor<?x4x?x32xf32>
  %m = xfa.regroup_heads %s : tensor<?x4x?x32xf32> -> tensor<?x1x?x128xf32>
  return %m : tensor<?x1x?x128xf32>
}

// -----

func.func @regroup_features(%x: tensor<?x1x?x64xf32>) {
  // expected-error @+1 {{expected 48 merged features (4 heads of 12), got 64}}
  %q = xfa.regroup_heads %x {split} : tensor<?x1x?x64xf32> -> tensor<?x4x?x12xf32>
  return
}

// -----

func.func @retrieve_heads(%a: tensor<?x4x?x?xf32>, %v: tensor<?x2x?x32xf32>) {
  // expected-error @+1 {{expected 8 result heads (4 searches x 2 rules), got 4}}
  %o = xfa.retrieve %a, %v : tensor<?x4x?x?xf32>, tensor<?x2x?x32xf32> -> tensor<?x4x?x32xf32>
  return
}

// -----

func.func @select_weights(%o: tensor<?x8x?x32xf32>, %q: tensor<?x4x?x16xf32>, %w: tensor<16x48xf32>) {
  // expected-error @+1 {{mode "mlp" with biases takes 4 weights, got 1}}
  %s = xfa.select_rules %o, %q weights(%w) {mode = "mlp", rules = 2, bias} : tensor<?x8x?x32xf32>, tensor<?x4x?x16xf32>, tensor<16x48xf32> -> tensor<?x4x?x32xf32>
  return
}

// -----

func.func @select_rules_heads(%o: tensor<?x8x?x32xf32>, %q: tensor<?x4x?x16xf32>, %w: tensor<1x48xf32>) {
  // expected-error @+1 {{expected 12 retrieval heads (searches x rules), got 8}}
  %s = xfa.select_rules %o, %q weights(%w) {mode = "linear", rules = 3} : tensor<?x8x?x32xf32>, tensor<?x4x?x16xf32>, tensor<1x48xf32> -> tensor<?x4x?x32xf32>
  return
}
