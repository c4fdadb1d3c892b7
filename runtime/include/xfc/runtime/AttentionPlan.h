//===- AttentionPlan.h - Running a compiled attention -----------*- C++ -*-===//
//
// An AttentionPlan is a manifest made executable: its kernel's image (a cubin,
// or PTX), its launch formula, and the checks that the tensors passed to run()
// fit what the kernel was specialized for. Creating a plan needs no GPU: the
// module is loaded on the first run() in each CUDA context, once, under a
// lock, so one plan may be run from many threads.
//
//   StatusOr<AttentionPlan> plan = AttentionPlan::loadAot("out/blocksparse");
//   AttentionArgs args;
//   args.query = TensorView(q, DType::F16, {batch, heads, seq, 64});
//   ...
//   Status status = plan->run(args, stream);
//
//===----------------------------------------------------------------------===//

#ifndef XFC_RUNTIME_ATTENTIONPLAN_H
#define XFC_RUNTIME_ATTENTIONPLAN_H

#include "xfc/runtime/Manifest.h"
#include "xfc/runtime/Status.h"
#include "xfc/runtime/Tensor.h"

#include "xfc/attention_params.h"

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace xfc::runtime {

/// The tensors and scalars of one attention call. Tensors are
/// [batch, heads, seq, head_dim] views with the last dimension contiguous
/// and rows 16-byte aligned; any other strides work, so FairSeq's
/// [T, B, H * D] is passed without copies (TensorView::fromSeqFirst).
struct AttentionArgs {
  /// [B, H, T, D], [B, H, S, D], [B, H, S, D]: the kernel's element type.
  TensorView query, key, value;
  /// [B, H, T, D], same element type; written, rows past T untouched.
  TensorView output;
  /// Additive fp32 mask, -inf masks an element: [T, S] or
  /// [B or 1, H or 1, T, S] (size-1 dimensions broadcast). Required exactly
  /// when the kernel has HasAttnMask.
  std::optional<TensorView> attnMask;
  /// u8 or bool [B, S], nonzero = the key is padding. Required exactly when
  /// the kernel has HasKeyPadding.
  std::optional<TensorView> keyPadding;
  /// Softmax scale; default 1 / sqrt(head_dim).
  std::optional<float> scale;
  /// Dropout probability: 0, or the one the plan was compiled with (a kernel
  /// compiled without dropout takes only 0).
  float dropout = 0;
  /// Dropout's counter-based random stream: same seed and offset, same mask.
  uint64_t seed = 0, offset = 0;
  /// fp32 [B, H, T] log-sum-exp output, contiguous; required exactly when the
  /// kernel has WriteLse.
  float *lse = nullptr;
  /// Graph plans: device copies (fp32 [rows, cols], row-major) of learned
  /// parameters that replace the plan's own values for this call, by name.
  /// Plans are shared between equal compile requests, so a module that owns
  /// its parameters (MultiheadAttention) passes them here.
  std::map<std::string, const float *> parameters;
};

/// An executable attention plan. Move-only.
class AttentionPlan {
public:
  /// Produces a kernel's image (cubin bytes, or NUL-terminated PTX).
  using ImageProvider =
      std::function<StatusOr<std::vector<char>>(const ManifestKernel &)>;

  /// Checks the manifest (one attention_forward launch, consistent traits,
  /// grid and block) and gets each kernel's image from `cubinFor` (the JIT
  /// compiles with NVRTC; loadAot reads files). No GPU is needed.
  static StatusOr<AttentionPlan> create(const Manifest &manifest,
                                        const ImageProvider &cubinFor);

  /// Reads DIRECTORY/manifest.json and the cubins (or PTX) beside it, as
  /// written by `xfc compile CONFIG -o DIRECTORY`.
  static StatusOr<AttentionPlan> loadAot(const std::string &directory);

  AttentionPlan(AttentionPlan &&) noexcept;
  AttentionPlan &operator=(AttentionPlan &&) noexcept;
  ~AttentionPlan();

  /// Checks `args` (prepare()), loads the module into the current CUDA
  /// context on first use (making the primary context of device 0 current
  /// when none is), and launches on `stream` (a CUstream / cudaStream_t;
  /// nullptr is the legacy default stream). Asynchronous: the output is
  /// ready when the stream is. An empty batch or query is a no-op.
  Status run(const AttentionArgs &args, void *stream = nullptr) const;

  /// The checks and the kernel parameters of run(), without a GPU: every
  /// shape, dtype, stride and alignment against the kernel's traits and the
  /// manifest's shapes; broadcast masks get zero strides.
  StatusOr<AttentionParams> prepare(const AttentionArgs &args) const;

  /// The grid run() would launch for `params`, or an error when a dimension
  /// exceeds the device limits (x < 2^31, y and z <= 65535).
  StatusOr<std::array<unsigned, 3>>
  computeGrid(const AttentionParams &params) const;

  const Manifest &getManifest() const;
  /// The kernel that run() launches.
  const ManifestKernel &getKernel() const;
  /// Its typed traits (element type, head dim, masks, dropout, ...).
  /// For a graph plan: the first attention kernel and the query's element
  /// type and head dim.
  const AttentionTraits &getTraits() const;

  /// Whether the plan runs a graph of launches (linformer, fourier_mix, ...)
  /// rather than one attention kernel.
  bool isGraph() const;
  /// The learned parameters the plan owns (fp32 [rows, cols], row-major),
  /// initialised as the manifest says; empty for most variants.
  const std::vector<ManifestParameter> &getParameters() const;
  /// Replaces a parameter's values (rows * cols floats, finite); the next
  /// run() uses them.
  Status setParameter(const std::string &name,
                      const std::vector<float> &values);
  StatusOr<std::vector<float>> getParameter(const std::string &name) const;

private:
  struct Impl;
  explicit AttentionPlan(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl;
};

} // namespace xfc::runtime

#endif // XFC_RUNTIME_ATTENTIONPLAN_H
