// Fuzz target: the gateway's key file parser (user/gateway/keys.cpp) and key lookup. Beyond not
// crashing: an accepted table holds 1-MAX_KEYS well-formed keys with unique keys and tenants, each key
// authenticates as its tenant, the connection limit is 1-256, and the table written back as a key
// file parses to the same table;
// a refused file names a line of the file and leaves the table empty.
#include <cstring>
#include <string>

#include "check.hpp"
#include "keys.hpp"

using namespace gateway;

namespace {

bool is_key_character(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
         c == '~' || c == '+' || c == '/' || c == '-';
}

void check_table(const KeyTable& table) {
  FUZZ_CHECK(table.count() >= 1 && table.count() <= MAX_KEYS);
  FUZZ_CHECK(table.connection_limit() >= 1 && table.connection_limit() <= MAX_CONNECTION_LIMIT);
  for (usize index = 0; index < table.count(); ++index) {
    const ApiKey& key = table.keys()[index];
    usize length = std::strlen(key.key);
    FUZZ_CHECK(length >= MIN_KEY_LENGTH && length <= MAX_KEY_LENGTH);
    for (usize at = 0; at < length; ++at) FUZZ_CHECK(is_key_character(key.key[at]));
    FUZZ_CHECK(key.sub_tenant >= 1 && key.sub_tenant <= MAX_SUB_TENANT);
    FUZZ_CHECK(key.concurrency_limit >= 1 && key.concurrency_limit <= MAX_CONCURRENCY_LIMIT);
    for (usize other = 0; other < index; ++other) {
      FUZZ_CHECK(std::strcmp(table.keys()[other].key, key.key) != 0);
      FUZZ_CHECK(table.keys()[other].sub_tenant != key.sub_tenant);
    }
    std::string header = std::string("Bearer ") + key.key;
    u32 tenant = 0;
    FUZZ_CHECK(authenticate(Slice{header.data(), header.size()}, table.index(), tenant));
    FUZZ_CHECK(tenant == key.sub_tenant);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Slice text{reinterpret_cast<const char*>(data), size};
  KeyTable table;
  KeysError error;
  if (!parse_keys(text, table, error)) {
    FUZZ_CHECK(error.reason != nullptr);
    FUZZ_CHECK(table.count() == 0);
    FUZZ_CHECK(table.connection_limit() == MAX_CONNECTION_LIMIT);
    usize lines = 1;
    for (size_t index = 0; index < size; ++index) lines += data[index] == '\n';
    FUZZ_CHECK(error.line <= lines);
    // Any Authorization value is refused against an empty table.
    u32 tenant = 0;
    FUZZ_CHECK(!authenticate(text, table.index(), tenant));
    return 0;
  }
  check_table(table);
  // A stranger's credential (the whole input) authenticates only if it is exactly one key.
  u32 tenant = 0;
  if (authenticate(text, table.index(), tenant)) {
    bool is_a_key_tenant = false;
    for (usize index = 0; index < table.count(); ++index) is_a_key_tenant |= table.keys()[index].sub_tenant == tenant;
    FUZZ_CHECK(is_a_key_tenant);
  }

  std::string written = "connections=" + std::to_string(table.connection_limit()) + "\n";
  for (usize index = 0; index < table.count(); ++index) {
    const ApiKey& key = table.keys()[index];
    written += std::string(key.key) + " tenant=" + std::to_string(key.sub_tenant) +
               " limit=" + std::to_string(key.concurrency_limit) + "\n";
  }
  KeyTable again;
  KeysError again_error;
  FUZZ_CHECK(parse_keys(Slice{written.data(), written.size()}, again, again_error));
  FUZZ_CHECK(again.count() == table.count());
  FUZZ_CHECK(again.connection_limit() == table.connection_limit());
  for (usize index = 0; index < table.count(); ++index) {
    FUZZ_CHECK(std::strcmp(again.keys()[index].key, table.keys()[index].key) == 0);
    FUZZ_CHECK(again.keys()[index].sub_tenant == table.keys()[index].sub_tenant);
    FUZZ_CHECK(again.keys()[index].concurrency_limit == table.keys()[index].concurrency_limit);
  }
  return 0;
}
