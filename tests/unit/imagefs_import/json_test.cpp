// The importer's JSON reader: what it accepts, where it stops on what it refuses, and navigation.
#include <gtest/gtest.h>

#include <string>

#include "imagefs/import/json.hpp"

using namespace imagefs;

namespace {

JsonParse parse(const std::string& text, u32 depth = JSON_MAX_DEPTH) { return json_parse(text.data(), text.size(), depth); }

std::string decoded(JsonValue value) {
  char buffer[256];
  u64 length;
  EXPECT_TRUE(json_string(value, buffer, sizeof buffer, length));
  return std::string(buffer, length);
}

TEST(ImportJson, AcceptsDocumentsAndNavigatesThem) {
  std::string text = R"( {"a": [1, -2.5e3, true, false, null, {"b": "c"}], "s": "x\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00", "n": 0} )";
  JsonParse result = parse(text);
  ASSERT_EQ(result.error, JsonError::None);
  ASSERT_EQ(result.root.type, JsonType::Object);
  JsonMember a = json_member(result.root, "a");
  ASSERT_TRUE(a.found);
  EXPECT_FALSE(a.duplicate);
  ASSERT_EQ(a.value.type, JsonType::Array);
  EXPECT_EQ(json_count(a.value), 6u);
  JsonCursor cursor(a.value);
  JsonValue element;
  JsonType types[] = {JsonType::Number, JsonType::Number, JsonType::Boolean, JsonType::Boolean, JsonType::Null, JsonType::Object};
  for (JsonType type : types) {
    ASSERT_TRUE(cursor.next(element));
    EXPECT_EQ(element.type, type);
  }
  EXPECT_FALSE(cursor.next(element));
  EXPECT_EQ(std::string(element.begin, element.end), R"({"b": "c"})");
  EXPECT_EQ(decoded(json_member(element, "b").value), "c");
  JsonValue s = json_member(result.root, "s").value;
  EXPECT_EQ(decoded(s), "x\"\\/\b\f\n\r\t\xc3\xa9\xf0\x9f\x98\x80");
  EXPECT_EQ(json_string_length(s), 15u);
  EXPECT_TRUE(json_string_equals(s, "x\"\\/\b\f\n\r\t\xc3\xa9\xf0\x9f\x98\x80"));
  EXPECT_FALSE(json_string_equals(s, "x"));
  u64 number;
  EXPECT_TRUE(json_unsigned(json_member(result.root, "n").value, number));
  EXPECT_EQ(number, 0u);
  EXPECT_FALSE(json_member(result.root, "missing").found);
}

TEST(ImportJson, RefusesMalformedTextAtTheRightOffset) {
  struct Case {
    const char* text;
    JsonError error;
    u64 offset;
  } cases[] = {
      {"", JsonError::Syntax, 0},
      {"{", JsonError::Syntax, 1},
      {"{\"a\" 1}", JsonError::Syntax, 5},
      {"[1,]", JsonError::Syntax, 3},
      {"[01]", JsonError::Syntax, 2},
      {"[1.]", JsonError::Syntax, 3},
      {"[tru]", JsonError::Syntax, 4},
      {"\"a\nb\"", JsonError::BadString, 2},
      {"\"\\x\"", JsonError::BadString, 3},
      {"\"\\ud800\"", JsonError::BadString, 7},
      {"\"\\udc00\"", JsonError::BadString, 7},
      {"\"\xc0\xaf\"", JsonError::BadString, 1},
      {"\"\xed\xa0\x80\"", JsonError::BadString, 1},
      {"\"abc", JsonError::BadString, 4},
      {"{} x", JsonError::TrailingData, 3},
      {"[[[[1]]]]", JsonError::TooDeep, 3},
  };
  for (const auto& c : cases) {
    JsonParse result = parse(c.text, 3);
    EXPECT_EQ(result.error, c.error) << c.text;
    EXPECT_EQ(result.offset, c.offset) << c.text;
  }
  EXPECT_EQ(parse("[[[1]]]", 3).error, JsonError::None);
}

TEST(ImportJson, FindsDuplicateKeysEvenWhenEscaped) {
  std::string text = R"({"digest": "sha256:a", "dig\u0065st": "sha256:b"})";
  JsonParse result = parse(text);
  ASSERT_EQ(result.error, JsonError::None);
  JsonMember member = json_member(result.root, "digest");
  EXPECT_TRUE(member.found);
  EXPECT_TRUE(member.duplicate);
}

TEST(ImportJson, NumbersAndStringsConvertOnlyWhenExact) {
  std::string text = R"([9223372036854775807, 9223372036854775808, -1, 1.0, 1e3, "a\u0000b"])";
  JsonParse result = parse(text);
  ASSERT_EQ(result.error, JsonError::None);
  JsonCursor cursor(result.root);
  JsonValue value;
  u64 number = 0;
  ASSERT_TRUE(cursor.next(value));
  EXPECT_TRUE(json_unsigned(value, number));
  EXPECT_EQ(number, 9223372036854775807ull);
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(cursor.next(value));
    EXPECT_FALSE(json_unsigned(value, number));
  }
  ASSERT_TRUE(cursor.next(value));
  EXPECT_TRUE(json_string_has_nul(value));
  char small[3];
  u64 length;
  EXPECT_FALSE(json_string(value, small, sizeof small, length));
  EXPECT_EQ(length, 3u);
  EXPECT_EQ(small[2], '\0');
}

}  // namespace
