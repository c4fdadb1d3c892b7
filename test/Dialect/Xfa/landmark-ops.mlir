// RUN: xfc-opt %s -split-input-file -verify-diagnostics | FileCheck %s

// The landmark ops round-trip.
// CHECK-LABEL: func.func @nystrom_pieces
// CHECK: xfa.landmark_pool %{{.*}} {num_landmarks = 16 : i64, require_longer} : tensor<?x4x?x32xf16> -> tensor<?x4x16x32xf16>
// CHECK: xfa.pinv_init %{{.*}} {global} : tensor<?x4x16x16xf32> -> tensor<?x4x16x16xf32>
// CHECK: xfa.landmark_pool %{{.*}} {num_landmarks = 16 : i64} : tensor<?x4x16x32xf32> -> tensor<?x4x16x32xf16>
func.func @nystrom_pieces(%q: tensor<?x4x?x32xf16>, %k2: tensor<?x4x16x16xf32>, %x: tensor<?x4x16x32xf32>) -> (tensor<?x4x16x32xf16>, tensor<?x4x16x16xf32>, tensor<?x4x16x32xf16>) {
  %ql = xfa.landmark_pool %q {num_landmarks = 16, require_longer} : tensor<?x4x?x32xf16> -> tensor<?x4x16x32xf16>
  %z = xfa.pinv_init %k2 {global} : tensor<?x4x16x16xf32> -> tensor<?x4x16x16xf32>
  %xe = xfa.landmark_pool %x {num_landmarks = 16} : tensor<?x4x16x32xf32> -> tensor<?x4x16x32xf16>
  return %ql, %z, %xe : tensor<?x4x16x32xf16>, tensor<?x4x16x16xf32>, tensor<?x4x16x32xf16>
}

// -----

// CHECK-LABEL: func.func @orthoformer_landmarks
// CHECK: xfa.landmark_select %{{.*}}, %{{.*}} {num_landmarks = 8 : i64, seed = 7 : i64, selection = "orthogonal", subsample_fraction = 5.000000e-01 : f64} : tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16> -> tensor<?x?x8x64xbf16>
// CHECK: xfa.landmark_select %{{.*}}, %{{.*}} {{.*}}selection = "random"{{.*}} -> tensor<?x?x6x64xbf16>
func.func @orthoformer_landmarks(%q: tensor<?x?x?x64xbf16>, %k: tensor<?x?x?x64xbf16>) -> (tensor<?x?x8x64xbf16>, tensor<?x?x6x64xbf16>) {
  %l = xfa.landmark_select %q, %k {selection = "orthogonal", num_landmarks = 8, subsample_fraction = 0.5, seed = 7} : tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16> -> tensor<?x?x8x64xbf16>
  %r = xfa.landmark_select %q, %k {selection = "random", num_landmarks = 7, subsample_fraction = 1.0, seed = 7} : tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16> -> tensor<?x?x6x64xbf16>
  return %l, %r : tensor<?x?x8x64xbf16>, tensor<?x?x6x64xbf16>
}

// -----

func.func @pool_rows(%q: tensor<?x4x?x32xf16>) {
  // expected-error @+1 {{expected a result of 16 rows, got 'tensor<?x4x8x32xf16>'}}
  %ql = xfa.landmark_pool %q {num_landmarks = 16} : tensor<?x4x?x32xf16> -> tensor<?x4x8x32xf16>
  return
}

// -----

func.func @pool_too_short(%q: tensor<?x4x10x32xf16>) {
  // expected-error @+1 {{expected at least num_landmarks = 16 rows, got 10}}
  %ql = xfa.landmark_pool %q {num_landmarks = 16} : tensor<?x4x10x32xf16> -> tensor<?x4x16x32xf16>
  return
}

// -----

func.func @pool_head_dim(%q: tensor<?x4x?x32xf16>) {
  // expected-error @+1 {{expected the batch, heads and head dim of the input}}
  %ql = xfa.landmark_pool %q {num_landmarks = 16} : tensor<?x4x?x32xf16> -> tensor<?x4x16x64xf16>
  return
}

// -----

func.func @pinv_square(%k2: tensor<?x4x16x8xf32>) {
  // expected-error @+1 {{expected square matrices}}
  %z = xfa.pinv_init %k2 : tensor<?x4x16x8xf32> -> tensor<?x4x16x8xf32>
  return
}

// -----

func.func @select_kind(%q: tensor<?x?x?x64xf16>) {
  // expected-error @+1 {{expected selection "orthogonal", "kmeans", "kmeans_spherical" or "random", got "kmean"}}
  %l = xfa.landmark_select %q, %q {selection = "kmean", num_landmarks = 8, subsample_fraction = 1.0, seed = 0} : tensor<?x?x?x64xf16>, tensor<?x?x?x64xf16> -> tensor<?x?x8x64xf16>
  return
}

// -----

func.func @select_fraction(%q: tensor<?x?x?x64xf16>) {
  // expected-error @+1 {{expected subsample_fraction in (0, 1], got 0}}
  %l = xfa.landmark_select %q, %q {selection = "kmeans", num_landmarks = 8, subsample_fraction = 0.0, seed = 0} : tensor<?x?x?x64xf16>, tensor<?x?x?x64xf16> -> tensor<?x?x8x64xf16>
  return
}

// -----

func.func @select_random_rows(%q: tensor<?x?x?x64xf16>) {
  // expected-error @+1 {{expected a result of 6 rows}}
  %l = xfa.landmark_select %q, %q {selection = "random", num_landmarks = 7, subsample_fraction = 1.0, seed = 0} : tensor<?x?x?x64xf16>, tensor<?x?x?x64xf16> -> tensor<?x?x7x64xf16>
  return
}

// -----

func.func @select_random_one(%q: tensor<?x?x?x64xf16>) {
  // expected-error @+1 {{expected num_landmarks >= 2 for selection "random", got 1}}
  %l = xfa.landmark_select %q, %q {selection = "random", num_landmarks = 1, subsample_fraction = 1.0, seed = 0} : tensor<?x?x?x64xf16>, tensor<?x?x?x64xf16> -> tensor<?x?x0x64xf16>
  return
}

// -----

// CHECK-LABEL: func.func @skip
// CHECK: xfa.sequence_conv %{{.*}}, %{{.*}} add %{{.*}} : tensor<?x4x?x32xf16> : tensor<?x4x?x32xf16>, tensor<4x5xf32> -> tensor<?x4x?x32xf16>
func.func @skip(%v: tensor<?x4x?x32xf16>, %w: tensor<4x5xf32>, %x: tensor<?x4x?x32xf16>) -> tensor<?x4x?x32xf16> {
  %o = xfa.sequence_conv %v, %w add %x : tensor<?x4x?x32xf16> : tensor<?x4x?x32xf16>, tensor<4x5xf32> -> tensor<?x4x?x32xf16>
  return %o : tensor<?x4x?x32xf16>
}

// -----

func.func @skip_even(%v: tensor<?x4x?x32xf16>, %w: tensor<4x4xf32>) {
  // expected-error @+1 {{expected an odd kernel size, got 4}}
  %o = xfa.sequence_conv %v, %w : tensor<?x4x?x32xf16>, tensor<4x4xf32> -> tensor<?x4x?x32xf16>
  return
}

// -----

func.func @skip_heads(%v: tensor<?x4x?x32xf16>, %w: tensor<2x3xf32>) {
  // expected-error @+1 {{expected one weight row per head (4), got 2}}
  %o = xfa.sequence_conv %v, %w : tensor<?x4x?x32xf16>, tensor<2x3xf32> -> tensor<?x4x?x32xf16>
  return
}
