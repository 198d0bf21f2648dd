// The streaming tar reader: a state machine over 512-byte blocks (header, data, padding) with
// PAX ('x', 'g') and GNU ('L', 'K') extensions collected into fixed buffers.
#include "imagefs/import/tar.hpp"

namespace imagefs {

const char* tar_error_text(TarError error) {
  switch (error) {
    case TarError::None: return "no error";
    case TarError::Truncated: return "the tar archive is truncated";
    case TarError::BadChecksum: return "a tar header's checksum does not match";
    case TarError::BadHeader: return "a tar header is malformed";
    case TarError::UnsupportedType: return "a tar entry type that images do not use (sparse, multi-volume, unknown)";
    case TarError::NameTooLong: return "a tar entry's name, link or extended header is too long";
    case TarError::BadExtendedHeader: return "a PAX extended header is malformed";
    case TarError::Visitor: return "the entry was refused";
  }
  return "unknown tar error";
}

namespace {

constexpr u64 BLOCK = 512;

u64 padding_after(u64 size) { return (BLOCK - size % BLOCK) % BLOCK; }

// A numeric header field: octal digits (surrounded by spaces or NULs) or, when the first byte has
// its top bit set, base-256 big-endian (GNU), negative only when `allow_negative`.
bool parse_number(const u8* field, u64 length, bool allow_negative, i64& out) {
  if ((field[0] & 0x80u) != 0) {
    bool negative = field[0] == 0xff;
    if (!negative && field[0] != 0x80) return false;
    if (negative && !allow_negative) return false;
    u64 value = 0;
    for (u64 i = 1; i < length; ++i) {
      u8 byte = negative ? static_cast<u8>(~field[i]) : field[i];
      if (value >> 55 != 0) return false;
      value = (value << 8) | byte;
    }
    if (value >> 63 != 0) return false;
    out = negative ? -static_cast<i64>(value) - 1 : static_cast<i64>(value);
    return true;
  }
  u64 start = 0;
  u64 end = length;
  while (start < end && (field[start] == ' ' || field[start] == '\0')) ++start;
  while (end > start && (field[end - 1] == ' ' || field[end - 1] == '\0')) --end;
  u64 value = 0;
  for (u64 i = start; i < end; ++i) {
    if (field[i] < '0' || field[i] > '7') return false;
    if (value >> 60 != 0) return false;
    value = value * 8 + static_cast<u64>(field[i] - '0');
  }
  if (value >> 63 != 0) return false;
  out = static_cast<i64>(value);
  return true;
}

u64 field_length(const u8* field, u64 capacity) {
  u64 length = 0;
  while (length < capacity && field[length] != '\0') ++length;
  return length;
}

bool all_zero(const u8* block) {
  for (u64 i = 0; i < BLOCK; ++i) {
    if (block[i] != 0) return false;
  }
  return true;
}

bool checksum_matches(const u8* header) {
  i64 stored;
  if (!parse_number(header + 148, 8, false, stored)) return false;
  i64 unsigned_sum = 0;
  i64 signed_sum = 0;
  for (u64 i = 0; i < BLOCK; ++i) {
    bool in_field = i >= 148 && i < 156;
    unsigned_sum += in_field ? ' ' : header[i];
    signed_sum += in_field ? ' ' : static_cast<signed char>(header[i]);
  }
  return stored == unsigned_sum || stored == signed_sum;
}

// A PAX decimal value; mtime may carry a sign and a fraction (dropped).
bool parse_decimal(const char* text, u64 length, bool allow_sign_and_fraction, i64& out) {
  u64 at = 0;
  bool negative = false;
  if (allow_sign_and_fraction && at < length && text[at] == '-') {
    negative = true;
    ++at;
  }
  if (at == length) return false;
  u64 value = 0;
  for (; at < length && text[at] != '.'; ++at) {
    if (text[at] < '0' || text[at] > '9') return false;
    if (value > ((1ull << 63) - 1) / 10) return false;
    value = value * 10 + static_cast<u64>(text[at] - '0');
  }
  if (value >> 63 != 0) return false;
  if (at < length) {
    if (!allow_sign_and_fraction) return false;
    for (++at; at < length; ++at) {
      if (text[at] < '0' || text[at] > '9') return false;
    }
  }
  out = negative ? -static_cast<i64>(value) : static_cast<i64>(value);
  return true;
}

}  // namespace

void TarReader::reset() {
  state_ = State::Header;
  error_ = TarError::None;
  header_filled_ = 0;
  zero_block_seen_ = false;
  remaining_ = padding_ = collected_ = 0;
  entries_ = 0;
  long_name_length_ = long_link_length_ = 0;
  has_pax_path_ = has_pax_link_ = has_pax_size_ = has_pax_uid_ = has_pax_gid_ = has_pax_mtime_ = false;
}

TarError TarReader::fail(TarError error) {
  state_ = State::Failed;
  error_ = error;
  return error;
}

bool TarReader::parse_extended() {
  u64 at = 0;
  while (at < collected_) {
    // "<length> <key>=<value>\n", the length counting the whole record.
    u64 record_length = 0;
    u64 cursor = at;
    while (cursor < collected_ && extended_[cursor] >= '0' && extended_[cursor] <= '9') {
      record_length = record_length * 10 + static_cast<u64>(extended_[cursor] - '0');
      if (record_length > TAR_MAX_EXTENDED) return false;
      ++cursor;
    }
    if (cursor == at || cursor >= collected_ || extended_[cursor] != ' ') return false;
    if (record_length > collected_ - at || record_length < cursor - at + 3) return false;
    u64 record_end = at + record_length;
    if (extended_[record_end - 1] != '\n') return false;
    const char* key = extended_ + cursor + 1;
    u64 key_length = 0;
    while (key + key_length < extended_ + record_end - 1 && key[key_length] != '=') ++key_length;
    if (key + key_length >= extended_ + record_end - 1 || key_length == 0) return false;
    const char* value = key + key_length + 1;
    u64 value_length = static_cast<u64>(extended_ + record_end - 1 - value);
    i64 number = 0;
    if (equals(key, key_length, "path")) {
      if (value_length > TAR_MAX_NAME) return false;
      copy_bytes(pax_path_, value, value_length);
      pax_path_length_ = value_length;
      has_pax_path_ = true;
    } else if (equals(key, key_length, "linkpath")) {
      if (value_length > TAR_MAX_NAME) return false;
      copy_bytes(pax_link_, value, value_length);
      pax_link_length_ = value_length;
      has_pax_link_ = true;
    } else if (equals(key, key_length, "size")) {
      if (!parse_decimal(value, value_length, false, number)) return false;
      has_pax_size_ = true;
      pax_size_ = static_cast<u64>(number);
    } else if (equals(key, key_length, "uid")) {
      if (!parse_decimal(value, value_length, false, number)) return false;
      has_pax_uid_ = true;
      pax_uid_ = static_cast<u64>(number);
    } else if (equals(key, key_length, "gid")) {
      if (!parse_decimal(value, value_length, false, number)) return false;
      has_pax_gid_ = true;
      pax_gid_ = static_cast<u64>(number);
    } else if (equals(key, key_length, "mtime")) {
      if (!parse_decimal(value, value_length, true, number)) return false;
      has_pax_mtime_ = true;
      pax_mtime_ = number;
    } else if (starts_with(key, key_length, "GNU.sparse.")) {
      // A sparse file's data is a map, not its contents: images have no use for it.
      error_ = TarError::UnsupportedType;
      return false;
    }
    at = record_end;
  }
  return true;
}

TarError TarReader::header_complete() {
  header_filled_ = 0;
  if (all_zero(header_)) {
    if (zero_block_seen_) {
      state_ = State::End;
      return TarError::None;
    }
    zero_block_seen_ = true;
    return TarError::None;
  }
  // One zero block followed by a header is not an end marker; it is a damaged archive.
  if (zero_block_seen_) return fail(TarError::BadHeader);
  if (!checksum_matches(header_)) return fail(TarError::BadChecksum);
  i64 size;
  if (!parse_number(header_ + 124, 12, false, size)) return fail(TarError::BadHeader);
  char type = static_cast<char>(header_[156]);
  switch (type) {
    case 'x':
    case 'g':
    case 'L':
    case 'K': {
      u64 limit = type == 'x' ? TAR_MAX_EXTENDED : type == 'g' ? ~0ull : TAR_MAX_NAME + 1;
      if (static_cast<u64>(size) > limit) return fail(TarError::NameTooLong);
      remaining_ = static_cast<u64>(size);
      padding_ = padding_after(remaining_);
      collected_ = 0;
      state_ = type == 'x' ? State::ExtendedData : type == 'g' ? State::Skip : type == 'L' ? State::LongName : State::LongLink;
      // An empty extension carries nothing; the next header follows at once.
      if (remaining_ == 0) state_ = State::Header;
      return TarError::None;
    }
    default: return entry_from_header();
  }
}

TarError TarReader::entry_from_header() {
  char type = static_cast<char>(header_[156]);
  TarEntry entry{};
  switch (type) {
    case '0':
    case '\0':
    case '7': entry.type = TarType::File; break;
    case '1': entry.type = TarType::Hardlink; break;
    case '2': entry.type = TarType::Symlink; break;
    case '5': entry.type = TarType::Directory; break;
    case '3':
    case '4':
    case '6': entry.type = TarType::Special; break;
    default: return fail(TarError::UnsupportedType);
  }
  i64 mode;
  i64 uid;
  i64 gid;
  i64 mtime;
  i64 size;
  if (!parse_number(header_ + 100, 8, false, mode) || !parse_number(header_ + 108, 8, false, uid) ||
      !parse_number(header_ + 116, 8, false, gid) || !parse_number(header_ + 136, 12, true, mtime) ||
      !parse_number(header_ + 124, 12, false, size)) {
    return fail(TarError::BadHeader);
  }
  u64 data_size = has_pax_size_ ? pax_size_ : static_cast<u64>(size);
  u64 full_uid = has_pax_uid_ ? pax_uid_ : static_cast<u64>(uid);
  u64 full_gid = has_pax_gid_ ? pax_gid_ : static_cast<u64>(gid);
  if (full_uid > 0xffffffffu || full_gid > 0xffffffffu) return fail(TarError::BadHeader);

  // The name: PAX path, else GNU long name, else the ustar prefix and name.
  if (has_pax_path_) {
    entry.path = pax_path_;
    entry.path_length = pax_path_length_;
  } else if (long_name_length_ > 0) {
    entry.path = long_name_;
    entry.path_length = long_name_length_;
  } else {
    u64 name_length = field_length(header_, 100);
    u64 prefix_length = bytes_equal(header_ + 257, "ustar\0", 6) ? field_length(header_ + 345, 155) : 0;
    u64 at = 0;
    if (prefix_length > 0) {
      copy_bytes(name_, header_ + 345, prefix_length);
      at = prefix_length;
      name_[at++] = '/';
    }
    copy_bytes(name_ + at, header_, name_length);
    entry.path = name_;
    entry.path_length = at + name_length;
  }
  if (has_pax_link_) {
    entry.link = pax_link_;
    entry.link_length = pax_link_length_;
  } else if (long_link_length_ > 0) {
    entry.link = long_link_;
    entry.link_length = long_link_length_;
  } else {
    entry.link = reinterpret_cast<const char*>(header_ + 157);
    entry.link_length = field_length(header_ + 157, 100);
  }
  // Old archives mark a directory only by the trailing slash of its name.
  if (type == '\0' && entry.path_length > 0 && entry.path[entry.path_length - 1] == '/') {
    entry.type = TarType::Directory;
  }
  entry.mode = static_cast<u32>(mode) & 07777u;
  entry.uid = static_cast<u32>(full_uid);
  entry.gid = static_cast<u32>(full_gid);
  entry.mtime = has_pax_mtime_ ? pax_mtime_ : mtime;
  entry.size = entry.type == TarType::File ? data_size : 0;

  ++entries_;
  if (!visitor_.entry(entry)) return fail(TarError::Visitor);
  long_name_length_ = 0;
  long_link_length_ = 0;
  has_pax_path_ = has_pax_link_ = has_pax_size_ = has_pax_uid_ = has_pax_gid_ = has_pax_mtime_ = false;

  // Hard links, directories and special files may still carry data: it is skipped.
  remaining_ = data_size;
  padding_ = padding_after(data_size);
  if (data_size == 0) {
    state_ = State::Header;
  } else {
    state_ = entry.type == TarType::File ? State::FileData : State::Skip;
  }
  return TarError::None;
}

TarError TarReader::feed(const u8* bytes, u64 length) {
  while (length > 0) {
    switch (state_) {
      case State::Failed: return error_;
      case State::End: return TarError::None;
      case State::Header: {
        u64 take = BLOCK - header_filled_;
        if (take > length) take = length;
        copy_bytes(header_ + header_filled_, bytes, take);
        header_filled_ += take;
        bytes += take;
        length -= take;
        if (header_filled_ == BLOCK) {
          TarError error = header_complete();
          if (error != TarError::None) return error;
        }
        break;
      }
      case State::ExtendedData:
      case State::LongName:
      case State::LongLink:
      case State::Skip:
      case State::FileData: {
        u64 take = remaining_ < length ? remaining_ : length;
        if (state_ == State::FileData) {
          if (!visitor_.data(bytes, take)) return fail(TarError::Visitor);
        } else if (state_ != State::Skip) {
          char* buffer = state_ == State::ExtendedData ? extended_ : state_ == State::LongName ? long_name_ : long_link_;
          copy_bytes(buffer + collected_, bytes, take);
          collected_ += take;
        }
        bytes += take;
        length -= take;
        remaining_ -= take;
        if (remaining_ == 0) {
          if (state_ == State::ExtendedData) {
            error_ = TarError::BadExtendedHeader;
            if (!parse_extended()) return fail(error_);
          } else if (state_ == State::LongName || state_ == State::LongLink) {
            // The GNU name is NUL-terminated inside its data.
            char* buffer = state_ == State::LongName ? long_name_ : long_link_;
            u64 name_length = field_length(reinterpret_cast<const u8*>(buffer), collected_);
            if (name_length > TAR_MAX_NAME) return fail(TarError::NameTooLong);
            (state_ == State::LongName ? long_name_length_ : long_link_length_) = name_length;
          }
          state_ = padding_ > 0 ? State::Padding : State::Header;
        }
        break;
      }
      case State::Padding: {
        u64 take = padding_ < length ? padding_ : length;
        bytes += take;
        length -= take;
        padding_ -= take;
        if (padding_ == 0) state_ = State::Header;
        break;
      }
    }
  }
  return state_ == State::Failed ? error_ : TarError::None;
}

TarError TarReader::finish() {
  switch (state_) {
    case State::Failed: return error_;
    case State::End: return TarError::None;
    case State::Padding:
    case State::Header: {
      // An extension header whose entry never came is a truncated archive too.
      bool pending = long_name_length_ > 0 || long_link_length_ > 0 || has_pax_path_ || has_pax_link_ ||
                     has_pax_size_ || has_pax_uid_ || has_pax_gid_ || has_pax_mtime_;
      if (header_filled_ != 0 || pending) return fail(TarError::Truncated);
      return TarError::None;
    }
    default: return fail(TarError::Truncated);
  }
}

}  // namespace imagefs
