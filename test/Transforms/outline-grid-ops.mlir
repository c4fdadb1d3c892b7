// RUN: xfc-opt %s -split-input-file -xfa-outline-graph-ops | FileCheck %s

// pooling: a single grid_pool launch still gets the sizes of its result (the
// runtime allocates nothing for it but checks the caller's output); beta
// carries the "- x".
// CHECK-LABEL: func.func @attention
// CHECK: %[[P:.+]] = xfk.launch @grid_pool_0(%arg0) roles ["x"] {beta = -1.000000e+00 : f32, sizes = ["batch", "heads", "q_len", "64"]}
// CHECK: return %[[P]]
// CHECK: xfk.kernel @grid_pool_0 template "grid_pool" arch "sm_80" block [256, 1, 1] grid #{{.*}} shared 0 traits {Element = bf16, InDType = 2 : i64, PoolSize = 5 : i64}
module attributes {xfc.target = "sm_80"} {
func.func @attention(%q: tensor<?x?x?x64xbf16>, %k: tensor<?x?x?x64xbf16>, %v: tensor<?x?x?x64xbf16>) -> tensor<?x?x?x64xbf16> {
  %p = xfa.grid_pool %q {pool_size = 5 : i64, beta = -1.0 : f32} : tensor<?x?x?x64xbf16> -> tensor<?x?x?x64xbf16>
  return %p : tensor<?x?x?x64xbf16>
}
}

// -----

// visual's pieces: depthwise convolutions carry kernel size and dilation as
// traits, element-wise ops their kind (0 gelu, 1 mul, 2 add), operand
// dtypes and whether a bias row comes in; the two 5x5 and 7x7 convolutions
// are different kernels, the two products share one.
// CHECK-LABEL: func.func @attention
// CHECK: %[[W:.+]] = xfa.parameter "w"
// CHECK: %[[B:.+]] = xfa.parameter "b"
// CHECK: %[[T:.+]] = xfk.launch @matmul_0(%arg0, %[[W]]) roles ["a", "b"] {{.*}}sizes = ["batch", "1", "q_len", "8"]}
// CHECK: %[[U:.+]] = xfk.launch @elementwise_1(%[[T]], %[[B]]) roles ["a", "bias"] {sizes = ["batch", "1", "q_len", "8"]}
// CHECK: %[[C:.+]] = xfk.launch @depthwise_conv2d_2(%[[U]], %{{.*}}, %[[B]]) roles ["x", "w", "bias"] {sizes = ["batch", "1", "q_len", "8"]}
// CHECK: %[[D:.+]] = xfk.launch @depthwise_conv2d_3(%[[C]], %{{.*}}, %[[B]]) roles ["x", "w", "bias"]
// CHECK: %[[M:.+]] = xfk.launch @elementwise_4(%[[D]], %[[U]]) roles ["a", "b"]
// CHECK: %[[O:.+]] = xfk.launch @elementwise_5(%[[M]], %arg0, %[[B]]) roles ["a", "b", "bias"] {sizes = ["batch", "1", "q_len", "8"]}
// CHECK: return %[[O]]
// CHECK: xfk.kernel @elementwise_1 template "elementwise" {{.*}}traits {ADType = 0 : i64, BDType = 0 : i64, Element = f32, HasBias = true, Kind = 0 : i64}
// CHECK: xfk.kernel @depthwise_conv2d_2 template "depthwise_conv2d" {{.*}}traits {Dilation = 1 : i64, Element = f32, InDType = 0 : i64, KernelSize = 5 : i64}
// CHECK: xfk.kernel @depthwise_conv2d_3 template "depthwise_conv2d" {{.*}}traits {Dilation = 3 : i64, Element = f32, InDType = 0 : i64, KernelSize = 7 : i64}
// CHECK: xfk.kernel @elementwise_4 template "elementwise" {{.*}}traits {ADType = 0 : i64, BDType = 0 : i64, Element = f32, HasBias = false, Kind = 1 : i64}
// CHECK: xfk.kernel @elementwise_5 template "elementwise" {{.*}}traits {ADType = 0 : i64, BDType = 1 : i64, Element = f16, HasBias = true, Kind = 2 : i64}
module attributes {xfc.target = "sm_90a"} {
func.func @attention(%q: tensor<?x1x?x8xf16>, %k: tensor<?x1x?x8xf16>, %v: tensor<?x1x?x8xf16>) -> tensor<?x1x?x8xf16> {
  %w = xfa.parameter "w" init "uniform" {init_scale = 0.25 : f64, seed = 1 : i64} : tensor<8x8xf32>
  %b = xfa.parameter "b" init "uniform" {init_scale = 0.25 : f64, seed = 2 : i64} : tensor<1x8xf32>
  %w5 = xfa.parameter "w5" init "uniform" {init_scale = 0.2 : f64, seed = 3 : i64} : tensor<8x25xf32>
  %w7 = xfa.parameter "w7" init "uniform" {init_scale = 0.1 : f64, seed = 4 : i64} : tensor<8x49xf32>
  %t = xfa.matmul %q, %w {transpose_rhs} : tensor<?x1x?x8xf16>, tensor<8x8xf32> -> tensor<?x1x?x8xf32>
  %u = xfa.elementwise "gelu" %t bias %b : tensor<1x8xf32> : tensor<?x1x?x8xf32> -> tensor<?x1x?x8xf32>
  %c = xfa.depthwise_conv2d %u, %w5, %b {kernel_size = 5 : i64} : tensor<?x1x?x8xf32>, tensor<8x25xf32>, tensor<1x8xf32> -> tensor<?x1x?x8xf32>
  %d = xfa.depthwise_conv2d %c, %w7, %b {kernel_size = 7 : i64, dilation = 3 : i64} : tensor<?x1x?x8xf32>, tensor<8x49xf32>, tensor<1x8xf32> -> tensor<?x1x?x8xf32>
  %m = xfa.elementwise "mul" %d, %u : tensor<?x1x?x8xf32> : tensor<?x1x?x8xf32> -> tensor<?x1x?x8xf32>
  %o = xfa.elementwise "add" %m, %q : tensor<?x1x?x8xf16> bias %b : tensor<1x8xf32> : tensor<?x1x?x8xf32> -> tensor<?x1x?x8xf16>
  return %o : tensor<?x1x?x8xf16>
}
}
