//===- JsonReader.h - Strict JSON with source locations ---------*- C++ -*-===//
//
// A small, strict JSON (RFC 8259) reader for attention configs. Unlike
// llvm::json it records where every value starts (1-based line and byte
// column), so that the config frontend can point a diagnostic at the exact
// value that is wrong, keeps the spelling of numbers ("48", "1.0", "1e3") for
// messages, rejects duplicate object keys and limits nesting depth.
//
//===----------------------------------------------------------------------===//

#ifndef XFC_FRONTEND_JSONREADER_H
#define XFC_FRONTEND_JSONREADER_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace xfc {

/// A position in a source buffer: 1-based line and 1-based byte column.
/// Line 0 means "no position" (e.g. a value that came from the command line).
struct SourceLocation {
  unsigned line = 0;
  unsigned column = 0;

  bool isValid() const { return line != 0; }
  friend bool operator==(SourceLocation a, SourceLocation b) {
    return a.line == b.line && a.column == b.column;
  }
  friend bool operator!=(SourceLocation a, SourceLocation b) {
    return !(a == b);
  }
  friend bool operator<(SourceLocation a, SourceLocation b) {
    return a.line != b.line ? a.line < b.line : a.column < b.column;
  }
};

struct JsonMember;

/// One JSON value and where it starts in the source.
class JsonValue {
public:
  enum class Kind : uint8_t { Null, Bool, Number, String, Array, Object };

  JsonValue() = default;
  explicit JsonValue(Kind kind, SourceLocation loc = {});

  Kind getKind() const { return kind; }
  SourceLocation getLocation() const { return loc; }

  bool isNull() const { return kind == Kind::Null; }
  bool isBool() const { return kind == Kind::Bool; }
  bool isNumber() const { return kind == Kind::Number; }
  bool isString() const { return kind == Kind::String; }
  bool isArray() const { return kind == Kind::Array; }
  bool isObject() const { return kind == Kind::Object; }

  /// The value of a Bool.
  bool getBool() const { return boolValue; }

  /// A Number as it was written in the source ("48", "-3", "1.0", "1e3").
  llvm::StringRef getNumberText() const { return text; }
  /// True for a Number written without fraction or exponent that fits in
  /// int64_t.
  bool isInteger() const { return kind == Kind::Number && integral; }
  int64_t getInteger() const { return intValue; }
  /// Any Number as a double (integers converted).
  double getDouble() const { return doubleValue; }

  /// The decoded contents of a String (escapes resolved, UTF-8).
  llvm::StringRef getString() const { return text; }

  /// The elements of an Array.
  llvm::ArrayRef<JsonValue> getElements() const { return elements; }
  /// The members of an Object, in source order (keys are unique).
  llvm::ArrayRef<JsonMember> getMembers() const;
  /// The member named `key` of an Object, or null.
  const JsonMember *findMember(llvm::StringRef key) const;

  /// A short description for messages: the number as written, a string in
  /// single quotes ('f16'), true/false/null, "a list", "an empty list" or
  /// "an object".
  std::string describe() const;

  /// Builders, used by the reader and by tests.
  static JsonValue makeNull(SourceLocation loc = {});
  static JsonValue makeBool(bool value, SourceLocation loc = {});
  /// `spelling` must be a valid JSON number.
  static JsonValue makeNumber(llvm::StringRef spelling,
                              SourceLocation loc = {});
  static JsonValue makeString(std::string value, SourceLocation loc = {});
  void addElement(JsonValue element);
  void addMember(JsonMember member);

private:
  Kind kind = Kind::Null;
  bool boolValue = false;
  bool integral = false;
  SourceLocation loc;
  int64_t intValue = 0;
  double doubleValue = 0.0;
  /// Number spelling or decoded string.
  std::string text;
  std::vector<JsonValue> elements;
  std::vector<JsonMember> members;
};

/// One `"key": value` pair of an Object.
struct JsonMember {
  std::string key;
  /// Where the key's opening quote is.
  SourceLocation keyLocation;
  JsonValue value;
};

/// A syntax error: where it is and what was expected there.
struct JsonSyntaxError {
  SourceLocation location;
  std::string message;
};

/// Options of the reader.
struct JsonReaderOptions {
  /// Arrays and objects nested deeper than this are an error.
  unsigned maxDepth = 256;
};

/// Parses `text` as exactly one JSON value (surrounded by optional
/// whitespace). On failure returns std::nullopt and fills `error` with the
/// location and a message such as "expected ',' or '}' after object member".
std::optional<JsonValue> parseJson(llvm::StringRef text, JsonSyntaxError &error,
                                   const JsonReaderOptions &options = {});

/// Returns true if `text` is exactly a JSON number ("-12", "0.5", "1e3").
bool isJsonNumber(llvm::StringRef text);

/// Appends `value` to `out` as a JSON string literal (quotes and escapes).
void appendJsonString(std::string &out, llvm::StringRef value);

/// The shortest decimal text that reads back as `value`, always with a '.',
/// an exponent or "inf"/"nan", so that it reads back as a float.
std::string formatFloat(double value);

/// A range bound for messages: whole numbers without ".0" ("0", "1"),
/// infinities as "inf" and "-inf", others as formatFloat does.
std::string formatBound(double value);

//===----------------------------------------------------------------------===//
// Inline definitions that need JsonMember to be complete.
//===----------------------------------------------------------------------===//

inline llvm::ArrayRef<JsonMember> JsonValue::getMembers() const {
  return members;
}

} // namespace xfc

#endif // XFC_FRONTEND_JSONREADER_H
