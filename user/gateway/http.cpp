// The request-head parser: a quick check of the bytes received so far (so garbage is refused at
// its first byte), then a strict parse of the complete head.
#include "http.hpp"

namespace gateway {
namespace {

bool is_token_character(char character) {
  if ((character >= 'a' && character <= 'z') || (character >= 'A' && character <= 'Z') ||
      (character >= '0' && character <= '9'))
    return true;
  for (const char* extra = "!#$%&'*+-.^_`|~"; *extra != '\0'; ++extra)
    if (character == *extra) return true;
  return false;
}

bool is_target_character(char character) {
  auto byte = static_cast<u8>(character);
  return byte > 0x20 && byte < 0x7f;
}

bool is_value_character(char character) {
  auto byte = static_cast<u8>(character);
  return byte == '\t' || (byte >= 0x20 && byte != 0x7f);  // Visible ASCII, space, tab, obs-text.
}

ParseStatus invalid(RequestHead& head, const char* why) {
  head.error = why;
  return ParseStatus::Invalid;
}

// Checks the bytes of an incomplete head: line ends are CRLF, no control bytes, and the request
// line's method is a token. Random bytes fail here within the first few.
ParseStatus check_prefix(const char* bytes, usize size, RequestHead& head) {
  usize method_length = 0;
  bool in_method = true;
  for (usize index = 0; index < size; ++index) {
    char character = bytes[index];
    if (character == '\r') {
      if (index + 1 < size && bytes[index + 1] != '\n') return invalid(head, "CR without LF");
      continue;
    }
    if (character == '\n') {
      if (index == 0 || bytes[index - 1] != '\r') return invalid(head, "LF without CR");
      in_method = false;
      continue;
    }
    if (!is_value_character(character)) return invalid(head, "control character in the request head");
    if (in_method) {
      if (character == ' ') {
        if (method_length == 0) return invalid(head, "empty method");
        in_method = false;
      } else if (!is_token_character(character) || ++method_length > MAX_METHOD_BYTES) {
        return invalid(head, "bad method");
      }
    }
  }
  return ParseStatus::Incomplete;
}

// The end of the head (just after CRLF CRLF), or 0.
usize find_head_end(const char* bytes, usize size) {
  for (usize index = 3; index < size; ++index)
    if (bytes[index - 3] == '\r' && bytes[index - 2] == '\n' && bytes[index - 1] == '\r' && bytes[index] == '\n')
      return index + 1;
  return 0;
}

// Splits `text` at the first CRLF: the line before it, and the rest after it.
bool next_line(Slice& text, Slice& line) {
  for (usize index = 0; index + 1 < text.size; ++index) {
    if (text.data[index] == '\r' && text.data[index + 1] == '\n') {
      line = Slice{text.data, index};
      text = text.from(index + 2);
      return true;
    }
  }
  return false;
}

ParseStatus parse_request_line(Slice line, RequestHead& head) {
  usize first_space = line.find(' ');
  if (first_space == 0 || first_space == line.size) return invalid(head, "malformed request line");
  head.method = line.prefix(first_space);
  for (usize index = 0; index < head.method.size; ++index)
    if (!is_token_character(head.method.data[index])) return invalid(head, "bad method");
  Slice rest = line.from(first_space + 1);
  usize second_space = rest.find(' ');
  if (second_space == 0 || second_space == rest.size) return invalid(head, "malformed request line");
  head.target = rest.prefix(second_space);
  Slice version = rest.from(second_space + 1);
  if (head.target.data[0] != '/') return invalid(head, "the target must be an absolute path");
  for (usize index = 0; index < head.target.size; ++index)
    if (!is_target_character(head.target.data[index])) return invalid(head, "bad character in the target");
  if (version.equals("HTTP/1.1")) {
    head.version_minor = 1;
  } else if (version.equals("HTTP/1.0")) {
    head.version_minor = 0;
  } else {
    return invalid(head, "unsupported HTTP version");
  }
  usize question = head.target.find('?');
  head.path = head.target.prefix(question);
  head.query = question < head.target.size ? head.target.from(question + 1) : Slice{};
  return ParseStatus::Complete;
}

// Applies the headers the gateway itself interprets; duplicates that could disagree are refused.
ParseStatus interpret_header(const Header& header, RequestHead& head, bool& saw_connection) {
  if (header.name.equals_ignoring_case("Content-Length")) {
    u64 length = 0;
    if (!parse_decimal(header.value, length)) return invalid(head, "bad Content-Length");
    if (head.has_content_length && length != head.content_length) return invalid(head, "conflicting Content-Length");
    head.has_content_length = true;
    head.content_length = length;
  } else if (header.name.equals_ignoring_case("Transfer-Encoding")) {
    if (head.chunked) return invalid(head, "Transfer-Encoding given twice");
    if (!header.value.equals_ignoring_case("chunked")) {
      head.error_status = 501;
      return invalid(head, "unsupported Transfer-Encoding: only chunked is implemented");
    }
    head.chunked = true;
  } else if (header.name.equals_ignoring_case("Connection")) {
    Slice value = header.value;
    while (!value.empty()) {
      usize comma = value.find(',');
      Slice option = value.prefix(comma).trimmed();
      if (option.equals_ignoring_case("close")) {
        head.keep_alive = false;
        saw_connection = true;
      } else if (option.equals_ignoring_case("keep-alive")) {
        if (!saw_connection) head.keep_alive = true;
      }
      value = value.from(comma + 1);
    }
  } else if (header.name.equals_ignoring_case("Expect")) {
    if (!header.value.equals_ignoring_case("100-continue")) return invalid(head, "unsupported Expect");
    head.expect_continue = true;
  }
  return ParseStatus::Complete;
}

}  // namespace

Slice RequestHead::header(const char* name) const {
  for (usize index = 0; index < header_count; ++index)
    if (headers[index].name.equals_ignoring_case(name)) return headers[index].value;
  return Slice{};
}

ParseStatus parse_request_head(const char* bytes, usize size, RequestHead& head) {
  head = RequestHead{};
  usize limit = size < MAX_HEAD_BYTES ? size : MAX_HEAD_BYTES;
  usize end = find_head_end(bytes, limit);
  if (end == 0) {
    ParseStatus prefix = check_prefix(bytes, limit, head);
    if (prefix != ParseStatus::Incomplete) return prefix;
    return size >= MAX_HEAD_BYTES ? ParseStatus::TooLarge : ParseStatus::Incomplete;
  }
  if (check_prefix(bytes, end, head) == ParseStatus::Invalid) return ParseStatus::Invalid;
  Slice text{bytes, end};
  Slice line;
  // A client may send empty lines before the request line (RFC 9112 section 2.2); take none.
  if (!next_line(text, line) || line.empty()) return invalid(head, "empty request line");
  if (parse_request_line(line, head) != ParseStatus::Complete) return ParseStatus::Invalid;
  head.keep_alive = head.version_minor == 1;
  bool saw_connection = false;
  while (next_line(text, line)) {
    if (line.empty()) break;  // The blank line that ends the head.
    if (line.data[0] == ' ' || line.data[0] == '\t') return invalid(head, "obsolete line folding");
    usize colon = line.find(':');
    if (colon == 0 || colon == line.size) return invalid(head, "malformed header");
    Header header{line.prefix(colon), line.from(colon + 1).trimmed()};
    for (usize index = 0; index < header.name.size; ++index)
      if (!is_token_character(header.name.data[index])) return invalid(head, "bad header name");
    if (head.header_count == MAX_HEADERS) return invalid(head, "too many headers");
    head.headers[head.header_count++] = header;
    if (interpret_header(header, head, saw_connection) != ParseStatus::Complete) return ParseStatus::Invalid;
  }
  // Two ways to say where the body ends would let a front proxy and the gateway disagree on it
  // (request smuggling): refused, as is chunking in HTTP/1.0, which has none.
  if (head.chunked && head.has_content_length) return invalid(head, "both Content-Length and Transfer-Encoding");
  if (head.chunked && head.version_minor == 0) return invalid(head, "Transfer-Encoding in an HTTP/1.0 request");
  if (head.version_minor == 0) {
    // HTTP/1.0 keeps the connection only when asked to.
    Slice connection = head.header("Connection");
    head.keep_alive = connection.data != nullptr && connection.trimmed().equals_ignoring_case("keep-alive");
  }
  head.head_length = end;
  return ParseStatus::Complete;
}

Slice query_parameter(Slice query, const char* name) {
  while (!query.empty()) {
    usize ampersand = query.find('&');
    Slice pair = query.prefix(ampersand);
    usize equals = pair.find('=');
    if (pair.prefix(equals).equals(name)) return equals < pair.size ? pair.from(equals + 1) : Slice{pair.data, 0};
    query = query.from(ampersand + 1);
  }
  return Slice{};
}

}  // namespace gateway
