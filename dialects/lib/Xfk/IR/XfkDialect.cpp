//===- XfkDialect.cpp - xfk dialect and op verifiers ----------------------===//

#include "xfc/Dialect/Xfk/IR/Xfk.h"

#include "mlir/IR/AffineExpr.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"

using namespace mlir;
using namespace xfc::xfk;

#include "xfc/Dialect/Xfk/IR/XfkDialect.cpp.inc"

#define GET_OP_CLASSES
#include "xfc/Dialect/Xfk/IR/XfkOps.cpp.inc"

void XfkDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "xfc/Dialect/Xfk/IR/XfkOps.cpp.inc"
      >();
}

static constexpr StringRef kAttentionTraits[] = {
    "HeadDim",    "BlockM",   "BlockN",      "NumWarps",
    "NumStages",  "Causal",   "HasAttnMask", "HasKeyPadding",
    "HasDropout", "WriteLse", "SharedBytes"};
static constexpr StringRef kAttentionOptionalTraits[] = {
    "WindowLeft", "WindowRight", "RandomThreshold", "RandomSeed",
    "RandomPerCall"};
static constexpr StringRef kAttentionTables[] = {
    "LayoutBlock", "LayoutHeads", "NumBlocks", "NumTileRows", "TileRowPtr",
    "TileCols",    "TilePartial", "TileOrder", "HeavyRanks",  "BlockBits"};
static constexpr StringRef kAttentionOptionalTables[] = {
    "GlobalBits", "TileBlocks", "TileRowMask"};
static constexpr StringRef kAttentionRoles[] = {"q", "k", "v", "attn_mask",
                                                "key_padding"};

static constexpr StringRef kMatmulTraits[] = {"ADType",  "BDType", "CDType",
                                              "TransA",  "TransB", "ASource",
                                              "BSource", "HasC"};
static constexpr StringRef kMatmulOptionalTraits[] = {"OuterHeads"};
static constexpr StringRef kMatmulRoles[] = {"a", "b", "c"};
static constexpr StringRef kRegroupTraits[] = {"InDType", "Split"};
static constexpr StringRef kRegroupRoles[] = {"x"};
static constexpr StringRef kSelectRulesTraits[] = {"Mode", "Rules", "HasBias"};
static constexpr StringRef kSelectRulesRoles[] = {"o",  "q",  "w1",
                                                  "b1", "w2", "b2"};
static constexpr StringRef kSoftmaxTraits[] = {"InDType", "Causal"};
static constexpr StringRef kSoftmaxRoles[] = {"x"};
static constexpr StringRef kLandmarkPoolTraits[] = {"InDType"};
static constexpr StringRef kPinvInitTraits[] = {"Global"};
static constexpr StringRef kLandmarkSelectTraits[] = {
    "Selection", "NumLandmarks", "HeadDim"};
static constexpr StringRef kLandmarkSelectRoles[] = {"q", "k"};
static constexpr StringRef kSequenceConvTraits[] = {"InDType", "HasAddend",
                                                    "AddDType"};
static constexpr StringRef kSequenceConvRoles[] = {"x", "w", "c"};

// favor and lambda (templates/xfc/favor_ops.cuh, lambda_ops.cuh).
static constexpr StringRef kFeatureMapTraits[] = {"InDType", "Kind", "HeadDim"};
static constexpr StringRef kFeatureMapRoles[] = {"x", "w"};
static constexpr StringRef kSumRowsTraits[] = {"InDType"};
static constexpr StringRef kLinearNormalizeRoles[] = {"num", "qf", "ks"};
static constexpr StringRef kCausalLinearTraits[] = {"VDType", "Features"};
static constexpr StringRef kCausalLinearRoles[] = {"qf", "kf", "v"};
static constexpr StringRef kLambdaPositionTraits[] = {"QDType", "VDType",
                                                      "HeadDim"};
static constexpr StringRef kLambdaPositionRoles[] = {"q", "v", "e", "c"};

// pooling and visual (templates/xfc/conv_ops.cuh).
static constexpr StringRef kGridPoolTraits[] = {"InDType", "PoolSize"};
static constexpr StringRef kDepthwiseConvTraits[] = {"InDType", "KernelSize",
                                                     "Dilation"};
static constexpr StringRef kDepthwiseConvRoles[] = {"x", "w", "bias"};
static constexpr StringRef kElementwiseTraits[] = {"Kind", "ADType", "BDType",
                                                   "HasBias"};
static constexpr StringRef kElementwiseRoles[] = {"a", "b", "bias"};

static const TemplateSpec kTemplates[] = {
    {"attention_forward", "xfc::attentionForward", kAttentionTraits,
     kAttentionOptionalTraits, kAttentionTables, kAttentionRoles,
     "xfc::AttentionParams", kAttentionOptionalTables},
    {"matmul",
     "xfc::matmulOp",
     kMatmulTraits,
     kMatmulOptionalTraits,
     {},
     kMatmulRoles,
     "xfc::OpParams"},
    {"regroup_heads",
     "xfc::regroupHeadsOp",
     kRegroupTraits,
     {},
     {},
     kRegroupRoles,
     "xfc::OpParams"},
    {"select_rules",
     "xfc::selectRulesOp",
     kSelectRulesTraits,
     {},
     {},
     kSelectRulesRoles,
     "xfc::OpParams"},
    {"softmax",
     "xfc::softmaxOp",
     kSoftmaxTraits,
     {},
     {},
     kSoftmaxRoles,
     "xfc::OpParams"},
    {"landmark_pool",
     "xfc::landmarkPoolOp",
     kLandmarkPoolTraits,
     {},
     {},
     kSoftmaxRoles,
     "xfc::OpParams"},
    {"pinv_init",
     "xfc::pinvInitOp",
     kPinvInitTraits,
     {},
     {},
     kSoftmaxRoles,
     "xfc::OpParams"},
    {"landmark_select",
     "xfc::landmarkSelectOp",
     kLandmarkSelectTraits,
     {},
     {},
     kLandmarkSelectRoles,
     "xfc::OpParams"},
    {"sequence_conv",
     "xfc::sequenceConvOp",
     kSequenceConvTraits,
     {},
     {},
     kSequenceConvRoles,
     "xfc::OpParams"},
    {"feature_map",
     "xfc::featureMapOp",
     kFeatureMapTraits,
     {},
     {},
     kFeatureMapRoles,
     "xfc::OpParams"},
    {"sum_rows",
     "xfc::sumRowsOp",
     kSumRowsTraits,
     {},
     {},
     kSoftmaxRoles,
     "xfc::OpParams"},
    {"linear_normalize",
     "xfc::linearNormalizeOp",
     {},
     {},
     {},
     kLinearNormalizeRoles,
     "xfc::OpParams"},
    {"causal_linear_attention",
     "xfc::causalLinearAttentionOp",
     kCausalLinearTraits,
     {},
     {},
     kCausalLinearRoles,
     "xfc::OpParams"},
    {"sequence_softmax",
     "xfc::sequenceSoftmaxOp",
     kSumRowsTraits,
     {},
     {},
     kSoftmaxRoles,
     "xfc::OpParams"},
    {"lambda_position",
     "xfc::lambdaPositionOp",
     kLambdaPositionTraits,
     {},
     {},
     kLambdaPositionRoles,
     "xfc::OpParams"},
    {"grid_pool",
     "xfc::gridPoolOp",
     kGridPoolTraits,
     {},
     {},
     kSoftmaxRoles,
     "xfc::OpParams"},
    {"depthwise_conv2d",
     "xfc::depthwiseConvOp",
     kDepthwiseConvTraits,
     {},
     {},
     kDepthwiseConvRoles,
     "xfc::OpParams"},
    {"elementwise",
     "xfc::elementwiseOp",
     kElementwiseTraits,
     {},
     {},
     kElementwiseRoles,
     "xfc::OpParams"},
};

const TemplateSpec *xfc::xfk::lookupTemplate(StringRef name) {
  for (const TemplateSpec &spec : kTemplates)
    if (spec.name == name)
      return &spec;
  return nullptr;
}

//===----------------------------------------------------------------------===//
// KernelOp
//===----------------------------------------------------------------------===//

/// The first word of a CamelCase trait name: "Window" for "WindowLeft".
static StringRef getTraitGroup(StringRef name) {
  size_t end = 1;
  while (end < name.size() && !llvm::isUpper(name[end]))
    ++end;
  return name.take_front(end);
}

/// A grid term is a symbol, a positive constant or `symbol ceildiv constant`:
/// what the runtime can evaluate without MLIR.
static bool isSimpleGridTerm(AffineExpr expr) {
  if (auto constant = dyn_cast<AffineConstantExpr>(expr))
    return constant.getValue() > 0;
  if (isa<AffineSymbolExpr>(expr))
    return true;
  auto binary = dyn_cast<AffineBinaryOpExpr>(expr);
  if (!binary || binary.getKind() != AffineExprKind::CeilDiv)
    return false;
  auto divisor = dyn_cast<AffineConstantExpr>(binary.getRHS());
  return isa<AffineSymbolExpr>(binary.getLHS()) && divisor &&
         divisor.getValue() > 0;
}

LogicalResult KernelOp::verify() {
  const TemplateSpec *spec = lookupTemplate(getTemplateName());
  if (!spec)
    return emitOpError("unknown template '") << getTemplateName() << "'";
  if (!getArch().starts_with("sm_"))
    return emitOpError("expected arch like sm_80 or sm_90a, got '")
           << getArch() << "'";

  ArrayRef<int32_t> block = getBlock();
  if (block.size() != 3 || llvm::any_of(block, [](int32_t d) { return d < 1; }))
    return emitOpError("expected block to have 3 positive sizes");
  if (getNumThreads() > 1024)
    return emitOpError("expected at most 1024 threads per block, got ")
           << getNumThreads();

  AffineMap grid = getGrid();
  if (grid.getNumDims() != 0 || grid.getNumSymbols() != 4 ||
      grid.getNumResults() != 3)
    return emitOpError("expected grid to map the 4 symbols [batch, heads, "
                       "q_len, kv_len] to 3 sizes, got ")
           << getGridAttr();
  for (AffineExpr term : grid.getResults()) {
    if (isSimpleGridTerm(term))
      continue;
    std::string text;
    llvm::raw_string_ostream os(text);
    term.print(os);
    return emitOpError("expected each grid size to be a symbol, a positive "
                       "constant or 'symbol ceildiv constant', got ")
           << text;
  }
  if (static_cast<int64_t>(getSharedBytes()) < 0 ||
      getSharedBytes() > 227 * 1024)
    return emitOpError("expected shared bytes in [0, 232448], got ")
           << getSharedBytes();

  DictionaryAttr traits = getTraits();
  auto element = traits.getAs<TypeAttr>("Element");
  if (!element || !llvm::isa<FloatType>(element.getValue()))
    return emitOpError("expected trait 'Element' to be a float type");
  for (StringRef name : spec->requiredTraits) {
    Attribute trait = traits.get(name);
    if (!trait)
      return emitOpError("missing trait '")
             << name << "' required by template '" << spec->name << "'";
    if (!isa<IntegerAttr, BoolAttr>(trait))
      return emitOpError("expected trait '")
             << name << "' to be an integer or a boolean, got " << trait;
  }
  for (StringRef name : spec->optionalTraits) {
    Attribute trait = traits.get(name);
    if (!trait)
      continue;
    if (!isa<IntegerAttr>(trait))
      return emitOpError("expected trait '")
             << name << "' to be an integer or a boolean, got " << trait;
    // The optional traits sharing a first word (Window*, Random*) come
    // together.
    StringRef group = getTraitGroup(name);
    for (StringRef other : spec->optionalTraits)
      if (getTraitGroup(other) == group && !traits.get(other))
        return emitOpError("expected all or none of the optional traits '")
               << group << "*' of template '" << spec->name << "': '" << name
               << "' without '" << other << "'";
  }
  for (NamedAttribute trait : traits)
    if (trait.getName() != "Element" &&
        !llvm::is_contained(spec->requiredTraits, trait.getName().getValue()) &&
        !llvm::is_contained(spec->optionalTraits, trait.getName().getValue()))
      return emitOpError("unknown trait '")
             << trait.getName().getValue() << "' for template '" << spec->name
             << "'";
  if (!spec->isAttention())
    return success();
  if (getIntTrait("SharedBytes") != static_cast<int64_t>(getSharedBytes()))
    return emitOpError("expected trait SharedBytes (")
           << getIntTrait("SharedBytes") << ") to equal shared ("
           << getSharedBytes() << ")";
  if (getIntTrait("NumWarps") * 32 != getNumThreads())
    return emitOpError("expected block to hold NumWarps * 32 = ")
           << getIntTrait("NumWarps") * 32 << " threads, got "
           << getNumThreads();

  if (std::optional<DictionaryAttr> tables = getTables()) {
    for (NamedAttribute table : *tables) {
      StringRef name = table.getName().getValue();
      if (!llvm::is_contained(spec->tables, name) &&
          !llvm::is_contained(spec->optionalTables, name))
        return emitOpError("unknown table '")
               << name << "' for template '" << spec->name << "'";
      if (!isa<DenseI32ArrayAttr, DenseI8ArrayAttr, IntegerAttr>(
              table.getValue()))
        return emitOpError("expected table '")
               << name << "' to be an i32/i8 array or an integer";
    }
    for (StringRef name : spec->tables)
      if (!tables->get(name))
        return emitOpError("missing table '")
               << name << "': block-sparse kernels need all of them";
    if (failed(verifyTileOrder(*tables)))
      return failure();
    // Gathered tiles (TileBlocks 2) take two TileCols entries each.
    int64_t tileBlocks = 1;
    if (auto attr = tables->getAs<IntegerAttr>("TileBlocks"))
      tileBlocks = attr.getInt();
    if (tileBlocks != 1 && tileBlocks != 2)
      return emitOpError("expected table 'TileBlocks' to be 1 or 2, got ")
             << tileBlocks;
    auto cols = tables->getAs<DenseI32ArrayAttr>("TileCols");
    auto partial = tables->getAs<DenseI8ArrayAttr>("TilePartial");
    if (cols && partial && cols.size() != tileBlocks * partial.size())
      return emitOpError("expected ")
             << tileBlocks << " 'TileCols' entries per 'TilePartial' entry ("
             << partial.size() << " tiles), got " << cols.size();
    // Row masks (tiles of two 64-block rows): one entry a tile, bits 0-3.
    if (auto rowMask = tables->getAs<DenseI8ArrayAttr>("TileRowMask")) {
      if (tileBlocks != 2)
        return emitOpError("expected 'TileRowMask' only with TileBlocks 2");
      if (partial && rowMask.size() != partial.size())
        return emitOpError("expected one 'TileRowMask' entry per tile (")
               << partial.size() << "), got " << rowMask.size();
      for (int8_t mask : rowMask.asArrayRef())
        if (mask < 0 || mask > 15)
          return emitOpError("expected 'TileRowMask' entries in [0, 15], got ")
                 << static_cast<int>(mask);
    }
  }
  return success();
}

/// TileOrder must list every tile row of each layout head exactly once: a
/// row left out would never be computed.
LogicalResult KernelOp::verifyTileOrder(DictionaryAttr tables) {
  auto order = tables.getAs<DenseI32ArrayAttr>("TileOrder");
  auto rows = tables.getAs<IntegerAttr>("NumTileRows");
  auto heads = tables.getAs<IntegerAttr>("LayoutHeads");
  auto heavy = tables.getAs<IntegerAttr>("HeavyRanks");
  if (!order || !rows || !heads || !heavy)
    return emitOpError("expected TileOrder to be an i32 array and "
                       "NumTileRows, LayoutHeads and HeavyRanks integers");
  int64_t numRows = rows.getInt(), numHeads = heads.getInt();
  if (heavy.getInt() < 0 || heavy.getInt() > numRows)
    return emitOpError("expected HeavyRanks in [0, NumTileRows = ")
           << numRows << "], got " << heavy.getInt();
  if (static_cast<int64_t>(order.size()) != numRows * numHeads)
    return emitOpError("expected TileOrder to hold LayoutHeads * "
                       "NumTileRows = ")
           << numRows * numHeads << " entries, got " << order.size();
  for (int64_t h = 0; h < numHeads; ++h) {
    SmallVector<bool> seen(numRows, false);
    for (int64_t r = 0; r < numRows; ++r) {
      int32_t row = order[h * numRows + r];
      if (row < 0 || row >= numRows || seen[row])
        return emitOpError("expected TileOrder of layout head ")
               << h << " to be a permutation of the " << numRows
               << " tile rows; entry " << r << " is " << row;
      seen[row] = true;
    }
  }
  return success();
}

int64_t KernelOp::getTableBytes() {
  std::optional<DictionaryAttr> tables = getTables();
  if (!tables)
    return 0;
  int64_t bytes = 0;
  for (NamedAttribute table : *tables) {
    if (auto i32 = dyn_cast<DenseI32ArrayAttr>(table.getValue()))
      bytes += 4 * static_cast<int64_t>(i32.size());
    else if (auto i8 = dyn_cast<DenseI8ArrayAttr>(table.getValue()))
      bytes += static_cast<int64_t>(i8.size());
  }
  return bytes;
}

int64_t KernelOp::getNumThreads() {
  ArrayRef<int32_t> block = getBlock();
  int64_t threads = 1;
  for (int32_t d : block)
    threads *= d;
  return threads;
}

Type KernelOp::getElementType() {
  return getTraits().getAs<TypeAttr>("Element").getValue();
}

int64_t KernelOp::getIntTrait(StringRef name) {
  Attribute trait = getTraits().get(name);
  if (auto boolean = dyn_cast_or_null<BoolAttr>(trait))
    return boolean.getValue();
  return cast<IntegerAttr>(trait).getInt();
}

//===----------------------------------------------------------------------===//
// LaunchOp
//===----------------------------------------------------------------------===//

LogicalResult LaunchOp::verify() {
  if (getRoles().size() != getInputs().size())
    return emitOpError("expected one role per input, got ")
           << getRoles().size() << " roles for " << getInputs().size()
           << " inputs";
  float dropout = getDropout().convertToFloat();
  if (!(dropout >= 0.0f && dropout < 1.0f))
    return emitOpError("expected dropout in [0, 1), got ") << dropout;
  return success();
}

LogicalResult LaunchOp::verifySymbolUses(SymbolTableCollection &symbolTable) {
  auto kernel =
      symbolTable.lookupNearestSymbolFrom<KernelOp>(*this, getKernelAttr());
  if (!kernel)
    return emitOpError("'")
           << getKernel() << "' does not reference an xfk.kernel";
  const TemplateSpec *spec = lookupTemplate(kernel.getTemplateName());
  if (!spec)
    return success(); // The kernel's own verifier reports it.
  SmallVector<StringRef> roles;
  for (Attribute role : getRoles())
    roles.push_back(cast<StringAttr>(role).getValue());
  for (StringRef role : roles)
    if (!llvm::is_contained(spec->roles, role))
      return emitOpError("unknown role '")
             << role << "' for template '" << spec->name << "'";
  if (getSizes() &&
      getSizes()->size() != cast<RankedTensorType>(getType()).getShape().size())
    return emitOpError("expected one size per result dimension");
  if (!spec->isAttention())
    return success();
  for (StringRef required : {"q", "k", "v"})
    if (!llvm::is_contained(roles, required))
      return emitOpError("missing the '") << required << "' input";
  bool hasAttnMask = llvm::is_contained(roles, "attn_mask");
  bool hasKeyPadding = llvm::is_contained(roles, "key_padding");
  if (hasAttnMask != static_cast<bool>(kernel.getIntTrait("HasAttnMask")) ||
      hasKeyPadding != static_cast<bool>(kernel.getIntTrait("HasKeyPadding")))
    return emitOpError("mask inputs do not match the traits of kernel '")
           << kernel.getSymName() << "'";
  if ((getDropout().convertToFloat() > 0.0f) !=
      static_cast<bool>(kernel.getIntTrait("HasDropout")))
    return emitOpError("dropout ")
           << getDropout().convertToFloat()
           << " does not match the HasDropout trait of kernel '"
           << kernel.getSymName() << "'";
  Type element = kernel.getElementType();
  for (auto [role, input] : llvm::zip(roles, getInputs())) {
    if (role != "q" && role != "k" && role != "v")
      continue;
    if (cast<RankedTensorType>(input.getType()).getElementType() != element)
      return emitOpError("expected '")
             << role << "' of element type " << element << " for kernel '"
             << kernel.getSymName() << "', got " << input.getType();
  }
  return success();
}
