//===- VariantRegistry.cpp - xFormers attention variants and fields -------===//
//
// Fields, defaults and requirements follow xFormers' config dataclasses and
// constructors (shared/reference/xformers-variants.md §a.1, §b.3): a field
// whose config value is None takes the constructor default, which is what
// `hasDefault`/`derivedDefault` record here.
//
//===----------------------------------------------------------------------===//

#include "xfc/Frontend/VariantRegistry.h"

#include "xfc/Frontend/JsonReader.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/Format.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

using namespace xfc;

//===----------------------------------------------------------------------===//
// Value sets
//===----------------------------------------------------------------------===//

// xfa::kSupportedHeadDims, which this library cannot include (no MLIR here);
// CompileToSourcesTest checks that the two agree.
static const int64_t kKernelHeadDims[] = {32, 64, 96, 128, 256};
static const int64_t kBlockSizes[] = {16, 32, 64, 128};
static const llvm::StringRef kDtypes[] = {"fp16", "bf16", "fp32"};
static const llvm::StringRef kArchs[] = {"sm_80", "sm_86", "sm_89", "sm_90",
                                         "sm_90a"};
static const llvm::StringRef kFeatureMaps[] = {"sm_reg", "sm_hyp", "sm_orf"};
static const llvm::StringRef kLandmarkSelections[] = {
    "orthogonal", "kmeans", "kmeans_spherical", "random"};

llvm::ArrayRef<int64_t> xfc::getKernelHeadDims() { return kKernelHeadDims; }
llvm::ArrayRef<int64_t> xfc::getLayoutBlockSizes() { return kBlockSizes; }
llvm::ArrayRef<llvm::StringRef> xfc::getDtypeNames() { return kDtypes; }
llvm::ArrayRef<llvm::StringRef> xfc::getArchNames() { return kArchs; }

//===----------------------------------------------------------------------===//
// FieldSpec
//===----------------------------------------------------------------------===//

std::string FieldSpec::getKindText() const {
  switch (kind) {
  case FieldKind::Bool:
    return "bool";
  case FieldKind::Int: {
    if (!allowedInts.empty()) {
      std::string text = "int: ";
      llvm::raw_string_ostream os(text);
      llvm::interleave(allowedInts, os, "|");
      return text;
    }
    if (minInt == 1)
      return "int >= 1";
    if (minInt == 0)
      return "int >= 0";
    return "int";
  }
  case FieldKind::Float: {
    std::string text = "float";
    if (std::isfinite(minFloat) || std::isfinite(maxFloat)) {
      text += " in ";
      text += minInclusive ? "[" : "(";
      text += formatBound(minFloat) + ", " + formatBound(maxFloat);
      text += maxInclusive ? "]" : ")";
    }
    return text;
  }
  case FieldKind::Enum: {
    std::string text = "string: ";
    llvm::raw_string_ostream os(text);
    llvm::interleave(allowedStrings, os, "|");
    return text;
  }
  case FieldKind::Layout:
    return "layout";
  case FieldKind::TokenList:
    return "index list";
  case FieldKind::Module:
    return "nn.Module";
  }
  return "";
}

std::string FieldSpec::getDefaultText() const {
  if (required)
    return "required";
  if (!derivedDefault.empty())
    return derivedDefault.str();
  if (!hasDefault)
    return "-";
  switch (kind) {
  case FieldKind::Bool:
    return defaultBool ? "true" : "false";
  case FieldKind::Int:
    return std::to_string(defaultInt);
  case FieldKind::Float:
    return formatFloat(defaultFloat);
  case FieldKind::Enum:
    return defaultString.str();
  default:
    return "-";
  }
}

//===----------------------------------------------------------------------===//
// Field builders
//===----------------------------------------------------------------------===//

namespace {

FieldSpec makeField(llvm::StringRef name, FieldKind kind, llvm::StringRef doc) {
  FieldSpec field;
  field.name = name;
  field.kind = kind;
  field.doc = doc;
  return field;
}

FieldSpec boolField(llvm::StringRef name, bool defaultValue,
                    llvm::StringRef doc) {
  FieldSpec field = makeField(name, FieldKind::Bool, doc);
  field.hasDefault = true;
  field.defaultBool = defaultValue;
  return field;
}

/// An integer >= `minimum` with a default.
FieldSpec intField(llvm::StringRef name, int64_t defaultValue, int64_t minimum,
                   llvm::StringRef doc) {
  FieldSpec field = makeField(name, FieldKind::Int, doc);
  field.hasDefault = true;
  field.defaultInt = defaultValue;
  field.minInt = minimum;
  return field;
}

/// A positive integer without a fixed default: unset, or `derived` from
/// other fields.
FieldSpec optionalIntField(llvm::StringRef name, llvm::StringRef derived,
                           llvm::StringRef doc) {
  FieldSpec field = makeField(name, FieldKind::Int, doc);
  field.minInt = 1;
  field.derivedDefault = derived;
  return field;
}

FieldSpec requiredIntField(llvm::StringRef name, llvm::StringRef doc) {
  FieldSpec field = makeField(name, FieldKind::Int, doc);
  field.minInt = 1;
  field.required = true;
  return field;
}

FieldSpec floatField(llvm::StringRef name, double defaultValue, double minimum,
                     bool minInclusive, double maximum, bool maxInclusive,
                     llvm::StringRef doc) {
  FieldSpec field = makeField(name, FieldKind::Float, doc);
  field.hasDefault = true;
  field.defaultFloat = defaultValue;
  field.minFloat = minimum;
  field.minInclusive = minInclusive;
  field.maxFloat = maximum;
  field.maxInclusive = maxInclusive;
  return field;
}

FieldSpec enumField(llvm::StringRef name, llvm::StringRef defaultValue,
                    llvm::ArrayRef<llvm::StringRef> allowed,
                    llvm::StringRef doc) {
  FieldSpec field = makeField(name, FieldKind::Enum, doc);
  field.hasDefault = !defaultValue.empty();
  field.defaultString = defaultValue;
  field.allowedStrings = allowed;
  return field;
}

FieldSpec moduleField(llvm::StringRef name, llvm::StringRef doc) {
  return makeField(name, FieldKind::Module, doc);
}

FieldSpec forceSparsityField() {
  return boolField("force_sparsity", false,
                   "xFormers' switch to its sparse CSR path; accepted and "
                   "recorded, xfc chooses kernels itself");
}

FieldSpec causalField(llvm::StringRef doc) {
  FieldSpec field = boolField("causal", false, doc);
  field.group = FieldGroup::Common;
  return field;
}

/// Builds one variant: its own fields, then dropout (every xFormers config
/// has it), then the specialization parameters it does not already have.
class VariantBuilder {
public:
  VariantBuilder(llvm::StringRef name, llvm::StringRef summary) {
    variant.name = name;
    variant.summary = summary;
  }

  VariantBuilder &kernelBacked() {
    variant.kernelBacked = true;
    return *this;
  }

  VariantBuilder &field(FieldSpec spec) {
    if (spec.name == "causal")
      variant.supportsCausal = true;
    if (isSpecializationName(spec.name) || spec.name == "dropout")
      spec.group = spec.name == "dropout" ? FieldGroup::Common
                                          : FieldGroup::Specialization;
    variant.fields.push_back(spec);
    return *this;
  }

  VariantSpec build() {
    if (!variant.findField("dropout")) {
      FieldSpec dropout = floatField(
          "dropout", 0.0, 0.0, true, 1.0, false,
          "probability of dropping an attention weight (training only)");
      dropout.group = FieldGroup::Common;
      variant.fields.push_back(dropout);
    }
    for (FieldSpec spec : specializationFields(variant.kernelBacked))
      if (!variant.findField(spec.name))
        variant.fields.push_back(spec);
    return std::move(variant);
  }

private:
  static bool isSpecializationName(llvm::StringRef name) {
    return llvm::is_contained(
        {"head_dim", "num_heads", "dtype", "seq_len", "kv_seq_len", "arch"},
        name);
  }

  static std::vector<FieldSpec> specializationFields(bool kernelBacked) {
    std::vector<FieldSpec> fields;
    FieldSpec headDim =
        optionalIntField("head_dim", "", "size of one attention head (Dh)");
    if (kernelBacked)
      headDim.allowedInts = kKernelHeadDims;
    fields.push_back(headDim);
    fields.push_back(optionalIntField("num_heads", "", "number of heads"));
    fields.push_back(enumField("dtype", "", kDtypes,
                               "element type of q, k, v and the output"));
    fields.push_back(optionalIntField(
        "seq_len", "",
        "query sequence length, when the kernel is specialized "
        "to one"));
    fields.push_back(
        optionalIntField("kv_seq_len", "",
                         "key/value sequence length, when the kernel is "
                         "specialized to one"));
    fields.push_back(enumField("arch", "", kArchs, "target GPU architecture"));
    for (FieldSpec &field : fields)
      field.group = FieldGroup::Specialization;
    return fields;
  }

  VariantSpec variant;
};

std::vector<VariantSpec> buildRegistry() {
  std::vector<VariantSpec> variants;

  variants.push_back(
      VariantBuilder("scaled_dot_product",
                     "softmax(QK^T/sqrt(Dh) + M)V; M from causal, attn_mask, "
                     "key_padding_mask")
          .kernelBacked()
          .field(floatField("dropout", 0.0, 0.0, true, 1.0, false,
                            "probability of dropping an attention weight "
                            "(training only)"))
          .field(causalField("mask keys after the query (top-left aligned)"))
          .field(optionalIntField("seq_len", "",
                                  "query sequence length (xFormers: prebuilt "
                                  "causal mask size)"))
          .field(optionalIntField("to_seq_len", "",
                                  "key sequence length (xFormers: prebuilt "
                                  "causal mask size); sets kv_seq_len"))
          .build());

  {
    FieldSpec layout =
        makeField("layout", FieldKind::Layout,
                  "block layout, row = query block, column = key block: "
                  "[nb][nb] or [H][nb][nb] list of 0/1, a generator "
                  "{\"pattern\": \"bigbird\", ...} or {\"file\": "
                  "\"layout.npy\"}");
    layout.required = true;
    FieldSpec blockSize = intField("block_size", 16, 1,
                                   "size of one square layout block, in "
                                   "tokens");
    blockSize.allowedInts = kBlockSizes;
    variants.push_back(
        VariantBuilder("blocksparse",
                       "softmax attention restricted to the layout's blocks; "
                       "a query row without blocks outputs 0")
            .kernelBacked()
            .field(layout)
            .field(blockSize)
            .field(floatField("dropout", 0.0, 0.0, true, 1.0, false,
                              "probability of dropping an attention weight "
                              "(training only)"))
            .field(optionalIntField(
                "num_heads", "layout heads",
                "number of heads; a [nb][nb] layout is shared by all"))
            .field(causalField("mask keys after the query inside present "
                               "blocks (xfc extension; xFormers could not "
                               "set it from a config)"))
            .build());
  }

  variants.push_back(
      VariantBuilder("local", "each query attends keys within a window")
          .kernelBacked()
          .field(causalField("keys j in [i-w, i] instead of |i-j| <= w/2"))
          .field(intField("window_size", 5, 1,
                          "window w: total (odd) width when not causal, "
                          "number of past keys when causal"))
          .field(forceSparsityField())
          .build());

  variants.push_back(
      VariantBuilder("random",
                     "each (query, key) pair kept with probability r, drawn "
                     "once from a seed")
          .kernelBacked()
          .field(floatField("r", 0.01, 0.0, false, 1.0, true,
                            "fraction of keys kept"))
          .field(boolField("constant_masking", true,
                           "draw the pattern once (true) or every call"))
          .field(forceSparsityField())
          .field(causalField("also mask keys after the query (xfc extension; "
                             "xFormers could not set it from a config)"))
          .field(intField("seed", 0, 0,
                          "seed of the random pattern (xfc extension; "
                          "recorded in the manifest)"))
          .build());

  {
    FieldSpec mask = makeField(
        "attention_query_mask", FieldKind::TokenList,
        "global tokens: a list of token indices or a 0/1 list over the "
        "sequence");
    mask.required = true;
    variants.push_back(
        VariantBuilder("global",
                       "global tokens attend to and are attended by all "
                       "tokens; others see only global tokens")
            .kernelBacked()
            .field(mask)
            .field(causalField("also mask keys after the query (honoured, "
                               "unlike xFormers)"))
            .field(forceSparsityField())
            .build());
  }

  {
    FieldSpec seqLen = requiredIntField(
        "seq_len", "maximum sequence length; E and F project it to k");
    variants.push_back(
        VariantBuilder("linformer",
                       "K' = E K, V' = F V (E, F in R^{k x seq_len}, shared "
                       "across heads); softmax(QK'^T/sqrt(Dh))V'")
            .field(seqLen)
            .field(optionalIntField("k", "seq_len // 4",
                                    "projected length of K and V"))
            .build());
  }

  variants.push_back(
      VariantBuilder("nystrom",
                     "Nystrom approximation with segment-mean landmarks; "
                     "exact when num_landmarks >= seq_len")
          .field(requiredIntField("num_heads", "number of heads"))
          .field(intField("num_landmarks", 64, 1, "number of landmarks m"))
          .field(moduleField("landmark_pooling",
                             "torch module pooling the landmarks; not "
                             "expressible in JSON (segment means are used)"))
          .field(causalField("causal masks on the three kernels"))
          .field(boolField("use_razavi_pinverse", true,
                           "iterative pseudo-inverse (true) or exact pinv"))
          .field(boolField("pinverse_original_init", false,
                           "initialize the iteration as the paper does"))
          .field(intField("inv_iterations", 6, 1,
                          "iterations of the pseudo-inverse"))
          .field(moduleField("v_skip_connection",
                             "torch module added on V; not expressible in "
                             "JSON (use conv_kernel_size)"))
          .field(optionalIntField("conv_kernel_size", "",
                                  "kernel height of the depthwise "
                                  "convolution skip on V (none if unset)"))
          .build());

  variants.push_back(
      VariantBuilder("favor",
                     "Performer: phi(Q)(phi(K)^T V) / phi(Q)(phi(K)^T 1); "
                     "causal = prefix sums over the sequence")
          .field(causalField("prefix sums over the sequence (correct, unlike "
                             "xFormers)"))
          .field(optionalIntField("dim_features", "2*(ceil(Dh*(1+log2 Dh))//2)",
                                  "number of random features m"))
          .field(optionalIntField("dim_head", "head_dim",
                                  "head size Dh; also sets head_dim"))
          .field(optionalIntField("iter_before_redraw", "",
                                  "accepted with a warning: xfc draws the "
                                  "features once and never redraws them "
                                  "itself (set parameter 'features')"))
          .field(enumField("feature_map", "sm_reg", kFeatureMaps,
                           "random feature map (honoured, unlike xFormers)"))
          .build());

  variants.push_back(
      VariantBuilder("orthoformer",
                     "softmax(QL^T/sqrt(Dh)) softmax(LK^T/sqrt(Dh)) V with m "
                     "landmarks L")
          .field(intField("num_landmarks", 32, 1, "number of landmarks m"))
          .field(floatField("subsample_fraction", 1.0, 0.0, false, 1.0, true,
                            "fraction of queries landmarks are chosen from"))
          .field(enumField("landmark_selection", "orthogonal",
                           kLandmarkSelections, "how landmarks are chosen"))
          .build());

  variants.push_back(
      VariantBuilder("lambda",
                     "content lambda softmax_S(K)^T V plus a relative-"
                     "position lambda (LambdaNetworks paper)")
          .field(requiredIntField("seq_len", "maximum sequence length"))
          .field(requiredIntField("dim_head", "head size Dh; must equal "
                                              "head_dim"))
          .build());

  variants.push_back(
      VariantBuilder("fourier_mix", "Re(FFT2(x)) over (sequence, head dim)")
          .build());

  variants.push_back(
      VariantBuilder("compositional",
                     "compositional attention: searches and retrievals "
                     "combined by rule selection (owns its projections)")
          .field(requiredIntField("dim_model", "model (embedding) size"))
          .field(requiredIntField("num_heads", "number of searches"))
          .field(optionalIntField("dim_attn", "dim_model",
                                  "total size of the retrievals"))
          .field(optionalIntField("num_rules", "num_heads",
                                  "number of retrievals"))
          .field(optionalIntField("dim_key", "dim_model", "size of k input"))
          .field(optionalIntField("dim_value", "dim_model", "size of v input"))
          .field(optionalIntField("dim_selection", "dim_model // num_heads",
                                  "size of the selection query"))
          .field(floatField("dropout", 0.0, 0.0, true, 1.0, false,
                            "probability of dropping an attention weight "
                            "(training only)"))
          .field(
              boolField("qk_rule", false, "select rules by query-key products"))
          .field(boolField("nonlinear", false, "MLP rule selection"))
          .field(boolField("q_compose", false,
                           "compose the selection query from the values"))
          .field(boolField("bias", true, "projections have a bias"))
          .field(causalField("mask keys after the query in the searches"))
          .field(moduleField("in_proj_container",
                             "torch projection container; not expressible "
                             "in JSON"))
          .field(boolField("use_separate_proj_weight", false,
                           "separate q/k/v projection weights"))
          .build());

  {
    FieldSpec padding = optionalIntField(
        "padding", "", "unused by xFormers (pool_size // 2 is used)");
    padding.minInt = 0;
    variants.push_back(
        VariantBuilder("pooling",
                       "PoolFormer: AvgPool2d(x) - x over a square token grid")
            .field(intField("pool_size", 3, 1, "pooling window"))
            .field(intField("stride", 1, 1, "pooling stride"))
            .field(padding)
            .build());
  }

  variants.push_back(
      VariantBuilder("visual", "visual attention network block "
                               "(large-kernel convolution) over a square "
                               "token grid")
          .field(requiredIntField("dim_model", "model (embedding) size"))
          .build());
  return variants;
}

} // namespace

//===----------------------------------------------------------------------===//
// Lookup
//===----------------------------------------------------------------------===//

const FieldSpec *VariantSpec::findField(llvm::StringRef fieldName) const {
  for (const FieldSpec &field : fields)
    if (field.name == fieldName)
      return &field;
  return nullptr;
}

std::vector<llvm::StringRef> VariantSpec::getFieldNames() const {
  std::vector<llvm::StringRef> names = {"name"};
  for (const FieldSpec &field : fields)
    names.push_back(field.name);
  llvm::sort(names);
  return names;
}

llvm::ArrayRef<VariantSpec> xfc::getVariants() {
  static const std::vector<VariantSpec> registry = buildRegistry();
  return registry;
}

const VariantSpec *xfc::findVariant(llvm::StringRef name) {
  for (const VariantSpec &variant : getVariants())
    if (variant.name == name)
      return &variant;
  return nullptr;
}

std::vector<llvm::StringRef> xfc::getVariantNames() {
  std::vector<llvm::StringRef> names;
  for (const VariantSpec &variant : getVariants())
    names.push_back(variant.name);
  llvm::sort(names);
  return names;
}

llvm::StringRef xfc::findClosest(llvm::StringRef word,
                                 llvm::ArrayRef<llvm::StringRef> candidates) {
  llvm::StringRef best;
  unsigned bestDistance = ~0U;
  for (llvm::StringRef candidate : candidates) {
    unsigned distance =
        word.edit_distance(candidate, /*AllowReplacements=*/true,
                           /*MaxEditDistance=*/bestDistance);
    if (distance < bestDistance) {
      bestDistance = distance;
      best = candidate;
    }
  }
  // A typo changes a few characters: up to a third of the word, at least 1.
  unsigned limit = std::max<unsigned>(1, (word.size() + 2) / 3);
  if (best.empty() || bestDistance > limit)
    return {};
  return best;
}

//===----------------------------------------------------------------------===//
// Printing
//===----------------------------------------------------------------------===//

void xfc::printVariant(const VariantSpec &variant, llvm::raw_ostream &os) {
  os << variant.name << ": " << variant.summary << "\n";
  size_t nameWidth = 4, kindWidth = 4, defaultWidth = 7;
  for (const FieldSpec &field : variant.fields) {
    nameWidth = std::max(nameWidth, field.name.size());
    kindWidth = std::max(kindWidth, field.getKindText().size());
    defaultWidth = std::max(defaultWidth, field.getDefaultText().size());
  }
  auto row = [&](llvm::StringRef name, llvm::StringRef kind,
                 llvm::StringRef defaultText, llvm::StringRef doc) {
    os << "  " << llvm::left_justify(name, nameWidth) << "  "
       << llvm::left_justify(kind, kindWidth) << "  "
       << llvm::left_justify(defaultText, defaultWidth) << "  " << doc;
    os << "\n";
  };
  row("field", "kind", "default", "description");
  for (const FieldSpec &field : variant.fields)
    row(field.name, field.getKindText(), field.getDefaultText(), field.doc);
}

void xfc::printVariantTable(llvm::raw_ostream &os) {
  os << "Attention variants (xFormers registry names). Every config is a JSON "
        "object\nwith \"name\" and the variant's fields; defaults are "
        "xFormers'.\n";
  for (const VariantSpec &variant : getVariants()) {
    os << "\n";
    printVariant(variant, os);
  }
}
