// RUN: xfc-opt %s -split-input-file -verify-diagnostics

func.func @element_mismatch(%q: tensor<1x1x8x64xf16>, %k: tensor<1x1x8x64xbf16>, %v: tensor<1x1x8x64xf16>) {
  // expected-error @+1 {{expected query, key, value and result to share one element type}}
  %0 = xfa.attention %q, %k, %v {mask = #xfa.mask<>, scale = 0.125 : f32} : tensor<1x1x8x64xf16>, tensor<1x1x8x64xbf16>, tensor<1x1x8x64xf16> -> tensor<1x1x8x64xf16>
  return
}

// -----

func.func @head_dim_mismatch(%q: tensor<1x1x8x64xf16>, %k: tensor<1x1x8x32xf16>, %v: tensor<1x1x8x64xf16>) {
  // expected-error @+1 {{expected query and key head_dim to match, got 64 and 32}}
  %0 = xfa.attention %q, %k, %v {mask = #xfa.mask<>, scale = 0.125 : f32} : tensor<1x1x8x64xf16>, tensor<1x1x8x32xf16>, tensor<1x1x8x64xf16> -> tensor<1x1x8x64xf16>
  return
}

// -----

func.func @kv_len_mismatch(%q: tensor<1x1x8x64xf16>, %k: tensor<1x1x8x64xf16>, %v: tensor<1x1x9x64xf16>) {
  // expected-error @+1 {{expected key and value sequence lengths to match, got 8 and 9}}
  %0 = xfa.attention %q, %k, %v {mask = #xfa.mask<>, scale = 0.125 : f32} : tensor<1x1x8x64xf16>, tensor<1x1x8x64xf16>, tensor<1x1x9x64xf16> -> tensor<1x1x8x64xf16>
  return
}

// -----

func.func @heads_mismatch(%q: tensor<1x2x8x64xf16>, %k: tensor<1x4x8x64xf16>, %v: tensor<1x2x8x64xf16>) {
  // expected-error @+1 {{expected the heads size of query (2) to match}}
  %0 = xfa.attention %q, %k, %v {mask = #xfa.mask<>, scale = 0.125 : f32} : tensor<1x2x8x64xf16>, tensor<1x4x8x64xf16>, tensor<1x2x8x64xf16> -> tensor<1x2x8x64xf16>
  return
}

// -----

func.func @dropout_range(%q: tensor<1x1x8x64xf16>) {
  // expected-error @+1 {{expected dropout in [0, 1), got 1}}
  %0 = xfa.attention %q, %q, %q {mask = #xfa.mask<>, scale = 0.125 : f32, dropout = 1.0 : f32} : tensor<1x1x8x64xf16>, tensor<1x1x8x64xf16>, tensor<1x1x8x64xf16> -> tensor<1x1x8x64xf16>
  return
}

// -----

func.func @missing_mask_operand(%q: tensor<1x1x8x64xf16>) {
  // expected-error @+1 {{mask.key_padding is true but the key_padding operand is absent}}
  %0 = xfa.attention %q, %q, %q {mask = #xfa.mask<key_padding = true>, scale = 0.125 : f32} : tensor<1x1x8x64xf16>, tensor<1x1x8x64xf16>, tensor<1x1x8x64xf16> -> tensor<1x1x8x64xf16>
  return
}

// -----

func.func @attn_mask_shape(%q: tensor<1x1x8x64xf16>, %m: tensor<8x9xf32>) {
  // expected-error @+1 {{expected attn_mask of shape [q_len, kv_len], got 'tensor<8x9xf32>'}}
  %0 = xfa.attention %q, %q, %q attn_mask %m : tensor<8x9xf32> {mask = #xfa.mask<attn_mask = true>, scale = 0.125 : f32} : tensor<1x1x8x64xf16>, tensor<1x1x8x64xf16>, tensor<1x1x8x64xf16> -> tensor<1x1x8x64xf16>
  return
}

// -----

  // expected-error @+3 {{failed to parse Xfa_MaskAttr parameter 'layout'}}
func.func @block_size(%q: tensor<1x1x96x64xf16>) {
  // expected-error @+1 {{expected block_size to be one of 16, 32, 64, 128, got 48}}
  %0 = xfa.attention %q, %q, %q {mask = #xfa.mask<layout = #xfa.block_layout<block_size = 48, bits = dense<[[[1, 0], [1, 1]]]> : tensor<1x2x2xi8>>>, scale = 0.125 : f32} : tensor<1x1x96x64xf16>, tensor<1x1x96x64xf16>, tensor<1x1x96x64xf16> -> tensor<1x1x96x64xf16>
  return
}

// -----

  // expected-error @+3 {{failed to parse Xfa_MaskAttr parameter 'layout'}}
func.func @layout_not_square(%q: tensor<1x1x64x64xf16>) {
  // expected-error @+1 {{expected layout bits of shape [heads, blocks, blocks], got 'tensor<1x2x3xi8>'}}
  %0 = xfa.attention %q, %q, %q {mask = #xfa.mask<layout = #xfa.block_layout<block_size = 32, bits = dense<[[[1, 0, 1], [1, 1, 1]]]> : tensor<1x2x3xi8>>>, scale = 0.125 : f32} : tensor<1x1x64x64xf16>, tensor<1x1x64x64xf16>, tensor<1x1x64x64xf16> -> tensor<1x1x64x64xf16>
  return
}

// -----

  // expected-error @+3 {{failed to parse Xfa_MaskAttr parameter 'layout'}}
func.func @layout_values(%q: tensor<1x1x64x64xf16>) {
  // expected-error @+1 {{expected layout bits to be 0 or 1, got 2 at [0][1][0]}}
  %0 = xfa.attention %q, %q, %q {mask = #xfa.mask<layout = #xfa.block_layout<block_size = 32, bits = dense<[[[1, 0], [2, 1]]]> : tensor<1x2x2xi8>>>, scale = 0.125 : f32} : tensor<1x1x64x64xf16>, tensor<1x1x64x64xf16>, tensor<1x1x64x64xf16> -> tensor<1x1x64x64xf16>
  return
}

// -----

func.func @layout_heads(%q: tensor<1x4x64x64xf16>) {
  // expected-error @+1 {{expected layout with 1 or 4 heads, got 2}}
  %0 = xfa.attention %q, %q, %q {mask = #xfa.mask<layout = #xfa.block_layout<block_size = 32, bits = dense<1> : tensor<2x2x2xi8>>>, scale = 0.125 : f32} : tensor<1x4x64x64xf16>, tensor<1x4x64x64xf16>, tensor<1x4x64x64xf16> -> tensor<1x4x64x64xf16>
  return
}

// -----

func.func @layout_too_short(%q: tensor<1x1x65x64xf16>) {
  // expected-error @+1 {{sequence length 65 exceeds the layout's 2 blocks of 32}}
  %0 = xfa.attention %q, %q, %q {mask = #xfa.mask<layout = #xfa.block_layout<block_size = 32, bits = dense<1> : tensor<1x2x2xi8>>>, scale = 0.125 : f32} : tensor<1x1x65x64xf16>, tensor<1x1x65x64xf16>, tensor<1x1x65x64xf16> -> tensor<1x1x65x64xf16>
  return
}

// -----

func.func @csr_row_ptr(%q: tensor<1x1x64x64xf16>) {
  // expected-error @+1 {{expected row_ptr to have heads * (blocks + 1) = 3 entries, got 2}}
  %0 = xfa.attention %q, %q, %q {mask = #xfa.mask<>, scale = 0.125 : f32, sparsity = #xfa.block_csr<block_size = 32, heads = 1, blocks = 2, row_ptr = [0, 1], cols = [0], partial = [0], bits = dense<1> : tensor<1x2x2xi8>>} : tensor<1x1x64x64xf16>, tensor<1x1x64x64xf16>, tensor<1x1x64x64xf16> -> tensor<1x1x64x64xf16>
  return
}

// -----

func.func @csr_cols_order(%q: tensor<1x1x64x64xf16>) {
  // expected-error @+1 {{expected strictly ascending cols in head 0, row 0}}
  %0 = xfa.attention %q, %q, %q {mask = #xfa.mask<>, scale = 0.125 : f32, sparsity = #xfa.block_csr<block_size = 32, heads = 1, blocks = 2, row_ptr = [0, 2, 2], cols = [1, 0], partial = [0, 0], bits = dense<1> : tensor<1x2x2xi8>>} : tensor<1x1x64x64xf16>, tensor<1x1x64x64xf16>, tensor<1x1x64x64xf16> -> tensor<1x1x64x64xf16>
  return
}

// -----

func.func @config_path(%q: tensor<1x1x64x64xf32>) {
  // expected-error @+1 {{the mma_sync path takes fp16 or bf16, got 'f32'}}
  %0 = xfa.attention %q, %q, %q {mask = #xfa.mask<>, scale = 0.125 : f32, kernel_config = #xfa.kernel_config<arch = "sm_80", path = "mma_sync", block_m = 64, block_n = 64, warps = 4, stages = 2, shared_bytes = 40960>} : tensor<1x1x64x64xf32>, tensor<1x1x64x64xf32>, tensor<1x1x64x64xf32> -> tensor<1x1x64x64xf32>
  return
}

// -----

func.func @config_block_m(%q: tensor<1x1x64x64xf16>) {
  // expected-error @+1 {{expected block_m to be a positive multiple of 16, got 40}}
  %0 = xfa.attention %q, %q, %q {mask = #xfa.mask<>, scale = 0.125 : f32, kernel_config = #xfa.kernel_config<arch = "sm_80", path = "mma_sync", block_m = 40, block_n = 64, warps = 4, stages = 2, shared_bytes = 40960>} : tensor<1x1x64x64xf16>, tensor<1x1x64x64xf16>, tensor<1x1x64x64xf16> -> tensor<1x1x64x64xf16>
  return
}

// -----

func.func @window_bound(%q: tensor<1x1x64x64xf16>) {
  // expected-error @+1 {{expected window bounds >= 0, or -1 for none, got -2 and 3}}
  %0 = xfa.attention %q, %q, %q {mask = #xfa.mask<window_left = -2, window_right = 3>, scale = 0.125 : f32} : tensor<1x1x64x64xf16>, tensor<1x1x64x64xf16>, tensor<1x1x64x64xf16> -> tensor<1x1x64x64xf16>
  return
}

// -----

func.func @random_threshold(%q: tensor<1x1x64x64xf16>) {
  // expected-error @+1 {{expected random_threshold in [0, 2^32] (0: no random pattern), got 4294967297}}
  %0 = xfa.attention %q, %q, %q {mask = #xfa.mask<random_threshold = 4294967297>, scale = 0.125 : f32} : tensor<1x1x64x64xf16>, tensor<1x1x64x64xf16>, tensor<1x1x64x64xf16> -> tensor<1x1x64x64xf16>
  return
}

// -----

func.func @random_seed_alone(%q: tensor<1x1x64x64xf16>) {
  // expected-error @+1 {{random_seed and random_per_call need a random_threshold > 0}}
  %0 = xfa.attention %q, %q, %q {mask = #xfa.mask<random_seed = 3>, scale = 0.125 : f32} : tensor<1x1x64x64xf16>, tensor<1x1x64x64xf16>, tensor<1x1x64x64xf16> -> tensor<1x1x64x64xf16>
  return
}

// -----

func.func @global_unsorted(%q: tensor<1x1x64x64xf16>) {
  // expected-error @+1 {{expected global_tokens to be ascending token indices >= 0, got 2 at position 1}}
  %0 = xfa.attention %q, %q, %q {mask = #xfa.mask<global_tokens = [5, 2]>, scale = 0.125 : f32} : tensor<1x1x64x64xf16>, tensor<1x1x64x64xf16>, tensor<1x1x64x64xf16> -> tensor<1x1x64x64xf16>
  return
}

// -----

func.func @global_dynamic(%q: tensor<1x1x?x64xf16>) {
  // expected-error @+1 {{mask.global_tokens needs one static sequence length for queries and keys}}
  %0 = xfa.attention %q, %q, %q {mask = #xfa.mask<global_tokens = [0]>, scale = 0.125 : f32} : tensor<1x1x?x64xf16>, tensor<1x1x?x64xf16>, tensor<1x1x?x64xf16> -> tensor<1x1x?x64xf16>
  return
}

// -----

func.func @global_range(%q: tensor<1x1x64x64xf16>) {
  // expected-error @+1 {{global token 64 is out of range for length 64}}
  %0 = xfa.attention %q, %q, %q {mask = #xfa.mask<global_tokens = [0, 64]>, scale = 0.125 : f32} : tensor<1x1x64x64xf16>, tensor<1x1x64x64xf16>, tensor<1x1x64x64xf16> -> tensor<1x1x64x64xf16>
  return
}

// -----

func.func @global_window(%q: tensor<1x1x64x64xf16>) {
  // expected-error @+1 {{a window and global tokens in one mask are not supported; give one of them}}
  %0 = xfa.attention %q, %q, %q {mask = #xfa.mask<window_left = 2, global_tokens = [0]>, scale = 0.125 : f32} : tensor<1x1x64x64xf16>, tensor<1x1x64x64xf16>, tensor<1x1x64x64xf16> -> tensor<1x1x64x64xf16>
  return
}
