//===- FrontendTest.cpp - JSON reader, variant registry, config parsing ---===//

#include "xfc/Frontend/Config.h"
#include "xfc/Frontend/JsonReader.h"
#include "xfc/Frontend/VariantRegistry.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include "gtest/gtest.h"

#include <chrono>
#include <set>
#include <string>

using namespace xfc;

namespace {

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

/// The 1-based line:column of the first occurrence of `needle` in `text`.
std::string locOf(llvm::StringRef text, llvm::StringRef needle,
                  size_t occurrence = 0) {
  size_t at = text.find(needle);
  for (size_t i = 0; i < occurrence && at != llvm::StringRef::npos; ++i)
    at = text.find(needle, at + 1);
  if (at == llvm::StringRef::npos)
    return "<not found>";
  size_t lineStart = text.rfind('\n', at);
  lineStart = lineStart == llvm::StringRef::npos ? 0 : lineStart + 1;
  unsigned line = 1 + text.take_front(at).count('\n');
  return std::to_string(line) + ":" + std::to_string(at - lineStart + 1);
}

/// Parses `text` as config.json; returns all diagnostics rendered, one per
/// line, or "" on success.
std::string errorsOf(llvm::StringRef text,
                     const ConfigOverrides &overrides = {},
                     llvm::StringRef baseDirectory = {}) {
  llvm::Expected<AttentionConfig> config =
      parseConfig(text, "config.json", overrides, baseDirectory);
  if (config)
    return "";
  return llvm::toString(config.takeError());
}

/// Parses `text`, which must succeed.
AttentionConfig parseOk(llvm::StringRef text,
                        const ConfigOverrides &overrides = {},
                        llvm::StringRef baseDirectory = {}) {
  llvm::Expected<AttentionConfig> config =
      parseConfig(text, "config.json", overrides, baseDirectory);
  if (!config) {
    ADD_FAILURE() << llvm::toString(config.takeError());
    return AttentionConfig();
  }
  return std::move(*config);
}

std::string jsonError(llvm::StringRef text,
                      const JsonReaderOptions &options = {}) {
  JsonSyntaxError error;
  std::optional<JsonValue> value = parseJson(text, error, options);
  if (value)
    return "";
  return std::to_string(error.location.line) + ":" +
         std::to_string(error.location.column) + ": " + error.message;
}

/// A temporary directory removed at the end of the test.
class TempDir {
public:
  TempDir() {
    std::error_code ec =
        llvm::sys::fs::createUniqueDirectory("xfc-frontend-test", path);
    EXPECT_FALSE(ec) << ec.message();
  }
  ~TempDir() { llvm::sys::fs::remove_directories(path); }

  std::string file(llvm::StringRef name) const {
    llvm::SmallString<256> result(path);
    llvm::sys::path::append(result, name);
    return std::string(result);
  }
  std::string write(llvm::StringRef name, llvm::StringRef bytes) const {
    std::string target = file(name);
    std::error_code ec;
    llvm::raw_fd_ostream os(target, ec);
    EXPECT_FALSE(ec) << ec.message();
    os << bytes;
    return target;
  }
  llvm::StringRef dir() const { return path; }

private:
  llvm::SmallString<256> path;
};

/// The bytes of a .npy file (format version 1 or 2).
std::string npyFile(llvm::StringRef descr, llvm::ArrayRef<int64_t> shape,
                    llvm::StringRef data, bool fortranOrder = false,
                    unsigned version = 1) {
  std::string dict = "{'descr': '" + descr.str() + "', 'fortran_order': " +
                     (fortranOrder ? "True" : "False") + ", 'shape': (";
  for (size_t i = 0; i < shape.size(); ++i)
    dict += (i ? ", " : "") + std::to_string(shape[i]);
  if (shape.size() == 1)
    dict += ",";
  dict += "), }";
  size_t prefix = version == 1 ? 10 : 12;
  while ((prefix + dict.size() + 1) % 64 != 0)
    dict += ' ';
  dict += '\n';
  std::string bytes = "\x93NUMPY";
  bytes += static_cast<char>(version);
  bytes += '\0';
  size_t length = dict.size();
  bytes += static_cast<char>(length & 0xFF);
  bytes += static_cast<char>((length >> 8) & 0xFF);
  if (version != 1) {
    bytes += '\0';
    bytes += '\0';
  }
  return bytes + dict + data.str();
}

/// `values` as little-endian (or big-endian) integers of `size` bytes.
std::string intData(llvm::ArrayRef<int64_t> values, unsigned size,
                    bool bigEndian = false) {
  std::string data;
  for (int64_t value : values)
    for (unsigned b = 0; b < size; ++b) {
      unsigned byte = bigEndian ? size - 1 - b : b;
      data += static_cast<char>((static_cast<uint64_t>(value) >> (8 * byte)) &
                                0xFF);
    }
  return data;
}

//===----------------------------------------------------------------------===//
// JSON reader
//===----------------------------------------------------------------------===//

TEST(JsonReader, RecordsLocations) {
  llvm::StringRef text = "{\n  \"a\": [1, {\"b\": true}],\n\t\"c\": \"x\"\n}";
  JsonSyntaxError error;
  std::optional<JsonValue> root = parseJson(text, error);
  ASSERT_TRUE(root) << error.message;
  EXPECT_EQ(root->getLocation(), (SourceLocation{1, 1}));
  ASSERT_EQ(root->getMembers().size(), 2u);
  const JsonMember &a = root->getMembers()[0];
  EXPECT_EQ(a.key, "a");
  EXPECT_EQ(a.keyLocation, (SourceLocation{2, 3}));
  EXPECT_EQ(a.value.getLocation(), (SourceLocation{2, 8}));
  ASSERT_EQ(a.value.getElements().size(), 2u);
  EXPECT_EQ(a.value.getElements()[0].getLocation(), (SourceLocation{2, 9}));
  const JsonValue &inner = a.value.getElements()[1];
  EXPECT_EQ(inner.getLocation(), (SourceLocation{2, 12}));
  EXPECT_EQ(inner.findMember("b")->value.getLocation(),
            (SourceLocation{2, 18}));
  // A tab is one column.
  const JsonMember &c = root->getMembers()[1];
  EXPECT_EQ(c.keyLocation, (SourceLocation{3, 2}));
  EXPECT_EQ(c.value.getLocation(), (SourceLocation{3, 7}));
  EXPECT_EQ(c.value.getString(), "x");
}

TEST(JsonReader, Numbers) {
  JsonSyntaxError error;
  std::optional<JsonValue> root = parseJson(
      "[0, -3, 48, 1.0, 2.5e-1, 1E3, 99999999999999999999, -0]", error);
  ASSERT_TRUE(root) << error.message;
  llvm::ArrayRef<JsonValue> n = root->getElements();
  EXPECT_TRUE(n[0].isInteger());
  EXPECT_EQ(n[1].getInteger(), -3);
  EXPECT_EQ(n[2].getInteger(), 48);
  EXPECT_EQ(n[2].getNumberText(), "48");
  EXPECT_FALSE(n[3].isInteger());
  EXPECT_EQ(n[3].getDouble(), 1.0);
  EXPECT_EQ(n[3].describe(), "1.0");
  EXPECT_DOUBLE_EQ(n[4].getDouble(), 0.25);
  EXPECT_FALSE(n[5].isInteger());
  EXPECT_EQ(n[5].getDouble(), 1000.0);
  // Out of int64 range: a number, but not an integer.
  EXPECT_TRUE(n[6].isNumber());
  EXPECT_FALSE(n[6].isInteger());
  EXPECT_TRUE(n[7].isInteger());
  EXPECT_TRUE(isJsonNumber("256"));
  EXPECT_TRUE(isJsonNumber("-1.5e3"));
  EXPECT_FALSE(isJsonNumber(" 256"));
  EXPECT_FALSE(isJsonNumber("0x10"));
  EXPECT_FALSE(isJsonNumber("012"));
  EXPECT_FALSE(isJsonNumber(""));
}

TEST(JsonReader, Strings) {
  JsonSyntaxError error;
  std::optional<JsonValue> root = parseJson(
      R"(["a\"b\\c\/d\n\t", "\u00e9\u20ac", "\ud83d\ude00", "é"])", error);
  ASSERT_TRUE(root) << error.message;
  llvm::ArrayRef<JsonValue> s = root->getElements();
  EXPECT_EQ(s[0].getString(), "a\"b\\c/d\n\t");
  EXPECT_EQ(s[1].getString(), "\xC3\xA9\xE2\x82\xAC");
  EXPECT_EQ(s[2].getString(), "\xF0\x9F\x98\x80");
  EXPECT_EQ(s[3].getString(), "\xC3\xA9");
  std::string out;
  appendJsonString(out, "a\"b\\\n\x01");
  EXPECT_EQ(out, R"("a\"b\\\n\u0001")");
}

TEST(JsonReader, SyntaxErrors) {
  EXPECT_EQ(jsonError(""), "1:1: expected a JSON value, got an empty file");
  EXPECT_EQ(jsonError("{\"a\": 1 \"b\": 2}"),
            "1:9: expected ',' or '}' after object member");
  EXPECT_EQ(jsonError("{\"a\": 1,\n}"),
            "2:1: expected a string key after ','; trailing commas are not "
            "allowed");
  EXPECT_EQ(jsonError("[1, 2,]"),
            "1:7: expected a JSON value after ','; trailing commas are not "
            "allowed");
  EXPECT_EQ(jsonError("[1 2]"), "1:4: expected ',' or ']' after list element");
  EXPECT_EQ(jsonError("{\"a\" 1}"), "1:6: expected ':' after object key");
  EXPECT_EQ(jsonError("{a: 1}"), "1:2: expected a string key or '}'");
  EXPECT_EQ(jsonError("{'a': 1}"),
            "1:2: expected a string key; keys take double quotes");
  EXPECT_EQ(jsonError("{\"a\": 'x'}"),
            "1:7: expected a JSON value; strings take double quotes");
  EXPECT_EQ(jsonError("{\"a\": \"abc"), "1:7: unterminated string");
  EXPECT_EQ(jsonError("{\"a\": \"ab\nc\"}"), "1:7: unterminated string");
  EXPECT_EQ(jsonError("{\"a\": \"\\x\"}"),
            "1:8: invalid escape '\\x' in string");
  EXPECT_EQ(jsonError("[\"\\u12g4\"]"),
            "1:7: expected 4 hex digits after '\\u'");
  EXPECT_EQ(jsonError("[\"\\ud83d\"]"),
            "1:3: unpaired UTF-16 surrogate in '\\u' escape");
  EXPECT_EQ(jsonError("[\"a\tb\"]"),
            "1:4: control character in string; write it as an escape such as "
            "\\n or \\u0009");
  EXPECT_EQ(jsonError("{\"causal\": ture}"),
            "1:12: invalid literal 'ture'; expected true, false, null, a "
            "number, a string, a list or an object");
  EXPECT_EQ(jsonError("[True]"),
            "1:2: invalid literal 'True'; expected true, false, null, a "
            "number, a string, a list or an object");
  EXPECT_EQ(jsonError("[NaN]"),
            "1:2: invalid literal 'NaN'; expected true, false, null, a "
            "number, a string, a list or an object");
  EXPECT_EQ(jsonError("[012]"), "1:3: numbers cannot have leading zeros");
  EXPECT_EQ(jsonError("[1.]"), "1:4: expected a digit after '.' in number");
  EXPECT_EQ(jsonError("[1e]"),
            "1:4: expected a digit in the exponent of number");
  EXPECT_EQ(jsonError("[-]"), "1:3: expected a digit after '-'");
  EXPECT_EQ(jsonError("[+1]"),
            "1:2: invalid number; JSON numbers start with '-' or a digit");
  EXPECT_EQ(jsonError("[1e999]"), "1:2: number 1e999 is out of range");
  EXPECT_EQ(jsonError("{} x"),
            "1:4: unexpected text after the JSON value; expected end of file");
  EXPECT_EQ(jsonError("{\"a\": 1} // note"),
            "1:10: unexpected text after the JSON value; expected end of file");
  EXPECT_EQ(jsonError("{\"a\": /* x */ 1}"),
            "1:7: comments are not allowed in JSON");
  EXPECT_EQ(jsonError("{\"a\": [1, 2"),
            "1:12: expected ',' or ']' after list element");
  EXPECT_EQ(jsonError("{\"a\":"),
            "1:6: expected a JSON value, got end of file");
  EXPECT_EQ(jsonError("[\"\xFF\"]"), "1:2: string is not valid UTF-8");
}

TEST(JsonReader, DuplicateKeys) {
  EXPECT_EQ(jsonError("{\n  \"block_size\": 16,\n  \"block_size\": 32\n}"),
            "3:3: duplicate key 'block_size' (first given at 2:3)");
  // The same key in different objects is fine.
  EXPECT_EQ(jsonError("[{\"a\": 1}, {\"a\": 2}]"), "");
}

TEST(JsonReader, NestingDepthIsLimited) {
  std::string ok = std::string(256, '[') + std::string(256, ']');
  EXPECT_EQ(jsonError(ok), "");
  std::string deep = std::string(257, '[') + std::string(257, ']');
  EXPECT_EQ(jsonError(deep),
            "1:257: lists and objects nested deeper than 256 levels");
  // Far deeper than any stack would take: still a plain error.
  std::string hostile(1000000, '[');
  EXPECT_EQ(jsonError(hostile),
            "1:257: lists and objects nested deeper than 256 levels");
  std::string objects;
  for (int i = 0; i < 300; ++i)
    objects += "{\"a\":";
  EXPECT_NE(jsonError(objects).find("nested deeper than 256"),
            std::string::npos);
  JsonReaderOptions shallow;
  shallow.maxDepth = 2;
  EXPECT_EQ(jsonError("[[1]]", shallow), "");
  EXPECT_EQ(jsonError("[[[1]]]", shallow),
            "1:3: lists and objects nested deeper than 2 levels");
}

TEST(JsonReader, ByteOrderMarkIsIgnored) {
  JsonSyntaxError error;
  std::optional<JsonValue> root = parseJson("\xEF\xBB\xBF{\"a\": 1}", error);
  ASSERT_TRUE(root) << error.message;
  // Columns count what an editor shows: the mark takes none.
  EXPECT_EQ(root->getLocation(), (SourceLocation{1, 1}));
}

TEST(JsonReader, Describe) {
  JsonSyntaxError error;
  std::optional<JsonValue> root =
      parseJson(R"([null, true, 1.5, "f16", [], [1], {}])", error);
  ASSERT_TRUE(root);
  std::vector<std::string> got;
  for (const JsonValue &v : root->getElements())
    got.push_back(v.describe());
  EXPECT_EQ(got,
            (std::vector<std::string>{"null", "true", "1.5", "'f16'",
                                      "an empty list", "a list", "an object"}));
}

//===----------------------------------------------------------------------===//
// Variant registry
//===----------------------------------------------------------------------===//

TEST(VariantRegistry, HasEveryVariant) {
  std::vector<llvm::StringRef> names = getVariantNames();
  EXPECT_EQ(names, (std::vector<llvm::StringRef>{
                       "blocksparse", "compositional", "favor", "fourier_mix",
                       "global", "lambda", "linformer", "local", "nystrom",
                       "orthoformer", "pooling", "random", "scaled_dot_product",
                       "visual"}));
  // SPEC.md §2 order.
  EXPECT_EQ(getVariants().front().name, "scaled_dot_product");
  EXPECT_EQ(getVariants()[1].name, "blocksparse");
  EXPECT_EQ(findVariant("sparse"), nullptr);
}

TEST(VariantRegistry, EveryVariantTakesTheSharedFields) {
  std::set<std::string> causal;
  for (const VariantSpec &variant : getVariants()) {
    for (llvm::StringRef name : {"dropout", "head_dim", "num_heads", "dtype",
                                 "seq_len", "kv_seq_len", "arch"})
      EXPECT_NE(variant.findField(name), nullptr)
          << variant.name.str() << " lacks " << name.str();
    EXPECT_EQ(variant.supportsCausal, variant.findField("causal") != nullptr);
    if (variant.supportsCausal)
      causal.insert(variant.name.str());
    std::vector<llvm::StringRef> names = variant.getFieldNames();
    EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
    EXPECT_EQ(names.front() == "name" || llvm::is_contained(names, "name"),
              true);
    for (const FieldSpec &field : variant.fields)
      EXPECT_FALSE(field.doc.empty()) << field.name.str();
  }
  EXPECT_EQ(causal, (std::set<std::string>{
                        "blocksparse", "compositional", "favor", "global",
                        "local", "nystrom", "random", "scaled_dot_product"}));
}

TEST(VariantRegistry, XFormersDefaults) {
  auto field = [](llvm::StringRef variant, llvm::StringRef name) {
    const VariantSpec *spec = findVariant(variant);
    EXPECT_NE(spec, nullptr);
    const FieldSpec *result = spec ? spec->findField(name) : nullptr;
    EXPECT_NE(result, nullptr) << variant.str() << "." << name.str();
    return result ? result->getDefaultText() : std::string("<none>");
  };
  EXPECT_EQ(field("scaled_dot_product", "causal"), "false");
  EXPECT_EQ(field("scaled_dot_product", "dropout"), "0.0");
  EXPECT_EQ(field("blocksparse", "block_size"), "16");
  EXPECT_EQ(field("blocksparse", "layout"), "required");
  EXPECT_EQ(field("local", "window_size"), "5");
  EXPECT_EQ(field("local", "force_sparsity"), "false");
  EXPECT_EQ(field("random", "r"), "0.01");
  EXPECT_EQ(field("random", "constant_masking"), "true");
  EXPECT_EQ(field("global", "attention_query_mask"), "required");
  EXPECT_EQ(field("linformer", "seq_len"), "required");
  EXPECT_EQ(field("linformer", "k"), "seq_len // 4");
  EXPECT_EQ(field("nystrom", "num_heads"), "required");
  EXPECT_EQ(field("nystrom", "num_landmarks"), "64");
  EXPECT_EQ(field("nystrom", "use_razavi_pinverse"), "true");
  EXPECT_EQ(field("nystrom", "pinverse_original_init"), "false");
  EXPECT_EQ(field("nystrom", "inv_iterations"), "6");
  EXPECT_EQ(field("nystrom", "conv_kernel_size"), "-");
  EXPECT_EQ(field("favor", "feature_map"), "sm_reg");
  EXPECT_EQ(field("favor", "dim_features"), "2*(ceil(Dh*(1+log2 Dh))//2)");
  EXPECT_EQ(field("orthoformer", "num_landmarks"), "32");
  EXPECT_EQ(field("orthoformer", "subsample_fraction"), "1.0");
  EXPECT_EQ(field("orthoformer", "landmark_selection"), "orthogonal");
  EXPECT_EQ(field("lambda", "seq_len"), "required");
  EXPECT_EQ(field("lambda", "dim_head"), "required");
  EXPECT_EQ(field("compositional", "dim_model"), "required");
  EXPECT_EQ(field("compositional", "num_rules"), "num_heads");
  EXPECT_EQ(field("compositional", "dim_selection"), "dim_model // num_heads");
  EXPECT_EQ(field("compositional", "bias"), "true");
  EXPECT_EQ(field("pooling", "pool_size"), "3");
  EXPECT_EQ(field("pooling", "stride"), "1");
  EXPECT_EQ(field("visual", "dim_model"), "required");
}

TEST(VariantRegistry, KindsAndValueSets) {
  const VariantSpec *blocksparse = findVariant("blocksparse");
  ASSERT_NE(blocksparse, nullptr);
  EXPECT_EQ(blocksparse->findField("block_size")->getKindText(),
            "int: 16|32|64|128");
  EXPECT_EQ(blocksparse->findField("head_dim")->getKindText(),
            "int: 32|64|96|128|256");
  EXPECT_EQ(blocksparse->findField("dropout")->getKindText(),
            "float in [0, 1)");
  EXPECT_EQ(blocksparse->findField("dtype")->getKindText(),
            "string: fp16|bf16|fp32");
  EXPECT_EQ(blocksparse->findField("arch")->getKindText(),
            "string: sm_80|sm_86|sm_89|sm_90|sm_90a");
  EXPECT_EQ(findVariant("random")->findField("r")->getKindText(),
            "float in (0, 1]");
  // Only the kernel-backed variants restrict head_dim.
  EXPECT_TRUE(
      findVariant("linformer")->findField("head_dim")->allowedInts.empty());
  EXPECT_EQ(getKernelHeadDims(),
            llvm::ArrayRef<int64_t>({32, 64, 96, 128, 256}));
  EXPECT_EQ(getLayoutBlockSizes(), llvm::ArrayRef<int64_t>({16, 32, 64, 128}));
  EXPECT_EQ(getArchNames().size(), 5u);
}

TEST(VariantRegistry, ClosestName) {
  std::vector<llvm::StringRef> fields = {"block_size", "layout", "num_heads"};
  EXPECT_EQ(findClosest("blok_size", fields), "block_size");
  EXPECT_EQ(findClosest("layuot", fields), "layout");
  EXPECT_EQ(findClosest("xyz", fields), "");
  EXPECT_EQ(findClosest("sparse", getVariantNames()), "");
  EXPECT_EQ(findClosest("blocksparce", getVariantNames()), "blocksparse");
}

TEST(VariantRegistry, PrintsTable) {
  std::string text;
  llvm::raw_string_ostream os(text);
  printVariantTable(os);
  size_t sdp = text.find("scaled_dot_product:");
  size_t blocksparse = text.find("\nblocksparse:");
  size_t blockSize = text.find("  block_size ");
  EXPECT_NE(sdp, std::string::npos);
  EXPECT_LT(sdp, blocksparse);
  EXPECT_LT(blocksparse, blockSize);
  for (const VariantSpec &variant : getVariants())
    EXPECT_NE(text.find("\n" + variant.name.str() + ": "), std::string::npos);
  EXPECT_NE(text.find("int: 16|32|64|128"), std::string::npos);
  EXPECT_NE(text.find("seq_len // 4"), std::string::npos);
}

//===----------------------------------------------------------------------===//
// Good configs, defaults
//===----------------------------------------------------------------------===//

TEST(Config, ScaledDotProductDefaults) {
  AttentionConfig c = parseOk(R"({"name": "scaled_dot_product"})");
  EXPECT_EQ(c.variant, "scaled_dot_product");
  EXPECT_EQ(c.dropout, 0.0);
  EXPECT_FALSE(c.causal);
  EXPECT_FALSE(c.seqLen);
  EXPECT_FALSE(c.headDim);
  EXPECT_FALSE(c.dtype);
  EXPECT_FALSE(c.arch);
  EXPECT_TRUE(c.warnings.empty());
  EXPECT_EQ(c.canonicalJson, "{\n"
                             "  \"causal\": false,\n"
                             "  \"dropout\": 0.0,\n"
                             "  \"name\": \"scaled_dot_product\"\n"
                             "}");
  EXPECT_EQ(c.configLocation, (SourceLocation{1, 1}));
  EXPECT_EQ(c.sourceText, R"({"name": "scaled_dot_product"})");
}

TEST(Config, ScaledDotProductFull) {
  llvm::StringRef text = R"({
  "name": "scaled_dot_product",
  "dropout": 0.1,
  "causal": true,
  "seq_len": 512,
  "to_seq_len": 256,
  "head_dim": 128,
  "num_heads": 16,
  "dtype": "bf16",
  "arch": "sm_90a"
})";
  AttentionConfig c = parseOk(text);
  EXPECT_DOUBLE_EQ(c.dropout, 0.1);
  EXPECT_TRUE(c.causal);
  EXPECT_EQ(c.seqLen, 512);
  EXPECT_EQ(c.toSeqLen, 256);
  EXPECT_EQ(c.kvSeqLen, 256); // from to_seq_len
  EXPECT_EQ(c.headDim, 128);
  EXPECT_EQ(c.numHeads, 16);
  EXPECT_EQ(c.dtype, Dtype::BF16);
  EXPECT_EQ(c.arch, std::string("sm_90a"));
  EXPECT_TRUE(c.isGiven("causal"));
  EXPECT_FALSE(c.isGiven("kv_seq_len"));
  EXPECT_EQ(c.getLocation("causal"), (SourceLocation{4, 13}));
  EXPECT_EQ(c.getLocation("head_dim"), (SourceLocation{7, 15}));
  // Not given: the config object.
  EXPECT_EQ(c.getLocation("kv_seq_len"), (SourceLocation{1, 1}));
  EXPECT_EQ(c.getLocation("name"), (SourceLocation{2, 11}));
}

TEST(Config, BlocksparseDefaultsAndLayout) {
  llvm::StringRef text = R"({
  "name": "blocksparse",
  "num_heads": 4,
  "head_dim": 64,
  "layout": [[1, 0, 0], [1, 1, 0], [true, false, 1]]
})";
  AttentionConfig c = parseOk(text);
  EXPECT_EQ(c.blockSize, 16);
  EXPECT_EQ(c.numHeads, 4);
  ASSERT_TRUE(c.layout);
  EXPECT_EQ(c.layout->heads, 1);
  EXPECT_EQ(c.layout->numBlocks, 3);
  EXPECT_EQ(c.layout->bits, (std::vector<uint8_t>{1, 0, 0, 1, 1, 0, 1, 0, 1}));
  EXPECT_EQ(c.layout->at(3, 2, 0), 1); // shared by every head
  EXPECT_EQ(c.layout->at(0, 0, 2), 0);
  EXPECT_EQ(c.layout->countSet(), 5);
  EXPECT_DOUBLE_EQ(c.layout->density(), 5.0 / 9.0);
  EXPECT_EQ(c.getLocation("layout"), (SourceLocation{5, 13}));
  EXPECT_EQ(c.canonicalJson, "{\n"
                             "  \"block_size\": 16,\n"
                             "  \"causal\": false,\n"
                             "  \"dropout\": 0.0,\n"
                             "  \"head_dim\": 64,\n"
                             "  \"layout\": [\n"
                             "    [1, 0, 0],\n"
                             "    [1, 1, 0],\n"
                             "    [1, 0, 1]\n"
                             "  ],\n"
                             "  \"name\": \"blocksparse\",\n"
                             "  \"num_heads\": 4\n"
                             "}");
}

TEST(Config, BlocksparsePerHeadLayout) {
  llvm::StringRef text = R"({"name": "blocksparse", "block_size": 32,
  "layout": [[[1, 1], [0, 1]], [[1, 0], [1, 1]], [[0, 0], [0, 1]]]})";
  AttentionConfig c = parseOk(text);
  ASSERT_TRUE(c.layout);
  EXPECT_EQ(c.layout->heads, 3);
  EXPECT_EQ(c.layout->numBlocks, 2);
  // num_heads defaults to the layout's heads.
  EXPECT_EQ(c.numHeads, 3);
  EXPECT_EQ(c.layout->at(0, 1, 0), 0);
  EXPECT_EQ(c.layout->at(1, 1, 0), 1);
  EXPECT_EQ(c.layout->at(2, 0, 0), 0);
  EXPECT_NE(c.canonicalJson.find("  \"layout\": [\n"
                                 "    [[1, 1], [0, 1]],\n"
                                 "    [[1, 0], [1, 1]],\n"
                                 "    [[0, 0], [0, 1]]\n"
                                 "  ],\n"),
            std::string::npos)
      << c.canonicalJson;

  // With num_heads given and equal.
  EXPECT_EQ(errorsOf(R"({"name": "blocksparse", "num_heads": 3,
  "layout": [[[1]], [[1]], [[1]]]})"),
            "");
  // A one-head 3-D layout is shared like a 2-D one.
  AttentionConfig shared = parseOk(
      R"({"name": "blocksparse", "num_heads": 8, "layout": [[[1, 0], [1, 1]]]})");
  EXPECT_EQ(shared.layout->heads, 1);
  EXPECT_EQ(shared.numHeads, 8);
}

TEST(Config, BlocksparseSeqLenBounds) {
  const char *base =
      R"({"name": "blocksparse", "block_size": 16, "layout": [[1,0,0,0],[1,1,0,0],[1,1,1,0],[1,1,1,1]], "seq_len": %s})";
  auto withSeqLen = [&](llvm::StringRef seqLen) {
    std::string text = base;
    text.replace(text.find("%s"), 2, seqLen.str());
    return text;
  };
  // 4 blocks of 16: 49..64 tokens (the last block may be partial).
  EXPECT_EQ(errorsOf(withSeqLen("64")), "");
  EXPECT_EQ(errorsOf(withSeqLen("49")), "");
  std::string text = withSeqLen("48");
  EXPECT_EQ(errorsOf(text),
            "config.json:" + locOf(text, "48}") +
                ": error: seq_len: a layout of 4 blocks of 16 covers 49 to "
                "64 tokens, got 48");
  text = withSeqLen("65");
  EXPECT_EQ(errorsOf(text),
            "config.json:" + locOf(text, "65") +
                ": error: seq_len: a layout of 4 blocks of 16 covers 49 to "
                "64 tokens, got 65");
  AttentionConfig c = parseOk(withSeqLen("50"));
  EXPECT_EQ(c.seqLen, 50);
  // kv_seq_len is checked the same way, also when it is an override.
  ConfigOverrides overrides;
  overrides.kvSeqLen = 100;
  EXPECT_EQ(errorsOf(withSeqLen("64"), overrides),
            "config.json:1:1: error: kv_seq_len: a layout of 4 blocks of 16 "
            "covers 49 to 64 tokens, got 100 (given as an override)");
}

TEST(Config, EveryVariantParsesWithDefaults) {
  struct Case {
    const char *text;
    std::vector<std::pair<std::string, std::string>> expected;
  };
  std::vector<Case> cases = {
      {R"({"name": "local"})",
       {{"window_size", "5"},
        {"causal", "false"},
        {"force_sparsity", "false"},
        {"dropout", "0.0"}}},
      {R"({"name": "random"})",
       {{"r", "0.01"},
        {"constant_masking", "true"},
        {"causal", "false"},
        {"seed", "0"}}},
      {R"({"name": "global", "attention_query_mask": [0, 5]})",
       {{"attention_query_mask", "[0, 5]"}, {"causal", "false"}}},
      {R"({"name": "linformer", "seq_len": 256})",
       {{"seq_len", "256"}, {"k", "64"}}},
      {R"({"name": "nystrom", "num_heads": 4})",
       {{"num_heads", "4"},
        {"num_landmarks", "64"},
        {"use_razavi_pinverse", "true"},
        {"pinverse_original_init", "false"},
        {"inv_iterations", "6"},
        {"causal", "false"}}},
      {R"({"name": "favor", "dim_head": 64})",
       {{"dim_head", "64"},
        {"head_dim", "64"},
        {"dim_features", "448"},
        {"feature_map", "\"sm_reg\""},
        {"causal", "false"}}},
      {R"({"name": "orthoformer"})",
       {{"num_landmarks", "32"},
        {"subsample_fraction", "1.0"},
        {"landmark_selection", "\"orthogonal\""}}},
      {R"({"name": "lambda", "seq_len": 128, "dim_head": 32})",
       {{"seq_len", "128"}, {"dim_head", "32"}, {"head_dim", "32"}}},
      {R"({"name": "fourier_mix"})", {{"dropout", "0.0"}}},
      {R"({"name": "compositional", "dim_model": 512, "num_heads": 8})",
       {{"dim_attn", "512"},
        {"dim_key", "512"},
        {"dim_value", "512"},
        {"num_rules", "8"},
        {"dim_selection", "64"},
        {"qk_rule", "false"},
        {"nonlinear", "false"},
        {"q_compose", "false"},
        {"bias", "true"},
        {"use_separate_proj_weight", "false"},
        {"causal", "false"}}},
      {R"({"name": "pooling"})", {{"pool_size", "3"}, {"stride", "1"}}},
      {R"({"name": "visual", "dim_model": 384})", {{"dim_model", "384"}}},
  };
  for (const Case &test : cases) {
    SCOPED_TRACE(test.text);
    AttentionConfig c = parseOk(test.text);
    for (const auto &[name, value] : test.expected)
      EXPECT_NE(c.canonicalJson.find("\"" + name + "\": " + value),
                std::string::npos)
          << name << " in\n"
          << c.canonicalJson;
    // The canonical form parses back to itself.
    AttentionConfig again = parseOk(c.canonicalJson);
    EXPECT_EQ(again.canonicalJson, c.canonicalJson);
  }
}

TEST(Config, TypedAndGenericAccess) {
  AttentionConfig c = parseOk(R"({"name": "local", "window_size": 7,
    "causal": true, "dropout": 0, "num_heads": 2, "dtype": "fp32"})");
  EXPECT_EQ(c.windowSize, 7);
  EXPECT_TRUE(c.causal);
  EXPECT_EQ(c.dropout, 0.0); // an int where a float is expected is fine
  EXPECT_EQ(c.getInt("window_size"), 7);
  EXPECT_EQ(c.getBool("force_sparsity"), false);
  EXPECT_EQ(c.getFloat("dropout"), 0.0);
  EXPECT_EQ(c.getString("dtype"), std::string("fp32"));
  EXPECT_EQ(c.dtype, Dtype::F32);
  EXPECT_FALSE(c.getInt("no_such_field"));
  // Causal local windows may be even: w past keys.
  EXPECT_EQ(errorsOf(R"({"name": "local", "window_size": 4, "causal": true})"),
            "");

  AttentionConfig favor = parseOk(
      R"({"name": "favor", "feature_map": "sm_orf", "dim_features": 128,
          "iter_before_redraw": 100, "causal": true, "head_dim": 32})");
  EXPECT_EQ(favor.getString("feature_map"), std::string("sm_orf"));
  EXPECT_EQ(favor.getInt("dim_features"), 128);
  EXPECT_EQ(favor.getInt("dim_head"), 32); // from head_dim
  EXPECT_EQ(favor.getInt("iter_before_redraw"), 100);

  AttentionConfig ortho = parseOk(R"({"name": "orthoformer",
    "landmark_selection": "kmeans_spherical", "subsample_fraction": 0.25})");
  EXPECT_EQ(ortho.getFloat("subsample_fraction"), 0.25);
  EXPECT_EQ(ortho.getString("landmark_selection"),
            std::string("kmeans_spherical"));
}

TEST(Config, NullMeansDefault) {
  // xFormers drops None fields so that constructor defaults apply.
  AttentionConfig c = parseOk(
      R"({"name": "linformer", "seq_len": 100, "k": null, "dropout": null})");
  EXPECT_EQ(c.getInt("k"), 25);
  EXPECT_EQ(c.dropout, 0.0);
  EXPECT_EQ(errorsOf(R"({"name": "linformer", "seq_len": null})"),
            "config.json:1:1: error: missing required field 'seq_len' for "
            "variant 'linformer'");
}

TEST(Config, GlobalTokens) {
  AttentionConfig indices =
      parseOk(R"({"name": "global", "attention_query_mask": [7, 0, 3]})");
  EXPECT_EQ(indices.globalTokens, (std::vector<int64_t>{0, 3, 7}));
  EXPECT_FALSE(indices.globalMaskLength);
  AttentionConfig mask =
      parseOk(R"({"name": "global", "attention_query_mask": [1, 0, 0, 1, 0]})");
  EXPECT_EQ(mask.globalTokens, (std::vector<int64_t>{0, 3}));
  EXPECT_EQ(mask.globalMaskLength, 5);
  EXPECT_NE(mask.canonicalJson.find(
                "\"attention_query_mask\": [true, false, false, true, false]"),
            std::string::npos);
  AttentionConfig bools =
      parseOk(R"({"name": "global", "attention_query_mask": [false, true]})");
  EXPECT_EQ(bools.globalTokens, (std::vector<int64_t>{1}));
  EXPECT_EQ(bools.globalMaskLength, 2);
  // [0, 1] has no repeated value: tokens 0 and 1.
  AttentionConfig pair =
      parseOk(R"({"name": "global", "attention_query_mask": [0, 1]})");
  EXPECT_EQ(pair.globalTokens, (std::vector<int64_t>{0, 1}));
  EXPECT_FALSE(pair.globalMaskLength);
  AttentionConfig again = parseOk(mask.canonicalJson);
  EXPECT_EQ(again.globalTokens, mask.globalTokens);
  EXPECT_EQ(again.globalMaskLength, 5);

  llvm::StringRef text =
      R"({"name": "global", "attention_query_mask": [3, 9, 3]})";
  EXPECT_EQ(errorsOf(text), "config.json:1:51: error: attention_query_mask[2]: "
                            "token index 3 is given twice");
  text = R"({"name": "global", "attention_query_mask": [0, 0, 0]})";
  EXPECT_EQ(errorsOf(text), "config.json:1:44: error: attention_query_mask: "
                            "no token is global (the mask has no 1)");
  text = R"({"name": "global", "attention_query_mask": [1, -2]})";
  EXPECT_EQ(errorsOf(text),
            "config.json:1:48: error: attention_query_mask[1]: expected a "
            "token index (an integer >= 0) or 0/1, got -2");
  text = R"({"name": "global", "attention_query_mask": []})";
  EXPECT_EQ(errorsOf(text),
            "config.json:1:44: error: attention_query_mask: expected a list "
            "of token indices or a 0/1 list, got an empty list");
  text =
      R"({"name": "global", "attention_query_mask": [1, 300], "seq_len": 256})";
  EXPECT_EQ(errorsOf(text),
            "config.json:1:44: error: attention_query_mask: token index 300 "
            "is out of range for seq_len 256");
  text =
      R"({"name": "global", "attention_query_mask": [1, 0, 1], "seq_len": 4})";
  EXPECT_EQ(errorsOf(text), "config.json:" + locOf(text, "4}") +
                                ": error: seq_len: 4 is longer than "
                                "attention_query_mask (3 tokens)");
  EXPECT_EQ(errorsOf(R"({"name": "global"})"),
            "config.json:1:1: error: missing required field "
            "'attention_query_mask' for variant 'global'");
  // The mask fixes the sequence: shorter is an error too, and keys have the
  // same length.
  text = R"({"name": "global", "attention_query_mask": [1, 0, 1, 0],
             "seq_len": 3})";
  EXPECT_EQ(errorsOf(text), "config.json:" + locOf(text, "3}") +
                                ": error: seq_len: 3 is shorter than "
                                "attention_query_mask (4 tokens); global "
                                "attention is fixed to the mask's length");
  text = R"({"name": "global", "attention_query_mask": [2, 7], "seq_len": 64,
             "kv_seq_len": 32})";
  EXPECT_EQ(errorsOf(text), "config.json:" + locOf(text, "32}") +
                                ": error: kv_seq_len: global attention has one "
                                "sequence length for queries and keys (64), "
                                "got 32");
  parseOk(R"({"name": "global", "attention_query_mask": [1, 0, 1, 0],
              "seq_len": 4, "kv_seq_len": 4})");
}

TEST(Frontend, RandomFields) {
  AttentionConfig config = parseOk(R"({"name": "random"})");
  EXPECT_EQ(config.getFloat("r"), 0.01);
  EXPECT_EQ(config.getBool("constant_masking"), true);
  EXPECT_EQ(config.getBool("force_sparsity"), false);
  EXPECT_EQ(config.getInt("seed"), 0);
  EXPECT_FALSE(config.causal);
  config = parseOk(R"({"name": "random", "r": 1, "constant_masking": false,
                       "seed": 12, "causal": true})");
  EXPECT_EQ(config.getFloat("r"), 1.0);
  EXPECT_EQ(config.getBool("constant_masking"), false);
  EXPECT_EQ(config.getInt("seed"), 12);
  EXPECT_TRUE(config.causal);
  std::string text = R"({"name": "random", "r": 0})";
  EXPECT_EQ(errorsOf(text), "config.json:" + locOf(text, "0}") +
                                ": error: random.r: expected a number in "
                                "(0, 1], got 0");
  text = R"({"name": "random", "r": 1.01})";
  EXPECT_EQ(errorsOf(text), "config.json:" + locOf(text, "1.01") +
                                ": error: random.r: expected a number in "
                                "(0, 1], got 1.01");
}

//===----------------------------------------------------------------------===//
// Errors: variant and fields
//===----------------------------------------------------------------------===//

TEST(ConfigErrors, UnknownVariant) {
  EXPECT_EQ(errorsOf(R"({"name": "sparse"})"),
            "config.json:1:10: error: unknown variant 'sparse'; known "
            "variants: blocksparse, compositional, favor, fourier_mix, global, "
            "lambda, linformer, local, nystrom, orthoformer, pooling, random, "
            "scaled_dot_product, visual");
  EXPECT_EQ(errorsOf("{\n  \"name\": \"blocksparce\"\n}"),
            "config.json:2:11: error: unknown variant 'blocksparce'; did you "
            "mean 'blocksparse'? known variants: blocksparse, compositional, "
            "favor, fourier_mix, global, lambda, linformer, local, nystrom, "
            "orthoformer, pooling, random, scaled_dot_product, visual");
  EXPECT_EQ(errorsOf(R"({"causal": true})"),
            "config.json:1:1: error: missing required field 'name'; known "
            "variants: blocksparse, compositional, favor, fourier_mix, global, "
            "lambda, linformer, local, nystrom, orthoformer, pooling, random, "
            "scaled_dot_product, visual");
  EXPECT_EQ(errorsOf(R"({"name": 3})").substr(0, 59),
            "config.json:1:10: error: name: expected a variant name, got");
}

TEST(ConfigErrors, UnknownField) {
  llvm::StringRef text = "{\n  \"name\": \"blocksparse\",\n  \"blok_size\": "
                         "32,\n  \"layout\": [[1]]\n}";
  EXPECT_EQ(errorsOf(text),
            "config.json:3:3: error: unknown field 'blok_size' in variant "
            "'blocksparse'; did you mean 'block_size'? valid fields: arch, "
            "block_size, causal, dropout, dtype, head_dim, kv_seq_len, layout, "
            "name, num_heads, seq_len");
  EXPECT_EQ(errorsOf(R"({"name": "local", "qwerty": 1})"),
            "config.json:1:19: error: unknown field 'qwerty' in variant "
            "'local'; valid fields: arch, causal, dropout, dtype, "
            "force_sparsity, head_dim, kv_seq_len, name, num_heads, seq_len, "
            "window_size");
  // causal where it has no meaning: true is an error, false is harmless.
  EXPECT_EQ(errorsOf(R"({"name": "linformer", "seq_len": 64, "causal": true})"),
            "config.json:1:38: error: causal: variant 'linformer' has no "
            "causal form (each output mixes every position); remove 'causal'");
  EXPECT_EQ(
      errorsOf(R"({"name": "linformer", "seq_len": 64, "causal": false})"), "");
  // Fields that are torch modules in xFormers.
  EXPECT_EQ(
      errorsOf(
          R"({"name": "nystrom", "num_heads": 2, "landmark_pooling": {}})"),
      "config.json:1:37: error: nystrom.landmark_pooling: takes a torch "
      "nn.Module in xFormers, which a JSON config cannot give; remove it "
      "(torch module pooling the landmarks; not expressible in JSON (segment "
      "means are used))");
  // Several bad fields are all reported, in source order.
  EXPECT_EQ(errorsOf("{\"name\": \"local\",\n \"a\": 1,\n \"b\": 2}"),
            "config.json:2:2: error: unknown field 'a' in variant 'local'; "
            "valid fields: arch, causal, dropout, dtype, force_sparsity, "
            "head_dim, kv_seq_len, name, num_heads, seq_len, window_size\n"
            "config.json:3:2: error: unknown field 'b' in variant 'local'; "
            "valid fields: arch, causal, dropout, dtype, force_sparsity, "
            "head_dim, kv_seq_len, name, num_heads, seq_len, window_size");
}

TEST(ConfigErrors, MistypedFields) {
  llvm::StringRef text = R"({
  "name": "blocksparse",
  "block_size": 48,
  "layout": [[1]]
})";
  EXPECT_EQ(errorsOf(text), "config.json:3:17: error: blocksparse.block_size: "
                            "expected one of 16, 32, 64, 128, got 48");
  auto one = [](llvm::StringRef field, llvm::StringRef value,
                llvm::StringRef variant = "scaled_dot_product") {
    std::string text = "{\"name\": \"" + variant.str() + "\", \"" +
                       field.str() + "\": " + value.str() + "}";
    return errorsOf(text);
  };
  EXPECT_EQ(one("head_dim", "-3"),
            "config.json:1:44: error: head_dim: expected a positive integer, "
            "got -3");
  EXPECT_EQ(
      one("head_dim", "48"),
      "config.json:1:44: error: head_dim: expected one of 32, 64, 96, "
      "128, 256, got 48 (the head sizes xfc's attention kernels support for "
      "'scaled_dot_product')");
  // Variants not backed by the attention kernels take any head size.
  EXPECT_EQ(one("head_dim", "48", "linformer").find("head_dim"),
            std::string::npos);
  EXPECT_EQ(one("head_dim", "64.0"),
            "config.json:1:44: error: head_dim: expected a positive integer, "
            "got 64.0");
  EXPECT_EQ(one("seq_len", "1e3"),
            "config.json:1:43: error: seq_len: expected a positive integer, "
            "got 1e3");
  EXPECT_EQ(one("seq_len", "99999999999999999999"),
            "config.json:1:43: error: seq_len: expected a positive integer, "
            "got 99999999999999999999");
  EXPECT_EQ(one("seq_len", "true"),
            "config.json:1:43: error: seq_len: expected a positive integer, "
            "got true");
  EXPECT_EQ(one("seq_len", "\"long\""),
            "config.json:1:43: error: seq_len: expected a positive integer, "
            "got 'long'");
  EXPECT_EQ(one("num_heads", "[8]"),
            "config.json:1:45: error: num_heads: expected a positive integer, "
            "got a list");
  EXPECT_EQ(one("dtype", "\"f16\""),
            "config.json:1:41: error: dtype: expected one of fp16, bf16, fp32, "
            "got 'f16'");
  EXPECT_EQ(one("dtype", "16"),
            "config.json:1:41: error: dtype: expected one of fp16, bf16, fp32, "
            "got 16");
  EXPECT_EQ(one("arch", "\"sm_75\""),
            "config.json:1:40: error: arch: expected one of sm_80, sm_86, "
            "sm_89, sm_90, sm_90a, got 'sm_75'");
  EXPECT_EQ(one("causal", "1"),
            "config.json:1:42: error: causal: expected true or false, got 1");
  EXPECT_EQ(one("causal", "\"true\""),
            "config.json:1:42: error: causal: expected true or false, got "
            "'true'");
  EXPECT_EQ(one("dropout", "1.5"),
            "config.json:1:43: error: dropout: expected a number in [0, 1), "
            "got 1.5");
  EXPECT_EQ(one("dropout", "1"),
            "config.json:1:43: error: dropout: expected a number in [0, 1), "
            "got 1");
  EXPECT_EQ(one("dropout", "-0.1"),
            "config.json:1:43: error: dropout: expected a number in [0, 1), "
            "got -0.1");
  EXPECT_EQ(one("dropout", "{}"),
            "config.json:1:43: error: dropout: expected a number in [0, 1), "
            "got an object");
  EXPECT_EQ(one("r", "0", "random"),
            "config.json:1:25: error: random.r: expected a number in (0, 1], "
            "got 0");
  EXPECT_EQ(one("window_size", "0", "local"),
            "config.json:1:34: error: local.window_size: expected a positive "
            "integer, got 0");
  EXPECT_EQ(one("window_size", "4", "local"),
            "config.json:1:34: error: local.window_size: expected an odd "
            "window when not causal (keys with |i-j| <= window_size // 2), "
            "got 4");
  EXPECT_EQ(one("feature_map", "\"sm_rf\"", "favor"),
            "config.json:1:34: error: favor.feature_map: expected one of "
            "sm_reg, sm_hyp, sm_orf, got 'sm_rf'");
  EXPECT_EQ(one("landmark_selection", "\"kmean\"", "orthoformer"),
            "config.json:1:47: error: orthoformer.landmark_selection: expected "
            "one of orthogonal, kmeans, kmeans_spherical, random, got 'kmean'");
  EXPECT_EQ(one("seed", "-1", "random"),
            "config.json:1:28: error: random.seed: expected a non-negative "
            "integer, got -1");
  EXPECT_EQ(errorsOf(R"({"name": "compositional", "dim_model": 64,
    "num_heads": 4, "qk_rule": "yes"})"),
            "config.json:2:32: error: compositional.qk_rule: expected true or "
            "false, got 'yes'");
}

TEST(ConfigErrors, MissingRequiredFields) {
  EXPECT_EQ(errorsOf(R"({"name": "linformer"})"),
            "config.json:1:1: error: missing required field 'seq_len' for "
            "variant 'linformer'");
  EXPECT_EQ(errorsOf("\n  {\"name\": \"blocksparse\"}"),
            "config.json:2:3: error: missing required field 'layout' for "
            "variant 'blocksparse'");
  EXPECT_EQ(errorsOf(R"({"name": "lambda", "seq_len": 64})"),
            "config.json:1:1: error: missing required field 'dim_head' for "
            "variant 'lambda'");
  EXPECT_EQ(errorsOf(R"({"name": "compositional"})"),
            "config.json:1:1: error: missing required field 'dim_model' for "
            "variant 'compositional'\n"
            "config.json:1:1: error: missing required field 'num_heads' for "
            "variant 'compositional'");
  // An override supplies a required field.
  ConfigOverrides overrides;
  overrides.seqLen = 1024;
  AttentionConfig c = parseOk(R"({"name": "linformer"})", overrides);
  EXPECT_EQ(c.seqLen, 1024);
  EXPECT_EQ(c.getInt("k"), 256);
  // A bad required field is reported once, as bad rather than missing.
  EXPECT_EQ(errorsOf(R"({"name": "linformer", "seq_len": 0})"),
            "config.json:1:34: error: seq_len: expected a positive integer, "
            "got 0");
}

TEST(ConfigErrors, AcrossFields) {
  EXPECT_EQ(
      errorsOf(
          R"({"name": "lambda", "seq_len": 64, "dim_head": 64, "head_dim": 32})"),
      "config.json:1:47: error: lambda.dim_head: 64 does not match head_dim "
      "32");
  EXPECT_EQ(
      errorsOf(
          R"({"name": "scaled_dot_product", "to_seq_len": 64, "kv_seq_len": 32})"),
      "config.json:1:46: error: scaled_dot_product.to_seq_len: 64 does not "
      "match kv_seq_len 32");
  EXPECT_EQ(errorsOf(R"({"name": "linformer", "seq_len": 3})"),
            "config.json:1:34: error: linformer.k: the default seq_len // 4 is "
            "0 for seq_len 3; give k");
  EXPECT_EQ(errorsOf(R"({"name": "linformer", "seq_len": 3, "k": 2})"), "");
  EXPECT_EQ(
      errorsOf(R"({"name": "linformer", "seq_len": 64, "kv_seq_len": 128})"),
      "config.json:1:52: error: kv_seq_len: 128 is longer than seq_len 64, "
      "the length linformer's projections take");
  EXPECT_EQ(
      errorsOf(
          R"({"name": "compositional", "dim_model": 100, "num_heads": 3})"),
      "config.json:1:40: error: compositional.dim_attn: 100 is not divisible "
      "by num_heads 3");
  EXPECT_EQ(errorsOf(R"({"name": "pooling", "seq_len": 250})"),
            "config.json:1:32: error: seq_len: pooling needs a square token "
            "grid, got 250 tokens");
  EXPECT_EQ(errorsOf(R"({"name": "visual", "dim_model": 64, "seq_len": 196})"),
            "");
}

TEST(ConfigErrors, StringNumbersWarn) {
  llvm::StringRef text = R"({"name": "linformer", "seq_len": "256"})";
  llvm::Expected<AttentionConfig> c = parseConfig(text, "config.json");
  ASSERT_TRUE(static_cast<bool>(c)) << llvm::toString(c.takeError());
  EXPECT_EQ(c->seqLen, 256);
  EXPECT_EQ(c->getInt("k"), 64);
  ASSERT_EQ(c->warnings.size(), 1u);
  EXPECT_EQ(c->warnings[0].str(),
            "config.json:1:34: warning: seq_len: number given as a string");
  EXPECT_EQ(c->warnings[0].severity, DiagnosticSeverity::Warning);
  EXPECT_EQ(c->warnings[0].line, 1u);
  EXPECT_EQ(c->warnings[0].column, 34u);

  AttentionConfig d =
      parseOk(R"({"name": "scaled_dot_product", "dropout": "0.25"})");
  EXPECT_EQ(d.dropout, 0.25);
  ASSERT_EQ(d.warnings.size(), 1u);
  EXPECT_EQ(d.warnings[0].message, "dropout: number given as a string");

  // A string that is not a number, or a float where an int is needed.
  EXPECT_EQ(errorsOf(R"({"name": "linformer", "seq_len": "256a"})"),
            "config.json:1:34: error: seq_len: expected a positive integer, "
            "got '256a'");
  EXPECT_EQ(errorsOf(R"({"name": "linformer", "seq_len": "25.6"})"),
            "config.json:1:34: error: seq_len: expected a positive integer, "
            "got 25.6");
  // Warnings travel with errors.
  EXPECT_EQ(
      errorsOf(
          R"({"name": "blocksparse", "block_size": "48", "seq_len": "64", "layout": [[1]]})"),
      "config.json:1:39: error: blocksparse.block_size: expected one of 16, "
      "32, 64, 128, got 48\n"
      "config.json:1:56: warning: seq_len: number given as a string");
  // Checks across fields skip fields that are wrong themselves.
  EXPECT_EQ(
      errorsOf(R"({"name": "blocksparse", "seq_len": "64", "layout": [[1]]})"),
      "config.json:1:36: warning: seq_len: number given as a string\n"
      "config.json:1:36: error: seq_len: a layout of 1 blocks of 16 covers 1 "
      "to 16 tokens, got 64");
}

//===----------------------------------------------------------------------===//
// Errors: JSON and top level
//===----------------------------------------------------------------------===//

TEST(ConfigErrors, MalformedJson) {
  EXPECT_EQ(errorsOf("{\n  \"name\": \"local\"\n  \"window_size\": 3\n}"),
            "config.json:3:3: error: expected ',' or '}' after object member");
  EXPECT_EQ(errorsOf("{\"name\": \"local\",}"),
            "config.json:1:18: error: expected a string key after ','; "
            "trailing commas are not allowed");
  EXPECT_EQ(errorsOf("{\"name\": \"local\""),
            "config.json:1:17: error: expected ',' or '}' after object member");
  EXPECT_EQ(errorsOf("{\"name\": \"scaled_dot_product\", \"name\": \"local\"}"),
            "config.json:1:32: error: duplicate key 'name' (first given at "
            "1:2)");
}

TEST(ConfigErrors, TopLevel) {
  EXPECT_EQ(errorsOf(""), "config.json:1:1: error: config is empty; expected "
                          "a JSON object with a \"name\"");
  EXPECT_EQ(errorsOf(" \n\t\n"),
            "config.json:1:1: error: config is empty; expected a JSON object "
            "with a \"name\"");
  EXPECT_EQ(errorsOf("[{\"name\": \"local\"}]"),
            "config.json:1:1: error: expected the config to be a JSON object "
            "with a \"name\", got a list");
  EXPECT_EQ(errorsOf("\n\"local\""),
            "config.json:2:1: error: expected the config to be a JSON object "
            "with a \"name\", got 'local'");
}

//===----------------------------------------------------------------------===//
// Errors: layouts
//===----------------------------------------------------------------------===//

TEST(ConfigErrors, Layouts) {
  auto withLayout = [](llvm::StringRef layout,
                       llvm::StringRef extra = "") -> std::string {
    return "{\"name\": \"blocksparse\", " + extra.str() +
           "\"layout\": " + layout.str() + "}";
  };
  std::string text = withLayout("[[1,0,0,0],[1,1,0,0],[1,1,1,0],[1,1,1,1,1]]");
  EXPECT_EQ(errorsOf(text),
            "config.json:" + locOf(text, "[1,1,1,1,1]") +
                ": error: layout: expected a [nb][nb] or [H][nb][nb] list of "
                "0/1, row 3 has 5 entries, expected 4");
  text = withLayout("[[1,0,0],[1,1,0]]");
  EXPECT_EQ(errorsOf(text),
            "config.json:" + locOf(text, "[1,0,0]") +
                ": error: layout: expected a [nb][nb] or [H][nb][nb] list of "
                "0/1, row 0 has 3 entries, expected 2");
  text = withLayout("[[[1,0],[0,1]],[[1,1],[0,1]],[[1,0],[0,7]]]");
  EXPECT_EQ(errorsOf(text), "config.json:" + locOf(text, "7") +
                                ": error: layout[2][1][1]: expected 0 or 1, "
                                "got 7");
  text = withLayout("[[[1,0],[0,1]],[[1,1],[0,1],[1,1]]]");
  EXPECT_EQ(errorsOf(text),
            "config.json:" + locOf(text, "[[1,1]") +
                ": error: layout: expected a [nb][nb] or [H][nb][nb] list of "
                "0/1, head 1 has 3 rows, expected 2");
  text = withLayout("[[[1,0],[0,1]],[[1,1],[0,1,1]]]");
  EXPECT_EQ(errorsOf(text),
            "config.json:" + locOf(text, "[0,1,1]") +
                ": error: layout: expected a [nb][nb] or [H][nb][nb] list of "
                "0/1, head 1 row 1 has 3 entries, expected 2");
  text = withLayout("[[[1,0],[0,1]],[1,1]]");
  EXPECT_EQ(errorsOf(text),
            "config.json:" + locOf(text, "1,1]]") +
                ": error: layout[1][0]: expected a list of 0/1, got 1");
  text = withLayout("[[1, 0.5], [1, 1]]");
  EXPECT_EQ(errorsOf(text), "config.json:" + locOf(text, "0.5") +
                                ": error: layout[0][1]: expected 0 or 1, got "
                                "0.5");
  text = withLayout("[[1, \"1\"], [1, 1]]");
  EXPECT_EQ(errorsOf(text), "config.json:" + locOf(text, "\"1\"") +
                                ": error: layout[0][1]: expected 0 or 1, got "
                                "'1'");
  text = withLayout("[1, 0, 1, 1]");
  EXPECT_EQ(errorsOf(text),
            "config.json:1:35: error: layout: expected a [nb][nb] or "
            "[H][nb][nb] list of 0/1, got a flat list; a layout has one row "
            "per query block");
  EXPECT_EQ(errorsOf(withLayout("[]")),
            "config.json:1:35: error: layout: expected a [nb][nb] or "
            "[H][nb][nb] list of 0/1, got an empty list");
  EXPECT_EQ(errorsOf(withLayout("\"bigbird\"")),
            "config.json:1:35: error: layout: expected a [nb][nb] or "
            "[H][nb][nb] list of 0/1, {\"pattern\": ...} or {\"file\": "
            "\"layout.npy\"}, got 'bigbird'; did you mean {\"pattern\": "
            "\"bigbird\"}?");
  // Generators need seq_len (more in LayoutTest.cpp).
  EXPECT_EQ(errorsOf(withLayout(
                "{\"pattern\": \"bigbird\", \"num_random_blocks\": 2}")),
            "config.json:1:35: error: layout: pattern 'bigbird' needs seq_len "
            "(the layout has ceil(seq_len / block_size) blocks); give "
            "seq_len");
  text = withLayout("{\"file\": \"a.npy\", \"shape\": 4}");
  EXPECT_EQ(errorsOf(text), "config.json:" + locOf(text, "\"shape\"") +
                                ": error: layout: unknown key 'shape' in "
                                "layout object; expected {\"file\": "
                                "\"layout.npy\"}");
  text = withLayout("{\"file\": 3}");
  EXPECT_EQ(errorsOf(text), "config.json:1:44: error: layout.file: expected "
                            "the path of a .npy file, got 3");
  // Heads: 1 or num_heads.
  text = withLayout("[[[1]], [[1]], [[1]]]", "\"num_heads\": 4, ");
  EXPECT_EQ(errorsOf(text), "config.json:" + locOf(text, "[[[") +
                                ": error: layout: expected 1 or num_heads (4) "
                                "heads, got 3");
  ConfigOverrides overrides;
  overrides.numHeads = 2;
  EXPECT_EQ(errorsOf(withLayout("[[[1]], [[1]], [[1]]]"), overrides),
            "config.json:1:35: error: layout: expected 1 or num_heads (2) "
            "heads, got 3 (given as an override)");
  // An empty layout is allowed, with a warning.
  llvm::Expected<AttentionConfig> empty =
      parseConfig(withLayout("[[0, 0], [0, 0]]"), "config.json");
  ASSERT_TRUE(static_cast<bool>(empty));
  ASSERT_EQ(empty->warnings.size(), 1u);
  EXPECT_EQ(empty->warnings[0].str(),
            "config.json:1:35: warning: layout: no block is set; every output "
            "row will be 0");
}

TEST(Config, LargeLayoutIsFast) {
  // 16 heads of 64x64 blocks: 65536 entries.
  std::string text = "{\"name\": \"blocksparse\", \"num_heads\": 16, "
                     "\"block_size\": 64, \"seq_len\": 4096, \"layout\": [";
  for (int h = 0; h < 16; ++h) {
    text += h ? ",\n[" : "\n[";
    for (int i = 0; i < 64; ++i) {
      text += i ? ",[" : "[";
      for (int j = 0; j < 64; ++j)
        text += j ? (j <= i && (i - j) % (h + 1) == 0 ? ",1" : ",0")
                  : (i % (h + 1) == 0 ? "1" : "0");
      text += "]";
    }
    text += "]";
  }
  text += "]}";
  auto start = std::chrono::steady_clock::now();
  AttentionConfig c = parseOk(text);
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  EXPECT_LT(seconds, 2.0);
  ASSERT_TRUE(c.layout);
  EXPECT_EQ(c.layout->heads, 16);
  EXPECT_EQ(c.layout->numBlocks, 64);
  EXPECT_EQ(c.layout->bits.size(), 65536u);
  EXPECT_EQ(c.layout->at(0, 5, 3), 1);
  EXPECT_EQ(c.layout->at(1, 5, 4), 0);
  EXPECT_EQ(c.layout->at(1, 5, 3), 1);
  EXPECT_EQ(c.layout->at(1, 3, 5), 0);
  // The canonical form holds every entry and reads back the same.
  AttentionConfig again = parseOk(c.canonicalJson);
  EXPECT_EQ(again.layout->bits, c.layout->bits);
}

//===----------------------------------------------------------------------===//
// .npy layouts
//===----------------------------------------------------------------------===//

TEST(NpyLayout, ReadsIntegerAndBoolArrays) {
  TempDir dir;
  std::vector<int64_t> bits = {1, 0, 0, 1, 1, 0, 1, 1, 1};
  dir.write("i8.npy", npyFile("<i8", {3, 3}, intData(bits, 8)));
  dir.write("i4be.npy", npyFile(">i4", {3, 3}, intData(bits, 4, true)));
  dir.write("u1.npy", npyFile("|u1", {3, 3}, intData(bits, 1)));
  dir.write("b1.npy", npyFile("|b1", {1, 3, 3}, intData(bits, 1)));
  dir.write("v2.npy", npyFile("<i2", {3, 3}, intData(bits, 2), false, 2));
  for (llvm::StringRef name :
       {"i8.npy", "i4be.npy", "u1.npy", "b1.npy", "v2.npy"}) {
    SCOPED_TRACE(name.str());
    std::string error;
    std::optional<BlockLayout> layout = readNpyLayout(dir.file(name), error);
    ASSERT_TRUE(layout) << error;
    EXPECT_EQ(layout->heads, 1);
    EXPECT_EQ(layout->numBlocks, 3);
    EXPECT_EQ(layout->bits, (std::vector<uint8_t>{1, 0, 0, 1, 1, 0, 1, 1, 1}));
  }
  std::vector<int64_t> twoHeads = {1, 0, 1, 1, 0, 1, 0, 1};
  dir.write("h2.npy", npyFile("<i4", {2, 2, 2}, intData(twoHeads, 4)));
  std::string error;
  std::optional<BlockLayout> layout = readNpyLayout(dir.file("h2.npy"), error);
  ASSERT_TRUE(layout) << error;
  EXPECT_EQ(layout->heads, 2);
  EXPECT_EQ(layout->at(1, 0, 0), 0);
  EXPECT_EQ(layout->at(1, 1, 1), 1);
}

TEST(NpyLayout, ConfigResolvesRelativePaths) {
  TempDir dir;
  std::vector<int64_t> bits = {1, 0, 1, 1};
  dir.write("layout.npy", npyFile("<i8", {2, 2}, intData(bits, 8)));
  std::string configPath = dir.write(
      "config.json",
      R"({"name": "blocksparse", "block_size": 32, "layout": {"file": "layout.npy"}})");
  // Relative to the config file's directory, whatever the working directory.
  llvm::Expected<AttentionConfig> c = parseConfigFile(configPath);
  ASSERT_TRUE(static_cast<bool>(c)) << llvm::toString(c.takeError());
  ASSERT_TRUE(c->layout);
  EXPECT_EQ(c->layout->bits, (std::vector<uint8_t>{1, 0, 1, 1}));
  // The canonical form inlines the layout: same hash as the nested list.
  AttentionConfig inline_ = parseOk(
      R"({"name": "blocksparse", "block_size": 32, "layout": [[1, 0], [1, 1]]})");
  EXPECT_EQ(c->canonicalJson, inline_.canonicalJson);
  EXPECT_EQ(canonicalConfigSha256(*c), canonicalConfigSha256(inline_));
  // Or relative to an explicit base directory.
  AttentionConfig based =
      parseOk(R"({"name": "blocksparse", "layout": {"file": "layout.npy"}})",
              {}, dir.dir());
  EXPECT_EQ(based.layout->numBlocks, 2);
  // An absolute path.
  AttentionConfig absolute =
      parseOk("{\"name\": \"blocksparse\", \"layout\": {\"file\": \"" +
              dir.file("layout.npy") + "\"}}");
  EXPECT_EQ(absolute.layout->numBlocks, 2);
}

TEST(NpyLayout, Errors) {
  TempDir dir;
  auto errorFor = [&](llvm::StringRef bytes) {
    std::string path = dir.write("bad.npy", bytes);
    std::string error;
    std::optional<BlockLayout> layout = readNpyLayout(path, error);
    EXPECT_FALSE(layout);
    std::string prefix = "'" + path + "'";
    if (llvm::StringRef(error).starts_with(prefix))
      return "<file>" + error.substr(prefix.size());
    return error;
  };
  std::vector<int64_t> ones = {1, 1, 1, 1};
  EXPECT_EQ(errorFor(npyFile("<f4", {2, 2}, std::string(16, '\0'))),
            "<file> has dtype '<f4'; expected a bool or integer array (float "
            "layouts are not accepted: xFormers PR #872)");
  EXPECT_EQ(errorFor(npyFile("<i8", {2, 2}, intData(ones, 8), true)),
            "<file> is stored in Fortran order; expected C order (save it "
            "with np.ascontiguousarray)");
  EXPECT_EQ(errorFor(npyFile("<i8", {2, 3}, intData({1, 1, 1, 1, 1, 1}, 8))),
            "<file> has shape (2, 3); expected (nb, nb) or (H, nb, nb) with "
            "nb > 0");
  EXPECT_EQ(errorFor(npyFile("<i8", {4}, intData(ones, 8))),
            "<file> has shape (4,); expected (nb, nb) or (H, nb, nb) with nb "
            "> 0");
  EXPECT_EQ(errorFor(npyFile("<i8", {2, 2}, intData({1, 1, 1}, 8))),
            "<file> is not a valid .npy file: shape (2, 2) of '<i8' needs 32 "
            "bytes of data, the file has 24");
  EXPECT_EQ(errorFor(npyFile("<i8", {2, 2}, intData({1, 7, 1, 1}, 8))),
            "<file> entry [0][1] is 7; expected 0 or 1");
  EXPECT_EQ(errorFor(npyFile("<i1", {1, 2, 2}, intData({1, 1, -1, 1}, 1))),
            "<file> entry [0][1][0] is -1; expected 0 or 1");
  EXPECT_EQ(errorFor("PK\x03\x04 not numpy"),
            "<file> is not a valid .npy file: it does not start with the .npy "
            "magic string");
  std::string header = npyFile("<i8", {2, 2}, "");
  EXPECT_EQ(errorFor(header.substr(0, 30)),
            "<file> is not a valid .npy file: the header is truncated");
  std::string missing = dir.file("missing.npy");
  std::string error;
  EXPECT_FALSE(readNpyLayout(missing, error));
  EXPECT_EQ(error, "cannot read '" + missing + "': No such file or directory");

  // Through the config: at the "file" value.
  std::string configPath = dir.write(
      "config.json",
      "{\"name\": \"blocksparse\",\n \"layout\": {\"file\": \"nope.npy\"}}");
  llvm::Expected<AttentionConfig> c = parseConfigFile(configPath);
  ASSERT_FALSE(static_cast<bool>(c));
  EXPECT_EQ(llvm::toString(c.takeError()),
            configPath + ":2:21: error: layout: cannot read '" +
                dir.file("nope.npy") + "': No such file or directory");
}

//===----------------------------------------------------------------------===//
// Overrides
//===----------------------------------------------------------------------===//

TEST(Config, OverridesReplaceTheConfig) {
  llvm::StringRef text = R"({"name": "scaled_dot_product", "head_dim": 64,
    "dtype": "bf16", "arch": "sm_80", "num_heads": 8})";
  ConfigOverrides overrides;
  overrides.headDim = 128;
  overrides.dtype = "fp32";
  overrides.arch = "sm_90a";
  overrides.numHeads = 2;
  overrides.seqLen = 300;
  overrides.kvSeqLen = 200;
  AttentionConfig c = parseOk(text, overrides);
  EXPECT_EQ(c.headDim, 128);
  EXPECT_EQ(c.dtype, Dtype::F32);
  EXPECT_EQ(c.arch, std::string("sm_90a"));
  EXPECT_EQ(c.numHeads, 2);
  EXPECT_EQ(c.seqLen, 300);
  EXPECT_EQ(c.kvSeqLen, 200);
  EXPECT_EQ(c.overridden,
            (std::vector<std::string>{"head_dim", "num_heads", "dtype",
                                      "seq_len", "kv_seq_len", "arch"}));
  // The canonical form has the overridden values.
  EXPECT_NE(c.canonicalJson.find("\"head_dim\": 128"), std::string::npos);
  EXPECT_NE(c.canonicalJson.find("\"arch\": \"sm_90a\""), std::string::npos);
  // The config still gave head_dim: its location is kept.
  EXPECT_TRUE(c.isGiven("head_dim"));
  EXPECT_EQ(c.getLocation("head_dim"), (SourceLocation{1, 44}));

  // Bad overrides are reported at the field they replace (or the config).
  ConfigOverrides bad;
  bad.headDim = 48;
  bad.dtype = "f16";
  bad.arch = "sm_70";
  EXPECT_EQ(
      errorsOf(text, bad),
      "config.json:1:44: error: head_dim: expected one of 32, 64, 96, "
      "128, 256, got 48 (the head sizes xfc's attention kernels support for "
      "'scaled_dot_product') (given as an override)\n"
      "config.json:2:14: error: dtype: expected one of fp16, bf16, fp32, "
      "got 'f16' (given as an override)\n"
      "config.json:2:30: error: arch: expected one of sm_80, sm_86, "
      "sm_89, sm_90, sm_90a, got 'sm_70' (given as an override)");
  ConfigOverrides negative;
  negative.seqLen = -1;
  EXPECT_EQ(errorsOf(R"({"name": "local"})", negative),
            "config.json:1:1: error: seq_len: expected a positive integer, "
            "got -1 (given as an override)");
  // A (bad) config value an override replaces is still reported.
  ConfigOverrides fine;
  fine.headDim = 64;
  EXPECT_EQ(
      errorsOf(R"({"name": "local", "head_dim": 48})", fine).substr(0, 61),
      "config.json:1:31: error: head_dim: expected one of 32, 64, 96");
}

//===----------------------------------------------------------------------===//
// Canonical form, hash, diagnostics
//===----------------------------------------------------------------------===//

TEST(Config, CanonicalFormIsStable) {
  AttentionConfig a = parseOk(
      R"({"causal": true, "name": "local", "window_size": 7, "dtype": "fp16"})");
  AttentionConfig b = parseOk(R"({
    "name": "local", "dtype": "fp16",
    "window_size": 7,
    "causal": true, "force_sparsity": false, "dropout": 0.0
  })");
  EXPECT_EQ(a.canonicalJson, b.canonicalJson);
  EXPECT_EQ(canonicalConfigJson(a), a.canonicalJson);
  EXPECT_EQ(canonicalConfigSha256(a), canonicalConfigSha256(b));
  EXPECT_EQ(canonicalConfigSha256(a).size(), 64u);
  AttentionConfig c = parseOk(R"({"name": "local", "window_size": 9})");
  EXPECT_NE(canonicalConfigSha256(a), canonicalConfigSha256(c));
  EXPECT_EQ(a.canonicalJson, "{\n"
                             "  \"causal\": true,\n"
                             "  \"dropout\": 0.0,\n"
                             "  \"dtype\": \"fp16\",\n"
                             "  \"force_sparsity\": false,\n"
                             "  \"name\": \"local\",\n"
                             "  \"window_size\": 7\n"
                             "}");
  // Floats print in their shortest form.
  AttentionConfig r =
      parseOk(R"({"name": "random", "r": 0.1, "dropout": 1e-1})");
  EXPECT_NE(r.canonicalJson.find("\"r\": 0.1,"), std::string::npos);
  EXPECT_NE(r.canonicalJson.find("\"dropout\": 0.1,"), std::string::npos);
}

TEST(Config, Dtypes) {
  EXPECT_EQ(dtypeName(Dtype::F16), "fp16");
  EXPECT_EQ(dtypeName(Dtype::BF16), "bf16");
  EXPECT_EQ(dtypeName(Dtype::F32), "fp32");
  EXPECT_EQ(parseDtype("bf16"), Dtype::BF16);
  EXPECT_FALSE(parseDtype("f16"));
}

TEST(Config, DiagnosticRendering) {
  ConfigDiagnostic d;
  d.bufferName = "dir/config.json";
  d.line = 3;
  d.column = 17;
  d.message = "blocksparse.block_size: expected one of 16, 32, 64, 128, got 48";
  EXPECT_EQ(d.str(), "dir/config.json:3:17: error: blocksparse.block_size: "
                     "expected one of 16, 32, 64, 128, got 48");
  d.severity = DiagnosticSeverity::Warning;
  d.message = "seq_len: number given as a string";
  EXPECT_EQ(d.str(),
            "dir/config.json:3:17: warning: seq_len: number given as a string");
  d.line = 0;
  EXPECT_EQ(d.str(), "dir/config.json: warning: seq_len: number given as a "
                     "string");

  llvm::Expected<AttentionConfig> c =
      parseConfig(R"({"name": "linformer", "seq_len": "8", "k": 0})", "x.json");
  ASSERT_FALSE(static_cast<bool>(c));
  llvm::handleAllErrors(c.takeError(), [](const ConfigError &error) {
    ASSERT_EQ(error.getDiagnostics().size(), 2u);
    EXPECT_EQ(error.getDiagnostics()[0].severity, DiagnosticSeverity::Warning);
    EXPECT_EQ(error.getFirstError().message,
              "linformer.k: expected a positive integer, got 0");
    EXPECT_EQ(error.getFirstError().bufferName, "x.json");
    EXPECT_EQ(error.getFirstError().column, 44u);
  });

  llvm::Expected<AttentionConfig> missing =
      parseConfigFile("/nonexistent/dir/missing.json");
  ASSERT_FALSE(static_cast<bool>(missing));
  EXPECT_EQ(llvm::toString(missing.takeError()),
            "/nonexistent/dir/missing.json: error: cannot read config file "
            "'/nonexistent/dir/missing.json': No such file or directory");
}

TEST(Config, ExampleConfigsParse) {
#ifdef XFC_EXAMPLES_DIR
  std::error_code ec;
  int count = 0;
  for (llvm::sys::fs::directory_iterator it(XFC_EXAMPLES_DIR, ec), end;
       it != end && !ec; it.increment(ec)) {
    if (llvm::sys::path::extension(it->path()) != ".json")
      continue;
    SCOPED_TRACE(it->path());
    llvm::Expected<AttentionConfig> c = parseConfigFile(it->path());
    EXPECT_TRUE(static_cast<bool>(c))
        << (c ? std::string() : llvm::toString(c.takeError()));
    ++count;
  }
  EXPECT_GT(count, 0);
#else
  GTEST_SKIP() << "XFC_EXAMPLES_DIR not set";
#endif
}

TEST(ConfigErrors, FavorFeatureCountAndRedraw) {
  // sm_reg and sm_hyp concatenate exp(+p) and exp(-p): an even count.
  EXPECT_EQ(
      errorsOf(R"({"name": "favor", "dim_head": 32, "dim_features": 99})"),
      "config.json:1:51: error: favor.dim_features: feature_map "
      "'sm_reg' needs an even number of features, got 99");
  EXPECT_NE(errorsOf(R"({"name": "favor", "dim_head": 32, "dim_features": 99,
                         "feature_map": "sm_hyp"})"),
            "");
  EXPECT_EQ(errorsOf(R"({"name": "favor", "dim_head": 32, "dim_features": 99,
                         "feature_map": "sm_orf"})"),
            "");
  // Default: 2 * (ceil(Dh (1 + log2 Dh)) // 2).
  EXPECT_EQ(
      parseOk(R"({"name": "favor", "dim_head": 64})").getInt("dim_features"),
      448);
  // xfc never redraws the features by itself: a warning says so.
  AttentionConfig c =
      parseOk(R"({"name": "favor", "dim_head": 32, "iter_before_redraw": 5})");
  ASSERT_EQ(c.warnings.size(), 1u);
  EXPECT_NE(c.warnings[0].str().find("never redraws them by itself"),
            std::string::npos)
      << c.warnings[0].str();
  EXPECT_TRUE(parseOk(R"({"name": "favor", "dim_head": 32})").warnings.empty());
}

} // namespace
