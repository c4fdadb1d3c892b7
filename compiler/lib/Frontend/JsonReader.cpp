//===- JsonReader.cpp - Strict JSON with source locations -----------------===//
//
// A recursive-descent reader over the bytes of the buffer. Recursion is
// bounded by JsonReaderOptions::maxDepth, so hostile nesting gives an error
// instead of a stack overflow. Newlines only occur in whitespace (raw control
// characters are not allowed in strings), so the line counter advances only
// while skipping whitespace.
//
//===----------------------------------------------------------------------===//

#include "xfc/Frontend/JsonReader.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/ConvertUTF.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>

using namespace xfc;

//===----------------------------------------------------------------------===//
// JsonValue
//===----------------------------------------------------------------------===//

JsonValue::JsonValue(Kind kind, SourceLocation loc) : kind(kind), loc(loc) {}

const JsonMember *JsonValue::findMember(llvm::StringRef key) const {
  for (const JsonMember &member : members)
    if (member.key == key)
      return &member;
  return nullptr;
}

std::string JsonValue::describe() const {
  switch (kind) {
  case Kind::Null:
    return "null";
  case Kind::Bool:
    return boolValue ? "true" : "false";
  case Kind::Number:
    return text;
  case Kind::String: {
    std::string quoted = "'";
    // Keep messages on one line and short.
    llvm::StringRef shown = llvm::StringRef(text).take_front(64);
    for (char c : shown)
      quoted += (static_cast<unsigned char>(c) < 0x20) ? '?' : c;
    if (shown.size() < text.size())
      quoted += "...";
    return quoted + "'";
  }
  case Kind::Array:
    return elements.empty() ? "an empty list" : "a list";
  case Kind::Object:
    return "an object";
  }
  return "";
}

JsonValue JsonValue::makeNull(SourceLocation loc) {
  return JsonValue(Kind::Null, loc);
}

JsonValue JsonValue::makeBool(bool value, SourceLocation loc) {
  JsonValue result(Kind::Bool, loc);
  result.boolValue = value;
  return result;
}

JsonValue JsonValue::makeNumber(llvm::StringRef spelling, SourceLocation loc) {
  JsonValue result(Kind::Number, loc);
  result.text = spelling.str();
  bool hasFractionOrExponent =
      spelling.find_first_of(".eE") != llvm::StringRef::npos;
  // getAsInteger rejects values that do not fit in int64_t.
  int64_t intValue = 0;
  if (!hasFractionOrExponent && !spelling.getAsInteger(10, intValue)) {
    result.integral = true;
    result.intValue = intValue;
    result.doubleValue = static_cast<double>(intValue);
  } else {
    result.doubleValue = std::strtod(result.text.c_str(), nullptr);
  }
  return result;
}

JsonValue JsonValue::makeString(std::string value, SourceLocation loc) {
  JsonValue result(Kind::String, loc);
  result.text = std::move(value);
  return result;
}

void JsonValue::addElement(JsonValue element) {
  elements.push_back(std::move(element));
}

void JsonValue::addMember(JsonMember member) {
  members.push_back(std::move(member));
}

//===----------------------------------------------------------------------===//
// Reader
//===----------------------------------------------------------------------===//

namespace {

/// Length of the JSON number at the start of `text`, or 0 if there is none;
/// on a malformed number sets `problem` and returns the offset of the bad
/// character.
size_t scanNumber(llvm::StringRef text, const char *&problem) {
  problem = nullptr;
  size_t i = 0, n = text.size();
  auto isDigit = [&](size_t at) { return at < n && llvm::isDigit(text[at]); };
  if (i < n && text[i] == '-')
    ++i;
  if (!isDigit(i)) {
    problem = "expected a digit after '-'";
    return i;
  }
  if (text[i] == '0') {
    ++i;
    if (isDigit(i)) {
      problem = "numbers cannot have leading zeros";
      return i;
    }
  } else {
    while (isDigit(i))
      ++i;
  }
  if (i < n && text[i] == '.') {
    ++i;
    if (!isDigit(i)) {
      problem = "expected a digit after '.' in number";
      return i;
    }
    while (isDigit(i))
      ++i;
  }
  if (i < n && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    if (i < n && (text[i] == '+' || text[i] == '-'))
      ++i;
    if (!isDigit(i)) {
      problem = "expected a digit in the exponent of number";
      return i;
    }
    while (isDigit(i))
      ++i;
  }
  return i;
}

void appendUTF8(std::string &out, uint32_t codePoint) {
  if (codePoint < 0x80) {
    out += static_cast<char>(codePoint);
  } else if (codePoint < 0x800) {
    out += static_cast<char>(0xC0 | (codePoint >> 6));
    out += static_cast<char>(0x80 | (codePoint & 0x3F));
  } else if (codePoint < 0x10000) {
    out += static_cast<char>(0xE0 | (codePoint >> 12));
    out += static_cast<char>(0x80 | ((codePoint >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (codePoint & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (codePoint >> 18));
    out += static_cast<char>(0x80 | ((codePoint >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((codePoint >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (codePoint & 0x3F));
  }
}

class Reader {
public:
  Reader(llvm::StringRef text, JsonSyntaxError &error,
         const JsonReaderOptions &options)
      : text(text), error(error), options(options) {}

  std::optional<JsonValue> parseDocument() {
    // A UTF-8 byte order mark is allowed and ignored (RFC 8259 §8.1).
    if (text.starts_with("\xEF\xBB\xBF"))
      pos = 3, lineStart = 3;
    skipWhitespace();
    if (atEnd()) {
      fail("expected a JSON value, got an empty file");
      return std::nullopt;
    }
    JsonValue root;
    if (!parseValue(root, /*depth=*/0))
      return std::nullopt;
    skipWhitespace();
    if (!atEnd()) {
      fail("unexpected text after the JSON value; expected end of file");
      return std::nullopt;
    }
    return root;
  }

private:
  bool atEnd() const { return pos >= text.size(); }
  char peek() const { return atEnd() ? '\0' : text[pos]; }

  SourceLocation here() const { return locationOf(pos); }
  SourceLocation locationOf(size_t offset) const {
    return {line, static_cast<unsigned>(offset - lineStart + 1)};
  }

  /// Records the error; returns false for `return fail(...)`.
  bool fail(const llvm::Twine &message) { return failAt(here(), message); }
  bool failAt(SourceLocation loc, const llvm::Twine &message) {
    error.location = loc;
    error.message = message.str();
    return false;
  }

  void skipWhitespace() {
    while (!atEnd()) {
      char c = text[pos];
      if (c == '\n') {
        ++pos;
        ++line;
        lineStart = pos;
      } else if (c == ' ' || c == '\t' || c == '\r') {
        ++pos;
      } else {
        return;
      }
    }
  }

  /// Parses the value at `pos` (not whitespace) into `out`.
  bool parseValue(JsonValue &out, unsigned depth) {
    char c = peek();
    switch (c) {
    case '{':
      return parseObject(out, depth + 1);
    case '[':
      return parseArray(out, depth + 1);
    case '"': {
      SourceLocation loc = here();
      std::string value;
      if (!parseString(value))
        return false;
      out = JsonValue::makeString(std::move(value), loc);
      return true;
    }
    case 't':
    case 'f':
    case 'n':
      return parseLiteral(out);
    default:
      break;
    }
    if (c == '-' || llvm::isDigit(c))
      return parseNumber(out);
    if (atEnd())
      return fail("expected a JSON value, got end of file");
    if (c == '\'')
      return fail("expected a JSON value; strings take double quotes");
    if (c == '/')
      return fail("comments are not allowed in JSON");
    if (c == '+' || c == '.')
      return fail("invalid number; JSON numbers start with '-' or a digit");
    if (llvm::isAlpha(c))
      return parseLiteral(out);
    return fail("expected a JSON value");
  }

  bool parseLiteral(JsonValue &out) {
    SourceLocation loc = here();
    size_t end = pos;
    while (end < text.size() && (llvm::isAlnum(text[end]) || text[end] == '_'))
      ++end;
    llvm::StringRef word = text.slice(pos, end);
    if (word == "true" || word == "false") {
      out = JsonValue::makeBool(word == "true", loc);
    } else if (word == "null") {
      out = JsonValue::makeNull(loc);
    } else {
      fail("invalid literal '" + word.take_front(32) +
           "'; expected true, false, null, a number, a string, a list or "
           "an object");
      return false;
    }
    pos = end;
    return true;
  }

  bool parseNumber(JsonValue &out) {
    SourceLocation loc = here();
    const char *problem = nullptr;
    llvm::StringRef rest = text.drop_front(pos);
    size_t length = scanNumber(rest, problem);
    if (problem)
      return failAt(locationOf(pos + length), problem);
    llvm::StringRef spelling = rest.take_front(length);
    out = JsonValue::makeNumber(spelling, loc);
    if (!out.isInteger() && !std::isfinite(out.getDouble()))
      return failAt(loc, "number " + spelling + " is out of range");
    pos += length;
    return true;
  }

  bool parseHex4(uint32_t &value) {
    if (pos + 4 > text.size())
      return fail("expected 4 hex digits after '\\u'");
    value = 0;
    for (unsigned i = 0; i < 4; ++i) {
      char c = text[pos + i];
      unsigned digit = llvm::hexDigitValue(c);
      if (digit == ~0U)
        return failAt(locationOf(pos + i), "expected 4 hex digits after '\\u'");
      value = value * 16 + digit;
    }
    pos += 4;
    return true;
  }

  /// Parses a string starting at the opening quote at `pos`.
  bool parseString(std::string &out) {
    SourceLocation start = here();
    ++pos; // the opening quote
    size_t runStart = pos;
    while (true) {
      if (atEnd())
        return failAt(start, "unterminated string");
      unsigned char c = text[pos];
      if (c == '"') {
        out.append(text.data() + runStart, pos - runStart);
        ++pos;
        break;
      }
      if (c < 0x20) {
        if (c == '\n')
          return failAt(start, "unterminated string");
        return fail("control character in string; write it as an escape "
                    "such as \\n or \\u0009");
      }
      if (c != '\\') {
        ++pos;
        continue;
      }
      out.append(text.data() + runStart, pos - runStart);
      size_t escapeStart = pos;
      ++pos;
      if (atEnd())
        return failAt(start, "unterminated string");
      char e = text[pos++];
      switch (e) {
      case '"':
      case '\\':
      case '/':
        out += e;
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'u': {
        uint32_t codePoint;
        if (!parseHex4(codePoint))
          return false;
        if (codePoint >= 0xD800 && codePoint <= 0xDBFF) {
          uint32_t low = 0;
          if (!text.drop_front(pos).starts_with("\\u"))
            return failAt(locationOf(escapeStart),
                          "unpaired UTF-16 surrogate in '\\u' escape");
          pos += 2;
          if (!parseHex4(low))
            return false;
          if (low < 0xDC00 || low > 0xDFFF)
            return failAt(locationOf(escapeStart),
                          "unpaired UTF-16 surrogate in '\\u' escape");
          codePoint = 0x10000 + ((codePoint - 0xD800) << 10) + (low - 0xDC00);
        } else if (codePoint >= 0xDC00 && codePoint <= 0xDFFF) {
          return failAt(locationOf(escapeStart),
                        "unpaired UTF-16 surrogate in '\\u' escape");
        }
        appendUTF8(out, codePoint);
        break;
      }
      default:
        return failAt(locationOf(escapeStart),
                      "invalid escape '\\" + llvm::Twine(e) + "' in string");
      }
      runStart = pos;
    }
    // The decoded string must be valid UTF-8 (escapes always are).
    const llvm::UTF8 *begin = reinterpret_cast<const llvm::UTF8 *>(out.data());
    if (!llvm::isLegalUTF8String(&begin, begin + out.size()))
      return failAt(start, "string is not valid UTF-8");
    return true;
  }

  bool checkDepth(unsigned depth) {
    if (depth > options.maxDepth)
      return fail("lists and objects nested deeper than " +
                  llvm::Twine(options.maxDepth) + " levels");
    return true;
  }

  bool parseArray(JsonValue &out, unsigned depth) {
    if (!checkDepth(depth))
      return false;
    out = JsonValue(JsonValue::Kind::Array, here());
    ++pos; // '['
    skipWhitespace();
    if (peek() == ']') {
      ++pos;
      return true;
    }
    while (true) {
      if (atEnd())
        return fail("expected a JSON value or ']', got end of file");
      JsonValue element;
      if (!parseValue(element, depth))
        return false;
      out.addElement(std::move(element));
      skipWhitespace();
      char c = peek();
      if (c == ']') {
        ++pos;
        return true;
      }
      if (c != ',')
        return fail("expected ',' or ']' after list element");
      ++pos;
      skipWhitespace();
      if (peek() == ']')
        return fail("expected a JSON value after ','; trailing commas are "
                    "not allowed");
    }
  }

  bool parseObject(JsonValue &out, unsigned depth) {
    if (!checkDepth(depth))
      return false;
    out = JsonValue(JsonValue::Kind::Object, here());
    ++pos; // '{'
    skipWhitespace();
    if (peek() == '}') {
      ++pos;
      return true;
    }
    while (true) {
      if (peek() != '"') {
        if (peek() == '}')
          return fail("expected a string key after ','; trailing commas are "
                      "not allowed");
        if (peek() == '\'')
          return fail("expected a string key; keys take double quotes");
        return fail("expected a string key or '}'");
      }
      JsonMember member;
      member.keyLocation = here();
      if (!parseString(member.key))
        return false;
      if (const JsonMember *first = out.findMember(member.key))
        return failAt(member.keyLocation,
                      "duplicate key '" + member.key + "' (first given at " +
                          llvm::Twine(first->keyLocation.line) + ":" +
                          llvm::Twine(first->keyLocation.column) + ")");
      skipWhitespace();
      if (peek() != ':')
        return fail("expected ':' after object key");
      ++pos;
      skipWhitespace();
      if (atEnd())
        return fail("expected a JSON value, got end of file");
      if (!parseValue(member.value, depth))
        return false;
      out.addMember(std::move(member));
      skipWhitespace();
      char c = peek();
      if (c == '}') {
        ++pos;
        return true;
      }
      if (c != ',')
        return fail("expected ',' or '}' after object member");
      ++pos;
      skipWhitespace();
    }
  }

  llvm::StringRef text;
  JsonSyntaxError &error;
  const JsonReaderOptions &options;
  size_t pos = 0;
  unsigned line = 1;
  size_t lineStart = 0;
};

} // namespace

std::optional<JsonValue> xfc::parseJson(llvm::StringRef text,
                                        JsonSyntaxError &error,
                                        const JsonReaderOptions &options) {
  return Reader(text, error, options).parseDocument();
}

bool xfc::isJsonNumber(llvm::StringRef text) {
  if (text.empty())
    return false;
  const char *problem = nullptr;
  size_t length = scanNumber(text, problem);
  return !problem && length == text.size();
}

void xfc::appendJsonString(std::string &out, llvm::StringRef value) {
  out += '"';
  for (char c : value) {
    switch (c) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\r':
      out += "\\r";
      break;
    case '\t':
      out += "\\t";
      break;
    case '\b':
      out += "\\b";
      break;
    case '\f':
      out += "\\f";
      break;
    default:
      if (static_cast<unsigned char>(c) < 0x20) {
        static const char hex[] = "0123456789abcdef";
        out += "\\u00";
        out += hex[(c >> 4) & 0xF];
        out += hex[c & 0xF];
      } else {
        out += c;
      }
    }
  }
  out += '"';
}

std::string xfc::formatFloat(double value) {
  char buffer[32];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buffer, sizeof(buffer), "%.*g", precision, value);
    if (std::strtod(buffer, nullptr) == value)
      break;
  }
  std::string text = buffer;
  if (text.find_first_of(".eEni") == std::string::npos)
    text += ".0";
  return text;
}

std::string xfc::formatBound(double value) {
  if (!std::isfinite(value))
    return value < 0 ? "-inf" : "inf";
  if (value == std::floor(value) && std::fabs(value) < 1e15)
    return std::to_string(static_cast<int64_t>(value));
  return formatFloat(value);
}
