// Text helpers of the gateway, freestanding and host-testable: Slice (a view of bytes owned
// elsewhere) and Buffer (appends into a fixed array, remembering when it ran out of room).
// Invariant: a Buffer never writes past its capacity; once it overflowed it stays overflowed, so a
// truncated answer is detected instead of sent.
#pragma once

#include "sys/types.hpp"

namespace gateway {

using sys::u16;
using sys::u32;
using sys::u64;
using sys::u8;
using sys::usize;

struct Slice {
  const char* data = nullptr;
  usize size = 0;

  static Slice of(const char* text);
  bool empty() const { return size == 0; }
  bool equals(const char* text) const;
  bool equals_ignoring_case(const char* text) const;
  bool starts_with(const char* prefix) const;
  Slice trimmed() const;  // Without leading and trailing spaces and tabs.
  Slice from(usize offset) const { return offset >= size ? Slice{data + size, 0} : Slice{data + offset, size - offset}; }
  Slice prefix(usize length) const { return length >= size ? *this : Slice{data, length}; }
  // The index of `character`, or size.
  usize find(char character) const;
  // Copies into `target` (capacity bytes, NUL-terminated); false when it does not fit.
  bool copy_to(char* target, usize capacity) const;
};

// A decimal u64 of 1-19 digits and nothing else; false otherwise.
bool parse_decimal(Slice text, u64& value);

class Buffer {
 public:
  Buffer(char* storage, usize capacity) : data_(storage), capacity_(capacity) {}

  void append(const char* bytes, usize length);
  void append(const char* text);
  void append(Slice text) { append(text.data, text.size); }
  void append_unsigned(u64 value);
  // micro-seconds as decimal seconds with six decimals ("0.001234").
  void append_seconds(u64 microseconds);
  // A JSON string literal with quotes; control characters, quotes, backslashes and bytes that
  // are not printable ASCII are escaped (\u00XX), so the output is always valid JSON.
  void append_json_string(const char* bytes, usize length);
  void append_json_string(const char* text);

  const char* data() const { return data_; }
  usize size() const { return size_; }
  bool overflowed() const { return overflowed_; }
  usize room() const { return overflowed_ ? 0 : capacity_ - size_; }  // Bytes that still fit.
  void clear() {
    size_ = 0;
    overflowed_ = false;
  }

 private:
  char* data_;
  usize capacity_;
  usize size_ = 0;
  bool overflowed_ = false;
};

usize text_length(const char* text);

// Where a per-tenant part of a /metrics page goes on (admission, async, windows, refusals): its
// family, and the next tenant slot of it (HEADER: the family's HELP and TYPE lines come next).
// A part renders a row at a time until the piece's budget is reached, so that an operator's page
// with thousands of tenants comes in pieces like the per-function families.
struct RowCursor {
  static constexpr usize HEADER = ~usize{0};
  usize family = 0;
  usize row = HEADER;
  // Whether a part with `families` families, `rows` rows each, is done, rendering from here on
  // into `output` until its size reaches `budget`: head(family) writes a family's HELP and TYPE,
  // row(family, row) one sample (or nothing).
  template <typename Head, typename Row>
  bool render(Buffer& output, usize budget, usize families, usize rows, Head&& head, Row&& row_of) {
    for (; family < families; ++family, row = HEADER) {
      if (row == HEADER) {
        head(family);
        row = 0;
      }
      for (; row < rows; ++row) {
        if (output.size() >= budget || output.overflowed()) return false;
        row_of(family, row);
      }
    }
    return true;
  }
};

}  // namespace gateway
