// RUN: xfc-opt %s -split-input-file -verify-diagnostics | FileCheck %s

// The token-grid ops of pooling and visual round-trip.
// CHECK-LABEL: func.func @pooling
// CHECK: xfa.grid_pool %{{.*}} {beta = -1.000000e+00 : f32, pool_size = 3 : i64} : tensor<?x?x?x64xf16> -> tensor<?x?x?x64xf16>
func.func @pooling(%q: tensor<?x?x?x64xf16>) -> tensor<?x?x?x64xf16> {
  %p = xfa.grid_pool %q {pool_size = 3 : i64, beta = -1.0 : f32} : tensor<?x?x?x64xf16> -> tensor<?x?x?x64xf16>
  return %p : tensor<?x?x?x64xf16>
}

// -----

// CHECK-LABEL: func.func @visual_pieces
// CHECK: %[[U:.+]] = xfa.elementwise "gelu" %{{.*}} bias %{{.*}} : tensor<1x32xf32> : tensor<?x1x?x32xf32> -> tensor<?x1x?x32xf32>
// CHECK: %[[C:.+]] = xfa.depthwise_conv2d %[[U]], %{{.*}}, %{{.*}} {dilation = 3 : i64, kernel_size = 7 : i64} : tensor<?x1x?x32xf32>, tensor<32x49xf32>, tensor<1x32xf32> -> tensor<?x1x?x32xf32>
// CHECK: %[[M:.+]] = xfa.elementwise "mul" %[[C]], %[[U]] : tensor<?x1x?x32xf32> : tensor<?x1x?x32xf32> -> tensor<?x1x?x32xf32>
// CHECK: xfa.elementwise "add" %[[M]], %{{.*}} : tensor<?x1x?x32xbf16> bias %{{.*}} : tensor<1x32xf32> : tensor<?x1x?x32xf32> -> tensor<?x1x?x32xbf16>
func.func @visual_pieces(%x: tensor<?x1x?x32xbf16>, %t: tensor<?x1x?x32xf32>, %w: tensor<32x49xf32>, %b: tensor<1x32xf32>) -> tensor<?x1x?x32xbf16> {
  %u = xfa.elementwise "gelu" %t bias %b : tensor<1x32xf32> : tensor<?x1x?x32xf32> -> tensor<?x1x?x32xf32>
  %c = xfa.depthwise_conv2d %u, %w, %b {kernel_size = 7 : i64, dilation = 3 : i64} : tensor<?x1x?x32xf32>, tensor<32x49xf32>, tensor<1x32xf32> -> tensor<?x1x?x32xf32>
  %m = xfa.elementwise "mul" %c, %u : tensor<?x1x?x32xf32> : tensor<?x1x?x32xf32> -> tensor<?x1x?x32xf32>
  %o = xfa.elementwise "add" %m, %x : tensor<?x1x?x32xbf16> bias %b : tensor<1x32xf32> : tensor<?x1x?x32xf32> -> tensor<?x1x?x32xbf16>
  return %o : tensor<?x1x?x32xbf16>
}

// -----

func.func @even_pool(%q: tensor<?x?x?x64xf16>) {
  // expected-error @+1 {{expected an odd pool_size >= 1 (stride 1 and padding pool_size // 2 keep the grid only then), got 4}}
  %p = xfa.grid_pool %q {pool_size = 4 : i64} : tensor<?x?x?x64xf16> -> tensor<?x?x?x64xf16>
  return
}

// -----

func.func @pool_shape(%q: tensor<?x?x?x64xf16>) {
  // expected-error @+1 {{expected the result to have the input's shape}}
  %p = xfa.grid_pool %q {pool_size = 3 : i64} : tensor<?x?x?x64xf16> -> tensor<?x?x?x32xf16>
  return
}

// -----

func.func @conv_weight(%x: tensor<?x1x?x32xf32>, %w: tensor<32x25xf32>, %b: tensor<1x32xf32>) {
  // expected-error @+1 {{expected a weight of [32, 49] (one 7x7 filter per feature), got 'tensor<32x25xf32>'}}
  %c = xfa.depthwise_conv2d %x, %w, %b {kernel_size = 7 : i64} : tensor<?x1x?x32xf32>, tensor<32x25xf32>, tensor<1x32xf32> -> tensor<?x1x?x32xf32>
  return
}

// -----

func.func @conv_bias(%x: tensor<?x1x?x32xf32>, %w: tensor<32x25xf32>, %b: tensor<32x1xf32>) {
  // expected-error @+1 {{expected a bias of [1, 32], got 'tensor<32x1xf32>'}}
  %c = xfa.depthwise_conv2d %x, %w, %b {kernel_size = 5 : i64} : tensor<?x1x?x32xf32>, tensor<32x25xf32>, tensor<32x1xf32> -> tensor<?x1x?x32xf32>
  return
}

// -----

func.func @conv_dilation(%x: tensor<?x1x?x32xf32>, %w: tensor<32x25xf32>, %b: tensor<1x32xf32>) {
  // expected-error @+1 {{expected dilation >= 1, got 0}}
  %c = xfa.depthwise_conv2d %x, %w, %b {kernel_size = 5 : i64, dilation = 0 : i64} : tensor<?x1x?x32xf32>, tensor<32x25xf32>, tensor<1x32xf32> -> tensor<?x1x?x32xf32>
  return
}

// -----

func.func @elementwise_kind(%x: tensor<?x1x?x32xf32>) {
  // expected-error @+1 {{expected kind "gelu", "mul" or "add", got "relu"}}
  %y = xfa.elementwise "relu" %x : tensor<?x1x?x32xf32> -> tensor<?x1x?x32xf32>
  return
}

// -----

func.func @elementwise_arity(%x: tensor<?x1x?x32xf32>) {
  // expected-error @+1 {{kind "mul" takes two operands}}
  %y = xfa.elementwise "mul" %x : tensor<?x1x?x32xf32> -> tensor<?x1x?x32xf32>
  return
}

// -----

func.func @elementwise_rhs(%x: tensor<?x1x?x32xf32>, %y: tensor<?x1x?x16xf32>) {
  // expected-error @+1 {{expected the result to have the rhs's shape}}
  %z = xfa.elementwise "add" %x, %y : tensor<?x1x?x16xf32> : tensor<?x1x?x32xf32> -> tensor<?x1x?x32xf32>
  return
}
