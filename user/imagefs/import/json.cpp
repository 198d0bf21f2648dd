// The minimal JSON reader: a validating recursive-descent pass (bounded by the depth limit) and
// navigation by rescanning text that the pass accepted.
#include "imagefs/import/json.hpp"

namespace imagefs {

const char* json_error_text(JsonError error) {
  switch (error) {
    case JsonError::None: return "no error";
    case JsonError::Syntax: return "syntax error";
    case JsonError::TooDeep: return "nested too deeply";
    case JsonError::BadString: return "invalid string";
    case JsonError::TrailingData: return "data after the document";
  }
  return "unknown error";
}

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

class Parser {
 public:
  Parser(const char* text, u64 length, u32 max_depth) : start_(text), at_(text), end_(text + length), max_depth_(max_depth) {}

  JsonParse run() {
    JsonParse result{JsonError::None, 0, {}};
    skip_space();
    if (!value(result.root, 0)) return failure();
    skip_space();
    if (at_ != end_) {
      error_ = JsonError::TrailingData;
      return failure();
    }
    return result;
  }

 private:
  JsonParse failure() const { return {error_, static_cast<u64>(at_ - start_), {}}; }

  bool fail(JsonError error) {
    error_ = error;
    return false;
  }

  void skip_space() {
    while (at_ != end_ && is_space(*at_)) ++at_;
  }

  bool literal(const char* word) {
    for (; *word != '\0'; ++word, ++at_) {
      if (at_ == end_ || *at_ != *word) return fail(JsonError::Syntax);
    }
    return true;
  }

  bool value(JsonValue& out, u32 depth) {
    if (at_ == end_) return fail(JsonError::Syntax);
    out.begin = at_;
    bool ok = false;
    switch (*at_) {
      case '{': out.type = JsonType::Object; ok = object(depth + 1); break;
      case '[': out.type = JsonType::Array; ok = array(depth + 1); break;
      case '"': out.type = JsonType::String; ok = string(); break;
      case 't': out.type = JsonType::Boolean; ok = literal("true"); break;
      case 'f': out.type = JsonType::Boolean; ok = literal("false"); break;
      case 'n': out.type = JsonType::Null; ok = literal("null"); break;
      default: out.type = JsonType::Number; ok = number(); break;
    }
    out.end = at_;
    return ok;
  }

  bool object(u32 depth) {
    if (depth > max_depth_) return fail(JsonError::TooDeep);
    ++at_;
    skip_space();
    if (at_ != end_ && *at_ == '}') {
      ++at_;
      return true;
    }
    for (;;) {
      skip_space();
      if (at_ == end_ || *at_ != '"') return fail(JsonError::Syntax);
      if (!string()) return false;
      skip_space();
      if (at_ == end_ || *at_ != ':') return fail(JsonError::Syntax);
      ++at_;
      skip_space();
      JsonValue member;
      if (!value(member, depth)) return false;
      skip_space();
      if (at_ == end_) return fail(JsonError::Syntax);
      if (*at_ == '}') {
        ++at_;
        return true;
      }
      if (*at_ != ',') return fail(JsonError::Syntax);
      ++at_;
    }
  }

  bool array(u32 depth) {
    if (depth > max_depth_) return fail(JsonError::TooDeep);
    ++at_;
    skip_space();
    if (at_ != end_ && *at_ == ']') {
      ++at_;
      return true;
    }
    for (;;) {
      skip_space();
      JsonValue element;
      if (!value(element, depth)) return false;
      skip_space();
      if (at_ == end_) return fail(JsonError::Syntax);
      if (*at_ == ']') {
        ++at_;
        return true;
      }
      if (*at_ != ',') return fail(JsonError::Syntax);
      ++at_;
    }
  }

  bool number() {
    if (at_ != end_ && *at_ == '-') ++at_;
    if (at_ == end_ || !is_digit(*at_)) return fail(JsonError::Syntax);
    if (*at_ == '0') {
      ++at_;
    } else {
      while (at_ != end_ && is_digit(*at_)) ++at_;
    }
    if (at_ != end_ && *at_ == '.') {
      ++at_;
      if (at_ == end_ || !is_digit(*at_)) return fail(JsonError::Syntax);
      while (at_ != end_ && is_digit(*at_)) ++at_;
    }
    if (at_ != end_ && (*at_ == 'e' || *at_ == 'E')) {
      ++at_;
      if (at_ != end_ && (*at_ == '+' || *at_ == '-')) ++at_;
      if (at_ == end_ || !is_digit(*at_)) return fail(JsonError::Syntax);
      while (at_ != end_ && is_digit(*at_)) ++at_;
    }
    return true;
  }

  // Four hex digits after "\u"; `at_` is on the first.
  bool unicode_escape(u32& code) {
    if (end_ - at_ < 4) return fail(JsonError::BadString);
    code = 0;
    for (int i = 0; i < 4; ++i) {
      int digit = hex_value(at_[i]);
      if (digit < 0) return fail(JsonError::BadString);
      code = code * 16 + static_cast<u32>(digit);
    }
    at_ += 4;
    return true;
  }

  bool string() {
    ++at_;
    while (at_ != end_) {
      auto byte = static_cast<u8>(*at_);
      if (byte == '"') {
        ++at_;
        return true;
      }
      if (byte < 0x20) return fail(JsonError::BadString);
      if (byte == '\\') {
        ++at_;
        if (at_ == end_) return fail(JsonError::BadString);
        char escape = *at_++;
        if (escape == 'u') {
          u32 code;
          if (!unicode_escape(code)) return false;
          if (code >= 0xdc00 && code <= 0xdfff) return fail(JsonError::BadString);  // A lone low surrogate.
          if (code >= 0xd800 && code <= 0xdbff) {
            // A high surrogate must be followed by "\u" and a low one.
            if (end_ - at_ < 2 || at_[0] != '\\' || at_[1] != 'u') return fail(JsonError::BadString);
            at_ += 2;
            u32 low;
            if (!unicode_escape(low)) return false;
            if (low < 0xdc00 || low > 0xdfff) return fail(JsonError::BadString);
          }
        } else if (escape != '"' && escape != '\\' && escape != '/' && escape != 'b' && escape != 'f' &&
                   escape != 'n' && escape != 'r' && escape != 't') {
          return fail(JsonError::BadString);
        }
        continue;
      }
      if (byte < 0x80) {
        ++at_;
        continue;
      }
      if (!utf8_sequence()) return fail(JsonError::BadString);
    }
    return fail(JsonError::BadString);
  }

  // One multi-byte UTF-8 sequence, shortest form only, no surrogates, at most U+10FFFF.
  bool utf8_sequence() {
    auto lead = static_cast<u8>(*at_);
    u32 continuation;
    u32 code;
    if (lead >= 0xc2 && lead <= 0xdf) {
      continuation = 1;
      code = lead & 0x1fu;
    } else if (lead >= 0xe0 && lead <= 0xef) {
      continuation = 2;
      code = lead & 0x0fu;
    } else if (lead >= 0xf0 && lead <= 0xf4) {
      continuation = 3;
      code = lead & 0x07u;
    } else {
      return false;
    }
    if (static_cast<u64>(end_ - at_) <= continuation) return false;
    for (u32 i = 1; i <= continuation; ++i) {
      auto next = static_cast<u8>(at_[i]);
      if ((next & 0xc0u) != 0x80u) return false;
      code = (code << 6) | (next & 0x3fu);
    }
    if ((continuation == 2 && code < 0x800) || (continuation == 3 && (code < 0x10000 || code > 0x10ffff)) ||
        (code >= 0xd800 && code <= 0xdfff)) {
      return false;
    }
    at_ += continuation + 1;
    return true;
  }

  const char* start_;
  const char* at_;
  const char* end_;
  u32 max_depth_;
  JsonError error_ = JsonError::Syntax;
};

// Navigation over validated text: skips one value starting at `at` (which is not whitespace).
const char* skip_value(const char* at) {
  if (*at == '"') {
    ++at;
    while (*at != '"') {
      if (*at == '\\') ++at;
      ++at;
    }
    return at + 1;
  }
  if (*at == '{' || *at == '[') {
    u64 depth = 0;
    for (;;) {
      char c = *at;
      if (c == '"') {
        at = skip_value(at);
        continue;
      }
      if (c == '{' || c == '[') ++depth;
      if (c == '}' || c == ']') {
        if (--depth == 0) return at + 1;
      }
      ++at;
    }
  }
  // A literal or a number: up to the next delimiter.
  while (*at != ',' && *at != '}' && *at != ']' && !is_space(*at) && *at != '\0') ++at;
  return at;
}

JsonType type_of(char c) {
  switch (c) {
    case '{': return JsonType::Object;
    case '[': return JsonType::Array;
    case '"': return JsonType::String;
    case 't':
    case 'f': return JsonType::Boolean;
    case 'n': return JsonType::Null;
    default: return JsonType::Number;
  }
}

// Calls `emit(code_point)` for each decoded character of a String value.
template <typename Emit>
void decode_string(JsonValue value, Emit&& emit) {
  const char* at = value.begin + 1;
  const char* end = value.end - 1;
  while (at < end) {
    if (*at != '\\') {
      emit(static_cast<u8>(*at), true);
      ++at;
      continue;
    }
    ++at;
    char escape = *at++;
    u32 code = 0;
    switch (escape) {
      case 'b': code = '\b'; break;
      case 'f': code = '\f'; break;
      case 'n': code = '\n'; break;
      case 'r': code = '\r'; break;
      case 't': code = '\t'; break;
      case 'u': {
        for (int i = 0; i < 4; ++i) code = code * 16 + static_cast<u32>(hex_value(*at++));
        if (code >= 0xd800 && code <= 0xdbff) {
          u32 low = 0;
          at += 2;
          for (int i = 0; i < 4; ++i) low = low * 16 + static_cast<u32>(hex_value(*at++));
          code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
        }
        break;
      }
      default: code = static_cast<u8>(escape); break;
    }
    emit(code, false);
  }
}

// Encodes one decoded character as UTF-8 bytes (a raw byte passes through as it is).
template <typename Put>
void encode(u32 code, bool raw, Put&& put) {
  if (raw || code < 0x80) {
    put(static_cast<char>(code));
  } else if (code < 0x800) {
    put(static_cast<char>(0xc0 | (code >> 6)));
    put(static_cast<char>(0x80 | (code & 0x3f)));
  } else if (code < 0x10000) {
    put(static_cast<char>(0xe0 | (code >> 12)));
    put(static_cast<char>(0x80 | ((code >> 6) & 0x3f)));
    put(static_cast<char>(0x80 | (code & 0x3f)));
  } else {
    put(static_cast<char>(0xf0 | (code >> 18)));
    put(static_cast<char>(0x80 | ((code >> 12) & 0x3f)));
    put(static_cast<char>(0x80 | ((code >> 6) & 0x3f)));
    put(static_cast<char>(0x80 | (code & 0x3f)));
  }
}

}  // namespace

JsonParse json_parse(const char* text, u64 length, u32 max_depth) {
  Parser parser(text, length, max_depth);
  return parser.run();
}

JsonCursor::JsonCursor(JsonValue container)
    : position_(container.begin + 1), end_(container.end - 1), object_(container.type == JsonType::Object) {
  if (container.type != JsonType::Object && container.type != JsonType::Array) position_ = end_;
}

bool JsonCursor::next(JsonValue& value, JsonValue* key) {
  while (position_ < end_ && (is_space(*position_) || *position_ == ',')) ++position_;
  if (position_ >= end_) return false;
  if (object_) {
    const char* key_end = skip_value(position_);
    if (key != nullptr) *key = {position_, key_end, JsonType::String};
    position_ = key_end;
    while (is_space(*position_) || *position_ == ':') ++position_;
  }
  value.begin = position_;
  value.type = type_of(*position_);
  value.end = skip_value(position_);
  position_ = value.end;
  return true;
}

u64 json_count(JsonValue container) {
  JsonCursor cursor(container);
  JsonValue element;
  u64 count = 0;
  while (cursor.next(element)) ++count;
  return count;
}

JsonMember json_member(JsonValue object, const char* key) {
  JsonMember member{false, false, {}};
  if (object.type != JsonType::Object) return member;
  JsonCursor cursor(object);
  JsonValue value;
  JsonValue name;
  while (cursor.next(value, &name)) {
    if (!json_string_equals(name, key)) continue;
    if (member.found) {
      member.duplicate = true;
      return member;
    }
    member.found = true;
    member.value = value;
  }
  return member;
}

bool json_string(JsonValue value, char* out, u64 capacity, u64& length) {
  length = 0;
  if (value.type != JsonType::String) return false;
  bool fits = true;
  decode_string(value, [&](u32 code, bool raw) {
    encode(code, raw, [&](char c) {
      if (length + 1 < capacity) {
        out[length] = c;
      } else {
        fits = false;
      }
      ++length;
    });
  });
  if (capacity > 0) out[fits ? length : capacity - 1] = '\0';
  return fits && capacity > 0;
}

u64 json_string_length(JsonValue value) {
  u64 length = 0;
  if (value.type != JsonType::String) return 0;
  decode_string(value, [&](u32 code, bool raw) { encode(code, raw, [&](char) { ++length; }); });
  return length;
}

bool json_string_equals(JsonValue value, const char* literal) {
  if (value.type != JsonType::String) return false;
  bool equal = true;
  const char* at = literal;
  decode_string(value, [&](u32 code, bool raw) {
    encode(code, raw, [&](char c) {
      if (!equal) return;
      if (*at == '\0' || *at != c) {
        equal = false;
        return;
      }
      ++at;
    });
  });
  return equal && *at == '\0';
}

bool json_string_has_nul(JsonValue value) {
  bool nul = false;
  if (value.type != JsonType::String) return false;
  decode_string(value, [&](u32 code, bool) { nul = nul || code == 0; });
  return nul;
}

bool json_unsigned(JsonValue value, u64& out) {
  if (value.type != JsonType::Number) return false;
  out = 0;
  for (const char* at = value.begin; at < value.end; ++at) {
    if (!is_digit(*at)) return false;
    u64 digit = static_cast<u64>(*at - '0');
    if (out > ((1ull << 63) - 1 - digit) / 10) return false;
    out = out * 10 + digit;
  }
  return value.end > value.begin;
}

}  // namespace imagefs
