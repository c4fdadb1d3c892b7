//===- OutlineGraphOps.cpp - Graph ops into xfk kernels -------------------===//
//
// The matrix products and softmaxes of multi-op variants (linformer,
// fourier_mix, ...) become xfk kernels of the `matmul` and `softmax`
// templates and launches in their place. Generated DFT matrices are fused
// into the products. Last, every launch of a plan with more than one gets
// the symbolic sizes of its result, which the runtime allocates from.
//
//===----------------------------------------------------------------------===//

#include "xfc/Transforms/Passes.h"

#include "xfc/conv_ops.cuh"
#include "xfc/favor_ops.cuh"
#include "xfc/graph_ops.cuh"
#include "xfc/nystrom_ops.cuh"

#include "mlir/IR/AffineExpr.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/DenseMap.h"

#include <cstring>

using namespace mlir;
using namespace xfc;

namespace xfc {
#define GEN_PASS_DEF_XFAOUTLINEGRAPHOPS
#include "xfc/Transforms/Passes.h.inc"
} // namespace xfc

namespace {

int64_t getDTypeCode(Type type) {
  Type element = cast<RankedTensorType>(type).getElementType();
  if (element.isF16())
    return kOpF16;
  if (element.isBF16())
    return kOpBF16;
  return kOpF32;
}

/// The symbolic sizes of tensors: "batch", "heads", "q_len", "kv_len" or a
/// constant, per dimension.
using Sizes = SmallVector<std::string, 4>;

class SizeTracker {
public:
  explicit SizeTracker(func::FuncOp func) {
    // IRGen's signature: q, k, v, then the run-time masks.
    static const char *const kSeq[] = {"q_len", "kv_len", "kv_len"};
    for (auto [index, arg] : llvm::enumerate(func.getArguments())) {
      if (index >= 3)
        break;
      auto type = cast<RankedTensorType>(arg.getType());
      if (type.getRank() != 4)
        continue;
      sizes[arg] = withStatic(type, {"batch", "heads", kSeq[index], ""});
    }
  }

  /// `symbols[d]` for the dynamic dimensions of `type`, its size otherwise.
  static Sizes withStatic(RankedTensorType type,
                          ArrayRef<std::string> symbols) {
    Sizes result;
    for (int64_t d = 0; d < type.getRank(); ++d)
      result.push_back(type.isDynamicDim(d)
                           ? (d < static_cast<int64_t>(symbols.size())
                                  ? symbols[d]
                                  : std::string())
                           : std::to_string(type.getDimSize(d)));
    return result;
  }

  /// The sizes of `value`, or failure when a dynamic dimension cannot be
  /// named.
  FailureOr<Sizes> get(Value value) const {
    auto it = sizes.find(value);
    if (it != sizes.end())
      return it->second;
    auto type = cast<RankedTensorType>(value.getType());
    if (type.hasStaticShape())
      return withStatic(type, {});
    return failure();
  }

  void set(Value value, Sizes s) { sizes[value] = std::move(s); }

private:
  llvm::DenseMap<Value, Sizes> sizes;
};

struct OutlineGraphOpsPass
    : public xfc::impl::XfaOutlineGraphOpsBase<OutlineGraphOpsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    context = module.getContext();
    SymbolTable symbolTable(module);
    OpBuilder atModuleEnd = OpBuilder::atBlockEnd(module.getBody());
    symbols = &symbolTable;
    moduleBuilder = &atModuleEnd;
    StringAttr arch = module->getAttrOfType<StringAttr>("xfc.target");
    archName = arch ? arch.getValue().str() : "sm_90a";

    for (func::FuncOp func : module.getOps<func::FuncOp>()) {
      SizeTracker tracker(func);
      SmallVector<Operation *> ops;
      func.walk([&](Operation *op) { ops.push_back(op); });
      for (Operation *op : ops) {
        LogicalResult result = success();
        if (auto matmul = dyn_cast<xfa::MatmulOp>(op))
          result = outlineMatmul(matmul);
        else if (auto retrieve = dyn_cast<xfa::RetrieveOp>(op))
          result = outlineRetrieve(retrieve);
        else if (auto regroup = dyn_cast<xfa::RegroupHeadsOp>(op))
          result = outlineRegroupHeads(regroup);
        else if (auto select = dyn_cast<xfa::SelectRulesOp>(op))
          result = outlineSelectRules(select);
        else if (auto softmax = dyn_cast<xfa::SoftmaxOp>(op))
          result = outlineSoftmax(softmax);
        else if (auto pool = dyn_cast<xfa::LandmarkPoolOp>(op))
          result = outlineLandmarkPool(pool);
        else if (auto init = dyn_cast<xfa::PinvInitOp>(op))
          result = outlinePinvInit(init);
        else if (auto select = dyn_cast<xfa::LandmarkSelectOp>(op))
          result = outlineLandmarkSelect(select);
        else if (auto conv = dyn_cast<xfa::SequenceConvOp>(op))
          result = outlineSequenceConv(conv);
        else if (isa<xfa::GridPoolOp, xfa::DepthwiseConv2dOp,
                     xfa::ElementwiseOp>(op))
          result = outlineGridOp(op);
        else if (isa<xfa::FeatureMapOp, xfa::SumRowsOp, xfa::LinearNormalizeOp,
                     xfa::CausalLinearAttentionOp, xfa::SequenceSoftmaxOp,
                     xfa::LambdaPositionOp>(op))
          result = outlineFavorLambdaOp(op);
        if (failed(result))
          return signalPassFailure();
      }
      // Generated matrices are fused into their products. (`ops` holds
      // erased ops by now: walk again.)
      SmallVector<xfa::DftMatrixOp> dfts;
      func.walk([&](xfa::DftMatrixOp dft) { dfts.push_back(dft); });
      for (xfa::DftMatrixOp dft : dfts) {
        if (!dft.getResult().use_empty()) {
          dft.emitOpError("is used by something other than a matrix "
                          "product's operand");
          return signalPassFailure();
        }
        dft.erase();
      }
      if (failed(assignSizes(func, tracker)))
        return signalPassFailure();
    }
  }

private:
  /// The kernel of `templateName` with `traits`, created once.
  xfk::KernelOp getKernel(Location loc, StringRef templateName, Type element,
                          NamedAttrList traits, int64_t sharedBytes) {
    Builder b(context);
    traits.append("Element", TypeAttr::get(element));
    DictionaryAttr traitDict = traits.getDictionary(context);
    NamedAttrList keyList;
    keyList.append("template", b.getStringAttr(templateName));
    keyList.append("traits", traitDict);
    DictionaryAttr key = keyList.getDictionary(context);
    if (xfk::KernelOp kernel = outlined.lookup(key))
      return kernel;
    std::string name = templateName.str() + "_" + std::to_string(counter++);
    while (symbols->lookup(name))
      name = templateName.str() + "_" + std::to_string(counter++);
    AffineMap grid = AffineMap::get(
        0, 4,
        {getAffineConstantExpr(xfc::kOpBlocks, context),
         getAffineConstantExpr(1, context), getAffineConstantExpr(1, context)},
        context);
    auto kernel = moduleBuilder->create<xfk::KernelOp>(
        loc, b.getStringAttr(name), b.getStringAttr(templateName),
        b.getStringAttr(archName),
        b.getDenseI32ArrayAttr({xfc::kOpThreads, 1, 1}),
        AffineMapAttr::get(grid), b.getI64IntegerAttr(sharedBytes), traitDict,
        /*tables=*/nullptr);
    symbols->insert(kernel);
    outlined[key] = kernel;
    return kernel;
  }

  LogicalResult outlineMatmul(xfa::MatmulOp op) {
    Builder b(context);
    auto source = [](Value operand) -> int64_t {
      if (auto dft = operand.getDefiningOp<xfa::DftMatrixOp>())
        return dft.getPart() == "cos" ? kDftCos : kDftNegSin;
      return kFromMemory;
    };
    int64_t aSource = source(op.getLhs()), bSource = source(op.getRhs());
    if (aSource != kFromMemory && bSource != kFromMemory)
      return op.emitOpError("cannot generate both operands");
    if ((aSource != kFromMemory && op.getTransposeLhs()) ||
        (bSource != kFromMemory && op.getTransposeRhs()))
      return op.emitOpError("a generated (symmetric) operand is never "
                            "transposed");
    NamedAttrList traits;
    traits.append("ADType",
                  b.getI64IntegerAttr(getDTypeCode(op.getLhs().getType())));
    traits.append("BDType",
                  b.getI64IntegerAttr(getDTypeCode(op.getRhs().getType())));
    traits.append("CDType",
                  b.getI64IntegerAttr(
                      op.getAddend() ? getDTypeCode(op.getAddend().getType())
                                     : int64_t(kOpF32)));
    traits.append("TransA", b.getBoolAttr(op.getTransposeLhs()));
    traits.append("TransB", b.getBoolAttr(op.getTransposeRhs()));
    traits.append("ASource", b.getI64IntegerAttr(aSource));
    traits.append("BSource", b.getI64IntegerAttr(bSource));
    traits.append("HasC", b.getBoolAttr(static_cast<bool>(op.getAddend())));
    xfk::KernelOp kernel =
        getKernel(op.getLoc(), "matmul", op.getType().getElementType(),
                  std::move(traits), xfc::matmulSharedBytes());

    SmallVector<Value> inputs;
    SmallVector<StringRef> roles;
    if (aSource == kFromMemory)
      inputs.push_back(op.getLhs()), roles.push_back("a");
    if (bSource == kFromMemory)
      inputs.push_back(op.getRhs()), roles.push_back("b");
    if (Value addend = op.getAddend())
      inputs.push_back(addend), roles.push_back("c");
    replaceWithLaunch(op, kernel, inputs, roles, op.getAlphaAttr(),
                      op.getBetaAttr());
    return success();
  }

  /// favor's and lambda's ops: one kernel of the op's template, operands in
  /// the op's order under the template's roles.
  LogicalResult outlineFavorLambdaOp(Operation *op) {
    Builder b(context);
    auto dtype = [&](Value value) {
      return b.getI64IntegerAttr(getDTypeCode(value.getType()));
    };
    auto headDim = [&](Value value) {
      return b.getI64IntegerAttr(
          cast<RankedTensorType>(value.getType()).getDimSize(3));
    };
    NamedAttrList traits;
    StringRef templateName;
    SmallVector<StringRef> roles;
    FloatAttr alpha = b.getF32FloatAttr(0.0f), beta = b.getF32FloatAttr(0.0f);
    if (auto map = dyn_cast<xfa::FeatureMapOp>(op)) {
      templateName = "feature_map";
      int64_t kind = map.getKind() == "sm_reg"   ? kSmReg
                     : map.getKind() == "sm_hyp" ? kSmHyp
                                                 : kSmOrf;
      traits.append("InDType", dtype(map.getInput()));
      traits.append("Kind", b.getI64IntegerAttr(kind));
      traits.append("HeadDim", headDim(map.getInput()));
      roles = {"x", "w"};
      alpha = map.getScaleAttr();
      beta = map.getOffsetAttr();
    } else if (auto sum = dyn_cast<xfa::SumRowsOp>(op)) {
      templateName = "sum_rows";
      traits.append("InDType", dtype(sum.getInput()));
      roles = {"x"};
    } else if (isa<xfa::LinearNormalizeOp>(op)) {
      templateName = "linear_normalize";
      roles = {"num", "qf", "ks"};
    } else if (auto scan = dyn_cast<xfa::CausalLinearAttentionOp>(op)) {
      templateName = "causal_linear_attention";
      traits.append("VDType", dtype(scan.getValue()));
      traits.append("Features", headDim(scan.getQfeatures()));
      roles = {"qf", "kf", "v"};
    } else if (auto softmax = dyn_cast<xfa::SequenceSoftmaxOp>(op)) {
      templateName = "sequence_softmax";
      traits.append("InDType", dtype(softmax.getInput()));
      roles = {"x"};
    } else {
      auto position = cast<xfa::LambdaPositionOp>(op);
      templateName = "lambda_position";
      traits.append("QDType", dtype(position.getQuery()));
      traits.append("VDType", dtype(position.getValue()));
      traits.append("HeadDim", headDim(position.getQuery()));
      roles = {"q", "v", "e", "c"};
    }
    auto resultType = cast<RankedTensorType>(op->getResult(0).getType());
    xfk::KernelOp kernel =
        getKernel(op->getLoc(), templateName, resultType.getElementType(),
                  std::move(traits), /*sharedBytes=*/0);
    replaceWithLaunch(op, kernel, op->getOperands(), roles, alpha, beta);
    return success();
  }

  LogicalResult outlineSoftmax(xfa::SoftmaxOp op) {
    Builder b(context);
    NamedAttrList traits;
    traits.append("InDType",
                  b.getI64IntegerAttr(getDTypeCode(op.getInput().getType())));
    traits.append("Causal", b.getBoolAttr(op.getCausal()));
    xfk::KernelOp kernel =
        getKernel(op.getLoc(), "softmax", op.getType().getElementType(),
                  std::move(traits), /*sharedBytes=*/0);
    replaceWithLaunch(
        op, kernel, ValueRange{op.getInput()}, {"x"}, op.getScaleAttr(),
        nullptr,
        b.getDenseI64ArrayAttr({static_cast<int64_t>(op.getCausalOffset())}));
    return success();
  }

  /// The matmul template with OuterHeads: result head h*R + r is search h
  /// times rule r.
  LogicalResult outlineRetrieve(xfa::RetrieveOp op) {
    Builder b(context);
    NamedAttrList traits;
    traits.append("ADType",
                  b.getI64IntegerAttr(getDTypeCode(op.getWeights().getType())));
    traits.append("BDType",
                  b.getI64IntegerAttr(getDTypeCode(op.getValues().getType())));
    traits.append("CDType", b.getI64IntegerAttr(kOpF32));
    traits.append("TransA", b.getBoolAttr(false));
    traits.append("TransB", b.getBoolAttr(false));
    traits.append("ASource", b.getI64IntegerAttr(kFromMemory));
    traits.append("BSource", b.getI64IntegerAttr(kFromMemory));
    traits.append("HasC", b.getBoolAttr(false));
    traits.append("OuterHeads", b.getBoolAttr(true));
    xfk::KernelOp kernel =
        getKernel(op.getLoc(), "matmul", op.getType().getElementType(),
                  std::move(traits), xfc::matmulSharedBytes());
    replaceWithLaunch(op, kernel, ValueRange{op.getWeights(), op.getValues()},
                      {"a", "b"}, b.getF32FloatAttr(1.0f),
                      b.getF32FloatAttr(0.0f));
    return success();
  }

  LogicalResult outlineRegroupHeads(xfa::RegroupHeadsOp op) {
    Builder b(context);
    NamedAttrList traits;
    traits.append("InDType",
                  b.getI64IntegerAttr(getDTypeCode(op.getInput().getType())));
    traits.append("Split", b.getBoolAttr(op.getSplit()));
    xfk::KernelOp kernel =
        getKernel(op.getLoc(), "regroup_heads", op.getType().getElementType(),
                  std::move(traits), /*sharedBytes=*/0);
    replaceWithLaunch(op, kernel, ValueRange{op.getInput()}, {"x"});
    return success();
  }

  LogicalResult outlineSelectRules(xfa::SelectRulesOp op) {
    Builder b(context);
    int64_t mode = op.getMode() == "linear" ? 0 : op.getMode() == "mlp" ? 1 : 2;
    NamedAttrList traits;
    traits.append("Mode", b.getI64IntegerAttr(mode));
    traits.append("Rules", b.getI64IntegerAttr(op.getRules()));
    traits.append("HasBias", b.getBoolAttr(op.getBias()));
    xfk::KernelOp kernel =
        getKernel(op.getLoc(), "select_rules", op.getType().getElementType(),
                  std::move(traits), /*sharedBytes=*/0);
    // Weights in the order of the op: W1 [b1] [w2 [b2]].
    SmallVector<StringRef> weightRoles =
        op.getBias() ? SmallVector<StringRef>{"w1", "b1", "w2", "b2"}
                     : SmallVector<StringRef>{"w1", "w2"};
    SmallVector<Value> inputs = {op.getRetrievals(), op.getSelection()};
    SmallVector<StringRef> roles = {"o", "q"};
    for (auto [index, weight] : llvm::enumerate(op.getWeights())) {
      inputs.push_back(weight);
      roles.push_back(weightRoles[index]);
    }
    replaceWithLaunch(op, kernel, inputs, roles, op.getAlphaAttr());
    return success();
  }

  /// A launch of `kernel` on `inputs` (by `roles`) replacing the one result
  /// of `op`, with the graph op's scalars (xfc::OpParams alpha, beta, ints).
  void replaceWithLaunch(Operation *op, xfk::KernelOp kernel, ValueRange inputs,
                         ArrayRef<StringRef> roles, FloatAttr alpha = nullptr,
                         FloatAttr beta = nullptr,
                         DenseI64ArrayAttr ints = nullptr) {
    OpBuilder builder(op);
    auto launch = builder.create<xfk::LaunchOp>(
        op->getLoc(), op->getResult(0).getType(),
        FlatSymbolRefAttr::get(kernel.getSymNameAttr()), inputs,
        builder.getStrArrayAttr(roles), builder.getF32FloatAttr(0.0f), alpha,
        beta, ints, /*sizes=*/nullptr);
    op->getResult(0).replaceAllUsesWith(launch.getResult());
    op->erase();
  }

  /// Nystrom's segment means: ints = [num_landmarks, require_longer].
  LogicalResult outlineLandmarkPool(xfa::LandmarkPoolOp op) {
    Builder b(context);
    NamedAttrList traits;
    traits.append("InDType",
                  b.getI64IntegerAttr(getDTypeCode(op.getInput().getType())));
    xfk::KernelOp kernel =
        getKernel(op.getLoc(), "landmark_pool", op.getType().getElementType(),
                  std::move(traits), /*sharedBytes=*/0);
    replaceWithLaunch(
        op, kernel, op.getInput(), {"x"}, /*alpha=*/nullptr, /*beta=*/nullptr,
        b.getDenseI64ArrayAttr({static_cast<int64_t>(op.getNumLandmarks()),
                                static_cast<int64_t>(op.getRequireLonger())}));
    return success();
  }

  LogicalResult outlinePinvInit(xfa::PinvInitOp op) {
    Builder b(context);
    NamedAttrList traits;
    traits.append("Global", b.getBoolAttr(op.getGlobal()));
    xfk::KernelOp kernel =
        getKernel(op.getLoc(), "pinv_init", op.getType().getElementType(),
                  std::move(traits), /*sharedBytes=*/0);
    replaceWithLaunch(op, kernel, op.getInput(), {"x"}, nullptr);
    return success();
  }

  /// Orthoformer's landmarks: ints = [seed, bits of subsample_fraction].
  LogicalResult outlineLandmarkSelect(xfa::LandmarkSelectOp op) {
    Builder b(context);
    StringRef selection = op.getSelection();
    int64_t code = selection == "orthogonal"         ? kSelectOrthogonal
                   : selection == "kmeans"           ? kSelectKMeans
                   : selection == "kmeans_spherical" ? kSelectKMeansSpherical
                                                     : kSelectRandom;
    NamedAttrList traits;
    traits.append("Selection", b.getI64IntegerAttr(code));
    traits.append("NumLandmarks", b.getI64IntegerAttr(op.getNumLandmarks()));
    traits.append("HeadDim",
                  b.getI64IntegerAttr(op.getQuery().getType().getDimSize(3)));
    xfk::KernelOp kernel =
        getKernel(op.getLoc(), "landmark_select", op.getType().getElementType(),
                  std::move(traits), /*sharedBytes=*/0);
    double fraction = op.getSubsampleFraction().convertToDouble();
    int64_t bits;
    static_assert(sizeof(bits) == sizeof(fraction), "a double is 64 bits");
    std::memcpy(&bits, &fraction, sizeof(bits));
    replaceWithLaunch(
        op, kernel, ValueRange{op.getQuery(), op.getKey()}, {"q", "k"},
        /*alpha=*/nullptr, /*beta=*/nullptr,
        b.getDenseI64ArrayAttr({static_cast<int64_t>(op.getSeed()), bits}));
    return success();
  }

  /// pooling's and visual's token-grid ops (templates/xfc/conv_ops.cuh):
  /// the grid side is a run-time integer the runtime fills in.
  LogicalResult outlineGridOp(Operation *op) {
    Builder b(context);
    auto dtype = [&](Value value) {
      return b.getI64IntegerAttr(getDTypeCode(value.getType()));
    };
    NamedAttrList traits;
    StringRef templateName;
    SmallVector<StringRef> roles;
    FloatAttr beta = nullptr;
    if (auto pool = dyn_cast<xfa::GridPoolOp>(op)) {
      templateName = "grid_pool";
      traits.append("InDType", dtype(pool.getInput()));
      traits.append("PoolSize", pool.getPoolSizeAttr());
      roles = {"x"};
      beta = pool.getBetaAttr();
    } else if (auto conv = dyn_cast<xfa::DepthwiseConv2dOp>(op)) {
      templateName = "depthwise_conv2d";
      traits.append("InDType", dtype(conv.getInput()));
      traits.append("KernelSize", conv.getKernelSizeAttr());
      traits.append("Dilation", conv.getDilationAttr());
      roles = {"x", "w", "bias"};
    } else {
      auto elementwise = cast<xfa::ElementwiseOp>(op);
      templateName = "elementwise";
      StringRef kind = elementwise.getKind();
      traits.append("Kind",
                    b.getI64IntegerAttr(kind == "gelu"  ? kElementwiseGelu
                                        : kind == "mul" ? kElementwiseMul
                                                        : kElementwiseAdd));
      traits.append("ADType", dtype(elementwise.getLhs()));
      traits.append("BDType", elementwise.getRhs()
                                  ? dtype(elementwise.getRhs())
                                  : b.getI64IntegerAttr(kOpF32));
      traits.append("HasBias",
                    b.getBoolAttr(static_cast<bool>(elementwise.getBias())));
      roles.push_back("a");
      if (elementwise.getRhs())
        roles.push_back("b");
      if (elementwise.getBias())
        roles.push_back("bias");
    }
    auto resultType = cast<RankedTensorType>(op->getResult(0).getType());
    xfk::KernelOp kernel =
        getKernel(op->getLoc(), templateName, resultType.getElementType(),
                  std::move(traits), /*sharedBytes=*/0);
    replaceWithLaunch(op, kernel, op->getOperands(), roles, /*alpha=*/nullptr,
                      beta);
    return success();
  }

  LogicalResult outlineSequenceConv(xfa::SequenceConvOp op) {
    Builder b(context);
    Value addend = op.getAddend();
    NamedAttrList traits;
    traits.append("InDType",
                  b.getI64IntegerAttr(getDTypeCode(op.getInput().getType())));
    traits.append("HasAddend", b.getBoolAttr(static_cast<bool>(addend)));
    traits.append("AddDType",
                  b.getI64IntegerAttr(addend ? getDTypeCode(addend.getType())
                                             : int64_t(kOpF32)));
    xfk::KernelOp kernel =
        getKernel(op.getLoc(), "sequence_conv", op.getType().getElementType(),
                  std::move(traits), /*sharedBytes=*/0);
    SmallVector<Value> inputs = {op.getInput(), op.getWeight()};
    SmallVector<StringRef> roles = {"x", "w"};
    if (addend)
      inputs.push_back(addend), roles.push_back("c");
    replaceWithLaunch(op, kernel, inputs, roles, nullptr);
    return success();
  }

  /// Names the sizes of every launch result in a plan of several launches
  /// (a single attention launch writes the caller's output).
  LogicalResult assignSizes(func::FuncOp func, SizeTracker &tracker) {
    SmallVector<xfk::LaunchOp> launches;
    func.walk([&](xfk::LaunchOp launch) { launches.push_back(launch); });
    SymbolTable table(func->getParentOfType<ModuleOp>());
    // One graph op (pooling's grid_pool) still needs its sizes.
    if (launches.size() < 2 &&
        (launches.empty() ||
         table.lookup<xfk::KernelOp>(launches.front().getKernel())
                 .getTemplateName() == "attention_forward"))
      return success();
    for (xfk::LaunchOp launch : launches) {
      auto type = cast<RankedTensorType>(launch.getType());
      auto kernel = table.lookup<xfk::KernelOp>(launch.getKernel());
      Sizes sizes;
      auto operand = [&](StringRef role) -> Value {
        for (auto [r, input] : llvm::zip(launch.getRoles(), launch.getInputs()))
          if (cast<StringAttr>(r).getValue() == role)
            return input;
        return Value();
      };
      auto sizesOf = [&](Value value) -> FailureOr<Sizes> {
        FailureOr<Sizes> s = tracker.get(value);
        if (failed(s))
          return launch.emitOpError("cannot name the run-time sizes of an "
                                    "operand of type ")
                 << value.getType();
        return s;
      };
      StringRef name = kernel.getTemplateName();
      if (name == "attention_forward") {
        FailureOr<Sizes> q = sizesOf(operand("q"));
        if (failed(q))
          return failure();
        sizes = {(*q)[0], (*q)[1], (*q)[2], std::to_string(type.getDimSize(3))};
      } else if (name == "regroup_heads") {
        FailureOr<Sizes> x = sizesOf(operand("x"));
        if (failed(x))
          return failure();
        // Heads and features are static (checked by the verifier); batch
        // and sequence carry over.
        sizes = {(*x)[0], "", (*x)[2], ""};
      } else if (name == "select_rules") {
        FailureOr<Sizes> q = sizesOf(operand("q"));
        FailureOr<Sizes> o = sizesOf(operand("o"));
        if (failed(q) || failed(o))
          return failure();
        sizes = {(*q)[0], (*q)[1], (*q)[2], (*o)[3]};
      } else if (name == "softmax") {
        FailureOr<Sizes> x = sizesOf(operand("x"));
        if (failed(x))
          return failure();
        sizes = *x;
      } else if (name == "matmul") {
        // Batch and heads from a rank-4 operand; rows from A, columns from
        // B; a generated operand is square in the contraction length.
        Value a = operand("a"), bOperand = operand("b");
        bool transA = kernel.getIntTrait("TransA"),
             transB = kernel.getIntTrait("TransB");
        FailureOr<Sizes> as = a ? sizesOf(a) : FailureOr<Sizes>(Sizes());
        FailureOr<Sizes> bs =
            bOperand ? sizesOf(bOperand) : FailureOr<Sizes>(Sizes());
        if (failed(as) || failed(bs))
          return failure();
        auto rowsCols = [](const Sizes &s, bool transpose) {
          std::string rows = s[s.size() - 2], cols = s[s.size() - 1];
          return transpose ? std::make_pair(cols, rows)
                           : std::make_pair(rows, cols);
        };
        std::string m, n;
        if (a && bOperand) {
          m = rowsCols(*as, transA).first;
          n = rowsCols(*bs, transB).second;
        } else if (a) { // B generated: n = contraction = A's columns.
          std::tie(m, n) = rowsCols(*as, transA);
        } else { // A generated: m = contraction = B's rows.
          std::tie(m, n) = rowsCols(*bs, transB);
        }
        const Sizes *batched = as->size() == 4 ? &*as : &*bs;
        if (batched->size() != 4)
          return launch.emitOpError("expected a rank-4 operand");
        // Outer heads (lhs heads x rhs heads) are static: from the type.
        std::string heads =
            kernel.getTraits().get("OuterHeads") ? "" : (*batched)[1];
        sizes = {(*batched)[0], heads, m, n};
      } else if (name == "sequence_conv") {
        // The addend's sizes (the attention output's), else the input's.
        Value addend = operand("c");
        FailureOr<Sizes> x = sizesOf(addend ? addend : operand("x"));
        if (failed(x))
          return failure();
        sizes = *x;
      } else if (name == "landmark_pool" || name == "pinv_init" ||
                 name == "landmark_select") {
        // Batch, heads and head dim of the (first) input; the landmark
        // count is static in the result type.
        FailureOr<Sizes> x =
            sizesOf(name == "landmark_select" ? operand("q") : operand("x"));
        if (failed(x))
          return failure();
        sizes = *x;
      } else if (name == "feature_map" || name == "sum_rows" ||
                 name == "linear_normalize" ||
                 name == "causal_linear_attention" ||
                 name == "sequence_softmax" || name == "lambda_position") {
        // Batch, heads and sequence of the first input; the last dimension
        // (features, head dim) and sum_rows' single row are static.
        FailureOr<Sizes> x = sizesOf(launch.getInputs().front());
        if (failed(x))
          return failure();
        sizes = {(*x)[0], (*x)[1], (*x)[2], ""};
      } else if (name == "grid_pool" || name == "depthwise_conv2d" ||
                 name == "elementwise") {
        // The token-grid ops keep the shape of their (first) input.
        FailureOr<Sizes> x = sizesOf(launch.getInputs().front());
        if (failed(x))
          return failure();
        sizes = *x;
      } else {
        return launch.emitOpError("unknown template ") << name;
      }
      // Static sizes of the result type win over derived names.
      for (int64_t d = 0; d < type.getRank(); ++d) {
        if (!type.isDynamicDim(d))
          sizes[d] = std::to_string(type.getDimSize(d));
        if (sizes[d].empty())
          return launch.emitOpError("cannot name the run-time size of "
                                    "result dimension ")
                 << d;
      }
      tracker.set(launch.getResult(), sizes);
      SmallVector<StringRef> refs(sizes.begin(), sizes.end());
      launch.setSizesAttr(Builder(context).getStrArrayAttr(refs));
    }
    return success();
  }

  MLIRContext *context = nullptr;
  SymbolTable *symbols = nullptr;
  OpBuilder *moduleBuilder = nullptr;
  std::string archName;
  llvm::DenseMap<DictionaryAttr, xfk::KernelOp> outlined;
  int64_t counter = 0;
};

} // namespace
