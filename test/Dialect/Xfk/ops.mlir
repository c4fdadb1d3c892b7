// RUN: xfc-opt %s | xfc-opt | FileCheck %s

#grid = affine_map<()[s0, s1, s2, s3] -> (s2 ceildiv 64, s1, s0)>

// CHECK: xfk.kernel @dense template "attention_forward" arch "sm_90a" block [128, 1, 1] grid #{{.*}} shared 40960 traits {
xfk.kernel @dense template "attention_forward" arch "sm_90a" block [128, 1, 1] grid #grid shared 40960
    traits {Element = bf16, HeadDim = 64 : i64, BlockM = 64 : i64, BlockN = 64 : i64, NumWarps = 4 : i64,
            NumStages = 2 : i64, Causal = true, HasAttnMask = false, HasKeyPadding = false,
            HasDropout = false, WriteLse = false, SharedBytes = 40960 : i64}

// CHECK: xfk.kernel @sparse {{.*}} tables {BlockBits = array<i8: 1, 0, 1, 1>
xfk.kernel @sparse template "attention_forward" arch "sm_80" block [128, 1, 1] grid #grid shared 40960
    traits {Element = f16, HeadDim = 64 : i64, BlockM = 64 : i64, BlockN = 64 : i64, NumWarps = 4 : i64,
            NumStages = 2 : i64, Causal = false, HasAttnMask = false, HasKeyPadding = true,
            HasDropout = false, WriteLse = false, SharedBytes = 40960 : i64}
    tables {BlockBits = array<i8: 1, 0, 1, 1>, LayoutBlock = 64 : i64, LayoutHeads = 1 : i64,
            NumBlocks = 2 : i64, NumTileRows = 2 : i64, TileRowPtr = array<i32: 0, 1, 3>,
            TileCols = array<i32: 0, 0, 1>, TilePartial = array<i8: 0, 0, 0>,
            TileOrder = array<i32: 1, 0>, HeavyRanks = 0 : i64}

// CHECK-LABEL: func.func @run
func.func @run(%q: tensor<?x16x?x64xbf16>) -> tensor<?x16x?x64xbf16> {
  // CHECK: xfk.launch @dense(%{{.*}}, %{{.*}}, %{{.*}}) roles ["q", "k", "v"]
  %0 = xfk.launch @dense(%q, %q, %q) roles ["q", "k", "v"]
      : (tensor<?x16x?x64xbf16>, tensor<?x16x?x64xbf16>, tensor<?x16x?x64xbf16>) -> tensor<?x16x?x64xbf16>
  return %0 : tensor<?x16x?x64xbf16>
}

// CHECK-LABEL: func.func @run_padding
func.func @run_padding(%q: tensor<2x16x128x64xf16>, %p: tensor<2x128xi1>) -> tensor<2x16x128x64xf16> {
  // CHECK: roles ["q", "k", "v", "key_padding"]
  %0 = xfk.launch @sparse(%q, %q, %q, %p) roles ["q", "k", "v", "key_padding"]
      : (tensor<2x16x128x64xf16>, tensor<2x16x128x64xf16>, tensor<2x16x128x64xf16>, tensor<2x128xi1>) -> tensor<2x16x128x64xf16>
  return %0 : tensor<2x16x128x64xf16>
}
