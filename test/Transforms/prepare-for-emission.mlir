// RUN: xfc-opt %s -split-input-file -verify-diagnostics -xfk-prepare-for-emission | FileCheck %s

// Kernels get content-derived symbols; kernels with equal content merge and
// their launches follow.
// CHECK-LABEL: func.func @rename_and_merge
// CHECK: xfk.launch @[[A:xfc_attn_[0-9a-f]{16}]](
// CHECK: xfk.launch @[[A]](
// CHECK: xfk.launch @[[B:xfc_attn_[0-9a-f]{16}]](
// CHECK: xfk.kernel @[[A]] {{.*}}Causal = false
// CHECK: xfk.kernel @[[B]] {{.*}}Causal = true
// CHECK-NOT: xfk.kernel
#grid = affine_map<()[s0, s1, s2, s3] -> (s2 ceildiv 64, s1, s0)>
module {
  func.func @rename_and_merge(%q: tensor<?x8x?x64xbf16>) -> tensor<?x8x?x64xbf16> {
    %0 = xfk.launch @one(%q, %q, %q) roles ["q", "k", "v"] : (tensor<?x8x?x64xbf16>, tensor<?x8x?x64xbf16>, tensor<?x8x?x64xbf16>) -> tensor<?x8x?x64xbf16>
    %1 = xfk.launch @same_as_one(%0, %q, %q) roles ["q", "k", "v"] : (tensor<?x8x?x64xbf16>, tensor<?x8x?x64xbf16>, tensor<?x8x?x64xbf16>) -> tensor<?x8x?x64xbf16>
    %2 = xfk.launch @causal(%1, %q, %q) roles ["q", "k", "v"] : (tensor<?x8x?x64xbf16>, tensor<?x8x?x64xbf16>, tensor<?x8x?x64xbf16>) -> tensor<?x8x?x64xbf16>
    return %2 : tensor<?x8x?x64xbf16>
  }
  xfk.kernel @one template "attention_forward" arch "sm_90a" block [128, 1, 1] grid #grid shared 40960
      traits {Element = bf16, HeadDim = 64 : i64, BlockM = 64 : i64, BlockN = 64 : i64, NumWarps = 4 : i64,
              NumStages = 2 : i64, Causal = false, HasAttnMask = false, HasKeyPadding = false,
              HasDropout = false, WriteLse = false, SharedBytes = 40960 : i64}
  xfk.kernel @same_as_one template "attention_forward" arch "sm_90a" block [128, 1, 1] grid #grid shared 40960
      traits {Element = bf16, HeadDim = 64 : i64, BlockM = 64 : i64, BlockN = 64 : i64, NumWarps = 4 : i64,
              NumStages = 2 : i64, Causal = false, HasAttnMask = false, HasKeyPadding = false,
              HasDropout = false, WriteLse = false, SharedBytes = 40960 : i64}
  xfk.kernel @causal template "attention_forward" arch "sm_90a" block [128, 1, 1] grid #grid shared 40960
      traits {Element = bf16, HeadDim = 64 : i64, BlockM = 64 : i64, BlockN = 64 : i64, NumWarps = 4 : i64,
              NumStages = 2 : i64, Causal = true, HasAttnMask = false, HasKeyPadding = false,
              HasDropout = false, WriteLse = false, SharedBytes = 40960 : i64}
}

// -----

module {
  func.func @leftover(%q: tensor<?x8x?x64xbf16>) -> tensor<?x8x?x64xbf16> {
    // expected-error @+1 {{was not outlined into a kernel; run xfa-outline-kernels before emission}}
    %0 = xfa.attention %q, %q, %q {mask = #xfa.mask<>, scale = 0.125 : f32}
        : tensor<?x8x?x64xbf16>, tensor<?x8x?x64xbf16>, tensor<?x8x?x64xbf16> -> tensor<?x8x?x64xbf16>
    return %0 : tensor<?x8x?x64xbf16>
  }
}
