//===- Config.cpp - xFormers attention configs ----------------------------===//
//
// parseConfig runs in four steps:
//   1. read the JSON (JsonReader) and find the variant from "name";
//   2. check every member against the variant's FieldSpecs (registry), each
//      error at the value (or key) it is about;
//   3. apply the command-line overrides and xFormers' constant defaults, then
//      check what spans fields (required fields, layout against num_heads
//      and seq_len, ...);
//   4. derive the defaults computed from other fields (linformer's k, ...)
//      and render the canonical JSON.
// Field errors do not stop the parse, so one run reports every bad field;
// checks across fields only look at fields that parsed.
//
//===----------------------------------------------------------------------===//

#include "xfc/Frontend/Config.h"

#include "xfc/Frontend/LayoutGenerators.h"
#include "xfc/Frontend/VariantRegistry.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SHA256.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>

using namespace xfc;

//===----------------------------------------------------------------------===//
// Diagnostics
//===----------------------------------------------------------------------===//

char ConfigError::ID = 0;

std::string ConfigDiagnostic::str() const {
  std::string text = bufferName;
  if (line != 0)
    text += ":" + std::to_string(line) + ":" + std::to_string(column);
  text += isError() ? ": error: " : ": warning: ";
  text += message;
  return text;
}

void ConfigDiagnostic::print(llvm::raw_ostream &os) const { os << str(); }

const ConfigDiagnostic &ConfigError::getFirstError() const {
  for (const ConfigDiagnostic &diagnostic : diagnostics)
    if (diagnostic.isError())
      return diagnostic;
  return diagnostics.front();
}

void ConfigError::log(llvm::raw_ostream &os) const {
  llvm::interleave(
      diagnostics, os, [&](const ConfigDiagnostic &d) { d.print(os); }, "\n");
}

std::error_code ConfigError::convertToErrorCode() const {
  return llvm::inconvertibleErrorCode();
}

void xfc::printDiagnostics(llvm::ArrayRef<ConfigDiagnostic> diagnostics,
                           llvm::raw_ostream &os) {
  for (const ConfigDiagnostic &diagnostic : diagnostics)
    os << diagnostic.str() << "\n";
}

//===----------------------------------------------------------------------===//
// Values
//===----------------------------------------------------------------------===//

std::string xfc::dtypeName(Dtype dtype) {
  switch (dtype) {
  case Dtype::F16:
    return "fp16";
  case Dtype::BF16:
    return "bf16";
  case Dtype::F32:
    return "fp32";
  }
  return "";
}

std::optional<Dtype> xfc::parseDtype(llvm::StringRef name) {
  if (name == "fp16")
    return Dtype::F16;
  if (name == "bf16")
    return Dtype::BF16;
  if (name == "fp32")
    return Dtype::F32;
  return std::nullopt;
}

int64_t BlockLayout::countSet() const {
  return llvm::count_if(bits, [](uint8_t bit) { return bit != 0; });
}

double BlockLayout::density() const {
  if (bits.empty())
    return 0.0;
  return static_cast<double>(countSet()) / static_cast<double>(bits.size());
}

FieldValue FieldValue::getBool(bool value) {
  FieldValue result;
  result.kind = Kind::Bool;
  result.boolValue = value;
  return result;
}

FieldValue FieldValue::getInt(int64_t value) {
  FieldValue result;
  result.kind = Kind::Int;
  result.intValue = value;
  return result;
}

FieldValue FieldValue::getFloat(double value) {
  FieldValue result;
  result.kind = Kind::Float;
  result.floatValue = value;
  return result;
}

FieldValue FieldValue::getString(std::string value) {
  FieldValue result;
  result.kind = Kind::String;
  result.stringValue = std::move(value);
  return result;
}

FieldValue FieldValue::getIntList(std::vector<int64_t> value) {
  FieldValue result;
  result.kind = Kind::IntList;
  result.intList = std::move(value);
  return result;
}

bool xfc::operator==(const FieldValue &a, const FieldValue &b) {
  if (a.kind != b.kind)
    return false;
  switch (a.kind) {
  case FieldValue::Kind::Bool:
    return a.boolValue == b.boolValue;
  case FieldValue::Kind::Int:
    return a.intValue == b.intValue;
  case FieldValue::Kind::Float:
    return a.floatValue == b.floatValue;
  case FieldValue::Kind::String:
    return a.stringValue == b.stringValue;
  case FieldValue::Kind::IntList:
    return a.intList == b.intList;
  }
  return false;
}

bool AttentionConfig::isGiven(llvm::StringRef field) const {
  return fieldLocations.count(field.str()) != 0;
}

SourceLocation AttentionConfig::getLocation(llvm::StringRef field) const {
  auto it = fieldLocations.find(field.str());
  return it == fieldLocations.end() ? configLocation : it->second;
}

const FieldValue *AttentionConfig::getField(llvm::StringRef field) const {
  auto it = fields.find(field.str());
  return it == fields.end() ? nullptr : &it->second;
}

std::optional<int64_t> AttentionConfig::getInt(llvm::StringRef field) const {
  const FieldValue *value = getField(field);
  if (!value || value->kind != FieldValue::Kind::Int)
    return std::nullopt;
  return value->intValue;
}

std::optional<double> AttentionConfig::getFloat(llvm::StringRef field) const {
  const FieldValue *value = getField(field);
  if (!value)
    return std::nullopt;
  if (value->kind == FieldValue::Kind::Float)
    return value->floatValue;
  if (value->kind == FieldValue::Kind::Int)
    return static_cast<double>(value->intValue);
  return std::nullopt;
}

std::optional<bool> AttentionConfig::getBool(llvm::StringRef field) const {
  const FieldValue *value = getField(field);
  if (!value || value->kind != FieldValue::Kind::Bool)
    return std::nullopt;
  return value->boolValue;
}

std::optional<std::string>
AttentionConfig::getString(llvm::StringRef field) const {
  const FieldValue *value = getField(field);
  if (!value || value->kind != FieldValue::Kind::String)
    return std::nullopt;
  return value->stringValue;
}

//===----------------------------------------------------------------------===//
// Formatting helpers
//===----------------------------------------------------------------------===//

template <typename Range> static std::string joinValues(const Range &values) {
  std::string text;
  llvm::raw_string_ostream os(text);
  llvm::interleaveComma(values, os);
  return text;
}

static std::string joinStrings(llvm::ArrayRef<llvm::StringRef> values) {
  return llvm::join(values, ", ");
}

/// "(4, 4)" for a shape.
static std::string formatShape(llvm::ArrayRef<int64_t> shape) {
  std::string text = "(" + joinValues(shape);
  if (shape.size() == 1)
    text += ",";
  return text + ")";
}

//===----------------------------------------------------------------------===//
// .npy layouts
//===----------------------------------------------------------------------===//

namespace {

/// The header dictionary of a .npy file.
struct NpyHeader {
  std::string descr;
  bool fortranOrder = false;
  std::vector<int64_t> shape;
};

/// Parses the Python dict literal of a .npy header, e.g.
/// {'descr': '<i8', 'fortran_order': False, 'shape': (4, 4), }
bool parseNpyHeader(llvm::StringRef text, NpyHeader &header) {
  text = text.trim();
  if (!text.consume_front("{") || !text.consume_back("}"))
    return false;
  bool haveDescr = false, haveOrder = false, haveShape = false;
  while (true) {
    text = text.ltrim();
    if (text.empty())
      break;
    char quote = text.front();
    if (quote != '\'' && quote != '"')
      return false;
    size_t end = text.find(quote, 1);
    if (end == llvm::StringRef::npos)
      return false;
    llvm::StringRef key = text.slice(1, end);
    text = text.drop_front(end + 1).ltrim();
    if (!text.consume_front(":"))
      return false;
    text = text.ltrim();
    if (key == "descr") {
      if (text.empty() || (text.front() != '\'' && text.front() != '"'))
        return false;
      size_t close = text.find(text.front(), 1);
      if (close == llvm::StringRef::npos)
        return false;
      header.descr = text.slice(1, close).str();
      text = text.drop_front(close + 1);
      haveDescr = true;
    } else if (key == "fortran_order") {
      if (text.consume_front("True"))
        header.fortranOrder = true;
      else if (text.consume_front("False"))
        header.fortranOrder = false;
      else
        return false;
      haveOrder = true;
    } else if (key == "shape") {
      if (!text.consume_front("("))
        return false;
      size_t close = text.find(')');
      if (close == llvm::StringRef::npos)
        return false;
      llvm::StringRef dims = text.take_front(close);
      text = text.drop_front(close + 1);
      llvm::SmallVector<llvm::StringRef> parts;
      dims.split(parts, ',');
      for (llvm::StringRef part : parts) {
        part = part.trim();
        if (part.empty())
          continue;
        // Python 2 era files may write "4L".
        part.consume_back("L");
        int64_t dim;
        if (part.getAsInteger(10, dim) || dim < 0)
          return false;
        header.shape.push_back(dim);
      }
      haveShape = true;
    } else {
      return false;
    }
    text = text.ltrim();
    if (!text.consume_front(","))
      break;
  }
  return text.trim().empty() && haveDescr && haveOrder && haveShape;
}

} // namespace

std::optional<BlockLayout> xfc::readNpyLayout(llvm::StringRef path,
                                              std::string &error) {
  std::string name = "'" + path.str() + "'";
  llvm::ErrorOr<std::unique_ptr<llvm::MemoryBuffer>> file =
      llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                  /*RequiresNullTerminator=*/false);
  if (!file) {
    error = "cannot read " + name + ": " + file.getError().message();
    return std::nullopt;
  }
  llvm::StringRef bytes = (*file)->getBuffer();
  auto corrupt = [&](const llvm::Twine &why) {
    error = (name + " is not a valid .npy file: " + why).str();
    return std::nullopt;
  };
  if (!bytes.starts_with("\x93NUMPY") || bytes.size() < 10)
    return corrupt("it does not start with the .npy magic string");
  unsigned major = static_cast<unsigned char>(bytes[6]);
  size_t headerLength, headerStart;
  if (major == 1) {
    headerLength = static_cast<unsigned char>(bytes[8]) |
                   (static_cast<unsigned char>(bytes[9]) << 8);
    headerStart = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12)
      return corrupt("the header is truncated");
    headerLength = 0;
    for (int i = 3; i >= 0; --i)
      headerLength =
          (headerLength << 8) | static_cast<unsigned char>(bytes[8 + i]);
    headerStart = 12;
  } else {
    return corrupt("unknown format version " + llvm::Twine(major));
  }
  if (headerStart + headerLength > bytes.size())
    return corrupt("the header is truncated");
  NpyHeader header;
  if (!parseNpyHeader(bytes.substr(headerStart, headerLength), header))
    return corrupt("cannot parse its header '" +
                   bytes.substr(headerStart, headerLength).trim() + "'");

  // Element type: bool or integer, any byte order.
  llvm::StringRef descr = header.descr;
  char order = descr.empty() ? '?' : descr.front();
  char typeCode = descr.size() > 1 ? descr[1] : '?';
  unsigned itemSize = 0;
  bool sizeOk =
      descr.size() > 2 && !descr.drop_front(2).getAsInteger(10, itemSize);
  bool isBool = typeCode == 'b' && itemSize == 1;
  bool isInt =
      (typeCode == 'i' || typeCode == 'u') &&
      (itemSize == 1 || itemSize == 2 || itemSize == 4 || itemSize == 8);
  if (!sizeOk || !llvm::is_contained({'<', '>', '|', '='}, order) ||
      (!isBool && !isInt)) {
    error = name + " has dtype '" + header.descr +
            "'; expected a bool or integer array (float layouts are not "
            "accepted: xFormers PR #872)";
    return std::nullopt;
  }
  if (header.fortranOrder) {
    error = name + " is stored in Fortran order; expected C order (save it "
                   "with np.ascontiguousarray)";
    return std::nullopt;
  }
  llvm::ArrayRef<int64_t> shape = header.shape;
  if ((shape.size() != 2 && shape.size() != 3) ||
      shape[shape.size() - 1] != shape[shape.size() - 2] || shape.back() == 0 ||
      (shape.size() == 3 && shape[0] == 0)) {
    error = name + " has shape " + formatShape(shape) +
            "; expected (nb, nb) or (H, nb, nb) with nb > 0";
    return std::nullopt;
  }

  BlockLayout layout;
  layout.heads = shape.size() == 3 ? shape[0] : 1;
  layout.numBlocks = shape.back();
  // Guard the multiplication before comparing with the file size.
  uint64_t count = 1;
  for (int64_t dim : shape) {
    if (count > (uint64_t(1) << 40) / uint64_t(dim))
      return corrupt("shape " + formatShape(shape) + " is too large");
    count *= uint64_t(dim);
  }
  uint64_t dataSize = count * itemSize;
  uint64_t available = bytes.size() - headerStart - headerLength;
  if (available != dataSize)
    return corrupt("shape " + formatShape(shape) + " of '" + header.descr +
                   "' needs " + llvm::Twine(dataSize) +
                   " bytes of data, the file has " + llvm::Twine(available));

  const unsigned char *data = reinterpret_cast<const unsigned char *>(
      bytes.data() + headerStart + headerLength);
  bool bigEndian = order == '>';
  layout.bits.resize(count);
  for (uint64_t index = 0; index < count; ++index) {
    const unsigned char *item = data + index * itemSize;
    uint64_t raw = 0;
    for (unsigned b = 0; b < itemSize; ++b) {
      unsigned shift = bigEndian ? 8 * (itemSize - 1 - b) : 8 * b;
      raw |= uint64_t(item[b]) << shift;
    }
    int64_t value = static_cast<int64_t>(raw);
    if (typeCode == 'i' && itemSize < 8 && (raw >> (8 * itemSize - 1)) & 1)
      value = static_cast<int64_t>(raw | (~uint64_t(0) << (8 * itemSize)));
    if (value != 0 && value != 1) {
      std::string where;
      uint64_t rest = index;
      for (size_t d = shape.size(); d-- > 0;) {
        where = "[" + std::to_string(rest % uint64_t(shape[d])) + "]" + where;
        rest /= uint64_t(shape[d]);
      }
      error = name + " entry " + where + " is " + std::to_string(value) +
              "; expected 0 or 1";
      return std::nullopt;
    }
    layout.bits[index] = static_cast<uint8_t>(value);
  }
  return layout;
}

//===----------------------------------------------------------------------===//
// Parser
//===----------------------------------------------------------------------===//

namespace {

constexpr llvm::StringLiteral kLayoutShape =
    "expected a [nb][nb] or [H][nb][nb] list of 0/1";

class ConfigParser {
public:
  ConfigParser(llvm::StringRef text, llvm::StringRef bufferName,
               const ConfigOverrides &overrides, llvm::StringRef baseDirectory)
      : text(text), bufferName(bufferName), overrides(overrides),
        baseDirectory(baseDirectory) {}

  llvm::Expected<AttentionConfig> run();

private:
  //===--------------------------------------------------------------------===//
  // Diagnostics
  //===--------------------------------------------------------------------===//

  void report(DiagnosticSeverity severity, SourceLocation loc,
              const llvm::Twine &message) {
    ConfigDiagnostic diagnostic;
    diagnostic.bufferName = bufferName.str();
    diagnostic.line = loc.line;
    diagnostic.column = loc.column;
    diagnostic.severity = severity;
    diagnostic.message = message.str();
    if (severity == DiagnosticSeverity::Error)
      hadError = true;
    diagnostics.push_back(std::move(diagnostic));
  }
  void error(SourceLocation loc, const llvm::Twine &message) {
    report(DiagnosticSeverity::Error, loc, message + suffix);
  }
  void warning(SourceLocation loc, const llvm::Twine &message) {
    report(DiagnosticSeverity::Warning, loc, message + suffix);
  }

  llvm::Error takeError() {
    std::stable_sort(diagnostics.begin(), diagnostics.end(),
                     [](const ConfigDiagnostic &a, const ConfigDiagnostic &b) {
                       return SourceLocation{a.line, a.column} <
                              SourceLocation{b.line, b.column};
                     });
    return llvm::make_error<ConfigError>(std::move(diagnostics));
  }

  /// How messages name `field`: `variant.field` or `field`.
  std::string pathOf(const FieldSpec &field) const {
    if (field.isQualifiedInMessages())
      return (variant->name + "." + field.name).str();
    return field.name.str();
  }

  //===--------------------------------------------------------------------===//
  // Fields
  //===--------------------------------------------------------------------===//

  bool parseVariant(const JsonValue &root);
  void parseMember(const JsonMember &member);
  std::optional<FieldValue> parseScalar(const FieldSpec &field,
                                        const JsonValue &value);
  std::optional<FieldValue> parseNumber(const FieldSpec &field,
                                        const JsonValue &value);
  std::optional<BlockLayout> parseLayout(const JsonValue &value);
  std::optional<BlockLayout> parseLayoutList(const JsonValue &value);
  bool parseLayoutMatrix(const JsonValue &matrix, int64_t head,
                         int64_t numBlocks, std::vector<uint8_t> &bits);
  bool parseTokenList(const JsonValue &value);
  void generateLayout();
  void applyOverrides();
  void applyOverride(llvm::StringRef name, const JsonValue &value);
  void checkAcrossFields();
  void fillDefaults();
  void deriveValues();
  void setTypedMembers();

  std::optional<int64_t> intOf(llvm::StringRef name) const {
    auto it = values.find(name.str());
    if (it == values.end() || it->second.kind != FieldValue::Kind::Int)
      return std::nullopt;
    return it->second.intValue;
  }
  std::optional<bool> boolOf(llvm::StringRef name) const {
    auto it = values.find(name.str());
    if (it == values.end() || it->second.kind != FieldValue::Kind::Bool)
      return std::nullopt;
    return it->second.boolValue;
  }
  /// Where messages about `name` point: its value, or the config object.
  SourceLocation locOf(llvm::StringRef name) const {
    auto it = locations.find(name.str());
    return it == locations.end() ? configLocation : it->second;
  }
  void setDerived(llvm::StringRef name, int64_t value) {
    if (!values.count(name.str()) && !present.count(name.str()))
      values[name.str()] = FieldValue::getInt(value);
  }

  llvm::StringRef text, bufferName;
  const ConfigOverrides &overrides;
  llvm::StringRef baseDirectory;

  std::vector<ConfigDiagnostic> diagnostics;
  bool hadError = false;
  /// Appended to messages while checking override values.
  std::string suffix;

  const VariantSpec *variant = nullptr;
  SourceLocation configLocation;
  /// Members given with a non-null value (valid or not).
  std::set<std::string> present;
  /// Values that parsed, then overrides, defaults and derived values.
  std::map<std::string, FieldValue> values;
  /// Where each given member's value is.
  std::map<std::string, SourceLocation> locations;
  std::vector<std::string> overridden;
  std::optional<BlockLayout> layout;
  /// A `{"pattern": ...}` layout, generated once every field is known;
  /// then its canonical JSON object.
  std::optional<ParsedLayoutGenerator> layoutGenerator;
  std::string layoutGeneratorJson;
  std::vector<int64_t> globalTokens;
  std::optional<int64_t> globalMaskLength;
};

bool ConfigParser::parseVariant(const JsonValue &root) {
  std::string known = joinStrings(getVariantNames());
  const JsonMember *name = root.findMember("name");
  if (!name || name->value.isNull()) {
    error(configLocation,
          "missing required field 'name'; known variants: " + known);
    return false;
  }
  if (!name->value.isString()) {
    error(name->value.getLocation(), "name: expected a variant name, got " +
                                         name->value.describe() +
                                         "; known variants: " + known);
    return false;
  }
  llvm::StringRef variantName = name->value.getString();
  variant = findVariant(variantName);
  if (!variant) {
    std::string message = "unknown variant '" + variantName.str() + "'; ";
    llvm::StringRef closest = findClosest(variantName, getVariantNames());
    if (!closest.empty())
      message += "did you mean '" + closest.str() + "'? ";
    error(name->value.getLocation(), message + "known variants: " + known);
    return false;
  }
  locations["name"] = name->value.getLocation();
  return true;
}

void ConfigParser::parseMember(const JsonMember &member) {
  llvm::StringRef key = member.key;
  if (key == "name")
    return;
  const JsonValue &value = member.value;
  const FieldSpec *field = variant->findField(key);
  if (!field) {
    if (key == "causal") {
      // Accept an explicit non-causal setting; causal=true has no meaning.
      if (value.isNull() || (value.isBool() && !value.getBool()))
        return;
      error(member.keyLocation,
            "causal: variant '" + variant->name +
                "' has no causal form (each output mixes every position); "
                "remove 'causal'");
      return;
    }
    std::vector<llvm::StringRef> names = variant->getFieldNames();
    std::string message = "unknown field '" + key.str() + "' in variant '" +
                          variant->name.str() + "'; ";
    llvm::StringRef closest = findClosest(key, names);
    if (!closest.empty())
      message += "did you mean '" + closest.str() + "'? ";
    error(member.keyLocation, message + "valid fields: " + joinStrings(names));
    return;
  }
  // xFormers drops None fields so that the constructor default applies.
  if (value.isNull())
    return;
  present.insert(key.str());
  locations[key.str()] = value.getLocation();

  switch (field->kind) {
  case FieldKind::Module:
    error(member.keyLocation,
          pathOf(*field) +
              ": takes a torch nn.Module in xFormers, which a JSON config "
              "cannot give; remove it (" +
              field->doc + ")");
    return;
  case FieldKind::Layout:
    layout = parseLayout(value);
    return;
  case FieldKind::TokenList:
    parseTokenList(value);
    return;
  default:
    break;
  }
  if (std::optional<FieldValue> parsed = parseScalar(*field, value))
    values[key.str()] = std::move(*parsed);
}

std::optional<FieldValue> ConfigParser::parseScalar(const FieldSpec &field,
                                                    const JsonValue &value) {
  std::string path = pathOf(field);
  switch (field.kind) {
  case FieldKind::Bool:
    if (!value.isBool()) {
      error(value.getLocation(),
            path + ": expected true or false, got " + value.describe());
      return std::nullopt;
    }
    return FieldValue::getBool(value.getBool());
  case FieldKind::Enum: {
    if (!value.isString() ||
        !llvm::is_contained(field.allowedStrings, value.getString())) {
      error(value.getLocation(), path + ": expected one of " +
                                     joinStrings(field.allowedStrings) +
                                     ", got " + value.describe());
      return std::nullopt;
    }
    return FieldValue::getString(value.getString().str());
  }
  case FieldKind::Int:
  case FieldKind::Float: {
    if (!value.isString())
      return parseNumber(field, value);
    // FairSeq's README gives numbers as strings: accept them, with a warning.
    if (!isJsonNumber(value.getString())) {
      parseNumber(field, value); // reports the error
      return std::nullopt;
    }
    std::optional<FieldValue> parsed = parseNumber(
        field, JsonValue::makeNumber(value.getString(), value.getLocation()));
    if (parsed)
      warning(value.getLocation(), path + ": number given as a string");
    return parsed;
  }
  default:
    return std::nullopt;
  }
}

std::optional<FieldValue> ConfigParser::parseNumber(const FieldSpec &field,
                                                    const JsonValue &value) {
  std::string path = pathOf(field);
  if (field.kind == FieldKind::Float) {
    std::string expected = "a number";
    if (std::isfinite(field.minFloat) || std::isfinite(field.maxFloat))
      expected += std::string(" in ") + (field.minInclusive ? "[" : "(") +
                  formatBound(field.minFloat) + ", " +
                  formatBound(field.maxFloat) +
                  (field.maxInclusive ? "]" : ")");
    if (!value.isNumber()) {
      error(value.getLocation(),
            path + ": expected " + expected + ", got " + value.describe());
      return std::nullopt;
    }
    double number = value.getDouble();
    bool aboveMin =
        field.minInclusive ? number >= field.minFloat : number > field.minFloat;
    bool belowMax =
        field.maxInclusive ? number <= field.maxFloat : number < field.maxFloat;
    if (!aboveMin || !belowMax) {
      error(value.getLocation(),
            path + ": expected " + expected + ", got " + value.describe());
      return std::nullopt;
    }
    return FieldValue::getFloat(number);
  }

  std::string expected = field.minInt == 1   ? "a positive integer"
                         : field.minInt == 0 ? "a non-negative integer"
                                             : "an integer";
  if (!value.isInteger() || value.getInteger() < field.minInt) {
    error(value.getLocation(),
          path + ": expected " + expected + ", got " + value.describe());
    return std::nullopt;
  }
  int64_t number = value.getInteger();
  if (!field.allowedInts.empty() &&
      !llvm::is_contained(field.allowedInts, number)) {
    std::string message = path + ": expected one of " +
                          joinValues(field.allowedInts) + ", got " +
                          value.describe();
    if (field.name == "head_dim")
      message += " (the head sizes xfc's attention kernels support for '" +
                 variant->name.str() + "')";
    error(value.getLocation(), message);
    return std::nullopt;
  }
  return FieldValue::getInt(number);
}

//===----------------------------------------------------------------------===//
// Layouts
//===----------------------------------------------------------------------===//

std::optional<BlockLayout> ConfigParser::parseLayout(const JsonValue &value) {
  if (value.isArray())
    return parseLayoutList(value);
  if (!value.isObject()) {
    std::string message = "layout: " + kLayoutShape.str() +
                          ", {\"pattern\": ...} or {\"file\": "
                          "\"layout.npy\"}, got " +
                          value.describe();
    if (value.isString() && getDefaultLayoutOptions(value.getString()))
      message +=
          "; did you mean {\"pattern\": \"" + value.getString().str() + "\"}?";
    error(value.getLocation(), message);
    return std::nullopt;
  }
  if (value.findMember("pattern")) {
    // Generated in checkAcrossFields, once seq_len, block_size and
    // num_heads are known.
    layoutGenerator = parseLayoutGenerator(
        value, [&](DiagnosticSeverity severity, SourceLocation loc,
                   const llvm::Twine &message) {
          report(severity, loc, message + suffix);
        });
    return std::nullopt;
  }
  const JsonMember *file = value.findMember("file");
  for (const JsonMember &member : value.getMembers()) {
    if (member.key != "file") {
      error(member.keyLocation,
            "layout: unknown key '" + member.key + "' in layout object; " +
                (file ? "expected {\"file\": \"layout.npy\"}"
                      : "expected {\"file\": \"layout.npy\"} or "
                        "{\"pattern\": ...}"));
      return std::nullopt;
    }
  }
  if (!file) {
    error(value.getLocation(),
          "layout: expected {\"file\": \"layout.npy\"}, {\"pattern\": ...} or "
          "a nested list, got an empty object");
    return std::nullopt;
  }
  if (!file->value.isString() || file->value.getString().empty()) {
    error(file->value.getLocation(),
          "layout.file: expected the path of a .npy file, got " +
              file->value.describe());
    return std::nullopt;
  }
  llvm::SmallString<256> path(file->value.getString());
  if (llvm::sys::path::is_relative(path)) {
    llvm::SmallString<256> base(baseDirectory);
    if (base.empty())
      base = llvm::sys::path::parent_path(bufferName);
    if (!base.empty()) {
      llvm::sys::path::append(base, path);
      path = base;
    }
  }
  std::string message;
  std::optional<BlockLayout> result = readNpyLayout(path, message);
  if (!result)
    error(file->value.getLocation(), "layout: " + message);
  return result;
}

std::optional<BlockLayout>
ConfigParser::parseLayoutList(const JsonValue &value) {
  llvm::ArrayRef<JsonValue> items = value.getElements();
  if (items.empty()) {
    error(value.getLocation(),
          "layout: " + kLayoutShape + ", got an empty list");
    return std::nullopt;
  }
  const JsonValue &first = items.front();
  if (!first.isArray()) {
    error(value.getLocation(), "layout: " + kLayoutShape +
                                   ", got a flat list; a layout has one row "
                                   "per query block");
    return std::nullopt;
  }
  BlockLayout result;
  bool perHead =
      !first.getElements().empty() && first.getElements().front().isArray();
  if (!perHead) {
    result.heads = 1;
    result.numBlocks = static_cast<int64_t>(items.size());
    result.bits.reserve(items.size() * items.size());
    if (!parseLayoutMatrix(value, /*head=*/-1, result.numBlocks, result.bits))
      return std::nullopt;
    return result;
  }
  result.heads = static_cast<int64_t>(items.size());
  result.numBlocks = static_cast<int64_t>(first.getElements().size());
  result.bits.reserve(items.size() * first.getElements().size() *
                      first.getElements().size());
  for (size_t head = 0; head < items.size(); ++head)
    if (!parseLayoutMatrix(items[head], static_cast<int64_t>(head),
                           result.numBlocks, result.bits))
      return std::nullopt;
  return result;
}

bool ConfigParser::parseLayoutMatrix(const JsonValue &matrix, int64_t head,
                                     int64_t numBlocks,
                                     std::vector<uint8_t> &bits) {
  std::string path = "layout";
  std::string where;
  if (head >= 0) {
    path += "[" + std::to_string(head) + "]";
    where = "head " + std::to_string(head) + " ";
  }
  if (!matrix.isArray()) {
    error(matrix.getLocation(),
          path + ": expected a list of rows of 0/1, got " + matrix.describe());
    return false;
  }
  llvm::ArrayRef<JsonValue> rows = matrix.getElements();
  if (static_cast<int64_t>(rows.size()) != numBlocks) {
    error(matrix.getLocation(), "layout: " + kLayoutShape + ", " + where +
                                    "has " + llvm::Twine(rows.size()) +
                                    " rows, expected " +
                                    llvm::Twine(numBlocks));
    return false;
  }
  for (size_t i = 0; i < rows.size(); ++i) {
    const JsonValue &row = rows[i];
    if (!row.isArray()) {
      error(row.getLocation(), path + "[" + llvm::Twine(i) +
                                   "]: expected a list of 0/1, got " +
                                   row.describe());
      return false;
    }
    llvm::ArrayRef<JsonValue> entries = row.getElements();
    if (static_cast<int64_t>(entries.size()) != numBlocks) {
      error(row.getLocation(),
            "layout: " + kLayoutShape + ", " + where + "row " + llvm::Twine(i) +
                " has " + llvm::Twine(entries.size()) + " entries, expected " +
                llvm::Twine(numBlocks));
      return false;
    }
    for (size_t j = 0; j < entries.size(); ++j) {
      const JsonValue &entry = entries[j];
      if (entry.isInteger() &&
          (entry.getInteger() == 0 || entry.getInteger() == 1)) {
        bits.push_back(static_cast<uint8_t>(entry.getInteger()));
      } else if (entry.isBool()) {
        bits.push_back(entry.getBool() ? 1 : 0);
      } else {
        error(entry.getLocation(),
              path + "[" + llvm::Twine(i) + "][" + llvm::Twine(j) +
                  "]: expected 0 or 1, got " + entry.describe());
        return false;
      }
    }
  }
  return true;
}

//===----------------------------------------------------------------------===//
// attention_query_mask
//===----------------------------------------------------------------------===//

bool ConfigParser::parseTokenList(const JsonValue &value) {
  llvm::StringRef path = "attention_query_mask";
  std::optional<TokenList> list = xfc::parseTokenList(
      value, path, [&](SourceLocation loc, const llvm::Twine &message) {
        error(loc, message);
      });
  if (!list)
    return false;
  globalTokens = std::move(list->tokens);
  globalMaskLength = list->maskLength;
  values[path.str()] = FieldValue::getIntList(globalTokens);
  return true;
}

//===----------------------------------------------------------------------===//
// Overrides, checks across fields, defaults
//===----------------------------------------------------------------------===//

void ConfigParser::applyOverride(llvm::StringRef name, const JsonValue &value) {
  const FieldSpec *field = variant->findField(name);
  if (!field)
    return;
  suffix = " (given as an override)";
  std::optional<FieldValue> parsed = parseScalar(*field, value);
  suffix.clear();
  if (!parsed)
    return;
  values[name.str()] = std::move(*parsed);
  present.insert(name.str());
  overridden.push_back(name.str());
}

void ConfigParser::applyOverrides() {
  auto intValue = [&](llvm::StringRef name, int64_t number) {
    return JsonValue::makeNumber(std::to_string(number), locOf(name));
  };
  auto stringValue = [&](llvm::StringRef name, const std::string &string) {
    return JsonValue::makeString(string, locOf(name));
  };
  if (overrides.headDim)
    applyOverride("head_dim", intValue("head_dim", *overrides.headDim));
  if (overrides.numHeads)
    applyOverride("num_heads", intValue("num_heads", *overrides.numHeads));
  if (overrides.dtype)
    applyOverride("dtype", stringValue("dtype", *overrides.dtype));
  if (overrides.seqLen)
    applyOverride("seq_len", intValue("seq_len", *overrides.seqLen));
  if (overrides.kvSeqLen)
    applyOverride("kv_seq_len", intValue("kv_seq_len", *overrides.kvSeqLen));
  if (overrides.arch)
    applyOverride("arch", stringValue("arch", *overrides.arch));
}

/// The suffix naming an overridden field's origin in cross-field messages.
static std::string originOf(llvm::StringRef name,
                            llvm::ArrayRef<std::string> overridden) {
  return llvm::is_contained(overridden, name.str()) ? " (given as an override)"
                                                    : "";
}

void ConfigParser::checkAcrossFields() {
  llvm::StringRef name = variant->name;

  // Required fields (overrides may supply them).
  for (const FieldSpec &field : variant->fields)
    if (field.required && !present.count(field.name.str()))
      error(configLocation, "missing required field '" + field.name +
                                "' for variant '" + name + "'");

  generateLayout();

  // dim_head (favor, lambda) is the head size: it must agree with head_dim.
  if (std::optional<int64_t> dimHead = intOf("dim_head")) {
    std::optional<int64_t> headDim = intOf("head_dim");
    if (headDim && *headDim != *dimHead)
      error(locOf("dim_head"), name + ".dim_head: " + llvm::Twine(*dimHead) +
                                   " does not match head_dim " +
                                   llvm::Twine(*headDim) +
                                   originOf("head_dim", overridden));
  }

  // scaled_dot_product: to_seq_len is the key length.
  if (std::optional<int64_t> toSeqLen = intOf("to_seq_len"))
    if (std::optional<int64_t> kvSeqLen = intOf("kv_seq_len"))
      if (*kvSeqLen != *toSeqLen)
        error(locOf("to_seq_len"),
              name + ".to_seq_len: " + llvm::Twine(*toSeqLen) +
                  " does not match kv_seq_len " + llvm::Twine(*kvSeqLen) +
                  originOf("kv_seq_len", overridden));

  if (name == "blocksparse" && layout) {
    if (std::optional<int64_t> numHeads = intOf("num_heads")) {
      if (layout->heads != 1 && layout->heads != *numHeads)
        error(locOf("layout"), "layout: expected 1 or num_heads (" +
                                   llvm::Twine(*numHeads) + ") heads, got " +
                                   llvm::Twine(layout->heads) +
                                   originOf("num_heads", overridden));
    }
    if (std::optional<int64_t> blockSize = intOf("block_size")) {
      int64_t nb = layout->numBlocks;
      for (llvm::StringRef lengthName : {"seq_len", "kv_seq_len"}) {
        std::optional<int64_t> length = intOf(lengthName);
        if (!length)
          continue;
        int64_t low = (nb - 1) * *blockSize + 1, high = nb * *blockSize;
        if (*length < low || *length > high)
          error(locOf(lengthName),
                lengthName + ": a layout of " + llvm::Twine(nb) +
                    " blocks of " + llvm::Twine(*blockSize) + " covers " +
                    llvm::Twine(low) + " to " + llvm::Twine(high) +
                    " tokens, got " + llvm::Twine(*length) +
                    originOf(lengthName, overridden));
      }
    }
    if (layout->countSet() == 0)
      warning(locOf("layout"),
              "layout: no block is set; every output row will be 0");
  }

  if (name == "local") {
    std::optional<int64_t> window = intOf("window_size");
    if (window && !boolOf("causal").value_or(false) && *window % 2 == 0)
      error(locOf("window_size"),
            "local.window_size: expected an odd window when not causal "
            "(keys with |i-j| <= window_size // 2), got " +
                llvm::Twine(*window));
  }

  if (name == "global" && !globalTokens.empty()) {
    std::optional<int64_t> seqLen = intOf("seq_len");
    if (seqLen && globalMaskLength && *seqLen > *globalMaskLength)
      error(locOf("seq_len"), "seq_len: " + llvm::Twine(*seqLen) +
                                  " is longer than attention_query_mask (" +
                                  llvm::Twine(*globalMaskLength) + " tokens)" +
                                  originOf("seq_len", overridden));
    if (seqLen && globalMaskLength && *seqLen < *globalMaskLength)
      error(locOf("seq_len"),
            "seq_len: " + llvm::Twine(*seqLen) +
                " is shorter than attention_query_mask (" +
                llvm::Twine(*globalMaskLength) +
                " tokens); global attention is fixed to the mask's length" +
                originOf("seq_len", overridden));
    if (seqLen && !globalMaskLength && globalTokens.back() >= *seqLen)
      error(locOf("attention_query_mask"),
            "attention_query_mask: token index " +
                llvm::Twine(globalTokens.back()) +
                " is out of range for seq_len " + llvm::Twine(*seqLen) +
                originOf("seq_len", overridden));
    // Queries and keys are the same tokens.
    std::optional<int64_t> length =
        globalMaskLength ? globalMaskLength : seqLen;
    std::optional<int64_t> kvSeqLen = intOf("kv_seq_len");
    if (length && kvSeqLen && *kvSeqLen != *length)
      error(locOf("kv_seq_len"),
            "kv_seq_len: global attention has one sequence length for "
            "queries and keys (" +
                llvm::Twine(*length) + "), got " + llvm::Twine(*kvSeqLen) +
                originOf("kv_seq_len", overridden));
  }

  if (name == "linformer") {
    std::optional<int64_t> seqLen = intOf("seq_len");
    if (seqLen && !intOf("k") && !present.count("k") && *seqLen / 4 == 0)
      error(locOf("seq_len"), "linformer.k: the default seq_len // 4 is 0 "
                              "for seq_len " +
                                  llvm::Twine(*seqLen) + "; give k");
    std::optional<int64_t> kvSeqLen = intOf("kv_seq_len");
    if (seqLen && kvSeqLen && *kvSeqLen > *seqLen)
      error(locOf("kv_seq_len"),
            "kv_seq_len: " + llvm::Twine(*kvSeqLen) +
                " is longer than seq_len " + llvm::Twine(*seqLen) +
                ", the length linformer's projections take" +
                originOf("kv_seq_len", overridden));
  }

  if (name == "compositional") {
    std::optional<int64_t> numHeads = intOf("num_heads");
    std::optional<int64_t> dimAttn = intOf("dim_attn");
    if (!dimAttn)
      dimAttn = intOf("dim_model");
    if (numHeads && dimAttn && *dimAttn % *numHeads != 0)
      error(locOf(present.count("dim_attn") ? "dim_attn" : "dim_model"),
            "compositional.dim_attn: " + llvm::Twine(*dimAttn) +
                " is not divisible by num_heads " + llvm::Twine(*numHeads));
  }

  if (name == "favor") {
    // sm_reg and sm_hyp concatenate exp(+p) and exp(-p): m must be even
    // (xFormers asserts it).
    auto map = values.find("feature_map");
    std::string featureMap =
        map != values.end() && map->second.kind == FieldValue::Kind::String
            ? map->second.stringValue
            : "sm_reg";
    if (std::optional<int64_t> features = intOf("dim_features"))
      if (featureMap != "sm_orf" && *features % 2 != 0)
        error(locOf("dim_features"),
              "favor.dim_features: feature_map '" + featureMap +
                  "' needs an even number of features, got " +
                  llvm::Twine(*features));
    if (present.count("iter_before_redraw"))
      warning(locOf("iter_before_redraw"),
              "favor.iter_before_redraw: xfc draws the random features once, "
              "when the plan is created (seeded), and never redraws them by "
              "itself; redraw by setting the parameter 'features'");
  }

  if (name == "pooling" || name == "visual") {
    for (llvm::StringRef lengthName : {"seq_len", "kv_seq_len"}) {
      std::optional<int64_t> length = intOf(lengthName);
      if (!length)
        continue;
      int64_t side = static_cast<int64_t>(std::llround(std::sqrt(*length)));
      if (side * side != *length)
        error(locOf(lengthName), lengthName + ": " + name +
                                     " needs a square token grid, got " +
                                     llvm::Twine(*length) + " tokens" +
                                     originOf(lengthName, overridden));
    }
  }
}

void ConfigParser::generateLayout() {
  if (!layoutGenerator)
    return;
  ParsedLayoutGenerator &generator = *layoutGenerator;
  LayoutGeneratorOptions &options = generator.options;
  llvm::StringRef pattern = getLayoutPatternName(options);
  bool ready = true;

  // block_size: the config's, or the layout object's when only it has one.
  if (generator.isGiven("block_size")) {
    int64_t blockSize = getLayoutBlockSize(options);
    std::optional<int64_t> configBlockSize = intOf("block_size");
    if (!llvm::is_contained(getLayoutBlockSizes(), blockSize)) {
      error(generator.getLocation("block_size"),
            "layout.block_size: expected one of " +
                joinValues(getLayoutBlockSizes()) + ", got " +
                llvm::Twine(blockSize));
      ready = false;
    } else if (present.count("block_size")) {
      if (configBlockSize && *configBlockSize != blockSize) {
        error(generator.getLocation("block_size"),
              "layout.block_size: " + llvm::Twine(blockSize) +
                  " does not match block_size " +
                  llvm::Twine(*configBlockSize) +
                  originOf("block_size", overridden));
        ready = false;
      }
    } else {
      values["block_size"] = FieldValue::getInt(blockSize);
    }
  } else if (std::optional<int64_t> blockSize = intOf("block_size")) {
    setLayoutBlockSize(options, *blockSize);
  } else {
    ready = false; // block_size is wrong, and said so
  }

  // num_heads: the config's (or override's), or the layout object's.
  if (std::optional<int64_t> heads = getLayoutNumHeads(options)) {
    std::optional<int64_t> configHeads = intOf("num_heads");
    if (generator.isGiven("num_heads")) {
      if (configHeads && *configHeads != *heads) {
        error(generator.getLocation("num_heads"),
              "layout.num_heads: " + llvm::Twine(*heads) +
                  " does not match num_heads " + llvm::Twine(*configHeads) +
                  originOf("num_heads", overridden));
        ready = false;
      } else if (!present.count("num_heads")) {
        values["num_heads"] = FieldValue::getInt(*heads);
      }
    } else if (configHeads) {
      setLayoutNumHeads(options, *configHeads);
    } else if (present.count("num_heads")) {
      ready = false; // num_heads is wrong, and said so
    } else if (hasLayoutPerHead(options)) {
      error(generator.getLocation("different_layout_per_head"),
            "layout.different_layout_per_head: a layout per head needs "
            "num_heads; give num_heads in the config or the layout object");
      ready = false;
    }
  }

  std::optional<int64_t> seqLen = intOf("seq_len");
  if (!seqLen) {
    if (!present.count("seq_len"))
      error(locOf("layout"),
            "layout: pattern '" + pattern +
                "' needs seq_len (the layout has ceil(seq_len / block_size) "
                "blocks); give seq_len");
    ready = false;
  }
  if (!ready)
    return;

  llvm::Expected<BlockLayout> generated = xfc::generateLayout(options, *seqLen);
  if (!generated) {
    llvm::handleAllErrors(
        generated.takeError(),
        [&](const LayoutError &failure) {
          if (failure.getField() == "seq_len")
            error(locOf("seq_len"), "seq_len: " + failure.getMessage() +
                                        " (layout pattern '" + pattern + "')" +
                                        originOf("seq_len", overridden));
          else
            error(generator.getLocation(failure.getField()),
                  "layout." + failure.getField() + ": " + failure.getMessage());
        },
        [&](const llvm::ErrorInfoBase &failure) {
          error(locOf("layout"), "layout: " + failure.message());
        });
    return;
  }
  layout = std::move(*generated);
  layoutGeneratorJson = renderLayoutGenerator(options);
}

void ConfigParser::fillDefaults() {
  for (const FieldSpec &field : variant->fields) {
    std::string key = field.name.str();
    if (values.count(key) || !field.hasDefault || present.count(key))
      continue;
    switch (field.kind) {
    case FieldKind::Bool:
      values[key] = FieldValue::getBool(field.defaultBool);
      break;
    case FieldKind::Int:
      values[key] = FieldValue::getInt(field.defaultInt);
      break;
    case FieldKind::Float:
      values[key] = FieldValue::getFloat(field.defaultFloat);
      break;
    case FieldKind::Enum:
      values[key] = FieldValue::getString(field.defaultString.str());
      break;
    default:
      break;
    }
  }
}

void ConfigParser::deriveValues() {
  // Values derived from other fields, as xFormers' constructors do.
  llvm::StringRef name = variant->name;
  if (name == "blocksparse" && layout && layout->heads > 1)
    setDerived("num_heads", layout->heads);
  if (std::optional<int64_t> toSeqLen = intOf("to_seq_len"))
    setDerived("kv_seq_len", *toSeqLen);
  if (name == "favor") {
    if (std::optional<int64_t> headDim = intOf("head_dim"))
      setDerived("dim_head", *headDim);
    if (std::optional<int64_t> dimHead = intOf("dim_head")) {
      double dh = static_cast<double>(*dimHead);
      int64_t features =
          static_cast<int64_t>(std::ceil(dh * (1.0 + std::log2(dh))));
      setDerived("dim_features", 2 * (features / 2));
    }
  }
  if (std::optional<int64_t> dimHead = intOf("dim_head"))
    setDerived("head_dim", *dimHead);
  if (name == "linformer")
    if (std::optional<int64_t> seqLen = intOf("seq_len"))
      if (*seqLen / 4 > 0)
        setDerived("k", *seqLen / 4);
  if (name == "compositional") {
    std::optional<int64_t> dimModel = intOf("dim_model");
    std::optional<int64_t> numHeads = intOf("num_heads");
    if (dimModel) {
      setDerived("dim_attn", *dimModel);
      setDerived("dim_key", *dimModel);
      setDerived("dim_value", *dimModel);
    }
    if (numHeads)
      setDerived("num_rules", *numHeads);
    if (dimModel && numHeads)
      setDerived("dim_selection", *dimModel / *numHeads);
  }
}

llvm::Expected<AttentionConfig> ConfigParser::run() {
  if (text.trim().empty()) {
    error({1, 1}, "config is empty; expected a JSON object with a \"name\"");
    return takeError();
  }
  JsonSyntaxError syntaxError;
  std::optional<JsonValue> root = parseJson(text, syntaxError);
  if (!root) {
    error(syntaxError.location, syntaxError.message);
    return takeError();
  }
  configLocation = root->getLocation();
  if (!root->isObject()) {
    error(root->getLocation(),
          "expected the config to be a JSON object with a \"name\", got " +
              root->describe());
    return takeError();
  }
  if (!parseVariant(*root))
    return takeError();
  for (const JsonMember &member : root->getMembers())
    parseMember(member);
  applyOverrides();
  fillDefaults();
  checkAcrossFields();
  if (hadError)
    return takeError();
  deriveValues();

  AttentionConfig config;
  config.variant = variant->name.str();
  config.bufferName = bufferName.str();
  config.configLocation = configLocation;
  config.fieldLocations = locations;
  config.overridden = overridden;
  config.layout = std::move(layout);
  config.layoutGenerator = layoutGeneratorJson;
  config.globalTokens = globalTokens;
  config.globalMaskLength = globalMaskLength;
  config.fields = values;
  config.sourceText = text.str();

  config.dropout = config.getFloat("dropout").value_or(0.0);
  config.causal = config.getBool("causal").value_or(false);
  config.headDim = config.getInt("head_dim");
  config.numHeads = config.getInt("num_heads");
  config.seqLen = config.getInt("seq_len");
  config.kvSeqLen = config.getInt("kv_seq_len");
  config.toSeqLen = config.getInt("to_seq_len");
  if (std::optional<std::string> dtype = config.getString("dtype"))
    config.dtype = parseDtype(*dtype);
  config.arch = config.getString("arch");
  config.blockSize = config.getInt("block_size").value_or(16);
  config.windowSize = config.getInt("window_size").value_or(5);

  std::stable_sort(diagnostics.begin(), diagnostics.end(),
                   [](const ConfigDiagnostic &a, const ConfigDiagnostic &b) {
                     return SourceLocation{a.line, a.column} <
                            SourceLocation{b.line, b.column};
                   });
  config.warnings = std::move(diagnostics);
  config.canonicalJson = canonicalConfigJson(config);
  return config;
}

} // namespace

//===----------------------------------------------------------------------===//
// Entry points
//===----------------------------------------------------------------------===//

llvm::Expected<AttentionConfig>
xfc::parseConfig(llvm::StringRef text, llvm::StringRef bufferName,
                 const ConfigOverrides &overrides,
                 llvm::StringRef baseDirectory) {
  return ConfigParser(text, bufferName, overrides, baseDirectory).run();
}

llvm::Expected<AttentionConfig>
xfc::parseConfigFile(llvm::StringRef path, const ConfigOverrides &overrides) {
  llvm::ErrorOr<std::unique_ptr<llvm::MemoryBuffer>> file =
      llvm::MemoryBuffer::getFile(path, /*IsText=*/true);
  if (!file) {
    ConfigDiagnostic diagnostic;
    diagnostic.bufferName = path.str();
    diagnostic.message = "cannot read config file '" + path.str() +
                         "': " + file.getError().message();
    return llvm::make_error<ConfigError>(
        std::vector<ConfigDiagnostic>{diagnostic});
  }
  return parseConfig((*file)->getBuffer(), path, overrides);
}

//===----------------------------------------------------------------------===//
// Canonical form
//===----------------------------------------------------------------------===//

static std::string renderValue(const FieldValue &value) {
  switch (value.kind) {
  case FieldValue::Kind::Bool:
    return value.boolValue ? "true" : "false";
  case FieldValue::Kind::Int:
    return std::to_string(value.intValue);
  case FieldValue::Kind::Float:
    return formatFloat(value.floatValue);
  case FieldValue::Kind::String: {
    std::string text;
    appendJsonString(text, value.stringValue);
    return text;
  }
  case FieldValue::Kind::IntList:
    return "[" + joinValues(value.intList) + "]";
  }
  return "null";
}

static std::string renderLayout(const BlockLayout &layout) {
  std::string text = "[\n";
  auto renderRow = [&](int64_t head, int64_t row) {
    text += "[";
    for (int64_t j = 0; j < layout.numBlocks; ++j) {
      if (j)
        text += ", ";
      text += layout.at(head, row, j) ? '1' : '0';
    }
    text += "]";
  };
  for (int64_t h = 0; h < layout.heads; ++h) {
    if (layout.heads == 1) {
      for (int64_t i = 0; i < layout.numBlocks; ++i) {
        text += "    ";
        renderRow(h, i);
        text += i + 1 < layout.numBlocks ? ",\n" : "\n";
      }
      continue;
    }
    text += "    [";
    for (int64_t i = 0; i < layout.numBlocks; ++i) {
      if (i)
        text += ", ";
      renderRow(h, i);
    }
    text += h + 1 < layout.heads ? "],\n" : "]\n";
  }
  return text + "  ]";
}

std::string xfc::canonicalConfigJson(const AttentionConfig &config) {
  std::map<std::string, std::string> members;
  FieldValue name = FieldValue::getString(config.variant);
  members["name"] = renderValue(name);
  for (const auto &[key, value] : config.fields)
    members[key] = renderValue(value);
  if (!config.layoutGenerator.empty())
    members["layout"] = config.layoutGenerator;
  else if (config.layout)
    members["layout"] = renderLayout(*config.layout);
  if (config.globalMaskLength) {
    // Keep the mask's length: as booleans it reads back as a mask.
    std::vector<bool> mask(*config.globalMaskLength, false);
    for (int64_t token : config.globalTokens)
      if (token < *config.globalMaskLength)
        mask[token] = true;
    std::string text = "[";
    for (size_t i = 0; i < mask.size(); ++i)
      text += std::string(i ? ", " : "") + (mask[i] ? "true" : "false");
    members["attention_query_mask"] = text + "]";
  }
  std::string text = "{\n";
  size_t index = 0;
  for (const auto &[key, value] : members) {
    text += "  ";
    appendJsonString(text, key);
    text += ": " + value;
    text += ++index < members.size() ? ",\n" : "\n";
  }
  return text + "}";
}

std::string xfc::canonicalConfigSha256(const AttentionConfig &config) {
  std::string json = canonicalConfigJson(config);
  std::array<uint8_t, 32> digest = llvm::SHA256::hash(llvm::ArrayRef<uint8_t>(
      reinterpret_cast<const uint8_t *>(json.data()), json.size()));
  return llvm::toHex(digest, /*LowerCase=*/true);
}

std::optional<TokenList> xfc::parseTokenList(
    const JsonValue &value, llvm::StringRef path,
    llvm::function_ref<void(SourceLocation, const llvm::Twine &)> error) {
  if (!value.isArray() || value.getElements().empty()) {
    error(value.getLocation(),
          path + ": expected a list of token indices or a 0/1 list, got " +
              value.describe());
    return std::nullopt;
  }
  llvm::ArrayRef<JsonValue> items = value.getElements();
  bool allBool =
      llvm::all_of(items, [](const JsonValue &v) { return v.isBool(); });
  std::vector<int64_t> numbers;
  if (!allBool) {
    for (size_t i = 0; i < items.size(); ++i) {
      if (!items[i].isInteger() || items[i].getInteger() < 0) {
        error(items[i].getLocation(),
              path + "[" + llvm::Twine(i) +
                  "]: expected a token index (an integer >= 0) or 0/1, got " +
                  items[i].describe());
        return std::nullopt;
      }
      numbers.push_back(items[i].getInteger());
    }
  }
  // A 0/1 list with a repeated value is a mask over the sequence; anything
  // else is a list of indices ([0, 1] is tokens 0 and 1).
  bool isMask = allBool;
  if (!allBool) {
    bool zeroOne = llvm::all_of(numbers, [](int64_t n) { return n <= 1; });
    std::set<int64_t> distinct(numbers.begin(), numbers.end());
    isMask = zeroOne && distinct.size() < numbers.size();
  }
  TokenList list;
  if (isMask) {
    for (size_t i = 0; i < items.size(); ++i)
      if (allBool ? items[i].getBool() : numbers[i] == 1)
        list.tokens.push_back(static_cast<int64_t>(i));
    if (list.tokens.empty()) {
      error(value.getLocation(),
            path + ": no token is global (the mask has no 1)");
      return std::nullopt;
    }
    list.maskLength = static_cast<int64_t>(items.size());
    return list;
  }
  std::set<int64_t> seen;
  for (size_t i = 0; i < numbers.size(); ++i) {
    if (!seen.insert(numbers[i]).second) {
      error(items[i].getLocation(),
            path + "[" + llvm::Twine(i) + "]: token index " +
                llvm::Twine(numbers[i]) + " is given twice");
      return std::nullopt;
    }
  }
  list.tokens.assign(seen.begin(), seen.end());
  return list;
}
