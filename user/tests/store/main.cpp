// store_tests: the image store's in-guest test, run twice on the same disk by the harness
// (scenario_store_restart): boot 1 (data module `phase` = "1") fills a blank disk through the
// protocol and leaves a blob uncommitted; boot 2 ("2") checks that every committed byte came back,
// nothing uncommitted did, and the free space is exactly what the committed blobs leave.
// Invariant: both boots compute the same deterministic contents, so boot 2 checks exact bytes.
#include "framework.hpp"
#include "layout/checksum.hpp"
#include "store/client.hpp"
#include "store/image.hpp"

namespace {

using namespace sys;
using store::Client;

constexpr u64 STORE = FIRST_ENDPOINT;
constexpr u64 PEER = FIRST_ENDPOINT + 1;  // Boot 1: the second client, reached through `sync`.
// The two clients' own messages: the first hands the peer its handles, the peer answers with the
// number of wrong answers (the label) and of checks it ran.
struct PeerRequest {
  u64 write_handle;
  u64 read_handle;
};
struct PeerReply {
  u64 checks;
};
constexpr u64 BUFFER_PAGES = store::MAX_WRITE_BYTES / PAGE_SIZE;
constexpr u64 BUFFER_ADDRESS = 0x100000000;
constexpr u64 BLOB_ADDRESS = 0x200000000;
constexpr u64 PYTHON_SIZE = 300001;
constexpr u64 PYTHON_SEED = 311;
constexpr const char* PYTHON = "python:3.11";
constexpr const char* PYTHON_DIGEST = "sha256:3f0c0e2a1b4d5c6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6";
constexpr u64 MANY = 1200;
constexpr u64 MANY_SIZE = 100;
constexpr u64 BLOCK = 4096;
constexpr u64 BIG_SIZE = 8ull << 20;
constexpr u64 BIG_SEED = 8;

// Milliseconds since `start` (TSC ticks), for the figures the test prints (never asserted).
u64 elapsed_ms(u64 start) {
  ThreadSelfInfo now = thread_self();
  return (now.timestamp - start) / (now.tsc_hertz / 1000);
}

Console console(CONSOLE);
SlotAllocator slot_allocator(FIRST_FREE, 256);
SlotAllocator& slots() { return slot_allocator; }
using ScopedSlot = test::ScopedSlotOf<slots>;
Client client{Endpoint(STORE)};
Memory buffer;  // The write buffer lent to the store, mapped at BUFFER_ADDRESS.
u8* buffer_bytes = reinterpret_cast<u8*>(BUFFER_ADDRESS);

// Deterministic contents: a byte stream from a seed (splitmix64 per 8-byte word).
u64 pattern_word(u64 seed, u64 word) {
  u64 value = seed * 0x100000001b3ull + word + 1;
  value += 0x9e3779b97f4a7c15ull;
  value = (value ^ (value >> 30)) * 0xbf58476d1ce4e5b9ull;
  value = (value ^ (value >> 27)) * 0x94d049bb133111ebull;
  return value ^ (value >> 31);
}
u8 pattern_byte(u64 seed, u64 index) { return static_cast<u8>(pattern_word(seed, index / 8) >> (8 * (index % 8))); }
void fill(u8* target, u64 seed, u64 first, u64 length) {
  u64 index = 0;
  for (; index < length && (first + index) % 8 != 0; ++index) target[index] = pattern_byte(seed, first + index);
  for (; index + 8 <= length; index += 8) {  // One hash per word, not per byte.
    u64 word = pattern_word(seed, (first + index) / 8);
    __builtin_memcpy(target + index, &word, 8);
  }
  for (; index < length; ++index) target[index] = pattern_byte(seed, first + index);
}
// The first index in [0, size) where bytes differ from the pattern, or size.
u64 first_difference(const u8* bytes, u64 seed, u64 size) {
  u64 index = 0;
  for (; index + 8 <= size; index += 8) {
    u64 word;
    __builtin_memcpy(&word, bytes + index, 8);
    if (word != pattern_word(seed, index / 8)) break;
  }
  for (; index < size; ++index)
    if (bytes[index] != pattern_byte(seed, index)) return index;
  return size;
}
u32 pattern_checksum(u64 seed, u64 length) {
  u8 chunk[4096];
  u32 state = store::crc32c_start();
  for (u64 offset = 0; offset < length; offset += sizeof chunk) {
    u64 piece = length - offset < sizeof chunk ? length - offset : sizeof chunk;
    fill(chunk, seed, offset, piece);
    state = store::crc32c_update(state, chunk, piece);
  }
  return store::crc32c_finish(state);
}
void many_name(u64 index, char (&name)[16]) {
  const char* prefix = "many/";
  for (u64 i = 0; i < 5; ++i) name[i] = prefix[i];
  for (u64 digit = 4; digit-- > 0; index /= 10) name[5 + digit] = static_cast<char>('0' + index % 10);
  name[9] = '\0';
}
bool same_text(const char* left, const char* right) { return store::compare_text(left, right) == 0; }

#define EXPECT_STATUS(expression, expected)                                                                     \
  do {                                                                                                          \
    auto status_ = (expression);                                                                                \
    if (status_ != (expected))                                                                                  \
      test.fail(__FILE__, __LINE__, "%s gave %s, expected %s", #expression, store::status_name(status_),        \
                store::status_name(expected));                                                                  \
  } while (0)
#define REQUIRE_STATUS(expression, expected)                                                                    \
  do {                                                                                                          \
    auto status_ = (expression);                                                                                \
    if (status_ != (expected)) {                                                                                \
      test.fail(__FILE__, __LINE__, "%s gave %s, expected %s", #expression, store::status_name(status_),        \
                store::status_name(expected));                                                                  \
      return;                                                                                                   \
    }                                                                                                           \
  } while (0)

// Writes a blob of `size` pattern bytes from the buffer in pieces of at most `piece` bytes.
store::Status put(const char* name, u64 seed, u64 size, u64 piece = store::MAX_WRITE_BYTES) {
  u64 handle = 0;
  store::Status status = client.create(name, "sha256:00", size, buffer, handle);
  if (status != store::STATUS_OK) return status;
  for (u64 offset = 0; offset < size; offset += piece) {
    u64 length = size - offset < piece ? size - offset : piece;
    fill(buffer_bytes, seed, offset, length);
    status = client.write(handle, 0, length);
    if (status != store::STATUS_OK) return status;
  }
  return client.commit(handle);
}

// Opens `name`, maps it read-only and compares every byte (and the zeros up to the page end).
void check_blob(test::Case& test, const char* name, u64 seed, u64 size) {
  ScopedSlot memory_slot(test);
  REQUIRE(memory_slot.valid());
  u64 handle = 0;
  u64 reported = 0;
  REQUIRE_STATUS(client.open(name, memory_slot.selector(), handle, reported), store::STATUS_OK);
  EXPECT_EQ(reported, size);
  u64 pages = size == 0 ? 1 : (size + PAGE_SIZE - 1) / PAGE_SIZE;
  Task self(SELF_TASK);
  auto mapped = self.map(Memory(memory_slot.selector()), 0, BLOB_ADDRESS, pages, memory_rights(true, false, false));
  EXPECT_OK(mapped);
  if (mapped.ok()) {
    const auto* bytes = reinterpret_cast<const u8*>(BLOB_ADDRESS);
    u64 wrong = 0;
    u64 index = first_difference(bytes, seed, size);
    if (index != size && wrong++ == 0)
      test.fail(__FILE__, __LINE__, "%s: byte %lu is %#x, expected %#x", name, index, bytes[index],
                pattern_byte(seed, index));
    for (index = size; index < pages * PAGE_SIZE; ++index)
      if (bytes[index] != 0 && wrong++ == 0) test.fail(__FILE__, __LINE__, "%s: padding byte %lu is not zero", name, index);
    EXPECT_OK(self.unmap(BLOB_ADDRESS, pages));
  }
  EXPECT_STATUS(client.close(handle), store::STATUS_OK);
}

store::StoreInfo info_of(test::Case& test) {
  store::StoreInfo info{};
  EXPECT_STATUS(client.info(info), store::STATUS_OK);
  return info;
}

u64 blocks(u64 bytes) { return (bytes + BLOCK - 1) / BLOCK; }

// --- boot 1 ---------------------------------------------------------------------------------

void blank_disk_is_formatted(test::Case& test) {
  store::StoreInfo info = info_of(test);
  EXPECT_EQ(info.entries, 0);
  EXPECT_EQ(info.free_bytes, info.data_bytes);
  EXPECT(info.data_bytes > 40ull << 20 && info.data_bytes < info.disk_bytes);
  EXPECT_EQ(info.disk_bytes, 48ull << 20);
  EXPECT_EQ(info.block_bytes, BLOCK);
  EXPECT_EQ(info.generation, 1);
  EXPECT_EQ(info.writes, 0);
  EXPECT_EQ(info.open_blobs, 0);
}

void create_write_commit(test::Case& test) {
  u64 handle = 0;
  REQUIRE_STATUS(client.create(PYTHON, PYTHON_DIGEST, store::UNKNOWN_SIZE, buffer, handle), store::STATUS_OK);
  // Three pieces at different buffer offsets and of sizes that are not whole blocks.
  const u64 pieces[][2] = {{0, 100000}, {200000, 150000}, {1000, 50001}};
  u64 written = 0;
  for (const auto& piece : pieces) {
    fill(buffer_bytes + piece[0], PYTHON_SEED, written, piece[1]);
    u64 total = 0;
    EXPECT_STATUS(client.write(handle, piece[0], piece[1], &total), store::STATUS_OK);
    written += piece[1];
    EXPECT_EQ(total, written);
  }
  EXPECT_EQ(info_of(test).writes, 1);
  u64 size = 0;
  u64 checksum = 0;
  REQUIRE_STATUS(client.commit(handle, &size, &checksum), store::STATUS_OK);
  EXPECT_EQ(size, PYTHON_SIZE);
  EXPECT_EQ(checksum, pattern_checksum(PYTHON_SEED, PYTHON_SIZE));
  store::StatReply stat{};
  REQUIRE_STATUS(client.stat(PYTHON, stat), store::STATUS_OK);
  EXPECT_EQ(stat.size, PYTHON_SIZE);
  EXPECT_EQ(stat.checksum, checksum);
  EXPECT_EQ(stat.openers, 0);
  EXPECT(same_text(stat.digest, PYTHON_DIGEST));
  EXPECT_STATUS(client.commit(handle), store::STATUS_BAD_HANDLE);  // The handle ended with the commit.
  EXPECT_EQ(info_of(test).writes, 0);
}

void big_blob(test::Case& test) {
  u64 started = thread_self().timestamp;
  REQUIRE_STATUS(put("big", BIG_SEED, BIG_SIZE), store::STATUS_OK);
  printf(console, "# store: wrote and committed an 8 MiB blob in %lu ms (TCG)\n", elapsed_ms(started));
  check_blob(test, "big", BIG_SEED, BIG_SIZE);
}

void open_is_shared_and_read_only(test::Case& test) {
  ScopedSlot first(test);
  ScopedSlot second(test);
  REQUIRE(first.valid() && second.valid());
  u64 first_handle = 0, second_handle = 0, size = 0;
  REQUIRE_STATUS(client.open(PYTHON, first.selector(), first_handle, size), store::STATUS_OK);
  REQUIRE_STATUS(client.open(PYTHON, second.selector(), second_handle, size), store::STATUS_OK);
  EXPECT(first_handle != second_handle);
  auto identity = REQUIRE_OK(Capability(first.selector()).identify());
  EXPECT_EQ(static_cast<u64>(identity.type), static_cast<u64>(ObjectType::Memory));
  // Read and Execute (an image tree's program text is mapped executable), never Write.
  EXPECT_EQ(identity.rights, abi::rights_of(abi::MemoryRight::Read, abi::MemoryRight::Execute));
  store::StatReply stat{};
  EXPECT_STATUS(client.stat(PYTHON, stat), store::STATUS_OK);
  EXPECT_EQ(stat.openers, 2);
  EXPECT_EQ(info_of(test).open_blobs, 1);  // Loaded once, shared.
  Task self(SELF_TASK);
  EXPECT_ERROR(self.map(Memory(first.selector()), 0, BLOB_ADDRESS, 1, memory_rights(true, true, false)), Error::NoRights);
  // Both capabilities show the same bytes: writes through the store's copy are impossible, so one
  // mapping of each is compared.
  REQUIRE_OK(self.map(Memory(first.selector()), 0, BLOB_ADDRESS, 74, memory_rights(true, false, false)));
  REQUIRE_OK(self.map(Memory(second.selector()), 0, BLOB_ADDRESS + (1ull << 30), 74, memory_rights(true, false, false)));
  const auto* one = reinterpret_cast<const u8*>(BLOB_ADDRESS);
  const auto* other = reinterpret_cast<const u8*>(BLOB_ADDRESS + (1ull << 30));
  EXPECT_EQ(first_difference(one, PYTHON_SEED, PYTHON_SIZE), PYTHON_SIZE);
  EXPECT_EQ(first_difference(other, PYTHON_SEED, PYTHON_SIZE), PYTHON_SIZE);
  EXPECT_OK(self.unmap(BLOB_ADDRESS, 74));
  EXPECT_OK(self.unmap(BLOB_ADDRESS + (1ull << 30), 74));
  EXPECT_STATUS(client.close(first_handle), store::STATUS_OK);
  EXPECT_STATUS(client.close(first_handle), store::STATUS_BAD_HANDLE);
  EXPECT_EQ(info_of(test).open_blobs, 1);
  EXPECT_STATUS(client.close(second_handle), store::STATUS_OK);
  EXPECT_EQ(info_of(test).open_blobs, 0);
  // The last close revoked every opener's capability.
  EXPECT_ERROR(Capability(second.selector()).identify(), Error::InvalidCapability);
  EXPECT_ERROR(Capability(first.selector()).identify(), Error::InvalidCapability);
  check_blob(test, PYTHON, PYTHON_SEED, PYTHON_SIZE);
}

void delete_refused_while_open(test::Case& test) {
  REQUIRE_STATUS(put("scratch", 5, 1000), store::STATUS_OK);
  ScopedSlot memory(test);
  REQUIRE(memory.valid());
  u64 handle = 0, size = 0;
  REQUIRE_STATUS(client.open("scratch", memory.selector(), handle, size), store::STATUS_OK);
  EXPECT_STATUS(client.remove("scratch"), store::STATUS_OPEN_ELSEWHERE);
  store::StatReply stat{};
  EXPECT_STATUS(client.stat("scratch", stat), store::STATUS_OK);
  EXPECT_STATUS(client.close(handle), store::STATUS_OK);
  EXPECT_STATUS(client.remove("scratch"), store::STATUS_OK);
  EXPECT_STATUS(client.stat("scratch", stat), store::STATUS_NOT_FOUND);
  EXPECT_STATUS(client.remove("scratch"), store::STATUS_NOT_FOUND);
  EXPECT_STATUS(client.open("scratch", memory.selector(), handle, size), store::STATUS_NOT_FOUND);
}

void requests_are_checked(test::Case& test) {
  u64 handle = 0;
  EXPECT_STATUS(client.create(PYTHON, "", store::UNKNOWN_SIZE, buffer, handle), store::STATUS_NAME_TAKEN);
  EXPECT_STATUS(client.create("bad name", "", store::UNKNOWN_SIZE, buffer, handle), store::STATUS_BAD_REQUEST);
  EXPECT_STATUS(client.create("ok", "bad digest!", store::UNKNOWN_SIZE, buffer, handle), store::STATUS_BAD_REQUEST);
  EXPECT_STATUS(client.create("ok", "", store::UNKNOWN_SIZE, Memory(), handle), store::STATUS_BAD_BUFFER);
  EXPECT_STATUS(client.create("ok", "", store::MAX_BLOB_BYTES + 1, buffer, handle), store::STATUS_TOO_LARGE);
  EXPECT_STATUS(client.write(12345, 0, 10), store::STATUS_BAD_HANDLE);
  REQUIRE_STATUS(client.create("checked", "", store::UNKNOWN_SIZE, buffer, handle), store::STATUS_OK);
  EXPECT_STATUS(client.write(handle, store::MAX_WRITE_BYTES - 10, 11), store::STATUS_BAD_BUFFER);
  EXPECT_STATUS(client.write(handle, 0, 0), store::STATUS_BAD_REQUEST);
  EXPECT_STATUS(client.write(handle, 0, store::MAX_WRITE_BYTES + 1), store::STATUS_BAD_REQUEST);
  u64 total = 0;
  EXPECT_STATUS(client.write(handle, 0, 10, &total), store::STATUS_OK);  // The handle survived those.
  EXPECT_EQ(total, 10);
  EXPECT_STATUS(client.close(handle), store::STATUS_BAD_HANDLE);  // A write handle is not a read handle.
  EXPECT_STATUS(client.abort(handle), store::STATUS_OK);
  EXPECT_STATUS(client.abort(handle), store::STATUS_BAD_HANDLE);
  store::StatReply stat{};
  EXPECT_STATUS(client.stat("checked", stat), store::STATUS_NOT_FOUND);
  EXPECT_STATUS(client.close(777), store::STATUS_BAD_HANDLE);
  Message reply;
  // IMPORT (docs/IMAGES.md): short, a tenant beyond MAX_TENANT, a bad reference, no buffer.
  EXPECT_STATUS(client.call(Message::make(store::IMPORT), reply), store::STATUS_BAD_REQUEST);
  store::ImportRequest import{};
  import.tenant = store::MAX_TENANT + 1;
  EXPECT_STATUS(client.call(message_of(store::IMPORT, import), reply), store::STATUS_BAD_REQUEST);
  import.tenant = 1;
  store::pack_text("+bad", import.reference, store::NAME_BYTES);
  EXPECT_STATUS(client.call(message_of(store::IMPORT, import), reply), store::STATUS_BAD_REQUEST);
  store::pack_text("good:1", import.reference, store::NAME_BYTES);
  EXPECT_STATUS(client.call(message_of(store::IMPORT, import), reply), store::STATUS_BAD_BUFFER);
  EXPECT_STATUS(client.call(Message::make(99), reply), store::STATUS_BAD_REQUEST);
  EXPECT_STATUS(client.call(Message::make(store::STAT, {0x6f6874797000ull}), reply), store::STATUS_BAD_REQUEST);
  EXPECT_STATUS(client.call(Message::make(store::WRITE, {handle}), reply), store::STATUS_BAD_REQUEST);
  EXPECT_EQ(info_of(test).writes, 0);
}

void thousands_of_entries(test::Case& test) {
  char name[16];
  for (u64 index = 0; index < MANY; ++index) {
    many_name(index, name);
    REQUIRE_STATUS(put(name, 1000 + index, MANY_SIZE), store::STATUS_OK);
  }
  for (u64 index = 1; index < MANY; index += 2) {
    many_name(index, name);
    REQUIRE_STATUS(client.remove(name), store::STATUS_OK);
  }
  store::StoreInfo info = info_of(test);
  EXPECT_EQ(info.entries, MANY / 2 + 2);
  EXPECT(info.generation >= 2);  // 1,800 records do not fit one 1,536-record half: it compacted.
  // LIST pages through every name, in name order.
  u64 seen = 0;
  u64 first = 0;
  for (;;) {
    store::ListReply reply;
    REQUIRE_STATUS(client.list(first, reply), store::STATUS_OK);
    EXPECT_EQ(reply.total, MANY / 2 + 2);
    u64 count = reply.count;
    if (count == 0) break;
    const char* text = reply.names;
    for (u64 index = 0; index < count; ++index) {
      char expected[16];
      // "big" < "many/..." < "python:3.11".
      if (seen >= 1 && seen <= MANY / 2) many_name(2 * (seen - 1), expected);
      const char* want = seen == 0 ? "big" : seen <= MANY / 2 ? expected : PYTHON;
      if (!same_text(text, want)) {
        test.fail(__FILE__, __LINE__, "name %lu is %s, expected %s", seen, text, want);
        return;
      }
      text += store::text_length(text) + 1;
      ++seen;
    }
    first += count;
  }
  EXPECT_EQ(seen, MANY / 2 + 2);
  many_name(598, name);
  check_blob(test, name, 1000 + 598, MANY_SIZE);
}

void blob_that_does_not_fit(test::Case& test) {
  store::StoreInfo before = info_of(test);
  u64 handle = 0;
  EXPECT_STATUS(client.create("too-big", "", before.free_bytes + 1, buffer, handle), store::STATUS_NO_SPACE);
  EXPECT_EQ(info_of(test).free_bytes, before.free_bytes);
  REQUIRE_STATUS(client.create("stream", "", store::UNKNOWN_SIZE, buffer, handle), store::STATUS_OK);
  fill(buffer_bytes, 77, 0, store::MAX_WRITE_BYTES);
  store::Status status = store::STATUS_OK;
  u64 writes = 0;
  u64 limit = before.free_bytes / store::MAX_WRITE_BYTES + 2;
  u64 started = thread_self().timestamp;
  while (status == store::STATUS_OK && writes < limit) {
    status = client.write(handle, 0, store::MAX_WRITE_BYTES);
    ++writes;
  }
  u64 milliseconds = elapsed_ms(started);
  printf(console, "# store: streamed %lu MiB in 4 MiB WRITEs until NO_SPACE in %lu ms (TCG)\n",
         (writes - 1) * store::MAX_WRITE_BYTES >> 20, milliseconds);
  EXPECT_STATUS(status, store::STATUS_NO_SPACE);
  EXPECT_EQ(writes, before.free_bytes / store::MAX_WRITE_BYTES + 1);
  EXPECT_STATUS(client.write(handle, 0, 1), store::STATUS_BAD_HANDLE);  // The failure ended it.
  store::StoreInfo after = info_of(test);
  EXPECT_EQ(after.free_bytes, before.free_bytes);
  EXPECT_EQ(after.writes, 0);
  EXPECT_EQ(after.entries, before.entries);
  store::StatReply stat{};
  EXPECT_STATUS(client.stat("stream", stat), store::STATUS_NOT_FOUND);
  EXPECT_STATUS(client.stat("too-big", stat), store::STATUS_NOT_FOUND);
  // Each 4 MiB write went to the disk as 64 KiB requests, every request slot in flight at once.
  EXPECT_EQ(after.device_most_in_flight, 32);
}

void uncommitted_at_the_stop(test::Case& test) {
  u64 handle = 0;
  REQUIRE_STATUS(client.create("uncommitted", "", store::UNKNOWN_SIZE, buffer, handle), store::STATUS_OK);
  fill(buffer_bytes, 9, 0, 100000);
  EXPECT_STATUS(client.write(handle, 0, 100000), store::STATUS_OK);
  store::StoreInfo info = info_of(test);
  EXPECT_EQ(info.writes, 1);
  EXPECT(info.free_bytes < info.data_bytes - (blocks(PYTHON_SIZE) + blocks(BIG_SIZE) + MANY / 2) * BLOCK);
  // The machine stops after this boot's summary without a commit, an abort or an unmount.
}

// Another client (the peer, a second boot module with its own badge) is handed this client's live
// write and read handles and the name of a blob it holds open, and must get nowhere with them.
void foreign_handles_are_refused(test::Case& test) {
  u64 write_handle = 0;
  REQUIRE_STATUS(client.create("peer-target", "", store::UNKNOWN_SIZE, buffer, write_handle), store::STATUS_OK);
  ScopedSlot memory(test);
  REQUIRE(memory.valid());
  u64 read_handle = 0, size = 0;
  REQUIRE_STATUS(client.open(PYTHON, memory.selector(), read_handle, size), store::STATUS_OK);
  Message reply;
  REQUIRE_OK(Endpoint(PEER).call(message_of(1, PeerRequest{write_handle, read_handle}), reply));
  EXPECT_EQ(reply.label(), 0);  // The peer's count of answers that were not what they must be.
  PeerReply checks;
  get(reply, checks);
  EXPECT_EQ(checks.checks, 6);  // The checks it ran.
  u64 total = 0;
  fill(buffer_bytes, 3, 0, 10);
  EXPECT_STATUS(client.write(write_handle, 0, 10, &total), store::STATUS_OK);  // Still ours, untouched.
  EXPECT_EQ(total, 10);
  EXPECT_STATUS(client.abort(write_handle), store::STATUS_OK);
  store::StatReply stat{};
  EXPECT_STATUS(client.stat(PYTHON, stat), store::STATUS_OK);
  EXPECT_EQ(stat.openers, 1);
  EXPECT_STATUS(client.close(read_handle), store::STATUS_OK);
}

// The peer's side: answers one request from the first client with the number of wrong answers.
void serve_as_peer() {
  Message request;
  if (!Endpoint(PEER).receive(request).ok()) return;
  PeerRequest handles;
  get(request, handles);
  u64 write_handle = handles.write_handle;
  u64 read_handle = handles.read_handle;
  u64 wrong = 0;
  Message reply;
  wrong += client.write(write_handle, 0, 10) != store::STATUS_BAD_HANDLE;
  wrong += client.commit(write_handle) != store::STATUS_BAD_HANDLE;
  wrong += client.abort(write_handle) != store::STATUS_BAD_HANDLE;
  wrong += client.close(read_handle) != store::STATUS_BAD_HANDLE;
  wrong += client.remove(PYTHON) != store::STATUS_OPEN_ELSEWHERE;
  store::StatReply stat{};
  wrong += client.stat(PYTHON, stat) != store::STATUS_OK || stat.openers != 1;
  (void)sys::reply(message_of(static_cast<u32>(wrong), PeerReply{6}));
}

// --- boot 2 ---------------------------------------------------------------------------------

void committed_catalog_survived(test::Case& test) {
  store::StoreInfo info = info_of(test);
  EXPECT_EQ(info.entries, MANY / 2 + 2);
  EXPECT_EQ(info.writes, 0);
  EXPECT_EQ(info.open_blobs, 0);
  // Exactly the committed blobs' blocks are in use: the uncommitted and refused ones left nothing.
  EXPECT_EQ(info.free_bytes,
            info.data_bytes - (blocks(PYTHON_SIZE) + blocks(BIG_SIZE) + MANY / 2 * blocks(MANY_SIZE)) * BLOCK);
  EXPECT(info.generation >= 2);
}

void python_byte_for_byte(test::Case& test) {
  store::StatReply stat{};
  REQUIRE_STATUS(client.stat(PYTHON, stat), store::STATUS_OK);
  EXPECT_EQ(stat.size, PYTHON_SIZE);
  EXPECT_EQ(stat.checksum, pattern_checksum(PYTHON_SEED, PYTHON_SIZE));
  EXPECT(same_text(stat.digest, PYTHON_DIGEST));
  check_blob(test, PYTHON, PYTHON_SEED, PYTHON_SIZE);
  u64 started = thread_self().timestamp;
  check_blob(test, "big", BIG_SEED, BIG_SIZE);
  printf(console, "# store: opened (loaded from disk, checksummed) and compared an 8 MiB blob in %lu ms (TCG)\n",
         elapsed_ms(started));
}

void kept_and_dropped_entries(test::Case& test) {
  char name[16];
  for (u64 index : {u64{0}, u64{2}, u64{600}, u64{1198}}) {
    many_name(index, name);
    check_blob(test, name, 1000 + index, MANY_SIZE);
  }
  store::StatReply stat{};
  for (const char* gone : {"uncommitted", "stream", "too-big", "scratch", "checked", "many/0001", "many/1199"})
    if (client.stat(gone, stat) != store::STATUS_NOT_FOUND) test.fail(__FILE__, __LINE__, "%s is there", gone);
  store::ListReply reply;
  REQUIRE_STATUS(client.list(0, reply), store::STATUS_OK);
  EXPECT_EQ(reply.total, MANY / 2 + 2);
}

void still_takes_blobs(test::Case& test) {
  REQUIRE_STATUS(put("after-reboot", 42, 5000), store::STATUS_OK);
  check_blob(test, "after-reboot", 42, 5000);
  EXPECT_STATUS(client.remove("after-reboot"), store::STATUS_OK);
}

const test::TestEntry FIRST_BOOT[] = {
    {"a blank disk is formatted: no entries, all data space free", blank_disk_is_formatted},
    {"create, write in pieces from buffer offsets, commit, stat", create_write_commit},
    {"an 8 MiB blob is written and read back", big_blob},
    {"open gives one read-only Memory shared by every opener; the last close revokes it", open_is_shared_and_read_only},
    {"delete is refused while the blob is open, then works", delete_refused_while_open},
    {"malformed requests, unknown handles and taken names get precise errors", requests_are_checked},
    {"another client cannot write, commit, abort or close this client's handles", foreign_handles_are_refused},
    {"1,200 entries, 600 deleted: a compaction, and LIST pages in name order", thousands_of_entries},
    {"a blob that does not fit is refused (known and streamed size) and leaves nothing", blob_that_does_not_fit},
    {"a blob left uncommitted when the machine stops", uncommitted_at_the_stop},
};
const test::TestEntry SECOND_BOOT[] = {
    {"after the restart: the committed entries and exactly their space", committed_catalog_survived},
    {"python:3.11 and the 8 MiB blob are there byte for byte, with digest and checksum", python_byte_for_byte},
    {"kept entries are intact; deleted, refused and uncommitted ones are gone", kept_and_dropped_entries},
    {"the restarted store takes new blobs", still_takes_blobs},
};

}  // namespace

extern "C" void metteagle_main(u64) {
  char phase[8] = {};
  if (!Memory(BOOT_FILE).read(0, phase, 2).ok() || (phase[0] != '1' && phase[0] != '2' && phase[0] != 'p' &&
                                                    phase[0] != '-')) {
    printf(console, "store_tests: the data module must hold 1, 2, p (the peer) or - (nothing to do)\n");
    return;
  }
  if (phase[0] == '-') return;
  if (phase[0] == 'p') {
    serve_as_peer();  // Prints nothing: the scenario counts only the first client's lines.
    return;
  }
  u64 slot = slot_allocator.allocate().value();  // Cannot fail: the allocator is fresh.
  auto created = Factory(OWN_FACTORY).create_memory(slot, BUFFER_PAGES);
  if (!created.ok() ||
      !Task(SELF_TASK).map(created.value(), 0, BUFFER_ADDRESS, BUFFER_PAGES, memory_rights(true, true, false)).ok()) {
    printf(console, "store_tests: cannot make the write buffer\n");
    return;
  }
  buffer = created.value();
  printf(console, "store_tests: boot %c\n", phase[0]);
  if (phase[0] == '1')
    test::run_all(console, FIRST_BOOT, sizeof FIRST_BOOT / sizeof FIRST_BOOT[0]);
  else
    test::run_all(console, SECOND_BOOT, sizeof SECOND_BOOT / sizeof SECOND_BOOT[0]);
}
