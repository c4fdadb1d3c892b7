// RUN: xfc-opt %s -split-input-file -verify-diagnostics -xfa-outline-graph-ops | FileCheck %s

// Fourier mixing: DFT factors are fused into the products as generated
// operands (ASource/BSource 1 = cos, 2 = -sin), never stored; every launch
// gets the run-time sizes of its result; the last product accumulates.
// CHECK-LABEL: func.func @attention
// CHECK-NOT: xfa.dft_matrix
// CHECK: %[[CQ:.+]] = xfk.launch @matmul_0(%arg0) roles ["b"] {alpha = 1.000000e+00 : f32, beta = 0.000000e+00 : f32, sizes = ["batch", "heads", "q_len", "32"]}
// CHECK: %[[NQ:.+]] = xfk.launch @matmul_1(%arg0) roles ["b"]
// CHECK: %[[RE:.+]] = xfk.launch @matmul_2(%[[CQ]]) roles ["a"]
// CHECK: %[[O:.+]] = xfk.launch @matmul_3(%[[NQ]], %[[RE]]) roles ["a", "c"] {alpha = -1.000000e+00 : f32, beta = 1.000000e+00 : f32, sizes = ["batch", "heads", "q_len", "32"]}
// CHECK: return %[[O]]
// CHECK: xfk.kernel @matmul_0 template "matmul" arch "sm_80" block [256, 1, 1] grid #{{.*}} shared 8704 traits {ADType = 0 : i64, ASource = 1 : i64, BDType = 1 : i64, BSource = 0 : i64
// CHECK: xfk.kernel @matmul_1 template "matmul" {{.*}}ASource = 2 : i64
// CHECK: xfk.kernel @matmul_2 template "matmul" {{.*}}ASource = 0 : i64, BDType = 0 : i64, BSource = 1 : i64
// CHECK: xfk.kernel @matmul_3 template "matmul" {{.*}}BSource = 2 : i64, CDType = 0 : i64, Element = f16, HasC = true
module attributes {xfc.target = "sm_80"} {
func.func @attention(%q: tensor<?x?x?x32xf16>, %k: tensor<?x?x?x32xf16>, %v: tensor<?x?x?x32xf16>) -> tensor<?x?x?x32xf16> {
  %cs = xfa.dft_matrix "cos" of %q dim 2 : tensor<?x?x?x32xf16> -> tensor<?x?xf32>
  %ns = xfa.dft_matrix "neg_sin" of %q dim 2 : tensor<?x?x?x32xf16> -> tensor<?x?xf32>
  %cd = xfa.dft_matrix "cos" of %q dim 3 : tensor<?x?x?x32xf16> -> tensor<32x32xf32>
  %nd = xfa.dft_matrix "neg_sin" of %q dim 3 : tensor<?x?x?x32xf16> -> tensor<32x32xf32>
  %0 = xfa.matmul %cs, %q : tensor<?x?xf32>, tensor<?x?x?x32xf16> -> tensor<?x?x?x32xf32>
  %1 = xfa.matmul %ns, %q : tensor<?x?xf32>, tensor<?x?x?x32xf16> -> tensor<?x?x?x32xf32>
  %2 = xfa.matmul %0, %cd : tensor<?x?x?x32xf32>, tensor<32x32xf32> -> tensor<?x?x?x32xf32>
  %3 = xfa.matmul %1, %nd add %2 : tensor<?x?x?x32xf32> {alpha = -1.0 : f32, beta = 1.0 : f32} : tensor<?x?x?x32xf32>, tensor<32x32xf32> -> tensor<?x?x?x32xf16>
  return %3 : tensor<?x?x?x32xf16>
}
}

// -----

// A parameter stays (the manifest lists it); a softmax keeps its scale and
// causal offset; identical products share one kernel; transposes are traits.
// CHECK-LABEL: func.func @attention
// CHECK: %[[E:.+]] = xfa.parameter "E"
// CHECK: %[[S:.+]] = xfk.launch @matmul_0(%arg0, %arg1) roles ["a", "b"] {{.*}}sizes = ["batch", "8", "q_len", "kv_len"]
// CHECK: %[[P:.+]] = xfk.launch @softmax_1(%[[S]]) roles ["x"] {alpha = 1.250000e-01 : f32, ints = array<i64: 0>, sizes = ["batch", "8", "q_len", "kv_len"]}
// CHECK: xfk.launch @matmul_2(%[[P]], %arg2) roles ["a", "b"]
// CHECK: xfk.launch @matmul_2(%[[E]], %{{.*}}) roles ["a", "b"] {{.*}}sizes = ["batch", "8", "4", "16"]
// CHECK: xfk.kernel @matmul_0 template "matmul" {{.*}}TransA = false, TransB = true
// CHECK: xfk.kernel @softmax_1 template "softmax" arch "sm_90a" block [256, 1, 1] grid #{{.*}} shared 0 traits {Causal = true, Element = f32, InDType = 0 : i64}
module attributes {xfc.target = "sm_90a"} {
func.func @attention(%q: tensor<?x8x?x16xf32>, %k: tensor<?x8x?x16xf32>, %v: tensor<?x8x?x16xf32>) -> tensor<?x8x4x16xf32> {
  %e = xfa.parameter "E" init "normal" {init_scale = 1.0 : f64, seed = 3 : i64} : tensor<4x64xf32>
  %s = xfa.matmul %q, %k {transpose_rhs} : tensor<?x8x?x16xf32>, tensor<?x8x?x16xf32> -> tensor<?x8x?x?xf32>
  %p = xfa.softmax %s {scale = 0.125 : f32, causal} : tensor<?x8x?x?xf32> -> tensor<?x8x?x?xf32>
  %o = xfa.matmul %p, %v : tensor<?x8x?x?xf32>, tensor<?x8x?x16xf32> -> tensor<?x8x?x16xf32>
  %r = xfa.matmul %e, %o {truncate_lhs} : tensor<4x64xf32>, tensor<?x8x?x16xf32> -> tensor<?x8x4x16xf32>
  return %r : tensor<?x8x4x16xf32>
}
}

// -----

module {
func.func @attention(%q: tensor<?x8x?x16xf32>, %k: tensor<?x8x?x16xf32>, %v: tensor<?x8x?x16xf32>) -> tensor<?x8x?x16xf32> {
  %cs = xfa.dft_matrix "cos" of %q dim 2 : tensor<?x8x?x16xf32> -> tensor<?x?xf32>
  %cs2 = xfa.dft_matrix "cos" of %q dim 2 : tensor<?x8x?x16xf32> -> tensor<?x?xf32>
  // expected-error @+1 {{cannot generate both operands}}
  %0 = xfa.matmul %cs, %cs2 : tensor<?x?xf32>, tensor<?x?xf32> -> tensor<?x8x?x?xf32>
  return %q : tensor<?x8x?x16xf32>
}
}
