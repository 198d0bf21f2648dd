// A minimal JSON reader for image manifests, indexes and configurations: json_parse() checks a
// whole document (RFC 8259 grammar, UTF-8, a depth limit) without allocating, then JsonValue
// views navigate it by rescanning the text. Invariant: every JsonValue handed out lies inside a
// document that json_parse() accepted, so navigation never meets malformed text.
#pragma once

#include "imagefs/import/types.hpp"

namespace imagefs {

enum class JsonType : u8 { Null, Boolean, Number, String, Array, Object };

struct JsonValue {
  const char* begin = nullptr;  // The value's first character.
  const char* end = nullptr;    // One past its last character.
  JsonType type = JsonType::Null;
};

enum class JsonError : u8 {
  None,
  Syntax,      // not JSON at this offset
  TooDeep,     // arrays and objects nested beyond the limit
  BadString,   // a control character, a bad escape or invalid UTF-8 in a string
  TrailingData,
};

const char* json_error_text(JsonError error);

struct JsonParse {
  JsonError error;
  u64 offset;  // Where the error was found (0 when none).
  JsonValue root;
};

constexpr u32 JSON_MAX_DEPTH = 64;

JsonParse json_parse(const char* text, u64 length, u32 max_depth = JSON_MAX_DEPTH);

// Object member lookup by its decoded key. Found is false when absent; duplicate is true when the
// key occurs more than once (a document that could mean two things is refused by its readers).
struct JsonMember {
  bool found;
  bool duplicate;
  JsonValue value;
};
JsonMember json_member(JsonValue object, const char* key);

// Iterates the elements of an array or the members of an object, in document order.
class JsonCursor {
 public:
  explicit JsonCursor(JsonValue container);
  // The next element (for an object, `key` receives the member's key as a String value).
  bool next(JsonValue& value, JsonValue* key = nullptr);

 private:
  const char* position_;
  const char* end_;
  bool object_;
};

u64 json_count(JsonValue container);

// Decodes a String value into `out` (NUL-terminated). False when the decoded text does not fit
// in capacity - 1 bytes; `length` receives the decoded length either way (without the NUL).
bool json_string(JsonValue value, char* out, u64 capacity, u64& length);
// The decoded length of a String value.
u64 json_string_length(JsonValue value);
// True when the String value decodes to exactly `literal`.
bool json_string_equals(JsonValue value, const char* literal);
// True when the String value decodes to text containing a NUL character.
bool json_string_has_nul(JsonValue value);
// A non-negative integer Number without fraction or exponent that fits in 63 bits.
bool json_unsigned(JsonValue value, u64& out);

}  // namespace imagefs
