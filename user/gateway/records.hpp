// Function records: what the gateway keeps in the image store of every deployed function so that
// it survives a restart (docs/API.md, Persistence). A record holds the deploy requests that made
// the function (a native deploy's X-Function-Config and executable, then the OpenFaaS
// FunctionDeployments applied on top), so that the boot replays exactly what was answered before.
// Pure (the store is reached through RecordStore), host-tested.
// Invariant: a record blob's name says its tenant, function and sequence; for each (tenant,
// function) the index holds the sequence of its one current record, and a record is shown to the
// index only once the store has committed it (durable).
#pragma once

#include "manager/protocol.hpp"
#include "store/protocol.hpp"
#include "sys/spin_lock.hpp"
#include "text.hpp"

namespace gateway {

constexpr u64 RECORD_MAGIC = 0x3163655232734d45ull;  // "EMs2Rec1", little-endian.
constexpr u64 RECORD_VERSION = 1;
constexpr usize MAX_RECORD_LAYERS = 16;
constexpr u64 RECORD_KEY_CONSOLE = 1;  // The deploying key had the console flag.
constexpr u64 MAX_RECORD_CONFIG_BYTES = 8192;   // An X-Function-Config header (the head's bound).
// A FunctionDeployment body: up to 64 KiB of environment, which JSON escapes may make six times
// as long (\u0001), and the rest of the deployment.
constexpr u64 MAX_RECORD_LAYER_BYTES = 512 * 1024;
constexpr usize RECORD_FUNCTION_NAME_BYTES = 64;   // A DNS label (63) and its NUL.

// The record's first bytes; the parts follow back to back: config, executable, layers in order.
struct RecordHeader {
  u64 magic;
  u64 version;
  u64 flags;             // RECORD_KEY_* bits.
  u64 config_bytes;      // A native deploy's X-Function-Config; 0: the function came from layer 0.
  u64 executable_bytes;  // A native deploy's body (0 for a deploy by image).
  u64 layer_count;
  u64 layer_bytes[MAX_RECORD_LAYERS];
};
static_assert(sizeof(RecordHeader) == 8 * (6 + MAX_RECORD_LAYERS));

// Checks a record's header against its size: the parts fit, each within its bound.
bool record_header_valid(const RecordHeader& header, u64 size);
u64 record_parts_bytes(const RecordHeader& header);  // Everything after the header.

// "function+<tenant>+<name>+<sequence>", or "secret+..." with kind "secret".
bool record_name(const char* kind, u32 tenant, const char* name, u64 sequence, char (&out)[store::NAME_BYTES]);
// The parts of such a name; false for any other name (another kind, malformed numbers or name).
bool parse_record_name(const char* kind, const char* text, u32& tenant, char (&name)[RECORD_FUNCTION_NAME_BYTES],
                       u64& sequence);

// One piece of a record being written: bytes of the gateway, or a range of an open blob.
struct RecordPiece {
  const u8* bytes = nullptr;
  u64 length = 0;
  u64 blob = 0;    // An open blob's handle when bytes is null.
  u64 offset = 0;  // Where the range starts in that blob.
};

// The image store's generic blobs, as the records need them (store/protocol.hpp: CREATE, WRITE,
// COMMIT, DELETE, LIST, OPEN, CLOSE). Every call is one or a few store requests.
class RecordStore {
 public:
  // Writes the pieces as one blob and commits it: true only once it is durable.
  virtual bool put(const char* name, const RecordPiece* pieces, usize count) = 0;
  virtual bool remove(const char* name) = 0;
  // The store's names from index `first` (name order): `count` of them in `names`, `total` in all.
  virtual bool list(u64 first, char (*names)[store::NAME_BYTES], usize capacity, usize& count, u64& total) = 0;
  virtual bool open(const char* name, u64& handle, u64& size) = 0;
  virtual bool read(u64 handle, u64 offset, void* out, u64 length) = 0;
  // The open blob's bytes mapped read-only (one at a time; the boot's restore only), or nullptr.
  virtual const u8* map(u64 handle, u64 size) = 0;
  virtual void close(u64 handle) = 0;

 protected:
  ~RecordStore() = default;
};

// The boot's walk over the store's records of one kind ("function", "secret"), in batches of 32
// names (one thread, before any request): first `visit(tenant, name, sequence)` for each record of
// that kind, so the caller learns which is current (the newest of a (tenant, name): a stop between
// writing a new record and dropping the old one leaves both); then every record for which
// `stale(tenant, name, sequence)` is true is removed from the store, so a later delete leaves
// nothing to come back. False (nothing removed) when the store did not list its records.
template <typename Visit, typename Stale>
bool walk_records(RecordStore& records, const char* kind, Visit&& visit, Stale&& stale);

// Which record is current for each (tenant, name): filled by the boot's restore, kept by deploys
// and deletes. Every public method holds the lock.
class RecordIndex {
 public:
  // Functions (or secrets) kept per gateway: above the manager's 10,000 functions of a tenant.
  static constexpr usize CAPACITY = 16384;

  bool find(u32 tenant, const char* name, u64& sequence) const;
  bool set(u32 tenant, const char* name, u64 sequence);  // False when full (the record is then kept
                                                         // in the store, and found at the next boot).
  void erase(u32 tenant, const char* name);
  // The names `tenant` has an entry for, in byte order: at most `capacity` of them in `names`.
  usize names_of(u32 tenant, char (*names)[RECORD_FUNCTION_NAME_BYTES], usize capacity) const;
  usize count_of(u32 tenant) const;
  u64 next_sequence();
  void observe(u64 sequence);  // A sequence seen in the store: later ones are larger.

 private:
  // An open-addressing hash table (linear probing from the hash of tenant and name): find, set
  // and erase look at the entries from the home slot up to the first never-used one, not at all
  // 16,384 (issue 14). An erased entry is a tombstone, which a later set reuses; erase turns a
  // run of tombstones that ends at a never-used entry back into never-used ones.
  struct Entry {
    bool used;
    bool erased;  // A tombstone: probing goes on past it.
    u32 tenant;
    u64 sequence;
    char name[RECORD_FUNCTION_NAME_BYTES];
  };
  static_assert((CAPACITY & (CAPACITY - 1)) == 0, "the probe wraps with a mask");
  static usize home_of(u32 tenant, const char* name);
  // The entry of (tenant, name), or null; `free` (when given) gets the first tombstone or
  // never-used entry on the probe path (null when the table has none).
  Entry* slot(u32 tenant, const char* name, Entry** free = nullptr) const;
  Entry entries_[CAPACITY] = {};
  u64 next_ = 1;
  mutable sys::SpinLock lock_;
};

// The walk's batch of names (the boot's only).
constexpr usize RECORD_LIST_BATCH = 32;
extern char record_list_batch[RECORD_LIST_BATCH][store::NAME_BYTES];

template <typename Visit, typename Stale>
bool walk_records(RecordStore& records, const char* kind, Visit&& visit, Stale&& stale) {
  u64 index = 0;
  u64 total = 0;
  do {
    usize count = 0;
    if (!records.list(index, record_list_batch, RECORD_LIST_BATCH, count, total)) return false;
    if (count == 0) break;
    index += count;
    for (usize i = 0; i < count; ++i) {
      u32 tenant = 0;
      u64 sequence = 0;
      char name[RECORD_FUNCTION_NAME_BYTES];
      if (parse_record_name(kind, record_list_batch[i], tenant, name, sequence)) visit(tenant, name, sequence);
    }
  } while (index < total);
  // Listed again: removing during the first pass would shift the store's indices under it.
  for (u64 again = 0; again < total;) {
    usize count = 0;
    if (!records.list(again, record_list_batch, RECORD_LIST_BATCH, count, total) || count == 0) break;
    usize removed = 0;
    for (usize i = 0; i < count; ++i) {
      u32 tenant = 0;
      u64 sequence = 0;
      char name[RECORD_FUNCTION_NAME_BYTES];
      if (parse_record_name(kind, record_list_batch[i], tenant, name, sequence) && stale(tenant, name, sequence) &&
          records.remove(record_list_batch[i]))
        ++removed;
    }
    again += count - removed;
  }
  return true;
}

}  // namespace gateway
