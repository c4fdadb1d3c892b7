//===- Manifest.cpp - The launch plan written by xfc compile --------------===//
//
// Built with exceptions off: nlohmann::json is parsed with allow_exceptions
// false, and every value's type is checked before it is read (a mistyped
// get<> would abort).
//
//===----------------------------------------------------------------------===//

#include "xfc/runtime/Manifest.h"

#include "xfc/attention_params.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <limits>

namespace xfc::runtime {

namespace {

using json = nlohmann::json;

/// Records the first syntax error of a SAX parse (its message names the line
/// and column).
class SyntaxErrorFinder : public nlohmann::json_sax<json> {
public:
  std::string message;

  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t &) override { return true; }
  bool string(string_t &) override { return true; }
  bool binary(binary_t &) override { return true; }
  bool start_object(std::size_t) override { return true; }
  bool key(string_t &) override { return true; }
  bool end_object() override { return true; }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t, const std::string &,
                   const nlohmann::detail::exception &error) override {
    message = error.what();
    // Drop the "[json.exception.parse_error.101] " tag.
    std::size_t tag = message.find("] ");
    if (!message.empty() && message[0] == '[' && tag != std::string::npos)
      message = message.substr(tag + 2);
    return false;
  }
};

/// A short description of a JSON value for messages.
std::string describe(const json &value) {
  switch (value.type()) {
  case json::value_t::null:
    return "null";
  case json::value_t::object:
    return "an object";
  case json::value_t::array:
    return "an array of " + std::to_string(value.size());
  case json::value_t::string: {
    std::string text = value.get_ref<const std::string &>();
    if (text.size() > 40)
      text = text.substr(0, 40) + "...";
    return "the string \"" + text + "\"";
  }
  case json::value_t::boolean:
    return value.get<bool>() ? "true" : "false";
  case json::value_t::number_integer:
  case json::value_t::number_unsigned:
  case json::value_t::number_float:
    return value.dump();
  default:
    return "an unsupported value";
  }
}

/// Reads fields of one JSON object, naming `path.key` in errors.
class FieldReader {
public:
  FieldReader(const std::string &source, const json &object, std::string path)
      : source(source), object(object), path(std::move(path)) {}

  Status error(const std::string &key, const std::string &what) const {
    return Status::error(source + ": " + qualify(key) + ": " + what);
  }
  Status mistyped(const std::string &key, const std::string &expected,
                  const json &got) const {
    return error(key, "expected " + expected + ", got " + describe(got));
  }

  /// The member `key`, or nullptr; missing required ones are an error.
  const json *find(const std::string &key, const std::string &expected,
                   bool required, Status &status) const {
    auto it = object.find(key);
    if (it == object.end()) {
      if (required)
        status = Status::error(source + ": " + (path.empty() ? "" : path) +
                               (path.empty() ? "" : ": ") + "missing \"" + key +
                               "\" (" + expected + ")");
      return nullptr;
    }
    return &*it;
  }

  Status getInt(const std::string &key, int64_t &out, bool required = true,
                int64_t min = std::numeric_limits<int64_t>::min(),
                int64_t max = std::numeric_limits<int64_t>::max()) const {
    Status status = Status::ok();
    const json *value = find(key, "an integer", required, status);
    if (!value)
      return status;
    if (!readInt(*value, out) || out < min || out > max)
      return mistyped(key, rangeText(min, max), *value);
    return Status::ok();
  }

  Status getInt(const std::string &key, int &out, bool required = true,
                int min = std::numeric_limits<int>::min(),
                int max = std::numeric_limits<int>::max()) const {
    int64_t wide = out;
    if (Status status = getInt(key, wide, required, min, max); !status)
      return status;
    out = static_cast<int>(wide);
    return Status::ok();
  }

  Status getNumber(const std::string &key, double &out,
                   bool required = true) const {
    Status status = Status::ok();
    const json *value = find(key, "a number", required, status);
    if (!value)
      return status;
    if (!value->is_number())
      return mistyped(key, "a number", *value);
    out = value->get<double>();
    return Status::ok();
  }

  Status getString(const std::string &key, std::string &out,
                   bool required = true) const {
    Status status = Status::ok();
    const json *value = find(key, "a string", required, status);
    if (!value)
      return status;
    if (!value->is_string())
      return mistyped(key, "a string", *value);
    out = value->get<std::string>();
    return Status::ok();
  }

  Status getIntList(const std::string &key, std::vector<int64_t> &out,
                    bool required = true) const {
    Status status = Status::ok();
    const json *value = find(key, "an array of integers", required, status);
    if (!value)
      return status;
    if (!value->is_array())
      return mistyped(key, "an array of integers", *value);
    out.clear();
    for (std::size_t i = 0; i < value->size(); ++i) {
      int64_t element = 0;
      if (!readInt((*value)[i], element))
        return error(key + "[" + std::to_string(i) + "]",
                     "expected an integer, got " + describe((*value)[i]));
      out.push_back(element);
    }
    return Status::ok();
  }

  std::string qualify(const std::string &key) const {
    return path.empty() ? key : path + "." + key;
  }

  static bool readInt(const json &value, int64_t &out) {
    if (value.is_number_unsigned()) {
      auto wide = value.get<uint64_t>();
      if (wide > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        return false;
      out = static_cast<int64_t>(wide);
      return true;
    }
    if (value.is_number_integer()) {
      out = value.get<int64_t>();
      return true;
    }
    return false;
  }

private:
  static std::string rangeText(int64_t min, int64_t max) {
    if (min == std::numeric_limits<int64_t>::min() &&
        max == std::numeric_limits<int64_t>::max())
      return "an integer";
    if (min == std::numeric_limits<int>::min() &&
        max == std::numeric_limits<int>::max())
      return "a 32-bit integer";
    if (max == std::numeric_limits<int64_t>::max() ||
        max == std::numeric_limits<int>::max())
      return "an integer >= " + std::to_string(min);
    return "an integer in [" + std::to_string(min) + ", " +
           std::to_string(max) + "]";
  }

  const std::string &source;
  const json &object;
  std::string path;
};

Status parseValue(const FieldReader &reader, const std::string &key,
                  const json &value, ManifestValue &out) {
  if (value.is_null()) {
    out.kind = ManifestValue::Kind::None;
  } else if (value.is_boolean()) {
    out.kind = ManifestValue::Kind::Bool;
    out.boolValue = value.get<bool>();
  } else if (value.is_number_integer()) {
    out.kind = ManifestValue::Kind::Int;
    if (!FieldReader::readInt(value, out.intValue))
      return reader.mistyped(key, "an integer", value);
  } else if (value.is_string()) {
    out.kind = ManifestValue::Kind::String;
    out.stringValue = value.get<std::string>();
  } else if (value.is_array()) {
    out.kind = ManifestValue::Kind::IntList;
    for (std::size_t i = 0; i < value.size(); ++i) {
      int64_t element = 0;
      if (!FieldReader::readInt(value[i], element))
        return reader.error(key + "[" + std::to_string(i) + "]",
                            "expected an integer, got " + describe(value[i]));
      out.listValue.push_back(element);
    }
  } else {
    return reader.mistyped(
        key, "a bool, an integer, a string or an array of integers", value);
  }
  return Status::ok();
}

Status parseValueMap(const std::string &source, const json &object,
                     const std::string &path,
                     std::map<std::string, ManifestValue> &out) {
  FieldReader reader(source, object, path);
  for (auto it = object.begin(); it != object.end(); ++it) {
    ManifestValue value;
    if (Status status = parseValue(reader, it.key(), it.value(), value);
        !status)
      return status;
    out[it.key()] = std::move(value);
  }
  return Status::ok();
}

/// Typed attention traits from the generic map.
Status parseAttentionTraits(const std::string &source, const std::string &path,
                            const std::map<std::string, ManifestValue> &traits,
                            AttentionTraits &out) {
  auto missing = [&](const char *name, const char *what) {
    return Status::error(source + ": " + path + ": missing " + name + " (" +
                         what + "), which attention_forward kernels have");
  };
  auto mistyped = [&](const char *name, const char *what) {
    return Status::error(source + ": " + path + "." + name + ": expected " +
                         what);
  };
  auto getInt = [&](const char *name, int &value) {
    auto it = traits.find(name);
    if (it == traits.end())
      return missing(name, "a positive integer");
    if (it->second.kind != ManifestValue::Kind::Int ||
        it->second.intValue <= 0 ||
        it->second.intValue > std::numeric_limits<int>::max())
      return mistyped(name, "a positive integer");
    value = static_cast<int>(it->second.intValue);
    return Status::ok();
  };
  auto getBool = [&](const char *name, bool &value) {
    auto it = traits.find(name);
    if (it == traits.end())
      return missing(name, "true or false");
    if (it->second.kind != ManifestValue::Kind::Bool)
      return mistyped(name, "true or false");
    value = it->second.boolValue;
    return Status::ok();
  };

  auto element = traits.find("Element");
  if (element == traits.end())
    return missing("Element", "fp16, bf16 or fp32");
  StatusOr<DType> dtype = element->second.kind == ManifestValue::Kind::String
                              ? parseDType(element->second.stringValue)
                              : StatusOr<DType>(Status::error(""));
  if (!dtype || *dtype == DType::Bool || *dtype == DType::U8)
    return mistyped("Element", "one of \"fp16\", \"bf16\", \"fp32\"");
  out.element = *dtype;

  for (auto [name, field] :
       {std::pair<const char *, int *>{"HeadDim", &out.headDim},
        {"BlockM", &out.blockM},
        {"BlockN", &out.blockN},
        {"NumWarps", &out.numWarps},
        {"NumStages", &out.numStages},
        {"SharedBytes", &out.sharedBytes}})
    if (Status status = getInt(name, *field); !status)
      return status;
  for (auto [name, field] :
       {std::pair<const char *, bool *>{"Causal", &out.causal},
        {"HasAttnMask", &out.hasAttnMask},
        {"HasKeyPadding", &out.hasKeyPadding},
        {"HasDropout", &out.hasDropout},
        {"WriteLse", &out.writeLse}})
    if (Status status = getBool(name, *field); !status)
      return status;
  // The optional sliding window (the local variant), both bounds or none.
  auto left = traits.find("WindowLeft"), right = traits.find("WindowRight");
  if ((left == traits.end()) != (right == traits.end()))
    return missing(left == traits.end() ? "WindowLeft" : "WindowRight",
                   "an integer >= -1 (window traits come in pairs)");
  if (left != traits.end()) {
    for (auto [it, field] : {std::pair{left, &out.windowLeft},
                             std::pair{right, &out.windowRight}}) {
      if (it->second.kind != ManifestValue::Kind::Int ||
          it->second.intValue < -1 ||
          it->second.intValue > std::numeric_limits<int>::max())
        return mistyped(it->first.c_str(), "an integer >= -1");
      *field = static_cast<int>(it->second.intValue);
    }
  }
  // The optional random pattern (the random variant), all three or none.
  auto threshold = traits.find("RandomThreshold"),
       seed = traits.find("RandomSeed"), perCall = traits.find("RandomPerCall");
  int randomPresent = (threshold != traits.end()) + (seed != traits.end()) +
                      (perCall != traits.end());
  if (randomPresent != 0 && randomPresent != 3)
    return missing(threshold == traits.end() ? "RandomThreshold"
                   : seed == traits.end()    ? "RandomSeed"
                                             : "RandomPerCall",
                   "random traits come in threes");
  if (randomPresent == 3) {
    if (threshold->second.kind != ManifestValue::Kind::Int ||
        threshold->second.intValue < 1 ||
        threshold->second.intValue > (int64_t(1) << 32))
      return mistyped("RandomThreshold", "an integer in [1, 2^32]");
    if (seed->second.kind != ManifestValue::Kind::Int ||
        seed->second.intValue < 0)
      return mistyped("RandomSeed", "an integer >= 0");
    if (perCall->second.kind != ManifestValue::Kind::Bool)
      return mistyped("RandomPerCall", "true or false");
    out.randomThreshold = threshold->second.intValue;
    out.randomSeed = static_cast<uint64_t>(seed->second.intValue);
    out.randomPerCall = perCall->second.boolValue;
  }
  return Status::ok();
}

/// SplitMix64's output function, as templates/xfc/schedule.cuh has it.
uint64_t splitMix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/// The block layout from the tables, when they describe one.
Status parseBlockLayout(const std::string &source, const std::string &path,
                        const std::map<std::string, ManifestValue> &tables,
                        std::optional<BlockLayout> &out) {
  if (!tables.count("BlockBits") && !tables.count("LayoutBlock"))
    return Status::ok();
  BlockLayout layout;
  for (auto [name, field] :
       {std::pair<const char *, int *>{"LayoutBlock", &layout.layoutBlock},
        {"LayoutHeads", &layout.layoutHeads},
        {"NumBlocks", &layout.numBlocks},
        {"NumTileRows", &layout.numTileRows}}) {
    auto it = tables.find(name);
    if (it == tables.end())
      return Status::error(source + ": " + path + ": missing " + name +
                           " (a positive integer), which block layouts have");
    if (it->second.kind != ManifestValue::Kind::Int ||
        it->second.intValue <= 0 || it->second.intValue > (1 << 20))
      return Status::error(source + ": " + path + "." + name +
                           ": expected a positive integer");
    *field = static_cast<int>(it->second.intValue);
  }
  auto bits = tables.find("BlockBits");
  std::size_t expected = static_cast<std::size_t>(layout.layoutHeads) *
                         layout.numBlocks * layout.numBlocks;
  if (bits == tables.end() ||
      bits->second.kind != ManifestValue::Kind::IntList ||
      bits->second.listValue.size() != expected)
    return Status::error(
        source + ": " + path + ".BlockBits: expected " +
        std::to_string(expected) +
        " entries 0/1 ([LayoutHeads][NumBlocks][NumBlocks])" +
        (bits == tables.end()
             ? std::string(", got none")
             : ", got " + std::to_string(bits->second.listValue.size())));
  for (int64_t bit : bits->second.listValue) {
    if (bit != 0 && bit != 1)
      return Status::error(source + ": " + path +
                           ".BlockBits: expected entries 0 or 1, got " +
                           std::to_string(bit));
    layout.blockBits.push_back(static_cast<uint8_t>(bit));
  }
  // Gathered K/V tiles (the sm_90a kernel): layout blocks per tile.
  if (auto tileBlocks = tables.find("TileBlocks"); tileBlocks != tables.end()) {
    if (tileBlocks->second.kind != ManifestValue::Kind::Int ||
        (tileBlocks->second.intValue != 1 && tileBlocks->second.intValue != 2))
      return Status::error(source + ": " + path +
                           ".TileBlocks: expected 1 or 2 (layout blocks a "
                           "K/V tile gathers)");
    layout.tileBlocks = static_cast<int>(tileBlocks->second.intValue);
  }
  // Global tokens (the global variant): one 0/1 entry per token.
  if (auto global = tables.find("GlobalBits"); global != tables.end()) {
    if (global->second.kind != ManifestValue::Kind::IntList ||
        global->second.listValue.empty() ||
        static_cast<int64_t>(global->second.listValue.size()) >
            layout.getCoverage())
      return Status::error(source + ": " + path +
                           ".GlobalBits: expected 1 to " +
                           std::to_string(layout.getCoverage()) +
                           " entries 0/1 (one per token)");
    for (int64_t bit : global->second.listValue) {
      if (bit != 0 && bit != 1)
        return Status::error(source + ": " + path +
                             ".GlobalBits: expected entries 0 or 1, got " +
                             std::to_string(bit));
      layout.globalBits.push_back(static_cast<uint8_t>(bit));
    }
  }
  out = std::move(layout);
  return Status::ok();
}

Status parseTensor(const std::string &source, const json &value,
                   const std::string &path, bool wantRole,
                   ManifestTensor &out) {
  if (!value.is_object())
    return Status::error(source + ": " + path + ": expected an object, got " +
                         describe(value));
  FieldReader reader(source, value, path);
  if (wantRole)
    if (Status status = reader.getString("role", out.role); !status)
      return status;
  if (Status status = reader.getIntList("shape", out.shape); !status)
    return status;
  for (int64_t size : out.shape)
    if (size < -1)
      return reader.error("shape", "expected sizes >= 0 or -1 (dynamic), got " +
                                       std::to_string(size));
  std::string dtype;
  if (Status status = reader.getString("dtype", dtype); !status)
    return status;
  StatusOr<DType> parsed = parseDType(dtype);
  if (!parsed)
    return reader.error("dtype", parsed.getStatus().getMessage().substr(7));
  out.dtype = *parsed;
  if (wantRole) {
    out.source = out.role;
    if (Status status = reader.getString("source", out.source, false); !status)
      return status;
    return Status::ok();
  }
  out.name = "out";
  if (Status status = reader.getString("name", out.name, false); !status)
    return status;
  Status status = Status::ok();
  if (const json *sizes = reader.find("sizes", "an array", false, status)) {
    if (!sizes->is_array() || sizes->size() != out.shape.size())
      return reader.mistyped(
          "sizes", "an array of " + std::to_string(out.shape.size()) + " sizes",
          *sizes);
    for (const json &size : *sizes) {
      if (!size.is_string())
        return reader.mistyped("sizes", "strings", size);
      out.sizes.push_back(size.get<std::string>());
    }
  }
  return status;
}

/// A file name that stays inside the manifest's directory.
bool isPlainFileName(const std::string &name) {
  return !name.empty() && name.find('/') == std::string::npos &&
         name.find('\\') == std::string::npos && name != "." && name != "..";
}

Status parseKernel(const std::string &source, const json &value,
                   const std::string &path, ManifestKernel &out) {
  if (!value.is_object())
    return Status::error(source + ": " + path + ": expected an object, got " +
                         describe(value));
  FieldReader reader(source, value, path);
  if (Status status = reader.getString("symbol", out.symbol); !status)
    return status;
  if (out.symbol.empty())
    return reader.error("symbol", "expected a kernel name, got \"\"");
  if (Status status = reader.getString("template", out.templateName); !status)
    return status;
  if (Status status = reader.getString("arch", out.arch); !status)
    return status;
  for (auto [key, field] :
       {std::pair<const char *, std::string *>{"source", &out.source},
        {"ptx", &out.ptx},
        {"cubin", &out.cubin}}) {
    if (Status status = reader.getString(key, *field, /*required=*/false);
        !status)
      return status;
    if (!field->empty() && !isPlainFileName(*field))
      return reader.error(key,
                          "expected a file name in the manifest's directory, "
                          "got \"" +
                              *field + "\"");
  }
  if (Status status = reader.getString("params", out.params); !status)
    return status;

  std::vector<int64_t> block;
  if (Status status = reader.getIntList("block", block); !status)
    return status;
  if (block.size() != 3 || block[0] <= 0 || block[1] <= 0 || block[2] <= 0 ||
      block[0] * block[1] * block[2] > 1024) {
    std::string got = "[";
    for (std::size_t i = 0; i < block.size(); ++i)
      got += (i ? ", " : "") + std::to_string(block[i]);
    return reader.error("block",
                        "expected 3 positive sizes of at most 1024 threads "
                        "in all, got " +
                            got + "]");
  }
  for (int i = 0; i < 3; ++i)
    out.block[i] = static_cast<int>(block[i]);

  Status status = Status::ok();
  const json *grid =
      reader.find("grid", "an array of 3 grid terms", true, status);
  if (!grid)
    return status;
  if (!grid->is_array() || grid->size() != 3)
    return reader.mistyped("grid", "an array of 3 grid terms", *grid);
  for (std::size_t i = 0; i < 3; ++i) {
    const json &term = (*grid)[i];
    std::string termPath =
        reader.qualify("grid") + "[" + std::to_string(i) + "]";
    if (!term.is_object())
      return Status::error(source + ": " + termPath +
                           ": expected {\"symbol\", \"ceil_div\"} or "
                           "{\"constant\"}, got " +
                           describe(term));
    FieldReader termReader(source, term, termPath);
    GridTerm parsed;
    if (term.contains("constant")) {
      int64_t constant = 0;
      if (Status status = termReader.getInt("constant", constant, true, 1);
          !status)
        return status;
      parsed.constant = constant;
    } else {
      if (Status status = termReader.getString("symbol", parsed.symbol);
          !status)
        return status;
      if (parsed.symbol != "batch" && parsed.symbol != "heads" &&
          parsed.symbol != "q_len" && parsed.symbol != "kv_len")
        return termReader.error("symbol",
                                "expected one of batch, heads, q_len, kv_len, "
                                "got \"" +
                                    parsed.symbol + "\"");
      if (Status status =
              termReader.getInt("ceil_div", parsed.ceilDiv, true, 1);
          !status)
        return status;
    }
    out.grid.push_back(parsed);
  }

  if (Status status = reader.getInt("shared_bytes", out.sharedBytes, true, 0,
                                    std::numeric_limits<int>::max());
      !status)
    return status;
  if (Status status =
          reader.getInt("workspace_bytes", out.workspaceBytes, false, 0);
      !status)
    return status;

  const json *traits = reader.find("traits", "an object", true, status);
  if (!traits)
    return status;
  if (!traits->is_object())
    return reader.mistyped("traits", "an object", *traits);
  if (Status status =
          parseValueMap(source, *traits, reader.qualify("traits"), out.traits);
      !status)
    return status;
  if (const json *tables = reader.find("tables", "an object", false, status)) {
    if (!tables->is_object())
      return reader.mistyped("tables", "an object", *tables);
    if (Status status = parseValueMap(source, *tables, reader.qualify("tables"),
                                      out.tables);
        !status)
      return status;
  }
  if (const json *atLoad =
          reader.find("tables_at_load", "a boolean", false, status)) {
    if (!atLoad->is_boolean())
      return reader.mistyped("tables_at_load", "a boolean", *atLoad);
    out.tablesAtLoad = atLoad->get<bool>();
    if (out.tablesAtLoad && out.tables.empty())
      return reader.error("tables_at_load",
                          "true, but the kernel has no tables");
  }

  if (out.templateName == "attention_forward") {
    AttentionTraits traits;
    if (Status status = parseAttentionTraits(source, reader.qualify("traits"),
                                             out.traits, traits);
        !status)
      return status;
    out.attention = traits;
  }
  return parseBlockLayout(source, reader.qualify("tables"), out.tables,
                          out.layout);
}

Status parseLaunch(const std::string &source, const json &value,
                   const std::string &path, ManifestLaunch &out) {
  if (!value.is_object())
    return Status::error(source + ": " + path + ": expected an object, got " +
                         describe(value));
  FieldReader reader(source, value, path);
  if (Status status = reader.getString("kernel", out.kernel); !status)
    return status;
  if (Status status = reader.getNumber("dropout", out.dropout, false); !status)
    return status;
  if (!(out.dropout >= 0 && out.dropout < 1))
    return reader.error("dropout", "expected a probability in [0, 1), got " +
                                       std::to_string(out.dropout));
  if (Status status = reader.getNumber("alpha", out.alpha, false); !status)
    return status;
  if (Status status = reader.getNumber("beta", out.beta, false); !status)
    return status;
  if (Status status = reader.getIntList("ints", out.ints, false); !status)
    return status;
  Status status = Status::ok();
  const json *inputs = reader.find("inputs", "an array", true, status);
  if (!inputs)
    return status;
  if (!inputs->is_array())
    return reader.mistyped("inputs", "an array of tensors", *inputs);
  for (std::size_t i = 0; i < inputs->size(); ++i) {
    ManifestTensor tensor;
    if (Status status = parseTensor(source, (*inputs)[i],
                                    reader.qualify("inputs") + "[" +
                                        std::to_string(i) + "]",
                                    /*wantRole=*/true, tensor);
        !status)
      return status;
    out.inputs.push_back(std::move(tensor));
  }
  const json *output = reader.find("output", "an object", true, status);
  if (!output)
    return status;
  return parseTensor(source, *output, reader.qualify("output"),
                     /*wantRole=*/false, out.output);
}

} // namespace

const ManifestTensor *ManifestLaunch::findInput(const std::string &role) const {
  for (const ManifestTensor &input : inputs)
    if (input.role == role)
      return &input;
  return nullptr;
}

const ManifestKernel *Manifest::findKernel(const std::string &symbol) const {
  for (const ManifestKernel &kernel : kernels)
    if (kernel.symbol == symbol)
      return &kernel;
  return nullptr;
}

StatusOr<Manifest> Manifest::parse(const std::string &text,
                                   const std::string &sourceName) {
  json root = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) {
    SyntaxErrorFinder finder;
    json::sax_parse(text, &finder);
    return Status::error(
        sourceName + ": invalid JSON: " +
        (finder.message.empty() ? std::string("parse error") : finder.message));
  }
  if (!root.is_object())
    return Status::error(sourceName + ": expected a JSON object, got " +
                         describe(root));

  Manifest manifest;
  FieldReader reader(sourceName, root, "");
  // Versions first: a manifest of another format may differ anywhere else.
  if (Status status =
          reader.getInt("manifest_version", manifest.manifestVersion);
      !status)
    return status;
  if (manifest.manifestVersion != kSupportedManifestVersion &&
      manifest.manifestVersion != 1)
    return Status::error(
        sourceName + ": manifest_version " +
        std::to_string(manifest.manifestVersion) +
        " is not supported: this runtime reads manifest_version 1 to " +
        std::to_string(kSupportedManifestVersion) +
        "; recompile the config with a matching xfc");
  if (Status status = reader.getInt("params_version", manifest.paramsVersion);
      !status)
    return status;
  if (manifest.paramsVersion != xfc::kParamsVersion)
    return Status::error(
        sourceName + ": params_version " +
        std::to_string(manifest.paramsVersion) +
        " is not supported: this runtime passes AttentionParams version " +
        std::to_string(xfc::kParamsVersion) +
        "; recompile the config with a matching xfc");

  if (Status status =
          reader.getString("xfc_version", manifest.xfcVersion, false);
      !status)
    return status;
  if (Status status =
          reader.getString("nvrtc_version", manifest.nvrtcVersion, false);
      !status)
    return status;
  if (Status status =
          reader.getString("config_sha256", manifest.configSha256, false);
      !status)
    return status;
  Status status = Status::ok();
  if (const json *config = reader.find("config", "an object", false, status)) {
    if (!config->is_object())
      return reader.mistyped("config", "an object", *config);
    manifest.configJson = config->dump();
  }
  if (const json *specialization =
          reader.find("specialization", "an object", false, status)) {
    if (!specialization->is_object())
      return reader.mistyped("specialization", "an object of strings",
                             *specialization);
    for (auto it = specialization->begin(); it != specialization->end(); ++it) {
      if (!it.value().is_string())
        return reader.mistyped("specialization." + it.key(), "a string",
                               it.value());
      manifest.specialization[it.key()] = it.value().get<std::string>();
    }
  }

  const json *kernels = reader.find("kernels", "an array", true, status);
  if (!kernels)
    return status;
  if (!kernels->is_array())
    return reader.mistyped("kernels", "an array of kernels", *kernels);
  for (std::size_t i = 0; i < kernels->size(); ++i) {
    ManifestKernel kernel;
    if (Status status =
            parseKernel(sourceName, (*kernels)[i],
                        "kernels[" + std::to_string(i) + "]", kernel);
        !status)
      return status;
    if (manifest.findKernel(kernel.symbol))
      return Status::error(sourceName + ": kernels[" + std::to_string(i) +
                           "].symbol: \"" + kernel.symbol + "\" appears twice");
    manifest.kernels.push_back(std::move(kernel));
  }

  const json *launches = reader.find("launches", "an array", true, status);
  if (!launches)
    return status;
  if (!launches->is_array())
    return reader.mistyped("launches", "an array of launches", *launches);
  for (std::size_t i = 0; i < launches->size(); ++i) {
    ManifestLaunch launch;
    std::string path = "launches[" + std::to_string(i) + "]";
    if (Status status = parseLaunch(sourceName, (*launches)[i], path, launch);
        !status)
      return status;
    if (!manifest.findKernel(launch.kernel))
      return Status::error(sourceName + ": " + path + ".kernel: \"" +
                           launch.kernel + "\" is not among \"kernels\"");
    manifest.launches.push_back(std::move(launch));
  }

  if (const json *parameters =
          reader.find("parameters", "an array", false, status)) {
    if (!parameters->is_array())
      return reader.mistyped("parameters", "an array of parameters",
                             *parameters);
    for (std::size_t i = 0; i < parameters->size(); ++i) {
      std::string path = "parameters[" + std::to_string(i) + "]";
      const json &value = (*parameters)[i];
      if (!value.is_object())
        return Status::error(sourceName + ": " + path +
                             ": expected an object, got " + describe(value));
      FieldReader field(sourceName, value, path);
      ManifestParameter parameter;
      std::vector<int64_t> shape;
      std::string dtype;
      for (Status s :
           {field.getString("name", parameter.name),
            field.getIntList("shape", shape), field.getString("dtype", dtype),
            field.getString("init", parameter.init),
            field.getNumber("init_scale", parameter.initScale),
            field.getInt("seed", parameter.seed)})
        if (!s)
          return s;
      if (shape.size() != 2 || shape[0] < 1 || shape[1] < 1)
        return field.error("shape", "expected [rows, cols] >= 1");
      if (dtype != "fp32")
        return field.error("dtype", "expected \"fp32\", got \"" + dtype + "\"");
      if (parameter.init != "uniform" && parameter.init != "normal" &&
          parameter.init != "orthogonal" && parameter.init != "orthogonal_chi")
        return field.error("init", "expected \"uniform\", \"normal\", "
                                   "\"orthogonal\" or \"orthogonal_chi\", "
                                   "got \"" +
                                       parameter.init + "\"");
      parameter.rows = shape[0];
      parameter.cols = shape[1];
      manifest.parameters.push_back(std::move(parameter));
    }
  }
  return manifest;
}

StatusOr<std::vector<char>> readBinaryFile(const std::string &path) {
  std::FILE *file = std::fopen(path.c_str(), "rb");
  if (!file)
    return Status::error(path + ": cannot open the file");
  std::vector<char> bytes;
  char chunk[65536];
  std::size_t count;
  while ((count = std::fread(chunk, 1, sizeof(chunk), file)) > 0)
    bytes.insert(bytes.end(), chunk, chunk + count);
  bool failed = std::ferror(file);
  std::fclose(file);
  if (failed)
    return Status::error(path + ": cannot read the file");
  return bytes;
}

StatusOr<Manifest> Manifest::load(const std::string &path) {
  StatusOr<std::vector<char>> bytes = readBinaryFile(path);
  if (!bytes)
    return bytes.getStatus();
  StatusOr<Manifest> manifest =
      parse(std::string(bytes->begin(), bytes->end()), path);
  if (!manifest)
    return manifest;
  std::size_t slash = path.find_last_of('/');
  manifest->directory =
      slash == std::string::npos ? std::string(".") : path.substr(0, slash);
  if (manifest->directory.empty())
    manifest->directory = "/";
  return manifest;
}

} // namespace xfc::runtime

bool xfc::runtime::AttentionTraits::keepsRandomPair(int64_t i, int64_t j,
                                                    uint64_t seed,
                                                    uint64_t offset) const {
  if (randomThreshold <= 0)
    return true;
  // templates/xfc/schedule.cuh, RandomPattern.
  const uint64_t gamma = 0x9E3779B97F4A7C15ull;
  uint64_t key = randomSeed;
  if (randomPerCall)
    key ^= splitMix64(seed + splitMix64(offset + gamma));
  uint64_t n = (static_cast<uint64_t>(i) << 32) + static_cast<uint64_t>(j) + 1;
  return (splitMix64(key + n * gamma) >> 32) <
         static_cast<uint64_t>(randomThreshold);
}
