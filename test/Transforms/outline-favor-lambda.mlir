// RUN: xfc-opt %s -split-input-file -verify-diagnostics -xfa-outline-graph-ops | FileCheck %s

// favor, non-causal: feature maps of q and k share W; the products, key sums
// and normalisation become launches whose sizes follow q_len / kv_len.
// CHECK-LABEL: func.func @attention
// CHECK: %[[W:.+]] = xfa.parameter "features"
// CHECK: %[[QP:.+]] = xfk.launch @feature_map_0(%arg0, %[[W]]) roles ["x", "w"] {alpha = 5.000000e-01 : f32, beta = -2.000000e+00 : f32, sizes = ["batch", "heads", "q_len", "64"]}
// CHECK: %[[KP:.+]] = xfk.launch @feature_map_0(%arg1, %[[W]]) roles ["x", "w"] {{.*}}sizes = ["batch", "heads", "kv_len", "64"]}
// CHECK: %[[KV:.+]] = xfk.launch @matmul_{{[0-9]+}}(%[[KP]], %arg2) roles ["a", "b"] {{.*}}sizes = ["batch", "heads", "64", "16"]}
// CHECK: %[[NUM:.+]] = xfk.launch @matmul_{{[0-9]+}}(%[[QP]], %[[KV]]) {{.*}}sizes = ["batch", "heads", "q_len", "16"]}
// CHECK: %[[Z:.+]] = xfk.launch @sum_rows_{{[0-9]+}}(%[[KP]]) roles ["x"] {{.*}}sizes = ["batch", "heads", "1", "64"]}
// CHECK: %[[O:.+]] = xfk.launch @linear_normalize_{{[0-9]+}}(%[[NUM]], %[[QP]], %[[Z]]) roles ["num", "qf", "ks"] {{.*}}sizes = ["batch", "heads", "q_len", "16"]}
// CHECK: return %[[O]]
// CHECK: xfk.kernel @feature_map_0 template "feature_map" arch "sm_80" block [256, 1, 1] grid #{{.*}} shared 0 traits {Element = f32, HeadDim = 16 : i64, InDType = 1 : i64, Kind = 1 : i64}
// CHECK: xfk.kernel @sum_rows_{{[0-9]+}} template "sum_rows" {{.*}}traits {Element = f32, InDType = 0 : i64}
// CHECK: xfk.kernel @linear_normalize_{{[0-9]+}} template "linear_normalize" {{.*}}traits {Element = f16}
module attributes {xfc.target = "sm_80"} {
func.func @attention(%q: tensor<?x?x?x16xf16>, %k: tensor<?x?x?x16xf16>, %v: tensor<?x?x?x16xf16>) -> tensor<?x?x?x16xf16> {
  %w = xfa.parameter "features" init "orthogonal_chi" {init_scale = 1.0 : f64, seed = 1 : i64} : tensor<16x32xf32>
  %qp = xfa.feature_map %q, %w {kind = "sm_hyp", scale = 0.5 : f32, offset = -2.0 : f32} : tensor<?x?x?x16xf16>, tensor<16x32xf32> -> tensor<?x?x?x64xf32>
  %kp = xfa.feature_map %k, %w {kind = "sm_hyp", scale = 0.5 : f32, offset = -2.0 : f32} : tensor<?x?x?x16xf16>, tensor<16x32xf32> -> tensor<?x?x?x64xf32>
  %kv = xfa.matmul %kp, %v {transpose_lhs, alpha = 1.0 : f32, beta = 0.0 : f32} : tensor<?x?x?x64xf32>, tensor<?x?x?x16xf16> -> tensor<?x?x64x16xf32>
  %num = xfa.matmul %qp, %kv {alpha = 1.0 : f32, beta = 0.0 : f32} : tensor<?x?x?x64xf32>, tensor<?x?x64x16xf32> -> tensor<?x?x?x16xf32>
  %z = xfa.sum_rows %kp : tensor<?x?x?x64xf32> -> tensor<?x?x1x64xf32>
  %o = xfa.linear_normalize %num, %qp, %z : tensor<?x?x?x16xf32>, tensor<?x?x?x64xf32>, tensor<?x?x1x64xf32> -> tensor<?x?x?x16xf16>
  return %o : tensor<?x?x?x16xf16>
}
}

// -----

// favor, causal: one scan launch with the number of features as a trait.
// CHECK-LABEL: func.func @attention
// CHECK: xfk.launch @causal_linear_attention_{{[0-9]+}}(%{{.*}}, %{{.*}}, %arg2) roles ["qf", "kf", "v"] {{.*}}sizes = ["batch", "4", "q_len", "32"]}
// CHECK: xfk.kernel @causal_linear_attention_{{[0-9]+}} template "causal_linear_attention" {{.*}}traits {Element = bf16, Features = 96 : i64, VDType = 2 : i64}
module attributes {xfc.target = "sm_90a"} {
func.func @attention(%q: tensor<?x4x?x32xbf16>, %k: tensor<?x4x?x32xbf16>, %v: tensor<?x4x?x32xbf16>) -> tensor<?x4x?x32xbf16> {
  %w = xfa.parameter "features" init "orthogonal_chi" {init_scale = 1.0 : f64, seed = 1 : i64} : tensor<32x96xf32>
  %qp = xfa.feature_map %q, %w {kind = "sm_orf", scale = 0.42 : f32, offset = -2.28 : f32} : tensor<?x4x?x32xbf16>, tensor<32x96xf32> -> tensor<?x4x?x96xf32>
  %kp = xfa.feature_map %k, %w {kind = "sm_orf", scale = 0.42 : f32, offset = -2.28 : f32} : tensor<?x4x?x32xbf16>, tensor<32x96xf32> -> tensor<?x4x?x96xf32>
  %o = xfa.causal_linear_attention %qp, %kp, %v : tensor<?x4x?x96xf32>, tensor<?x4x?x96xf32>, tensor<?x4x?x32xbf16> -> tensor<?x4x?x32xbf16>
  return %o : tensor<?x4x?x32xbf16>
}
}

// -----

// lambda: sequence softmax, content products, then the position term that
// adds the content output.
// CHECK-LABEL: func.func @attention
// CHECK: %[[KS:.+]] = xfk.launch @sequence_softmax_{{[0-9]+}}(%arg1) roles ["x"] {{.*}}sizes = ["batch", "heads", "kv_len", "32"]}
// CHECK: %[[LC:.+]] = xfk.launch @matmul_{{[0-9]+}}(%[[KS]], %arg2) {{.*}}sizes = ["batch", "heads", "32", "32"]}
// CHECK: %[[YC:.+]] = xfk.launch @matmul_{{[0-9]+}}(%arg0, %[[LC]]) {{.*}}sizes = ["batch", "heads", "q_len", "32"]}
// CHECK: %[[O:.+]] = xfk.launch @lambda_position_{{[0-9]+}}(%arg0, %arg2, %{{.*}}, %[[YC]]) roles ["q", "v", "e", "c"] {{.*}}sizes = ["batch", "heads", "q_len", "32"]}
// CHECK: return %[[O]]
// CHECK: xfk.kernel @sequence_softmax_{{[0-9]+}} template "sequence_softmax" {{.*}}traits {Element = f32, InDType = 0 : i64}
// CHECK: xfk.kernel @lambda_position_{{[0-9]+}} template "lambda_position" {{.*}}traits {Element = f32, HeadDim = 32 : i64, QDType = 0 : i64, VDType = 0 : i64}
module attributes {xfc.target = "sm_80"} {
func.func @attention(%q: tensor<?x?x?x32xf32>, %k: tensor<?x?x?x32xf32>, %v: tensor<?x?x?x32xf32>) -> tensor<?x?x?x32xf32> {
  %e = xfa.parameter "rel_pos_emb" init "normal" {init_scale = 1.0 : f64, seed = 1 : i64} : tensor<127x32xf32>
  %ks = xfa.sequence_softmax %k : tensor<?x?x?x32xf32> -> tensor<?x?x?x32xf32>
  %lc = xfa.matmul %ks, %v {transpose_lhs, alpha = 1.0 : f32, beta = 0.0 : f32} : tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32> -> tensor<?x?x32x32xf32>
  %yc = xfa.matmul %q, %lc {alpha = 1.0 : f32, beta = 0.0 : f32} : tensor<?x?x?x32xf32>, tensor<?x?x32x32xf32> -> tensor<?x?x?x32xf32>
  %o = xfa.lambda_position %q, %v, %e add %yc : tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>, tensor<127x32xf32>, tensor<?x?x?x32xf32> -> tensor<?x?x?x32xf32>
  return %o : tensor<?x?x?x32xf32>
}
}
