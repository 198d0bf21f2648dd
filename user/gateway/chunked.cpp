// ChunkDecoder: the grammar of RFC 9112 section 7.1, one byte at a time.
//   chunked-body = *chunk last-chunk trailer-section CRLF
//   chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF;  last-chunk = 1*("0") [ chunk-ext ] CRLF
//   chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] ), ext-val = token / quoted-string
//   trailer-section = *( field-line CRLF )
#include "chunked.hpp"

namespace gateway {
namespace {

bool is_token(u8 byte) {
  if ((byte >= 'a' && byte <= 'z') || (byte >= 'A' && byte <= 'Z') || (byte >= '0' && byte <= '9')) return true;
  for (const char* extra = "!#$%&'*+-.^_`|~"; *extra != '\0'; ++extra)
    if (byte == static_cast<u8>(*extra)) return true;
  return false;
}

bool is_blank(u8 byte) { return byte == ' ' || byte == '\t'; }

// A field value's bytes: visible ASCII, space, tab, obs-text; no control bytes.
bool is_field_value(u8 byte) { return byte == '\t' || (byte >= 0x20 && byte != 0x7f); }

// qdtext of a quoted-string (no '"' and no '\\', which the state machine handles).
bool is_quoted_text(u8 byte) { return is_field_value(byte) && byte != '"' && byte != '\\'; }

int hex_value(u8 byte) {
  if (byte >= '0' && byte <= '9') return byte - '0';
  if (byte >= 'a' && byte <= 'f') return byte - 'a' + 10;
  if (byte >= 'A' && byte <= 'F') return byte - 'A' + 10;
  return -1;
}

}  // namespace

void ChunkDecoder::start(u64 limit) {
  *this = ChunkDecoder{};
  limit_ = limit;
}

ChunkDecoder::Step ChunkDecoder::fail(Step step, Status status, const char* why) {
  state_ = State::Failed;
  error_ = why;
  step.status = status;
  return step;
}

ChunkDecoder::Step ChunkDecoder::next(const u8* bytes, usize length) {
  Step step;
  if (state_ == State::Failed) return fail(step, Status::Invalid, error_);
  while (step.consumed < length) {
    if (state_ == State::Done) break;
    if (state_ == State::Data) {
      u64 available = length - step.consumed;
      usize take = static_cast<usize>(remaining_ < available ? remaining_ : available);
      step.status = Status::Data;
      step.data_offset = step.consumed;
      step.data_length = take;
      step.consumed += take;
      remaining_ -= take;
      total_ += take;
      if (remaining_ == 0) state_ = State::DataReturn;
      return step;
    }
    u8 byte = bytes[step.consumed++];
    bool in_size_line = state_ <= State::SizeLineFeed;
    if (in_size_line && ++line_bytes_ > MAX_CHUNK_LINE_BYTES)
      return fail(step, Status::Invalid, "chunk-size line (with its extensions) longer than 4096 bytes");
    bool in_trailer = state_ >= State::TrailerStart && state_ <= State::EndLineFeed;
    if (in_trailer && ++trailer_bytes_ > MAX_TRAILER_BYTES)
      return fail(step, Status::Invalid, "chunked trailer section longer than 8192 bytes");
    switch (state_) {
      case State::Size: {
        int digit = hex_value(byte);
        if (digit >= 0) {
          size_ = size_ * 16 + static_cast<u64>(digit);
          ++digits_;
          // Judged digit by digit, so no size can overflow and a huge one is refused at once.
          if (size_ > limit_ - total_) return fail(step, Status::TooLarge, "chunked body larger than the limit");
          break;
        }
        if (digits_ == 0) return fail(step, Status::Invalid, "chunk size is not a hexadecimal number");
        if (byte == '\r') state_ = State::SizeLineFeed;
        else if (byte == ';') state_ = State::ExtensionNameStart;
        else if (is_blank(byte)) state_ = State::SizeBlank;
        else return fail(step, Status::Invalid, "bad character after a chunk size");
        break;
      }
      case State::SizeBlank:
        if (byte == '\r') state_ = State::SizeLineFeed;
        else if (byte == ';') state_ = State::ExtensionNameStart;
        else if (!is_blank(byte)) return fail(step, Status::Invalid, "bad character after a chunk size");
        break;
      case State::ExtensionNameStart:
        if (is_token(byte)) state_ = State::ExtensionName;
        else if (!is_blank(byte)) return fail(step, Status::Invalid, "chunk extension without a name");
        break;
      case State::ExtensionName:
        if (byte == '\r') state_ = State::SizeLineFeed;
        else if (byte == ';') state_ = State::ExtensionNameStart;
        else if (byte == '=') state_ = State::ExtensionValueStart;
        else if (is_blank(byte)) state_ = State::ExtensionAfterName;
        else if (!is_token(byte)) return fail(step, Status::Invalid, "bad character in a chunk extension name");
        break;
      case State::ExtensionAfterName:
        if (byte == '\r') state_ = State::SizeLineFeed;
        else if (byte == ';') state_ = State::ExtensionNameStart;
        else if (byte == '=') state_ = State::ExtensionValueStart;
        else if (!is_blank(byte)) return fail(step, Status::Invalid, "bad character after a chunk extension name");
        break;
      case State::ExtensionValueStart:
        if (byte == '"') state_ = State::ExtensionQuoted;
        else if (is_token(byte)) state_ = State::ExtensionToken;
        else if (!is_blank(byte)) return fail(step, Status::Invalid, "chunk extension without a value after '='");
        break;
      case State::ExtensionToken:
        if (byte == '\r') state_ = State::SizeLineFeed;
        else if (byte == ';') state_ = State::ExtensionNameStart;
        else if (is_blank(byte)) state_ = State::ExtensionAfterValue;
        else if (!is_token(byte)) return fail(step, Status::Invalid, "bad character in a chunk extension value");
        break;
      case State::ExtensionQuoted:
        if (byte == '"') state_ = State::ExtensionAfterValue;
        else if (byte == '\\') state_ = State::ExtensionEscape;
        else if (!is_quoted_text(byte)) return fail(step, Status::Invalid, "bad character in a quoted chunk extension value");
        break;
      case State::ExtensionEscape:
        if (!is_field_value(byte)) return fail(step, Status::Invalid, "bad escaped character in a chunk extension value");
        state_ = State::ExtensionQuoted;
        break;
      case State::ExtensionAfterValue:
        if (byte == '\r') state_ = State::SizeLineFeed;
        else if (byte == ';') state_ = State::ExtensionNameStart;
        else if (!is_blank(byte)) return fail(step, Status::Invalid, "bad character after a chunk extension value");
        break;
      case State::SizeLineFeed:
        if (byte != '\n') return fail(step, Status::Invalid, "chunk-size line not ended by CRLF");
        line_bytes_ = 0;
        if (size_ == 0) {
          state_ = State::TrailerStart;
        } else {
          remaining_ = size_;
          state_ = State::Data;
        }
        size_ = 0;
        digits_ = 0;
        break;
      case State::DataReturn:
        if (byte != '\r') return fail(step, Status::Invalid, "chunk data not followed by CRLF (longer than its size)");
        state_ = State::DataLineFeed;
        break;
      case State::DataLineFeed:
        if (byte != '\n') return fail(step, Status::Invalid, "chunk data not followed by CRLF (longer than its size)");
        state_ = State::Size;
        break;
      case State::TrailerStart:
        if (byte == '\r') state_ = State::EndLineFeed;
        else if (is_token(byte)) state_ = State::TrailerName;
        else return fail(step, Status::Invalid, "malformed trailer field (a name and ':' expected)");
        break;
      case State::TrailerName:
        if (byte == ':') state_ = State::TrailerValue;
        else if (!is_token(byte)) return fail(step, Status::Invalid, "malformed trailer field (a name and ':' expected)");
        break;
      case State::TrailerValue:
        if (byte == '\r') state_ = State::TrailerLineFeed;
        else if (!is_field_value(byte)) return fail(step, Status::Invalid, "bad character in a trailer field");
        break;
      case State::TrailerLineFeed:
        if (byte != '\n') return fail(step, Status::Invalid, "trailer field not ended by CRLF");
        state_ = State::TrailerStart;
        break;
      case State::EndLineFeed:
        if (byte != '\n') return fail(step, Status::Invalid, "chunked body not ended by CRLF");
        state_ = State::Done;
        break;
      case State::Data:
      case State::Done:
      case State::Failed: break;  // Handled above.
    }
  }
  step.status = state_ == State::Done ? Status::Done : Status::More;
  return step;
}

}  // namespace gateway
