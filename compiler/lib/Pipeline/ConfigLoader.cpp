//===- ConfigLoader.cpp - From a config file to an AttentionSpec ----------===//

#include "xfc/Pipeline/ConfigLoader.h"

#include "xfc/Frontend/Config.h"

#include "mlir/IR/Location.h"

using namespace mlir;

namespace xfc {

static Location getLocation(MLIRContext &context, const AttentionConfig &config,
                            llvm::StringRef field) {
  SourceLocation loc =
      field.empty() ? config.configLocation : config.getLocation(field);
  return FileLineColLoc::get(&context, config.bufferName, loc.line, loc.column);
}

/// Turns a parsed config into what IRGen and the manifest need, printing
/// the parser's diagnostics.
static std::optional<LoadedConfig>
finishLoading(MLIRContext &context, llvm::StringRef bufferName,
              llvm::Expected<AttentionConfig> parsed,
              const CommandLineOverrides &overrides,
              llvm::raw_ostream &diagnostics) {
  if (!parsed) {
    llvm::handleAllErrors(
        parsed.takeError(),
        [&](const ConfigError &error) {
          printDiagnostics(error.getDiagnostics(), diagnostics);
        },
        [&](const llvm::ErrorInfoBase &error) {
          diagnostics << bufferName << ": error: " << error.message() << "\n";
        });
    return std::nullopt;
  }
  const AttentionConfig &config = *parsed;
  printDiagnostics(config.warnings, diagnostics);

  LoadedConfig loaded{AttentionSpec(UnknownLoc::get(&context)), "", "", {}};
  AttentionSpec &spec = loaded.spec;
  spec.variant = config.variant;
  // Defaults for what neither the config nor the command line fixes.
  spec.dtype = config.dtype ? dtypeName(*config.dtype) : "fp16";
  spec.arch = config.arch.value_or("sm_90a");
  spec.headDim = config.headDim.value_or(64);
  // compositional owns its projections: its q, k, v carry dim_model
  // features (one "head").
  if (config.variant == "compositional" && !config.headDim)
    if (auto it = config.fields.find("dim_model");
        it != config.fields.end() && it->second.kind == FieldValue::Kind::Int)
      spec.headDim = it->second.intValue;
  spec.numHeads = config.numHeads;
  spec.seqLen = config.seqLen;
  spec.kvSeqLen = config.kvSeqLen;
  spec.causal = config.causal;
  spec.dropout = config.dropout;
  spec.attnMask = overrides.attnMask;
  if (config.variant == "local") {
    // xFormers' local attention: |i - j| <= w / 2, or j in [i - w, i] when
    // causal (causality bounds the right side).
    spec.windowLeft = config.causal ? config.windowSize : config.windowSize / 2;
    spec.windowRight = config.causal ? -1 : config.windowSize / 2;
  }
  if (config.variant == "random") {
    spec.randomRate = config.getFloat("r").value_or(0.01);
    spec.randomSeed = config.getInt("seed").value_or(0);
    spec.randomPerCall = !config.getBool("constant_masking").value_or(true);
  }
  if (config.variant == "global") {
    // The mask fixes the sequence length (a list of indices needs seq_len);
    // queries and keys have that one length.
    spec.globalTokens = config.globalTokens;
    if (config.globalMaskLength)
      spec.seqLen = config.globalMaskLength;
    if (spec.seqLen)
      spec.kvSeqLen = spec.seqLen;
  }
  spec.keyPadding = overrides.keyPadding;
  // visual mixes all channels: its one "head" has dim_model features.
  if (config.variant == "visual" && !config.headDim)
    if (auto it = config.fields.find("dim_model");
        it != config.fields.end() && it->second.kind == FieldValue::Kind::Int)
      spec.headDim = it->second.intValue;
  for (const auto &[name, value] : config.fields) {
    switch (value.kind) {
    case FieldValue::Kind::Bool:
      spec.boolFields[name] = value.boolValue;
      break;
    case FieldValue::Kind::Int:
      spec.intFields[name] = value.intValue;
      break;
    case FieldValue::Kind::Float:
      spec.floatFields[name] = value.floatValue;
      break;
    case FieldValue::Kind::String:
      spec.stringFields[name] = value.stringValue;
      break;
    case FieldValue::Kind::IntList:
      break;
    }
  }
  if (config.layout) {
    AttentionSpec::Layout layout;
    layout.blockSize = config.blockSize;
    layout.heads = config.layout->heads;
    layout.numBlocks = config.layout->numBlocks;
    layout.bits = config.layout->bits;
    spec.layout = std::move(layout);
  }
  spec.configLoc = getLocation(context, config, "");
  spec.layoutLoc = getLocation(
      context, config,
      config.variant == "global" ? "attention_query_mask" : "layout");
  spec.causalLoc = getLocation(context, config, "causal");

  loaded.canonicalJson = config.canonicalJson;
  loaded.sha256 = canonicalConfigSha256(config);
  auto &specialization = loaded.specialization;
  specialization["variant"] = spec.variant;
  specialization["dtype"] = spec.dtype;
  specialization["arch"] = spec.arch;
  specialization["head_dim"] = std::to_string(spec.headDim);
  if (spec.numHeads)
    specialization["num_heads"] = std::to_string(*spec.numHeads);
  if (spec.seqLen)
    specialization["seq_len"] = std::to_string(*spec.seqLen);
  if (spec.kvSeqLen)
    specialization["kv_seq_len"] = std::to_string(*spec.kvSeqLen);
  specialization["attn_mask"] = spec.attnMask ? "true" : "false";
  specialization["key_padding_mask"] = spec.keyPadding ? "true" : "false";
  return loaded;
}

std::optional<LoadedConfig> loadConfig(MLIRContext &context,
                                       llvm::StringRef path,
                                       const CommandLineOverrides &overrides,
                                       llvm::raw_ostream &diagnostics) {
  return finishLoading(context, path, parseConfigFile(path, overrides),
                       overrides, diagnostics);
}

std::optional<LoadedConfig> loadConfigText(
    MLIRContext &context, llvm::StringRef text, llvm::StringRef bufferName,
    const CommandLineOverrides &overrides, llvm::raw_ostream &diagnostics) {
  return finishLoading(context, bufferName,
                       parseConfig(text, bufferName, overrides), overrides,
                       diagnostics);
}

} // namespace xfc
