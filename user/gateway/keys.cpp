// The key file parser (format in keys.hpp and docs/NETWORK.md).
#include "keys.hpp"

namespace gateway {
namespace {

bool is_key_character(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
         c == '~' || c == '+' || c == '/' || c == '-';
}

bool is_blank(char c) { return c == ' ' || c == '\t'; }

// The next word of `line` from `index` on (empty at the end).
Slice next_word(Slice line, usize& index) {
  while (index < line.size && is_blank(line.data[index])) ++index;
  usize start = index;
  while (index < line.size && !is_blank(line.data[index])) ++index;
  return Slice{line.data + start, index - start};
}

bool fail(KeysError& error, const char* reason, usize line) {
  error = KeysError{reason, line};
  return false;
}

// One entry line into `key`; `text` receives the key characters.
bool parse_line(Slice line, usize number, ApiKey& key, char (&text)[MAX_KEY_LENGTH + 1], KeysError& error) {
  usize index = 0;
  Slice word = next_word(line, index);
  if (word.size < MIN_KEY_LENGTH || word.size > MAX_KEY_LENGTH)
    return fail(error, "a key has 8 to 128 characters", number);
  for (usize at = 0; at < word.size; ++at)
    if (!is_key_character(word.data[at])) return fail(error, "a key has only characters of [A-Za-z0-9._~+/-]", number);
  for (usize at = 0; at < word.size; ++at) text[at] = word.data[at];
  text[word.size] = '\0';
  key = ApiKey{text, 0, DEFAULT_CONCURRENCY_LIMIT};
  bool has_tenant = false, has_limit = false, has_console = false, has_queue = false, has_functions = false;
  for (word = next_word(line, index); !word.empty(); word = next_word(line, index)) {
    u64 value = 0;
    if (word.starts_with("tenant=")) {
      if (has_tenant) return fail(error, "tenant= given twice", number);
      if (!parse_decimal(word.from(7), value) || value < 1 || value > MAX_SUB_TENANT)
        return fail(error, "tenant= must be a number from 1 to 65535", number);
      key.sub_tenant = static_cast<u32>(value);
      has_tenant = true;
    } else if (word.starts_with("limit=")) {
      if (has_limit) return fail(error, "limit= given twice", number);
      if (!parse_decimal(word.from(6), value) || value < 1 || value > MAX_CONCURRENCY_LIMIT)
        return fail(error, "limit= must be a number from 1 to 64", number);
      key.concurrency_limit = static_cast<u32>(value);
      has_limit = true;
    } else if (word.starts_with("queue=")) {
      if (has_queue) return fail(error, "queue= given twice", number);
      if (!parse_decimal(word.from(6), value) || value > MAX_QUEUE_LIMIT)
        return fail(error, "queue= must be a number from 0 to 64", number);
      key.queue_limit = static_cast<u32>(value);
      has_queue = true;
    } else if (word.starts_with("functions=")) {
      if (has_functions) return fail(error, "functions= given twice", number);
      if (!parse_decimal(word.from(10), value) || value < 1 || value > MAX_FUNCTION_QUOTA)
        return fail(error, "functions= must be a number from 1 to 1048576", number);
      key.function_quota = value;
      has_functions = true;
    } else if (word.equals("console")) {
      if (has_console) return fail(error, "console given twice", number);
      key.console = true;
      has_console = true;
    } else {
      return fail(error, "unknown word (a line is: <key> tenant=<n> [limit=<n>] [queue=<n>] [functions=<n>] [console])", number);
    }
  }
  if (!has_tenant) return fail(error, "the key has no tenant= word", number);
  return true;
}

}  // namespace

u64 KeyIndex::hash(Slice text) {
  u64 value = 0xcbf29ce484222325ull;  // FNV-1a.
  for (usize at = 0; at < text.size; ++at) value = (value ^ static_cast<u8>(text.data[at])) * 0x100000001b3ull;
  return value;
}

void KeyIndex::build(const ApiKey* keys, usize count) {
  keys_ = keys;
  count_ = 0;
  for (u16& slot : slots_) slot = 0;
  while (count_ < count && add_next()) {
  }
}

bool KeyIndex::add_next() {
  if (keys_ == nullptr || count_ == MAX_KEYS) return false;
  Slice key = Slice::of(keys_[count_].key);
  if (find(key) != nullptr) return false;
  usize slot = hash(key) % SLOTS;
  while (slots_[slot] != 0) slot = (slot + 1) % SLOTS;
  slots_[slot] = static_cast<u16>(++count_);
  return true;
}

const ApiKey* KeyIndex::find(Slice credential) const {
  if (keys_ == nullptr) return nullptr;
  u64 wanted = hash(credential);
  for (usize slot = wanted % SLOTS; slots_[slot] != 0; slot = (slot + 1) % SLOTS) {
    const ApiKey& candidate = keys_[slots_[slot] - 1];
    Slice key = Slice::of(candidate.key);
    if (hash(key) != wanted) continue;
    // Compare every byte of the key (no early exit on the first difference).
    u8 difference = key.size == credential.size ? 0 : 1;
    for (usize byte = 0; byte < key.size; ++byte)
      difference |= static_cast<u8>(key.data[byte] ^ (byte < credential.size ? credential.data[byte] : 0));
    if (difference == 0) return &candidate;
  }
  return nullptr;
}

bool parse_keys(Slice text, KeyTable& table, KeysError& error) {
  table.count_ = 0;
  table.index_.build(table.keys_, 0);
  for (u64& word : table.tenant_seen_) word = 0;
  usize start = 0;
  usize number = 0;
  bool ok = true;
  bool has_connection_limit = false;
  bool has_body_limit = false;
  table.connection_limit_ = MAX_CONNECTION_LIMIT;
  table.body_limit_ = DEFAULT_BODY_LIMIT;
  while (ok && start < text.size) {
    usize end = start;
    while (end < text.size && text.data[end] != '\n') ++end;
    Slice line{text.data + start, end - start};
    start = end + 1;
    ++number;
    if (line.size > 0 && line.data[line.size - 1] == '\r') --line.size;
    usize index = 0;
    Slice first = next_word(line, index);
    if (first.empty() || first.data[0] == '#') continue;
    for (usize at = 0; at < line.size; ++at) {
      u8 c = static_cast<u8>(line.data[at]);
      if ((c < 0x20 && c != '\t') || c >= 0x7f) {
        ok = fail(error, "control or non-ASCII character", number);
        break;
      }
    }
    if (!ok) break;
    if (first.starts_with("max_body_mib=")) {
      u64 value = 0;
      if (has_body_limit) {
        ok = fail(error, "max_body_mib= given twice", number);
      } else if (next_word(line, index).size != 0 || !parse_decimal(first.from(13), value) || value < 1 ||
                 value > (MAX_BODY_LIMIT >> 20)) {
        ok = fail(error, "max_body_mib= must be a number from 1 to 128, alone on its line", number);
      }
      table.body_limit_ = value << 20;
      has_body_limit = true;
      continue;
    }
    if (first.starts_with("connections=")) {
      u64 value = 0;
      if (has_connection_limit) {
        ok = fail(error, "connections= given twice", number);
      } else if (next_word(line, index).size != 0 || !parse_decimal(first.from(12), value) || value < 1 ||
                 value > MAX_CONNECTION_LIMIT) {
        ok = fail(error, "connections= must be a number from 1 to 256, alone on its line", number);
      }
      table.connection_limit_ = static_cast<usize>(value);
      has_connection_limit = true;
      continue;
    }
    if (table.count_ == MAX_KEYS) {
      ok = fail(error, "more than 4096 keys", number);
      break;
    }
    ApiKey& key = table.keys_[table.count_];
    if (!parse_line(line, number, key, table.texts_[table.count_], error)) {
      ok = false;
      break;
    }
    u64& seen = table.tenant_seen_[key.sub_tenant / 64];
    u64 bit = u64{1} << (key.sub_tenant % 64);
    if (table.index_.find(Slice::of(key.key)) != nullptr) {
      ok = fail(error, "the same key is given twice", number);
    } else if ((seen & bit) != 0) {
      ok = fail(error, "the same tenant is given to two keys", number);
    } else {
      seen |= bit;
      (void)table.index_.add_next();  // Cannot fail: the key is new and at most MAX_KEYS are added.
    }
    if (ok) ++table.count_;
  }
  if (ok && table.count_ == 0) ok = fail(error, "the file names no key", 0);
  if (!ok) {
    table.count_ = 0;
    table.index_.build(table.keys_, 0);
    table.connection_limit_ = MAX_CONNECTION_LIMIT;
    table.body_limit_ = DEFAULT_BODY_LIMIT;
  }
  return ok;
}

bool authenticate(Slice authorization, const KeyIndex& keys, u32& sub_tenant) {
  const ApiKey* key = nullptr;
  if (!authenticate(authorization, keys, key)) return false;
  sub_tenant = key->sub_tenant;
  return true;
}

bool authenticate(Slice authorization, const KeyIndex& keys, const ApiKey*& matched) {
  Slice value = authorization.trimmed();
  usize space = value.find(' ');
  Slice scheme = value.prefix(space);
  Slice credential = value.from(space + 1).trimmed();
  char decoded[256];
  if (scheme.equals_ignoring_case("Basic")) {
    usize length = 0;
    if (!decode_base64(credential, decoded, sizeof decoded, length)) return false;
    Slice pair{decoded, length};
    usize colon = pair.find(':');
    if (colon == pair.size) return false;
    credential = pair.from(colon + 1);  // The password is the key; the user name is ignored.
  } else if (!scheme.equals_ignoring_case("Bearer")) {
    return false;
  }
  if (credential.empty()) return false;
  const ApiKey* key = keys.find(credential);
  if (key == nullptr) return false;
  matched = key;
  return true;
}

}  // namespace gateway
