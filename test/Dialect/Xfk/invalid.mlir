// RUN: xfc-opt %s -split-input-file -verify-diagnostics

#grid = affine_map<()[s0, s1, s2, s3] -> (s2 ceildiv 64, s1, s0)>
// expected-error @+1 {{unknown template 'attention_backward'}}
xfk.kernel @k template "attention_backward" arch "sm_90a" block [128, 1, 1] grid #grid shared 0 traits {Element = bf16}

// -----

#grid = affine_map<()[s0, s1, s2, s3] -> (s2 * 64, s1, s0)>
// expected-error @+1 {{expected each grid size to be a symbol, a positive constant or 'symbol ceildiv constant', got s2 * 64}}
xfk.kernel @k template "attention_forward" arch "sm_90a" block [128, 1, 1] grid #grid shared 0 traits {Element = bf16}

// -----

#grid = affine_map<()[s0, s1, s2] -> (s2 ceildiv 64, s1, s0)>
// expected-error @+1 {{expected grid to map the 4 symbols [batch, heads, q_len, kv_len] to 3 sizes}}
xfk.kernel @k template "attention_forward" arch "sm_90a" block [128, 1, 1] grid #grid shared 0 traits {Element = bf16}

// -----

#grid = affine_map<()[s0, s1, s2, s3] -> (s2 ceildiv 64, s1, s0)>
// expected-error @+1 {{missing trait 'HeadDim' required by template 'attention_forward'}}
xfk.kernel @k template "attention_forward" arch "sm_90a" block [128, 1, 1] grid #grid shared 0 traits {Element = bf16}

// -----

#grid = affine_map<()[s0, s1, s2, s3] -> (s2 ceildiv 64, s1, s0)>
// expected-error @+1 {{expected block to hold NumWarps * 32 = 128 threads, got 256}}
xfk.kernel @k template "attention_forward" arch "sm_90a" block [256, 1, 1] grid #grid shared 40960
    traits {Element = bf16, HeadDim = 64 : i64, BlockM = 64 : i64, BlockN = 64 : i64, NumWarps = 4 : i64,
            NumStages = 2 : i64, Causal = true, HasAttnMask = false, HasKeyPadding = false,
            HasDropout = false, WriteLse = false, SharedBytes = 40960 : i64}

// -----

#grid = affine_map<()[s0, s1, s2, s3] -> (s2 ceildiv 64, s1, s0)>
// expected-error @+1 {{expected trait SharedBytes (40960) to equal shared (1024)}}
xfk.kernel @k template "attention_forward" arch "sm_90a" block [128, 1, 1] grid #grid shared 1024
    traits {Element = bf16, HeadDim = 64 : i64, BlockM = 64 : i64, BlockN = 64 : i64, NumWarps = 4 : i64,
            NumStages = 2 : i64, Causal = true, HasAttnMask = false, HasKeyPadding = false,
            HasDropout = false, WriteLse = false, SharedBytes = 40960 : i64}

// -----

#grid = affine_map<()[s0, s1, s2, s3] -> (s2 ceildiv 64, s1, s0)>
// expected-error @+1 {{missing table 'TileCols': block-sparse kernels need all of them}}
xfk.kernel @k template "attention_forward" arch "sm_90a" block [128, 1, 1] grid #grid shared 40960
    traits {Element = bf16, HeadDim = 64 : i64, BlockM = 64 : i64, BlockN = 64 : i64, NumWarps = 4 : i64,
            NumStages = 2 : i64, Causal = true, HasAttnMask = false, HasKeyPadding = false,
            HasDropout = false, WriteLse = false, SharedBytes = 40960 : i64}
    tables {BlockBits = array<i8: 1>, LayoutBlock = 64 : i64, LayoutHeads = 1 : i64, NumBlocks = 1 : i64,
            NumTileRows = 1 : i64, TileRowPtr = array<i32: 0, 1>, TilePartial = array<i8: 0>}

// -----

#grid = affine_map<()[s0, s1, s2, s3] -> (s2 ceildiv 64, s1, s0)>
// expected-error @+1 {{expected TileOrder of layout head 0 to be a permutation of the 2 tile rows; entry 1 is 0}}
xfk.kernel @k template "attention_forward" arch "sm_90a" block [128, 1, 1] grid #grid shared 40960
    traits {Element = bf16, HeadDim = 64 : i64, BlockM = 64 : i64, BlockN = 64 : i64, NumWarps = 4 : i64,
            NumStages = 2 : i64, Causal = false, HasAttnMask = false, HasKeyPadding = false,
            HasDropout = false, WriteLse = false, SharedBytes = 40960 : i64}
    tables {BlockBits = array<i8: 1, 0, 1, 1>, LayoutBlock = 64 : i64, LayoutHeads = 1 : i64,
            NumBlocks = 2 : i64, NumTileRows = 2 : i64, TileRowPtr = array<i32: 0, 1, 3>,
            TileCols = array<i32: 0, 0, 1>, TilePartial = array<i8: 0, 0, 0>,
            TileOrder = array<i32: 0, 0>, HeavyRanks = 0 : i64}

// -----

#grid = affine_map<()[s0, s1, s2, s3] -> (s2 ceildiv 64, s1, s0)>
// expected-error @+1 {{expected TileOrder to hold LayoutHeads * NumTileRows = 2 entries, got 1}}
xfk.kernel @k template "attention_forward" arch "sm_90a" block [128, 1, 1] grid #grid shared 40960
    traits {Element = bf16, HeadDim = 64 : i64, BlockM = 64 : i64, BlockN = 64 : i64, NumWarps = 4 : i64,
            NumStages = 2 : i64, Causal = false, HasAttnMask = false, HasKeyPadding = false,
            HasDropout = false, WriteLse = false, SharedBytes = 40960 : i64}
    tables {BlockBits = array<i8: 1, 0, 1, 1>, LayoutBlock = 64 : i64, LayoutHeads = 1 : i64,
            NumBlocks = 2 : i64, NumTileRows = 2 : i64, TileRowPtr = array<i32: 0, 1, 3>,
            TileCols = array<i32: 0, 0, 1>, TilePartial = array<i8: 0, 0, 0>,
            TileOrder = array<i32: 1>, HeavyRanks = 0 : i64}

// -----

#grid = affine_map<()[s0, s1, s2, s3] -> (s2 ceildiv 64, s1, s0)>
// expected-error @+1 {{expected HeavyRanks in [0, NumTileRows = 2], got 3}}
xfk.kernel @k template "attention_forward" arch "sm_90a" block [128, 1, 1] grid #grid shared 40960
    traits {Element = bf16, HeadDim = 64 : i64, BlockM = 64 : i64, BlockN = 64 : i64, NumWarps = 4 : i64,
            NumStages = 2 : i64, Causal = false, HasAttnMask = false, HasKeyPadding = false,
            HasDropout = false, WriteLse = false, SharedBytes = 40960 : i64}
    tables {BlockBits = array<i8: 1, 0, 1, 1>, LayoutBlock = 64 : i64, LayoutHeads = 1 : i64,
            NumBlocks = 2 : i64, NumTileRows = 2 : i64, TileRowPtr = array<i32: 0, 1, 3>,
            TileCols = array<i32: 0, 0, 1>, TilePartial = array<i8: 0, 0, 0>,
            TileOrder = array<i32: 1, 0>, HeavyRanks = 3 : i64}

// -----

func.func @no_kernel(%q: tensor<1x1x8x64xbf16>) -> tensor<1x1x8x64xbf16> {
  // expected-error @+1 {{'missing' does not reference an xfk.kernel}}
  %0 = xfk.launch @missing(%q, %q, %q) roles ["q", "k", "v"] : (tensor<1x1x8x64xbf16>, tensor<1x1x8x64xbf16>, tensor<1x1x8x64xbf16>) -> tensor<1x1x8x64xbf16>
  return %0 : tensor<1x1x8x64xbf16>
}

// -----

#grid = affine_map<()[s0, s1, s2, s3] -> (s2 ceildiv 64, s1, s0)>
xfk.kernel @k template "attention_forward" arch "sm_90a" block [128, 1, 1] grid #grid shared 40960
    traits {Element = bf16, HeadDim = 64 : i64, BlockM = 64 : i64, BlockN = 64 : i64, NumWarps = 4 : i64,
            NumStages = 2 : i64, Causal = true, HasAttnMask = false, HasKeyPadding = false,
            HasDropout = false, WriteLse = false, SharedBytes = 40960 : i64}
func.func @wrong_element(%q: tensor<1x1x8x64xf16>) -> tensor<1x1x8x64xf16> {
  // expected-error @+1 {{expected 'q' of element type 'bf16' for kernel 'k', got 'tensor<1x1x8x64xf16>'}}
  %0 = xfk.launch @k(%q, %q, %q) roles ["q", "k", "v"] : (tensor<1x1x8x64xf16>, tensor<1x1x8x64xf16>, tensor<1x1x8x64xf16>) -> tensor<1x1x8x64xf16>
  return %0 : tensor<1x1x8x64xf16>
}

// -----

#grid = affine_map<()[s0, s1, s2, s3] -> (s2 ceildiv 64, s1, s0)>
xfk.kernel @k template "attention_forward" arch "sm_90a" block [128, 1, 1] grid #grid shared 40960
    traits {Element = bf16, HeadDim = 64 : i64, BlockM = 64 : i64, BlockN = 64 : i64, NumWarps = 4 : i64,
            NumStages = 2 : i64, Causal = true, HasAttnMask = false, HasKeyPadding = false,
            HasDropout = false, WriteLse = false, SharedBytes = 40960 : i64}
func.func @mask_mismatch(%q: tensor<1x1x8x64xbf16>, %p: tensor<1x8xi1>) -> tensor<1x1x8x64xbf16> {
  // expected-error @+1 {{mask inputs do not match the traits of kernel 'k'}}
  %0 = xfk.launch @k(%q, %q, %q, %p) roles ["q", "k", "v", "key_padding"] : (tensor<1x1x8x64xbf16>, tensor<1x1x8x64xbf16>, tensor<1x1x8x64xbf16>, tensor<1x8xi1>) -> tensor<1x1x8x64xbf16>
  return %0 : tensor<1x1x8x64xbf16>
}

// -----

#grid = affine_map<()[s0, s1, s2, s3] -> (s2 ceildiv 64, s1, s0)>
// expected-error @+1 {{expected all or none of the optional traits 'Window*' of template 'attention_forward': 'WindowLeft' without 'WindowRight'}}
xfk.kernel @k template "attention_forward" arch "sm_90a" block [128, 1, 1] grid #grid shared 40960
    traits {Element = bf16, HeadDim = 64 : i64, BlockM = 64 : i64, BlockN = 64 : i64, NumWarps = 4 : i64,
            NumStages = 2 : i64, Causal = false, HasAttnMask = false, HasKeyPadding = false,
            HasDropout = false, WriteLse = false, SharedBytes = 40960 : i64, WindowLeft = 3 : i64}

// -----

#grid = affine_map<()[s0, s1, s2, s3] -> (s2 ceildiv 64, s1, s0)>
// expected-error @+1 {{expected all or none of the optional traits 'Random*' of template 'attention_forward': 'RandomSeed' without 'RandomThreshold'}}
xfk.kernel @k template "attention_forward" arch "sm_90a" block [128, 1, 1] grid #grid shared 40960
    traits {Element = bf16, HeadDim = 64 : i64, BlockM = 64 : i64, BlockN = 64 : i64, NumWarps = 4 : i64,
            NumStages = 2 : i64, Causal = false, HasAttnMask = false, HasKeyPadding = false,
            HasDropout = false, WriteLse = false, SharedBytes = 40960 : i64, WindowLeft = 3 : i64,
            WindowRight = 3 : i64, RandomSeed = 1 : i64, RandomPerCall = false}

// -----

#grid = affine_map<()[s0, s1, s2, s3] -> (s2 ceildiv 64, s1, s0)>
// expected-error @+1 {{expected 2 'TileCols' entries per 'TilePartial' entry (3 tiles), got 3}}
xfk.kernel @k template "attention_forward" arch "sm_90a" block [256, 1, 1] grid #grid shared 99328
    traits {Element = bf16, HeadDim = 128 : i64, BlockM = 64 : i64, BlockN = 128 : i64, NumWarps = 8 : i64,
            NumStages = 1 : i64, Causal = false, HasAttnMask = false, HasKeyPadding = false,
            HasDropout = false, WriteLse = false, SharedBytes = 99328 : i64}
    tables {BlockBits = array<i8: 1, 0, 1, 1>, LayoutBlock = 64 : i64, LayoutHeads = 1 : i64,
            NumBlocks = 2 : i64, NumTileRows = 2 : i64, TileRowPtr = array<i32: 0, 1, 3>,
            TileCols = array<i32: 0, 0, 1>, TilePartial = array<i8: 0, 0, 0>,
            TileOrder = array<i32: 1, 0>, HeavyRanks = 0 : i64, TileBlocks = 2 : i64}

// -----

#grid = affine_map<()[s0, s1, s2, s3] -> (s2 ceildiv 64, s1, s0)>
// expected-error @+1 {{expected table 'TileBlocks' to be 1 or 2, got 4}}
xfk.kernel @k template "attention_forward" arch "sm_90a" block [256, 1, 1] grid #grid shared 99328
    traits {Element = bf16, HeadDim = 128 : i64, BlockM = 64 : i64, BlockN = 128 : i64, NumWarps = 8 : i64,
            NumStages = 1 : i64, Causal = false, HasAttnMask = false, HasKeyPadding = false,
            HasDropout = false, WriteLse = false, SharedBytes = 99328 : i64}
    tables {BlockBits = array<i8: 1, 0, 1, 1>, LayoutBlock = 64 : i64, LayoutHeads = 1 : i64,
            NumBlocks = 2 : i64, NumTileRows = 2 : i64, TileRowPtr = array<i32: 0, 1, 2>,
            TileCols = array<i32: 0, 0>, TilePartial = array<i8: 0, 0>,
            TileOrder = array<i32: 1, 0>, HeavyRanks = 0 : i64, TileBlocks = 4 : i64}

// -----

#grid = affine_map<()[s0, s1, s2, s3] -> (s2 ceildiv 128, s1, s0)>
// expected-error @+1 {{expected one 'TileRowMask' entry per tile (1), got 2}}
xfk.kernel @k template "attention_forward" arch "sm_90a" block [384, 1, 1] grid #grid shared 197632
    traits {Element = bf16, HeadDim = 128 : i64, BlockM = 128 : i64, BlockN = 128 : i64, NumWarps = 12 : i64,
            NumStages = 2 : i64, Causal = false, HasAttnMask = false, HasKeyPadding = false,
            HasDropout = false, WriteLse = false, SharedBytes = 197632 : i64}
    tables {BlockBits = array<i8: 1, 0, 1, 1>, LayoutBlock = 64 : i64, LayoutHeads = 1 : i64,
            NumBlocks = 2 : i64, NumTileRows = 1 : i64, TileRowPtr = array<i32: 0, 1>,
            TileCols = array<i32: 0, 1>, TilePartial = array<i8: 0>, TileRowMask = array<i8: 2, 0>,
            TileOrder = array<i32: 0>, HeavyRanks = 0 : i64, TileBlocks = 2 : i64}

// -----

#grid = affine_map<()[s0, s1, s2, s3] -> (s2 ceildiv 128, s1, s0)>
// expected-error @+1 {{expected 'TileRowMask' entries in [0, 15], got 16}}
xfk.kernel @k template "attention_forward" arch "sm_90a" block [384, 1, 1] grid #grid shared 197632
    traits {Element = bf16, HeadDim = 128 : i64, BlockM = 128 : i64, BlockN = 128 : i64, NumWarps = 12 : i64,
            NumStages = 2 : i64, Causal = false, HasAttnMask = false, HasKeyPadding = false,
            HasDropout = false, WriteLse = false, SharedBytes = 197632 : i64}
    tables {BlockBits = array<i8: 1, 0, 1, 1>, LayoutBlock = 64 : i64, LayoutHeads = 1 : i64,
            NumBlocks = 2 : i64, NumTileRows = 1 : i64, TileRowPtr = array<i32: 0, 1>,
            TileCols = array<i32: 0, 1>, TilePartial = array<i8: 0>, TileRowMask = array<i8: 16>,
            TileOrder = array<i32: 0>, HeavyRanks = 0 : i64, TileBlocks = 2 : i64}
