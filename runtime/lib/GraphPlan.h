//===- GraphPlan.h - Running a plan of several launches ---------*- C++ -*-===//
//
// Variants other than softmax attention compile to a graph of launches:
// graph-op kernels (matrix products, softmaxes; xfc::OpParams) and attention
// kernels, connected through intermediate tensors the runtime allocates, and
// learned parameters the plan owns. AttentionPlan delegates to this when its
// manifest is such a graph. Internal to the runtime library.
//
//===----------------------------------------------------------------------===//

#ifndef XFC_RUNTIME_LIB_GRAPHPLAN_H
#define XFC_RUNTIME_LIB_GRAPHPLAN_H

#include "xfc/runtime/AttentionPlan.h"

#include <map>
#include <memory>
#include <mutex>

namespace xfc::runtime {

class GraphPlan {
public:
  /// Whether `manifest` is more than one attention launch from the caller's
  /// tensors to the caller's output.
  static bool isGraph(const Manifest &manifest);

  /// Checks every launch (kernels, sources, sizes, parameters) and gets the
  /// kernel images. No GPU is needed.
  static StatusOr<std::unique_ptr<GraphPlan>>
  create(const Manifest &manifest, const AttentionPlan::ImageProvider &images);

  ~GraphPlan();

  Status run(const AttentionArgs &args, void *stream);

  /// Traits describing the plan's inputs (element type, head dim); the
  /// first attention kernel's masks and causality, if it has one.
  const AttentionTraits &getTraits() const { return traits; }
  /// The first attention kernel, or the first kernel.
  const ManifestKernel &getKernel() const;

  const std::vector<ManifestParameter> &getParameters() const {
    return manifest.parameters;
  }
  Status setParameter(const std::string &name, const std::vector<float> &data);
  StatusOr<std::vector<float>> getParameter(const std::string &name) const;

private:
  struct Step;
  struct ContextState;
  GraphPlan() = default;

  StatusOr<ContextState *> getContextState();

  Manifest manifest;
  AttentionTraits traits;
  std::vector<Step> steps;
  /// Host values of the parameters, by name; `version` counts changes so
  /// that device copies are refreshed.
  std::map<std::string, std::vector<float>> parameterValues;
  uint64_t parameterVersion = 1;

  std::mutex mutex;
  std::vector<std::unique_ptr<ContextState>> contexts;
};

} // namespace xfc::runtime

#endif // XFC_RUNTIME_LIB_GRAPHPLAN_H
