// Fuzz target: the gateway's HTTP request-head parser (user/gateway/http.cpp). Beyond not
// crashing: a complete head's slices lie inside the head, its fields agree with its headers, the
// same head is found with any tail after it and is incomplete one byte short of its end, and a
// head written back from the parsed fields parses to the same fields.
#include <string>

#include "check.hpp"
#include "http.hpp"

using namespace gateway;

namespace {

bool same(Slice a, Slice b) {
  if (a.size != b.size) return false;
  for (usize index = 0; index < a.size; ++index)
    if (a.data[index] != b.data[index]) return false;
  return true;
}

void check_inside(Slice slice, const char* head, usize head_length) {
  if (slice.data == nullptr) {
    FUZZ_CHECK(slice.size == 0);
    return;
  }
  FUZZ_CHECK(lies_inside(slice.data, slice.size, head, head_length));
}

void check_same_fields(const RequestHead& a, const RequestHead& b) {
  FUZZ_CHECK(same(a.method, b.method));
  FUZZ_CHECK(same(a.target, b.target));
  FUZZ_CHECK(same(a.path, b.path));
  FUZZ_CHECK(same(a.query, b.query));
  FUZZ_CHECK(a.version_minor == b.version_minor);
  FUZZ_CHECK(a.header_count == b.header_count);
  for (usize index = 0; index < a.header_count; ++index) {
    FUZZ_CHECK(same(a.headers[index].name, b.headers[index].name));
    FUZZ_CHECK(same(a.headers[index].value, b.headers[index].value));
  }
  FUZZ_CHECK(a.has_content_length == b.has_content_length);
  FUZZ_CHECK(a.content_length == b.content_length);
  FUZZ_CHECK(a.keep_alive == b.keep_alive);
  FUZZ_CHECK(a.expect_continue == b.expect_continue);
}

void check_complete(const char* bytes, usize size, const RequestHead& head) {
  FUZZ_CHECK(head.error == nullptr);
  FUZZ_CHECK(head.head_length >= 4 && head.head_length <= size && head.head_length <= MAX_HEAD_BYTES);
  const char* end = bytes + head.head_length;
  FUZZ_CHECK(end[-4] == '\r' && end[-3] == '\n' && end[-2] == '\r' && end[-1] == '\n');
  check_inside(head.method, bytes, head.head_length);
  check_inside(head.target, bytes, head.head_length);
  check_inside(head.path, bytes, head.head_length);
  check_inside(head.query, bytes, head.head_length);
  FUZZ_CHECK(head.method.size > 0 && head.method.size <= MAX_METHOD_BYTES && head.method.data == bytes);
  FUZZ_CHECK(head.path.size > 0 && head.path.data == head.target.data && head.path.data[0] == '/');
  FUZZ_CHECK(head.version_minor <= 1);
  FUZZ_CHECK(head.header_count <= MAX_HEADERS);
  bool saw_length = false;
  for (usize index = 0; index < head.header_count; ++index) {
    check_inside(head.headers[index].name, bytes, head.head_length);
    check_inside(head.headers[index].value, bytes, head.head_length);
    FUZZ_CHECK(head.headers[index].name.size > 0);
    saw_length = saw_length || head.headers[index].name.equals_ignoring_case("Content-Length");
    FUZZ_CHECK(!head.headers[index].name.equals_ignoring_case("Transfer-Encoding"));
  }
  FUZZ_CHECK(saw_length == head.has_content_length);
  if (!head.has_content_length) FUZZ_CHECK(head.content_length == 0);
  Slice value = query_parameter(head.query, "name");
  if (value.data != nullptr) check_inside(value, head.query.data, head.query.size);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto* bytes = reinterpret_cast<const char*>(data);
  RequestHead head;
  ParseStatus status = parse_request_head(bytes, size, head);
  if (status == ParseStatus::Invalid) FUZZ_CHECK(head.error != nullptr);
  if (status == ParseStatus::TooLarge) FUZZ_CHECK(size >= MAX_HEAD_BYTES);
  if (status != ParseStatus::Complete) return 0;
  check_complete(bytes, size, head);

  // The body after the head does not matter; one byte short of the end it is not a head yet.
  RequestHead alone;
  FUZZ_CHECK(parse_request_head(bytes, head.head_length, alone) == ParseStatus::Complete);
  check_same_fields(head, alone);
  RequestHead shorter;
  FUZZ_CHECK(parse_request_head(bytes, head.head_length - 1, shorter) == ParseStatus::Incomplete);

  // Written back in canonical form (single spaces, one "name: value" per line), it parses the same.
  std::string text(head.method.data, head.method.size);
  text += ' ';
  text.append(head.target.data, head.target.size);
  text += head.version_minor == 1 ? " HTTP/1.1\r\n" : " HTTP/1.0\r\n";
  for (usize index = 0; index < head.header_count; ++index) {
    text.append(head.headers[index].name.data, head.headers[index].name.size);
    text += ": ";
    text.append(head.headers[index].value.data, head.headers[index].value.size);
    text += "\r\n";
  }
  text += "\r\n";
  if (text.size() > MAX_HEAD_BYTES) return 0;  // The canonical form may be longer than what was sent.
  RequestHead again;
  FUZZ_CHECK(parse_request_head(text.data(), text.size(), again) == ParseStatus::Complete);
  FUZZ_CHECK(again.head_length == text.size());
  check_same_fields(head, again);
  return 0;
}
