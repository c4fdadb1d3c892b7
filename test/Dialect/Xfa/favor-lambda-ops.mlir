// RUN: xfc-opt %s -split-input-file -verify-diagnostics | FileCheck %s

// favor's ops round-trip: feature maps, key sums, normalisation, causal scan.
// CHECK-LABEL: func.func @favor
// CHECK: xfa.parameter "features" init "orthogonal" {init_scale = 8.000000e+00 : f64, seed = 1 : i64} : tensor<64x224xf32>
// CHECK: xfa.feature_map %{{.*}}, %{{.*}} {kind = "sm_reg", offset = -3.050000e+00 : f32, scale = 3.535000e-01 : f32} : tensor<?x8x?x64xf16>, tensor<64x224xf32> -> tensor<?x8x?x448xf32>
// CHECK: xfa.sum_rows %{{.*}} : tensor<?x8x?x448xf32> -> tensor<?x8x1x448xf32>
// CHECK: xfa.linear_normalize %{{.*}}, %{{.*}}, %{{.*}} : tensor<?x8x?x64xf32>, tensor<?x8x?x448xf32>, tensor<?x8x1x448xf32> -> tensor<?x8x?x64xf16>
// CHECK: xfa.causal_linear_attention %{{.*}}, %{{.*}}, %{{.*}} : tensor<?x8x?x448xf32>, tensor<?x8x?x448xf32>, tensor<?x8x?x64xf16> -> tensor<?x8x?x64xf16>
func.func @favor(%q: tensor<?x8x?x64xf16>, %num: tensor<?x8x?x64xf32>, %v: tensor<?x8x?x64xf16>) -> (tensor<?x8x?x64xf16>, tensor<?x8x?x64xf16>) {
  %w = xfa.parameter "features" init "orthogonal" {init_scale = 8.0 : f64, seed = 1 : i64} : tensor<64x224xf32>
  %qp = xfa.feature_map %q, %w {kind = "sm_reg", scale = 0.3535 : f32, offset = -3.05 : f32} : tensor<?x8x?x64xf16>, tensor<64x224xf32> -> tensor<?x8x?x448xf32>
  %z = xfa.sum_rows %qp : tensor<?x8x?x448xf32> -> tensor<?x8x1x448xf32>
  %o = xfa.linear_normalize %num, %qp, %z : tensor<?x8x?x64xf32>, tensor<?x8x?x448xf32>, tensor<?x8x1x448xf32> -> tensor<?x8x?x64xf16>
  %c = xfa.causal_linear_attention %qp, %qp, %v : tensor<?x8x?x448xf32>, tensor<?x8x?x448xf32>, tensor<?x8x?x64xf16> -> tensor<?x8x?x64xf16>
  return %o, %c : tensor<?x8x?x64xf16>, tensor<?x8x?x64xf16>
}

// -----

// sm_orf has one feature per column of W.
// CHECK-LABEL: func.func @orf
// CHECK: xfa.feature_map {{.*}} {kind = "sm_orf"
func.func @orf(%q: tensor<?x?x?x32xf32>) -> tensor<?x?x?x96xf32> {
  %w = xfa.parameter "features" init "orthogonal_chi" {init_scale = 1.0 : f64, seed = 1 : i64} : tensor<32x96xf32>
  %qp = xfa.feature_map %q, %w {kind = "sm_orf", scale = 0.42 : f32, offset = -2.28 : f32} : tensor<?x?x?x32xf32>, tensor<32x96xf32> -> tensor<?x?x?x96xf32>
  return %qp : tensor<?x?x?x96xf32>
}

// -----

// lambda's ops round-trip.
// CHECK-LABEL: func.func @lambda
// CHECK: xfa.sequence_softmax %{{.*}} : tensor<?x4x?x32xbf16> -> tensor<?x4x?x32xf32>
// CHECK: xfa.lambda_position %{{.*}}, %{{.*}}, %{{.*}} add %{{.*}} : tensor<?x4x?x32xbf16>, tensor<?x4x?x32xbf16>, tensor<255x32xf32>, tensor<?x4x?x32xf32> -> tensor<?x4x?x32xbf16>
func.func @lambda(%q: tensor<?x4x?x32xbf16>, %v: tensor<?x4x?x32xbf16>, %yc: tensor<?x4x?x32xf32>) -> tensor<?x4x?x32xbf16> {
  %e = xfa.parameter "rel_pos_emb" init "normal" {init_scale = 1.0 : f64, seed = 1 : i64} : tensor<255x32xf32>
  %ks = xfa.sequence_softmax %q : tensor<?x4x?x32xbf16> -> tensor<?x4x?x32xf32>
  %o = xfa.lambda_position %q, %v, %e add %yc : tensor<?x4x?x32xbf16>, tensor<?x4x?x32xbf16>, tensor<255x32xf32>, tensor<?x4x?x32xf32> -> tensor<?x4x?x32xbf16>
  return %o : tensor<?x4x?x32xbf16>
}

// -----

func.func @bad_kind(%q: tensor<?x?x?x32xf32>, %w: tensor<32x16xf32>) {
  // expected-error @+1 {{expected kind "sm_reg", "sm_hyp" or "sm_orf", got "relu"}}
  %qp = xfa.feature_map %q, %w {kind = "relu", scale = 1.0 : f32, offset = 0.0 : f32} : tensor<?x?x?x32xf32>, tensor<32x16xf32> -> tensor<?x?x?x32xf32>
  return
}

// -----

func.func @bad_feature_count(%q: tensor<?x?x?x32xf32>, %w: tensor<32x16xf32>) {
  // expected-error @+1 {{expected 32 features in the result (sm_hyp of 'tensor<32x16xf32>'), got 16}}
  %qp = xfa.feature_map %q, %w {kind = "sm_hyp", scale = 1.0 : f32, offset = 0.0 : f32} : tensor<?x?x?x32xf32>, tensor<32x16xf32> -> tensor<?x?x?x16xf32>
  return
}

// -----

func.func @bad_feature_rows(%q: tensor<?x?x?x32xf32>, %w: tensor<64x16xf32>) {
  // expected-error @+1 {{features have 64 rows, expected the input's head dim 32}}
  %qp = xfa.feature_map %q, %w {kind = "sm_orf", scale = 1.0 : f32, offset = 0.0 : f32} : tensor<?x?x?x32xf32>, tensor<64x16xf32> -> tensor<?x?x?x16xf32>
  return
}

// -----

func.func @bad_sum(%x: tensor<?x?x?x32xf32>) {
  // expected-error @+1 {{expected a [batch, heads, 1, cols] result}}
  %z = xfa.sum_rows %x : tensor<?x?x?x32xf32> -> tensor<?x?x2x32xf32>
  return
}

// -----

func.func @bad_ksum(%n: tensor<?x?x?x32xf32>, %q: tensor<?x?x?x64xf32>, %z: tensor<?x?x1x32xf32>) {
  // expected-error @+1 {{expected key sums [batch, heads, 1, 64]}}
  %o = xfa.linear_normalize %n, %q, %z : tensor<?x?x?x32xf32>, tensor<?x?x?x64xf32>, tensor<?x?x1x32xf32> -> tensor<?x?x?x32xf16>
  return
}

// -----

func.func @scan_features(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x32xf32>, %v: tensor<?x?x?x32xf16>) {
  // expected-error @+1 {{expected query and key features of the same shape}}
  %o = xfa.causal_linear_attention %q, %k, %v : tensor<?x?x?x64xf32>, tensor<?x?x?x32xf32>, tensor<?x?x?x32xf16> -> tensor<?x?x?x32xf16>
  return
}

// -----

func.func @scan_too_many(%q: tensor<?x?x?x4096xf32>, %v: tensor<?x?x?x32xf16>) {
  // expected-error @+1 {{expected a static number of features in [1, 2048]}}
  %o = xfa.causal_linear_attention %q, %q, %v : tensor<?x?x?x4096xf32>, tensor<?x?x?x4096xf32>, tensor<?x?x?x32xf16> -> tensor<?x?x?x32xf16>
  return
}

// -----

func.func @even_embeddings(%q: tensor<?x?x?x32xf16>, %e: tensor<256x32xf32>, %c: tensor<?x?x?x32xf32>) {
  // expected-error @+1 {{expected static [2 * seq_len - 1, head_dim] embeddings}}
  %o = xfa.lambda_position %q, %q, %e add %c : tensor<?x?x?x32xf16>, tensor<?x?x?x32xf16>, tensor<256x32xf32>, tensor<?x?x?x32xf32> -> tensor<?x?x?x32xf16>
  return
}

// -----

func.func @embedding_width(%q: tensor<?x?x?x32xf16>, %e: tensor<255x64xf32>, %c: tensor<?x?x?x32xf32>) {
  // expected-error @+1 {{embeddings have 64 columns, expected the query's head dim 32}}
  %o = xfa.lambda_position %q, %q, %e add %c : tensor<?x?x?x32xf16>, tensor<?x?x?x32xf16>, tensor<255x64xf32>, tensor<?x?x?x32xf32> -> tensor<?x?x?x32xf16>
  return
}

// -----

func.func @orthogonal_init() {
  // expected-error @+1 {{expected init "uniform", "normal", "orthogonal" or "orthogonal_chi", got "haar"}}
  %w = xfa.parameter "features" init "haar" {init_scale = 1.0 : f64, seed = 1 : i64} : tensor<32x16xf32>
  return
}
