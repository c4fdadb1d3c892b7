//===- MultiheadAttention.h - FairSeq's MultiheadAttention -----*- C++ -*-===//
//
// xfc::MultiheadAttention is FairSeq's MultiheadAttention with an xFormers
// attention config (SPEC.md §4): q/k/v/out projections (cuBLAS, opened with
// dlopen), the attention itself an xfc plan compiled in-process by
// xfc::Compiler and run on strided [B, H, T, D] views of the projected
// [T, B, C] buffers. Weights live on the host as fp32 (set and read by name)
// and are uploaded in the module's dtype on the next forward().
//
//   MultiheadAttention::Options options;
//   options.embedDim = 512;
//   options.numHeads = 8;
//   options.xformersAttConfig = R"({"name": "scaled_dot_product"})";
//   auto mha = MultiheadAttention::create(options);
//   MultiheadAttention::ForwardArgs args;
//   args.query = TensorView(q, DType::F32, {T, B, 512}); // ... output
//   Status status = (*mha)->forward(args, stream);
//
// Not supported yet (each a clear error): dropout at training time with
// incremental_state; add_bias_kv, add_zero_attn and need_weights with
// incremental_state; need_weights and incremental_state for variants other than
// scaled_dot_product and blocksparse.
//
//===----------------------------------------------------------------------===//

#ifndef XFC_RUNTIME_MULTIHEADATTENTION_H
#define XFC_RUNTIME_MULTIHEADATTENTION_H

#include "xfc/runtime/Status.h"
#include "xfc/runtime/Tensor.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace xfc {

/// FairSeq's MultiheadAttention on xfc plans. Not copyable; forward() may be
/// called from several threads (calls are serialized), but the module's work
/// buffers are shared: calls on different streams must not overlap on the
/// GPU (synchronize in between), nor may setWeight() run while a forward()
/// of the module is still in flight.
class MultiheadAttention {
public:
  /// FairSeq's incremental_state for one module (layer): the projected keys
  /// and values of the steps so far (prev_key / prev_value), in device
  /// buffers that grow as steps append. The caller owns it and passes it to
  /// every step's forward(); one state per module and sequence batch.
  class IncrementalState {
  public:
    IncrementalState();
    ~IncrementalState();
    IncrementalState(IncrementalState &&) noexcept;
    IncrementalState &operator=(IncrementalState &&) noexcept;
    IncrementalState(const IncrementalState &) = delete;
    IncrementalState &operator=(const IncrementalState &) = delete;

    /// Key/value positions cached so far (0 when fresh or reset).
    int64_t getLength() const;
    /// The batch of the cached steps (0 when empty).
    int64_t getBatch() const;
    /// [B, H, length, head_dim] views of prev_key / prev_value, in the
    /// module's dtype (strided: rows of a head are `capacity` apart); empty
    /// when nothing is cached.
    runtime::TensorView getPrevKey() const;
    runtime::TensorView getPrevValue() const;
    /// Forgets the cached steps (keeps the buffers for the next sequence).
    void reset();

  private:
    friend class MultiheadAttention;
    struct Impl;
    std::unique_ptr<Impl> impl;
  };

  /// FairSeq's constructor arguments, with its defaults.
  struct Options {
    int64_t embedDim = 0;
    int64_t numHeads = 0;
    /// Key and value feature sizes; default embedDim.
    std::optional<int64_t> kdim, vdim;
    /// Attention dropout, applied in forwards with `training` set.
    float dropout = 0;
    /// Whether the four projections have biases.
    bool bias = true;
    /// FairSeq's add_bias_kv: learned bias_k / bias_v ([1, 1, embed_dim],
    /// weights "bias_k" and "bias_v", xavier-normal init) appended as one
    /// more key/value position after the projections; masks get a zero (not
    /// masked) column for it.
    bool addBiasKv = false;
    /// FairSeq's add_zero_attn: a zero key/value position appended after
    /// that (and after bias_k/bias_v), masks padded the same way.
    bool addZeroAttn = false;
    /// Self-attention needs kdim == vdim == embedDim; forward() then uses
    /// the query as key and value when they are left empty.
    bool selfAttention = false;
    /// Encoder-decoder attention: forward() uses the key as value when the
    /// value is left empty.
    bool encoderDecoderAttention = false;
    /// The xFormers attention config, as JSON (SPEC.md §1).
    std::string xformersAttConfig = R"({"name": "scaled_dot_product"})";
    /// A block layout [nb][nb] (shared by the heads) or [H][nb][nb]; given,
    /// the config becomes {"name": "blocksparse", "layout": ...,
    /// "block_size": xformersBlocksparseBlocksize} with its other fields
    /// kept, as FairSeq does.
    std::optional<std::vector<std::vector<int>>> xformersBlocksparseLayout;
    std::optional<std::vector<std::vector<std::vector<int>>>>
        xformersBlocksparseLayoutPerHead;
    int64_t xformersBlocksparseBlocksize = 16;
    /// The dtype of weights, inputs and outputs: F16, BF16 or F32.
    runtime::DType dtype = runtime::DType::F32;
    /// Seeds the initialization of the weights.
    uint64_t seed = 0;
  };

  /// One forward call. Tensors are device views in the module's dtype.
  struct ForwardArgs {
    /// [T, B, C], contiguous.
    runtime::TensorView query;
    /// [S, B, kdim] and [S, B, vdim], contiguous; see Options::selfAttention
    /// and Options::encoderDecoderAttention for when they may be empty.
    runtime::TensorView key, value;
    /// u8 or bool [B, S], nonzero = the key is padding.
    std::optional<runtime::TensorView> keyPaddingMask;
    /// [T, S], contiguous: additive (fp32, or the module's fp16/bf16), or
    /// u8/bool with nonzero = masked.
    std::optional<runtime::TensorView> attnMask;
    /// [T, B, C], contiguous; written.
    runtime::TensorView output;
    /// FairSeq's need_weights: also write the softmax attention weights
    /// (before dropout, fully masked rows 0), averaged over the heads, into
    /// attnWeights, an fp32 contiguous device [B, T, S] view (S counts the
    /// add_bias_kv / add_zero_attn positions).
    bool needWeights = false;
    /// FairSeq's need_head_weights (implies need_weights): the weights per
    /// head, attnWeights an fp32 contiguous [H, B, T, S] view.
    bool needHeadWeights = false;
    std::optional<runtime::TensorView> attnWeights;
    /// Incremental decoding: each step's new keys/values (the query's, in
    /// self-attention) are projected, appended to the state and attended to
    /// with the whole cache; the query's positions are the last T of the
    /// cache, so a causal or block-sparse config applies as in the full
    /// forward. attn_mask / key_padding_mask then cover the whole cache
    /// ([T, cache length] / [B, cache length]). Not with add_bias_kv,
    /// add_zero_attn or need_weights yet.
    IncrementalState *incrementalState = nullptr;
    /// With incrementalState: the first call stores the projected key/value
    /// (e.g. the encoder's), later calls reuse them (key and value may then
    /// be left empty). The query's positions are then 0..T-1.
    bool staticKv = false;
    /// Training mode: applies the module's dropout to the attention weights
    /// (scaled by 1 / (1 - dropout)), from a counter-based random stream of
    /// the module's seed and its number of training forwards so far: a
    /// module built with the same seed replays the same masks.
    bool training = false;
  };

  /// Checks `options`, initializes the weights as FairSeq does (xavier
  /// uniform; gain 1/sqrt(2) for q/k/v when kdim == vdim == embedDim; q/k/v
  /// biases uniform in +-1/sqrt(fan_in) as nn.Linear leaves them; out_proj
  /// bias 0) and compiles the attention plan without masks (through NVRTC;
  /// no GPU needed). Plans with masks are compiled on first use.
  static StatusOr<std::unique_ptr<MultiheadAttention>>
  create(const Options &options);

  ~MultiheadAttention();
  MultiheadAttention(const MultiheadAttention &) = delete;
  MultiheadAttention &operator=(const MultiheadAttention &) = delete;

  /// q_proj.weight, q_proj.bias, k_proj.weight, ..., out_proj.bias (no
  /// biases when Options::bias is false), then bias_k, bias_v with
  /// add_bias_kv.
  std::vector<std::string> getWeightNames() const;
  /// The shape of a weight ([out, in] or [out]), as PyTorch has it.
  StatusOr<std::vector<int64_t>> getWeightShape(const std::string &name) const;
  /// Copies `count` floats (row-major, the weight's whole shape) into the
  /// weight `name`.
  Status setWeight(const std::string &name, const float *data,
                   std::size_t count);
  /// A copy of the weight `name`.
  StatusOr<std::vector<float>> getWeight(const std::string &name) const;

  /// Runs the module on `stream` (a CUstream; nullptr is the legacy default
  /// stream); asynchronous except for uploads of changed weights and
  /// first-use allocations and compiles.
  Status forward(const ForwardArgs &args, void *stream = nullptr);

  const Options &getOptions() const;
  int64_t getHeadDim() const;
  /// head_dim^-1/2.
  float getScaling() const;
  /// The config the plans are compiled from (after FairSeq's rewriting).
  const std::string &getAttentionConfig() const;

private:
  struct Impl;
  explicit MultiheadAttention(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl;
};

} // namespace xfc

#endif // XFC_RUNTIME_MULTIHEADATTENTION_H
