//===- ManifestEmitter.cpp - The launch plan as JSON ----------------------===//

#include "xfc/Emitter/ManifestEmitter.h"

#include "xfc/Dialect/Xfa/IR/Xfa.h"
#include "xfc/Dialect/Xfk/IR/Xfk.h"
#include "xfc/attention_params.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/AffineExpr.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/Support/JSON.h"

using namespace mlir;
using namespace xfc;

static const char *const kGridSymbols[] = {"batch", "heads", "q_len", "kv_len"};

/// A grid size as the runtime evaluates it: {"symbol", "ceil_div"} or
/// {"constant"}. The kernel verifier guarantees one of these forms.
static void writeGridTerm(llvm::json::OStream &json, AffineExpr term) {
  json.object([&] {
    if (auto constant = dyn_cast<AffineConstantExpr>(term)) {
      json.attribute("constant", constant.getValue());
      return;
    }
    int64_t divisor = 1;
    if (auto binary = dyn_cast<AffineBinaryOpExpr>(term)) {
      divisor = cast<AffineConstantExpr>(binary.getRHS()).getValue();
      term = binary.getLHS();
    }
    json.attribute("symbol",
                   kGridSymbols[cast<AffineSymbolExpr>(term).getPosition()]);
    json.attribute("ceil_div", divisor);
  });
}

static void writeAttribute(llvm::json::OStream &json, Attribute attr) {
  if (auto boolean = dyn_cast<BoolAttr>(attr))
    json.value(boolean.getValue());
  else if (auto integer = dyn_cast<IntegerAttr>(attr))
    json.value(integer.getInt());
  else if (auto type = dyn_cast<TypeAttr>(attr))
    json.value(xfa::getDtypeName(type.getValue()));
  else if (auto i32 = dyn_cast<DenseI32ArrayAttr>(attr))
    json.array([&] {
      for (int32_t v : i32.asArrayRef())
        json.value(v);
    });
  else if (auto i8 = dyn_cast<DenseI8ArrayAttr>(attr))
    json.array([&] {
      for (int8_t v : i8.asArrayRef())
        json.value(static_cast<int64_t>(v));
    });
  else
    json.value(nullptr);
}

static void writeShape(llvm::json::OStream &json, RankedTensorType type) {
  json.array([&] {
    for (int64_t size : type.getShape())
      json.value(ShapedType::isDynamic(size) ? -1 : size);
  });
}

static StringRef getTensorDtype(RankedTensorType type) {
  Type element = type.getElementType();
  if (element.isInteger(1))
    return "bool";
  return xfa::getDtypeName(element);
}

LogicalResult xfc::emitManifest(ModuleOp module, const ManifestInfo &info,
                                raw_ostream &os) {
  llvm::Expected<llvm::json::Value> config = llvm::json::parse(info.configJson);
  if (!config)
    return module.emitError("invalid canonical config JSON: ")
           << llvm::toString(config.takeError());

  llvm::json::OStream json(os, /*IndentSize=*/2);
  json.object([&] {
    json.attribute("manifest_version", kManifestVersion);
    json.attribute("params_version", kParamsVersion);
    json.attribute("xfc_version", info.xfcVersion);
    json.attribute("nvrtc_version", info.nvrtcVersion);
    json.attribute("config", *config);
    json.attribute("config_sha256", info.configSha256);
    json.attributeObject("specialization", [&] {
      for (const auto &[name, value] : info.specialization)
        json.attribute(name, value);
    });

    json.attributeArray("kernels", [&] {
      for (xfk::KernelOp kernel : module.getOps<xfk::KernelOp>()) {
        json.object([&] {
          std::string symbol = kernel.getSymName().str();
          json.attribute("symbol", symbol);
          json.attribute("template", kernel.getTemplateName());
          json.attribute("arch", kernel.getArch());
          auto files = info.files.find(symbol);
          if (files != info.files.end()) {
            const KernelFiles &f = files->second;
            if (!f.source.empty())
              json.attribute("source", f.source);
            if (!f.ptx.empty())
              json.attribute("ptx", f.ptx);
            if (!f.cubin.empty())
              json.attribute("cubin", f.cubin);
          }
          const xfk::TemplateSpec *spec =
              xfk::lookupTemplate(kernel.getTemplateName());
          json.attribute("params", spec ? spec->paramsType
                                        : StringRef("xfc::AttentionParams"));
          json.attributeArray("block", [&] {
            for (int32_t size : kernel.getBlock())
              json.value(size);
          });
          json.attributeArray("grid", [&] {
            for (AffineExpr term : kernel.getGrid().getResults())
              writeGridTerm(json, term);
          });
          json.attribute("shared_bytes",
                         static_cast<int64_t>(kernel.getSharedBytes()));
          json.attribute("workspace_bytes", 0);
          json.attributeObject("traits", [&] {
            for (NamedAttribute trait : kernel.getTraits())
              json.attributeBegin(trait.getName().getValue()),
                  writeAttribute(json, trait.getValue()), json.attributeEnd();
          });
          if (DictionaryAttr tables = kernel.getTablesAttr()) {
            // Large tables are not in the cubin: the loader copies these
            // values into the kernel's `<symbol>_<table>` arrays.
            if (kernel.loadsTablesAtRuntime())
              json.attribute("tables_at_load", true);
            json.attributeObject("tables", [&] {
              for (NamedAttribute table : tables)
                json.attributeBegin(table.getName().getValue()),
                    writeAttribute(json, table.getValue()), json.attributeEnd();
            });
          }
        });
      }
    });

    json.attributeArray("parameters", [&] {
      module.walk([&](xfa::ParameterOp parameter) {
        json.object([&] {
          json.attribute("name", parameter.getName());
          json.attributeBegin("shape");
          writeShape(json, parameter.getType());
          json.attributeEnd();
          json.attribute("dtype", "fp32");
          json.attribute("init", parameter.getInit());
          json.attribute("init_scale",
                         parameter.getInitScale().convertToDouble());
          json.attribute("seed", parameter.getSeed());
        });
      });
    });
    // Launches in program order; each names where its inputs come from (the
    // caller's tensors, an earlier launch's result "t<N>", a parameter) and
    // where its result goes ("out" = the caller's output).
    llvm::DenseMap<Value, int64_t> launchIndex;
    int64_t nextIndex = 0;
    auto sourceOf = [&](Value value) -> std::string {
      if (auto arg = dyn_cast<BlockArgument>(value)) {
        static const char *const kQkv[] = {"q", "k", "v"};
        if (arg.getArgNumber() < 3)
          return kQkv[arg.getArgNumber()];
        Type element = cast<RankedTensorType>(arg.getType()).getElementType();
        return element.isInteger(1) ? "key_padding" : "attn_mask";
      }
      if (auto parameter = value.getDefiningOp<xfa::ParameterOp>())
        return "param:" + parameter.getName().str();
      auto it = launchIndex.find(value);
      return it == launchIndex.end() ? std::string("?")
                                     : "t" + std::to_string(it->second);
    };
    json.attributeArray("launches", [&] {
      module.walk([&](xfk::LaunchOp launch) {
        int64_t index = nextIndex++;
        launchIndex[launch.getResult()] = index;
        bool returned = llvm::any_of(launch->getUsers(), [](Operation *user) {
          return isa<func::ReturnOp>(user);
        });
        json.object([&] {
          json.attribute("kernel", launch.getKernel());
          json.attribute("dropout", launch.getDropout().convertToDouble());
          if (FloatAttr alpha = launch.getAlphaAttr())
            json.attribute("alpha", alpha.getValueAsDouble());
          if (FloatAttr beta = launch.getBetaAttr())
            json.attribute("beta", beta.getValueAsDouble());
          if (DenseI64ArrayAttr ints = launch.getIntsAttr())
            json.attributeArray("ints", [&] {
              for (int64_t v : ints.asArrayRef())
                json.value(v);
            });
          json.attributeArray("inputs", [&] {
            for (auto [role, input] :
                 llvm::zip(launch.getRoles(), launch.getInputs())) {
              auto type = cast<RankedTensorType>(input.getType());
              json.object([&] {
                json.attribute("role", cast<StringAttr>(role).getValue());
                json.attribute("source", sourceOf(input));
                json.attributeBegin("shape");
                writeShape(json, type);
                json.attributeEnd();
                json.attribute("dtype", getTensorDtype(type));
              });
            }
          });
          auto resultType = cast<RankedTensorType>(launch.getType());
          json.attributeObject("output", [&] {
            json.attribute("name", returned ? std::string("out")
                                            : "t" + std::to_string(index));
            json.attributeBegin("shape");
            writeShape(json, resultType);
            json.attributeEnd();
            json.attribute("dtype", getTensorDtype(resultType));
            if (ArrayAttr sizes = launch.getSizesAttr())
              json.attributeArray("sizes", [&] {
                for (Attribute size : sizes)
                  json.value(cast<StringAttr>(size).getValue());
              });
          });
        });
      });
    });
  });
  os << "\n";
  return success();
}
