// RUN: xfc-opt %s -split-input-file -xfa-outline-graph-ops | FileCheck %s

// Nystrom's pieces: segment means carry [num_landmarks, require_longer] in
// ints, the pseudo-inverse start its Global trait; every launch gets the
// sizes of its result (landmark rows static).
// CHECK-LABEL: func.func @attention
// CHECK: %[[QL:.+]] = xfk.launch @landmark_pool_0(%arg0) roles ["x"] {ints = array<i64: 16, 1>, sizes = ["batch", "heads", "16", "32"]}
// CHECK: %[[S:.+]] = xfk.launch @matmul_1(%[[QL]], %[[QL]]) roles ["a", "b"] {{.*}}sizes = ["batch", "heads", "16", "16"]
// CHECK: %[[Z:.+]] = xfk.launch @pinv_init_2(%[[S]]) roles ["x"] {sizes = ["batch", "heads", "16", "16"]}
// CHECK: xfk.launch @landmark_pool_4(%{{.*}}) roles ["x"] {ints = array<i64: 16, 0>, sizes = ["batch", "heads", "16", "32"]}
// CHECK: xfk.kernel @landmark_pool_0 template "landmark_pool" arch "sm_80" block [256, 1, 1] grid #{{.*}} shared 0 traits {Element = f16, InDType = 1 : i64}
// CHECK: xfk.kernel @pinv_init_2 template "pinv_init" {{.*}}traits {Element = f32, Global = true}
// CHECK: xfk.kernel @landmark_pool_4 template "landmark_pool" {{.*}}traits {Element = f16, InDType = 0 : i64}
module attributes {xfc.target = "sm_80"} {
func.func @attention(%q: tensor<?x?x?x32xf16>, %k: tensor<?x?x?x32xf16>, %v: tensor<?x?x?x32xf16>) -> tensor<?x?x16x32xf16> {
  %ql = xfa.landmark_pool %q {num_landmarks = 16, require_longer} : tensor<?x?x?x32xf16> -> tensor<?x?x16x32xf16>
  %s = xfa.matmul %ql, %ql {transpose_rhs} : tensor<?x?x16x32xf16>, tensor<?x?x16x32xf16> -> tensor<?x?x16x16xf32>
  %z = xfa.pinv_init %s {global} : tensor<?x?x16x16xf32> -> tensor<?x?x16x16xf32>
  %x = xfa.matmul %z, %ql : tensor<?x?x16x16xf32>, tensor<?x?x16x32xf16> -> tensor<?x?x16x32xf32>
  %xe = xfa.landmark_pool %x {num_landmarks = 16} : tensor<?x?x16x32xf32> -> tensor<?x?x16x32xf16>
  return %xe : tensor<?x?x16x32xf16>
}
}

// -----

// Orthoformer's selection: strategy, landmark count and head dim are
// traits; the seed and the bits of subsample_fraction (0.5 =
// 0x3FE0000000000000) are the launch's ints.
// CHECK-LABEL: func.func @attention
// CHECK: %[[L:.+]] = xfk.launch @landmark_select_0(%arg0, %arg1) roles ["q", "k"] {ints = array<i64: 7, 4602678819172646912>, sizes = ["batch", "8", "16", "64"]}
// CHECK: xfk.launch @matmul_1(%[[L]], %arg1)
// CHECK: xfk.kernel @landmark_select_0 template "landmark_select" {{.*}}traits {Element = bf16, HeadDim = 64 : i64, NumLandmarks = 16 : i64, Selection = 2 : i64}
module attributes {xfc.target = "sm_90a"} {
func.func @attention(%q: tensor<?x8x?x64xbf16>, %k: tensor<?x8x?x64xbf16>, %v: tensor<?x8x?x64xbf16>) -> tensor<?x8x16x?xf32> {
  %l = xfa.landmark_select %q, %k {selection = "kmeans_spherical", num_landmarks = 16, subsample_fraction = 0.5, seed = 7} : tensor<?x8x?x64xbf16>, tensor<?x8x?x64xbf16> -> tensor<?x8x16x64xbf16>
  %s = xfa.matmul %l, %k {transpose_rhs} : tensor<?x8x16x64xbf16>, tensor<?x8x?x64xbf16> -> tensor<?x8x16x?xf32>
  return %s : tensor<?x8x16x?xf32>
}
}

// -----

// Nystrom's skip: the weight parameter stays; HasAddend and the dtypes are
// traits.
// CHECK-LABEL: func.func @attention
// CHECK: %[[W:.+]] = xfa.parameter "skip_connection.weight"
// CHECK: %[[P:.+]] = xfk.launch @softmax_0(%arg0)
// CHECK: xfk.launch @sequence_conv_1(%arg2, %[[W]], %[[P]]) roles ["x", "w", "c"] {sizes = ["batch", "4", "q_len", "32"]}
// CHECK: xfk.kernel @sequence_conv_1 template "sequence_conv" {{.*}}traits {AddDType = 1 : i64, Element = f16, HasAddend = true, InDType = 1 : i64}
module attributes {xfc.target = "sm_80"} {
func.func @attention(%q: tensor<?x4x?x32xf16>, %k: tensor<?x4x?x32xf16>, %v: tensor<?x4x?x32xf16>) -> tensor<?x4x?x32xf16> {
  %w = xfa.parameter "skip_connection.weight" init "uniform" {init_scale = 0.5 : f64, seed = 1 : i64} : tensor<4x3xf32>
  %p = xfa.softmax %q : tensor<?x4x?x32xf16> -> tensor<?x4x?x32xf16>
  %s = xfa.sequence_conv %v, %w add %p : tensor<?x4x?x32xf16> : tensor<?x4x?x32xf16>, tensor<4x3xf32> -> tensor<?x4x?x32xf16>
  return %s : tensor<?x4x?x32xf16>
}
}
