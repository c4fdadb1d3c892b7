//===- Compiler.h - Just-in-time compilation of attention configs -*- C++
//-*-===//
//
// The JIT entry point for host programs: a config (text or file) plus its
// specialization becomes a ready-to-run AttentionPlan. The config goes through
// the whole MLIR pipeline in-process, the kernels through NVRTC and the kernel
// cache (memory, then disk). The header pulls in no MLIR.
//
//===----------------------------------------------------------------------===//

#ifndef XFC_RUNTIME_COMPILER_H
#define XFC_RUNTIME_COMPILER_H

#include "xfc/runtime/AttentionPlan.h"
#include "xfc/runtime/Status.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace xfc {

/// Specialization parameters given with a config; they override the
/// config's own (SPEC.md §1).
struct Specialization {
  std::optional<int64_t> headDim, numHeads, seqLen, kvSeqLen;
  /// fp16, bf16 or fp32.
  std::optional<std::string> dtype;
  /// sm_80, sm_86, sm_89, sm_90, sm_90a; by default the current GPU's, or
  /// sm_90a where there is none.
  std::optional<std::string> arch;
  /// Whether runs pass an additive attn_mask / a key_padding_mask.
  bool attnMask = false;
  bool keyPadding = false;
};

/// Compiles configs into plans. Thread-safe; equal requests share one plan.
class Compiler {
public:
  Compiler();
  ~Compiler();
  Compiler(const Compiler &) = delete;
  Compiler &operator=(const Compiler &) = delete;

  /// Compiles the config JSON `configText`; `name` labels it in messages
  /// (which carry line:column and the field, one line each).
  StatusOr<std::shared_ptr<runtime::AttentionPlan>>
  compile(const std::string &configText,
          const Specialization &specialization = {},
          const std::string &name = "<config>");

  /// Compiles the config file at `path`.
  StatusOr<std::shared_ptr<runtime::AttentionPlan>>
  compileFile(const std::string &path,
              const Specialization &specialization = {});

  /// How the kernels of the last successful compile were obtained, for
  /// diagnostics and tests: "memory", "disk" or "compiled" per kernel.
  std::string describeLastCompile() const;

private:
  struct Impl;
  std::unique_ptr<Impl> impl;
};

} // namespace xfc

#endif // XFC_RUNTIME_COMPILER_H
