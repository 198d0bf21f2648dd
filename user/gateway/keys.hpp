// The gateway's API keys and tenants, read at boot from a text file (a data module given with
// `file=`, docs/BOOT.md; format in docs/NETWORK.md "Gateway"). Pure and host-tested.
// Invariant: parse_keys either fills the table with 1..MAX_KEYS valid entries, keys and
// sub-tenants each unique, and its index() finds exactly those keys, or reports the first bad line
// and leaves the table empty.
#pragma once

#include "config.hpp"
#include "http.hpp"

namespace gateway {

constexpr usize MAX_KEYS = 4096;  // Tenants: one per key (tenants.hpp gives each a slot).
constexpr usize MIN_KEY_LENGTH = 8;
constexpr usize MAX_KEY_LENGTH = 128;
constexpr u32 MAX_SUB_TENANT = 65535;
constexpr u32 MAX_CONCURRENCY_LIMIT = 64;
constexpr u32 MAX_QUEUE_LIMIT = 64;
constexpr u64 MAX_FUNCTION_QUOTA = 1u << 20;
constexpr usize MAX_CONNECTION_LIMIT = 256;  // The gateway's connection table.

// KeyIndex: the key a request presents, found in O(1) expected whatever the number of keys: an
// open-addressing hash table (linear probing, never over half full) of indexes into the key
// array. Only candidates with the credential's hash are compared, each in full without an early
// exit, so the time taken tells nothing of how much of a key matched (at most whether the
// credential's hash meets another key's). Invariant: holds exactly the keys given to build().
class KeyIndex {
 public:
  // The keys (distinct, at most MAX_KEYS) it finds from now on; `keys` must outlive the index.
  void build(const ApiKey* keys, usize count);
  // Adds keys[count] (build()'s array grown by one); false, with nothing added, when that key
  // is already there or the index is full.
  bool add_next();
  const ApiKey* find(Slice credential) const;
  usize count() const { return count_; }

 private:
  static constexpr usize SLOTS = 2 * MAX_KEYS;
  static u64 hash(Slice text);
  const ApiKey* keys_ = nullptr;
  usize count_ = 0;
  u16 slots_[SLOTS] = {};  // Key index + 1; 0: empty.
};

struct KeysError {
  const char* reason = nullptr;  // What is wrong, e.g. "tenant= must be a number from 1 to 65535".
  usize line = 0;                // 1-based; 0 when the file as a whole is wrong (e.g. no keys).
};

class KeyTable {
 public:
  KeyTable() = default;
  KeyTable(const KeyTable&) = delete;  // keys()[i].key points into this object.
  KeyTable& operator=(const KeyTable&) = delete;

  const ApiKey* keys() const { return keys_; }
  usize count() const { return count_; }
  const KeyIndex& index() const { return index_; }
  // The file's `connections=<n>` line, or MAX_CONNECTION_LIMIT without one.
  usize connection_limit() const { return connection_limit_; }
  // The file's `max_body_mib=<n>` line in bytes, or DEFAULT_BODY_LIMIT without one.
  u64 body_limit() const { return body_limit_; }

 private:
  friend bool parse_keys(Slice text, KeyTable& table, KeysError& error);
  ApiKey keys_[MAX_KEYS] = {};
  char texts_[MAX_KEYS][MAX_KEY_LENGTH + 1] = {};
  usize count_ = 0;
  KeyIndex index_;
  u64 tenant_seen_[(MAX_SUB_TENANT + 1) / 64] = {};  // While parsing: the tenants given so far.
  usize connection_limit_ = MAX_CONNECTION_LIMIT;
  u64 body_limit_ = DEFAULT_BODY_LIMIT;
};

// One key per line: `<key> tenant=<1-65535> [limit=<1-64>] [queue=<0-64>] [functions=<n>] [console]`,
// words separated by spaces or tabs; `queue` how many invocations may wait once `limit` run (0),
// `functions` the tenant's function quota (below the manager's; docs/NETWORK.md, Gateway);
// `console` makes it an operator key (ApiKey::console); blank lines and lines starting
// with '#' are ignored; CRLF line ends are accepted. Keys are
// 8-128 characters of [A-Za-z0-9._~+/-]. At most MAX_KEYS (4096) keys, at least one. A line
// `connections=<1-256>` (at most one; a key never holds '=') sets how many connections the gateway
// keeps open at once; a line `max_body_mib=<1-128>` (at most one) the largest request body and
// invocation output in MiB (default 32).
bool parse_keys(Slice text, KeyTable& table, KeysError& error);

// The sub-tenant of the key in an Authorization header value ("Bearer <key>", or "Basic
// <base64 of user:key>"); false when the header is missing, malformed or names no known key.
// A candidate key is compared in full, so the time taken does not tell how much of a key matched
// (KeyIndex).
bool authenticate(Slice authorization, const KeyIndex& keys, u32& sub_tenant);
// The same, giving the matching key itself (its sub-tenant and its grants).
bool authenticate(Slice authorization, const KeyIndex& keys, const ApiKey*& key);

}  // namespace gateway
