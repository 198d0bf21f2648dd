// Cases for TaskMap and TaskUnmap on the own task: new memory reads zero, writes are visible
// through a second mapping of the same pages, and malformed or over-privileged maps fail.
#include "environment.hpp"

namespace kernel_basics {
namespace {

constexpr u64 PAGES = 2;
constexpr u64 ALIAS_ADDRESS = SCRATCH_MAPPING_ADDRESS + 0x100000;
constexpr u32 READ = abi::rights_of(abi::MemoryRight::Read);
constexpr u32 READ_WRITE = abi::rights_of(abi::MemoryRight::Read, abi::MemoryRight::Write);

// Volatile accesses: the compiler must not fold the read through the alias into the write.
u64 read_word(u64 address) { return *reinterpret_cast<volatile u64*>(address); }
void write_word(u64 address, u64 value) { *reinterpret_cast<volatile u64*>(address) = value; }

void mapped_memory_is_zeroed_and_shared_between_mappings(Case& test) {
  Environment& own = environment();
  ScopedSlot memory_slot(test);
  REQUIRE(memory_slot.valid());
  Memory memory = REQUIRE_OK(own.factory.create_memory(memory_slot.selector(), PAGES));
  REQUIRE_OK(own.self_task.map(memory, 0, SCRATCH_MAPPING_ADDRESS, PAGES, READ_WRITE));
  bool zero = true;
  for (u64 offset = 0; offset < PAGES * PAGE_SIZE; offset += 8) zero = zero && read_word(SCRATCH_MAPPING_ADDRESS + offset) == 0;
  EXPECT(zero);
  for (u64 offset = 0; offset < PAGES * PAGE_SIZE; offset += 8)
    write_word(SCRATCH_MAPPING_ADDRESS + offset, 0x5a5a000000000000 | offset);
  // The second page alone, read-only, at another address.
  EXPECT_OK(own.self_task.map(memory, 1, ALIAS_ADDRESS, 1, READ));
  EXPECT_EQ(read_word(ALIAS_ADDRESS), 0x5a5a000000000000 | PAGE_SIZE);
  EXPECT_EQ(read_word(ALIAS_ADDRESS + PAGE_SIZE - 8), 0x5a5a000000000000 | (2 * PAGE_SIZE - 8));
  write_word(SCRATCH_MAPPING_ADDRESS + PAGE_SIZE + 16, 0x1234);
  EXPECT_EQ(read_word(ALIAS_ADDRESS + 16), 0x1234);
  EXPECT_OK(own.self_task.unmap(ALIAS_ADDRESS, 1));
  EXPECT_OK(own.self_task.unmap(SCRATCH_MAPPING_ADDRESS, PAGES));
  // A new mapping after unmapping shows the same contents: the pages belong to the object.
  REQUIRE_OK(own.self_task.map(memory, 0, SCRATCH_MAPPING_ADDRESS, 1, READ));
  EXPECT_EQ(read_word(SCRATCH_MAPPING_ADDRESS + 8), 0x5a5a000000000008);
  EXPECT_OK(own.self_task.unmap(SCRATCH_MAPPING_ADDRESS, 1));
}

void map_rejects_malformed_and_over_privileged_requests(Case& test) {
  Environment& own = environment();
  ScopedSlot memory_slot(test), read_only_slot(test);
  REQUIRE(memory_slot.valid() && read_only_slot.valid());
  Memory memory = REQUIRE_OK(own.factory.create_memory(memory_slot.selector(), PAGES));
  Task task = own.self_task;
  EXPECT_ERROR(task.map(memory, 0, SCRATCH_MAPPING_ADDRESS + 8, 1, READ), Error::InvalidArgument);
  EXPECT_ERROR(task.map(memory, 0, SCRATCH_MAPPING_ADDRESS, 0, READ), Error::InvalidArgument);
  EXPECT_ERROR(task.map(memory, 1, SCRATCH_MAPPING_ADDRESS, PAGES, READ), Error::InvalidArgument);
  EXPECT_ERROR(task.map(memory, PAGES, SCRATCH_MAPPING_ADDRESS, 1, READ), Error::InvalidArgument);
  EXPECT_ERROR(task.map(memory, ~u64{0}, SCRATCH_MAPPING_ADDRESS, 1, READ), Error::InvalidArgument);
  EXPECT_ERROR(task.map(memory, 0, 0, 1, READ), Error::InvalidArgument);
  EXPECT_ERROR(task.map(memory, 0, abi::USER_SPACE_END - PAGE_SIZE, PAGES, READ), Error::InvalidArgument);
  EXPECT_ERROR(task.map(memory, 0, 0xffff800000000000, 1, READ), Error::InvalidArgument);
  EXPECT_ERROR(task.map(memory, 0, SCRATCH_MAPPING_ADDRESS, 1, 8), Error::InvalidArgument);
  // Read is required; Write and Execute exclude each other.
  EXPECT_ERROR(task.map(memory, 0, SCRATCH_MAPPING_ADDRESS, 1, abi::rights_of(abi::MemoryRight::Write)),
               Error::InvalidArgument);
  EXPECT_ERROR(task.map(memory, 0, SCRATCH_MAPPING_ADDRESS, 1, abi::full_rights(ObjectType::Memory)),
               Error::InvalidArgument);
  // A second mapping over the first is refused, and unmapping what is not mapped finds nothing.
  REQUIRE_OK(task.map(memory, 0, SCRATCH_MAPPING_ADDRESS, PAGES, READ_WRITE));
  EXPECT_ERROR(task.map(memory, 0, SCRATCH_MAPPING_ADDRESS + PAGE_SIZE, 1, READ), Error::Busy);
  // Unmapping part of a mapping cuts it: the rest stays mapped, and the hole takes another mapping
  // (here the same page read-only), which one unmap of the whole range removes with the rest.
  write_word(SCRATCH_MAPPING_ADDRESS + PAGE_SIZE, 0x77);
  EXPECT_OK(task.unmap(SCRATCH_MAPPING_ADDRESS + PAGE_SIZE, 1));
  write_word(SCRATCH_MAPPING_ADDRESS, 0x66);
  EXPECT_EQ(read_word(SCRATCH_MAPPING_ADDRESS), 0x66);
  EXPECT_OK(task.map(memory, 1, SCRATCH_MAPPING_ADDRESS + PAGE_SIZE, 1, READ));
  EXPECT_EQ(read_word(SCRATCH_MAPPING_ADDRESS + PAGE_SIZE), 0x77);
  EXPECT_OK(task.unmap(SCRATCH_MAPPING_ADDRESS, PAGES));
  EXPECT_ERROR(task.unmap(SCRATCH_MAPPING_ADDRESS, PAGES), Error::NotFound);
  EXPECT_ERROR(task.unmap(SCRATCH_MAPPING_ADDRESS + 8, 1), Error::InvalidArgument);
  EXPECT_ERROR(task.unmap(0xffff800000000000, 1), Error::InvalidArgument);
  // Mapping rights may not exceed the memory capability's rights.
  REQUIRE_OK(memory.copy_to(read_only_slot.selector(), READ));
  Memory read_only(read_only_slot.selector());
  EXPECT_ERROR(task.map(read_only, 0, SCRATCH_MAPPING_ADDRESS, 1, READ_WRITE), Error::NoRights);
  EXPECT_ERROR(task.map(read_only, 0, SCRATCH_MAPPING_ADDRESS, 1, READ | abi::rights_of(abi::MemoryRight::Execute)),
               Error::NoRights);
  EXPECT_OK(task.map(read_only, 0, SCRATCH_MAPPING_ADDRESS, 1, READ));
  EXPECT_OK(task.unmap(SCRATCH_MAPPING_ADDRESS, 1));
}

// TaskUnmap through its raw call: the error, and where it stopped (o1).
Error unmap_raw(Task task, u64 address, u64 pages, u64& stopped_at) {
  SyscallRegisters registers{address, pages, 0, 0, 0, 0};
  Error error = invoke(abi::Syscall::TaskUnmap, task.selector(), registers);
  stopped_at = registers.argument1;
  return error;
}

// TaskUnmap cuts in one ordered pass: a mapping reaching past both ends becomes two (one more
// record charged), one pass removes the tail of one mapping, a whole one and the head of the
// next across holes, and a mapping reaching past the start keeps its head; every call says it
// stopped at the range's end, the pages left read what they mapped, and the records charged go
// back exactly.
void unmap_cuts_mappings_in_one_ordered_pass(Case& test) {
  Environment& own = environment();
  ScopedSlot memory_slot(test);
  REQUIRE(memory_slot.valid());
  constexpr u64 S = SCRATCH_MAPPING_ADDRESS;
  constexpr u64 P = PAGE_SIZE;
  Memory memory = REQUIRE_OK(own.factory.create_memory(memory_slot.selector(), 8));
  for (u64 page = 0; page < 8; ++page) {
    u64 value = 0x1000 + page;
    REQUIRE_OK(memory.write(page * P, &value, sizeof value));
  }
  Task task = own.self_task;
  u64 base = REQUIRE_OK(own.factory.info()).used_bytes;
  REQUIRE_OK(task.map(memory, 0, S, 3, READ));           // A: pages 0-2 at S .. S+3P.
  u64 after_a = REQUIRE_OK(own.factory.info()).used_bytes;
  REQUIRE_OK(task.map(memory, 3, S + 4 * P, 2, READ));   // B: pages 3-4 at S+4P .. S+6P.
  u64 record = REQUIRE_OK(own.factory.info()).used_bytes - after_a;
  u64 tables = after_a - base - record;
  REQUIRE_OK(task.map(memory, 5, S + 7 * P, 3, READ));   // C: pages 5-7 at S+7P .. S+10P.
  u64 three = REQUIRE_OK(own.factory.info()).used_bytes;
  EXPECT_EQ(three, base + tables + 3 * record);
  u64 stopped_at = 0;

  // The middle page of A: A keeps page 0 and a new record holds page 2.
  EXPECT_EQ(unmap_raw(task, S + P, 1, stopped_at), Error::None);
  EXPECT_EQ(stopped_at, S + 2 * P);
  EXPECT_EQ(REQUIRE_OK(own.factory.info()).used_bytes, three + record);
  EXPECT_EQ(read_word(S), 0x1000);
  EXPECT_EQ(read_word(S + 2 * P), 0x1002);
  EXPECT_OK(task.map(memory, 1, S + P, 1, READ));  // The hole is free again.
  EXPECT_EQ(read_word(S + P), 0x1001);
  EXPECT_OK(task.unmap(S + P, 1));

  // One pass over [S+2P, S+9P): A's tail record and B go, C loses its first two pages.
  EXPECT_EQ(unmap_raw(task, S + 2 * P, 7, stopped_at), Error::None);
  EXPECT_EQ(stopped_at, S + 9 * P);
  EXPECT_EQ(REQUIRE_OK(own.factory.info()).used_bytes, three - record);
  EXPECT_EQ(read_word(S), 0x1000);
  EXPECT_EQ(read_word(S + 9 * P), 0x1007);
  EXPECT_ERROR(task.unmap(S + 2 * P, 7), Error::NotFound);
  EXPECT_ERROR(task.map(memory, 0, S + 9 * P, 1, READ), Error::Busy);

  // D reaches past the start of [S+14P, S+20P): it keeps its head.
  REQUIRE_OK(task.map(memory, 0, S + 12 * P, 4, READ));  // D: pages 0-3 at S+12P .. S+16P.
  EXPECT_EQ(unmap_raw(task, S + 14 * P, 6, stopped_at), Error::None);
  EXPECT_EQ(stopped_at, S + 20 * P);
  EXPECT_EQ(read_word(S + 13 * P), 0x1001);
  EXPECT_OK(task.map(memory, 2, S + 14 * P, 1, READ));
  EXPECT_OK(task.unmap(S + 14 * P, 1));

  // Everything at once; the records all went back (the page tables stay with the task).
  EXPECT_EQ(unmap_raw(task, S, 20, stopped_at), Error::None);
  EXPECT_EQ(stopped_at, S + 20 * P);
  EXPECT_ERROR(task.unmap(S, 20), Error::NotFound);
  EXPECT_EQ(REQUIRE_OK(own.factory.info()).used_bytes, base + tables);
}

// MemoryWrite, MemoryRead and MemoryCopy move bytes without mappings, across page boundaries,
// and check rights, ranges and the caller's pointers first.
void memory_copies_without_mapping(Case& test) {
  Environment& own = environment();
  ScopedSlot first_slot(test), second_slot(test), reduced_slot(test);
  REQUIRE(first_slot.valid() && second_slot.valid() && reduced_slot.valid());
  Memory first = REQUIRE_OK(own.factory.create_memory(first_slot.selector(), PAGES));
  Memory second = REQUIRE_OK(own.factory.create_memory(second_slot.selector(), PAGES));
  static char text[64] = "crossing a page boundary, byte by byte";
  u64 length = 40;
  u64 offset = PAGE_SIZE - 13;  // The write spans both pages.
  EXPECT_OK(first.write(offset, text, length));
  EXPECT_OK(second.copy_from(100, first, offset, length));
  static char back[64] = {};
  EXPECT_OK(second.read(100, back, length));
  bool same = true;
  for (u64 i = 0; i < length; ++i) same = same && back[i] == text[i];
  EXPECT(same);
  // Whole pages take the fast path; the result must be the same.
  EXPECT_OK(second.copy_from(0, first, 0, PAGES * PAGE_SIZE));
  static char page_back[64] = {};
  EXPECT_OK(second.read(offset, page_back, length));
  same = true;
  for (u64 i = 0; i < length; ++i) same = same && page_back[i] == text[i];
  EXPECT(same);
  // Ranges beyond the object, overflowing ranges and bad user pointers are refused.
  EXPECT_ERROR(first.write(PAGES * PAGE_SIZE - 1, text, 2), Error::InvalidArgument);
  EXPECT_ERROR(first.write(~u64{0}, text, 2), Error::InvalidArgument);
  EXPECT_ERROR(first.read(0, reinterpret_cast<void*>(0xffff800000000000), 8), Error::InvalidArgument);
  EXPECT_ERROR(first.write(0, reinterpret_cast<const void*>(0x8), 8), Error::InvalidArgument);
  EXPECT_ERROR(second.copy_from(PAGES * PAGE_SIZE - 4, first, 0, 8), Error::InvalidArgument);
  // Rights: writing needs Write on the target, reading (and being a copy source) needs Read.
  REQUIRE_OK(first.copy_to(reduced_slot.selector(), READ));
  Memory read_only(reduced_slot.selector());
  EXPECT_ERROR(read_only.write(0, text, 1), Error::NoRights);
  EXPECT_OK(read_only.read(0, back, 1));
  EXPECT_ERROR(read_only.copy_from(0, second, 0, 1), Error::NoRights);
  EXPECT_OK(second.copy_from(0, read_only, 0, 1));
  EXPECT_ERROR(first.copy_from(0, Memory(CONSOLE), 0, 1), Error::WrongType);
}

// A lazy (demand-zero) Memory of 1 GiB costs almost nothing until touched; each first touch of a
// page charges exactly one page (after the first touch in a 2 MiB span paid its leaf and page
// table), another mapping sees the same frame, and MemoryDecommit gives the frames back (and the
// leaf, when the range covers all 512 pages of it): the next touch reads zero again. MemoryRead
// reads it without touching it.
void lazy_memory_is_charged_when_touched(Case& test) {
  Environment& own = environment();
  ScopedSlot memory_slot(test), plain_slot(test), reduced_slot(test);
  REQUIRE(memory_slot.valid() && plain_slot.valid() && reduced_slot.valid());
  constexpr u64 S = SCRATCH_MAPPING_ADDRESS;  // 2 MiB aligned: pages 0-511 share one page table.
  constexpr u64 P = PAGE_SIZE;
  constexpr u64 GIB_PAGES = u64{1} << 18;
  u64 base = REQUIRE_OK(own.factory.info()).used_bytes;
  Memory memory = REQUIRE_OK(own.factory.create_lazy_memory(memory_slot.selector(), GIB_PAGES));
  u64 reserved = REQUIRE_OK(own.factory.info()).used_bytes;
  // The object and a 4 KiB directory of leaves: nothing per page.
  EXPECT(reserved - base <= 2 * P);
  Task task = own.self_task;
  REQUIRE_OK(task.map(memory, 0, S, GIB_PAGES, READ_WRITE));
  u64 mapped = REQUIRE_OK(own.factory.info()).used_bytes;
  EXPECT(mapped - reserved < P);  // The mapping's record; no page is mapped yet.
  EXPECT_EQ(read_word(S), 0u);
  u64 first = REQUIRE_OK(own.factory.info()).used_bytes;
  EXPECT(first - mapped >= 2 * P);  // The frame and its leaf (and page tables as needed).
  for (u64 page = 1; page < 10; ++page) write_word(S + page * P + 8, 0x4c00 + page);
  EXPECT_EQ(REQUIRE_OK(own.factory.info()).used_bytes, first + 9 * P);
  // MemoryResidency tells which pages have frames, touching none: pages 0-9 (read and written).
  EXPECT_EQ(REQUIRE_OK(memory.residency(0, 64)), 0x3ffu);
  EXPECT_EQ(REQUIRE_OK(memory.residency(9, 2)), 1u);
  EXPECT_EQ(REQUIRE_OK(own.factory.info()).used_bytes, first + 9 * P);
  EXPECT_ERROR(memory.residency(0, 0), Error::InvalidArgument);
  EXPECT_ERROR(memory.residency(0, 65), Error::InvalidArgument);
  EXPECT_ERROR(memory.residency(GIB_PAGES - 1, 2), Error::InvalidArgument);
  // Far away in the same object: another leaf and page table, still nothing in between.
  write_word(S + (GIB_PAGES - 1) * P, 0x77);
  EXPECT_EQ(read_word(S + (GIB_PAGES - 1) * P), 0x77u);
  // A second mapping, read-only, sees the same frames and pays no page.
  constexpr u64 ALIAS = S + 0x100000;  // Inside S's 2 MiB page table, past page 255.
  static_assert(ALIAS == S + 256 * P);
  REQUIRE_OK(task.unmap(ALIAS, 16));  // Cut a hole in the first mapping for it.
  REQUIRE_OK(task.map(memory, 0, ALIAS, 16, READ));
  u64 aliased = REQUIRE_OK(own.factory.info()).used_bytes;
  EXPECT_EQ(read_word(ALIAS + 5 * P + 8), 0x4c05u);
  EXPECT_EQ(REQUIRE_OK(own.factory.info()).used_bytes, aliased);
  // Decommit needs Write; only lazy objects have it; ranges are checked.
  REQUIRE_OK(memory.copy_to(reduced_slot.selector(), READ));
  EXPECT_ERROR(Memory(reduced_slot.selector()).decommit(0, 1), Error::NoRights);
  EXPECT_ERROR(memory.decommit(GIB_PAGES, 1), Error::InvalidArgument);
  EXPECT_ERROR(memory.decommit(1, GIB_PAGES), Error::InvalidArgument);
  EXPECT_ERROR(memory.decommit(0, 0), Error::InvalidArgument);
  Memory plain = REQUIRE_OK(own.factory.create_memory(plain_slot.selector(), 1));
  EXPECT_ERROR(plain.decommit(0, 1), Error::InvalidArgument);
  // MemoryRead reads a lazy object as a mapping shows it, an untouched page as zero, and gives
  // that page no frame; writes need frames that exist: refused.
  u64 unread = REQUIRE_OK(own.factory.info()).used_bytes;
  u64 words[3] = {~u64{0}, ~u64{0}, ~u64{0}};
  EXPECT_OK(memory.read(9 * P + 8, words, 8));
  EXPECT_EQ(words[0], 0x4c09u);
  words[0] = ~u64{0};
  EXPECT_OK(memory.read(10 * P - 16, words, sizeof words));  // Page 9's last two words, page 10's first.
  EXPECT(words[0] == 0 && words[1] == 0 && words[2] == 0);
  words[2] = ~u64{0};
  EXPECT_OK(memory.read((GIB_PAGES - 1) * P, &words[2], 8));
  EXPECT_EQ(words[2], 0x77u);
  EXPECT_EQ(REQUIRE_OK(memory.residency(10, 1)), 0u);
  EXPECT_EQ(REQUIRE_OK(own.factory.info()).used_bytes, unread);
  EXPECT_ERROR(memory.read(GIB_PAGES * P - 8, words, 16), Error::InvalidArgument);  // Beyond the object.
  u64 word = 0;
  EXPECT_ERROR(memory.write(0, &word, sizeof word), Error::InvalidArgument);
  // All 512 pages of the first leaf: ten frames and the leaf go back, from both mappings.
  u64 before = REQUIRE_OK(own.factory.info()).used_bytes;
  EXPECT_OK(memory.decommit(0, 512));
  EXPECT_EQ(REQUIRE_OK(own.factory.info()).used_bytes, before - 11 * P);
  EXPECT_EQ(REQUIRE_OK(memory.residency(0, 64)), 0u);
  EXPECT_EQ(REQUIRE_OK(Memory(reduced_slot.selector()).residency(GIB_PAGES - 1, 1)), 1u);  // Read is enough.
  EXPECT_EQ(REQUIRE_OK(plain.residency(0, 1)), 1u);  // Not lazy: every page has its frame.
  EXPECT_EQ(read_word(ALIAS + 5 * P + 8), 0u);
  EXPECT_EQ(read_word(S + 5 * P + 8), 0u);  // The same new frame through the other mapping.
  EXPECT_EQ(REQUIRE_OK(own.factory.info()).used_bytes, before - 9 * P);
  EXPECT_EQ(read_word(S + (GIB_PAGES - 1) * P), 0x77u);  // Outside the range: kept.
  // The kernel's own copies into untouched pages commit them too (MemoryRead into a lazy page).
  EXPECT_OK(plain.read(0, reinterpret_cast<void*>(S + 20 * P), 8));
  EXPECT_EQ(REQUIRE_OK(own.factory.info()).used_bytes, before - 8 * P);
  // Commit: frames ahead of the touch, each charged once; a quota that cannot pay says so.
  u64 committed = REQUIRE_OK(own.factory.info()).used_bytes;
  EXPECT_OK(memory.commit(20, 4));  // Page 20 has its frame already: three more.
  EXPECT_EQ(REQUIRE_OK(own.factory.info()).used_bytes, committed + 3 * P);
  EXPECT_EQ(read_word(S + 22 * P), 0u);
  EXPECT_EQ(REQUIRE_OK(own.factory.info()).used_bytes, committed + 3 * P);
  EXPECT_ERROR(memory.commit(GIB_PAGES - 1, 2), Error::InvalidArgument);
  EXPECT_ERROR(plain.commit(0, 1), Error::InvalidArgument);
  EXPECT_ERROR(Memory(reduced_slot.selector()).commit(0, 1), Error::NoRights);
  EXPECT_ERROR(memory.commit(0, GIB_PAGES), Error::QuotaExceeded);  // 1 GiB against a 16 MiB quota.
  EXPECT_OK(memory.decommit(0, GIB_PAGES));  // Everything back, in as many calls as needed.
  EXPECT(REQUIRE_OK(own.factory.info()).used_bytes < committed);
  EXPECT_OK(task.unmap(ALIAS, 16));
  EXPECT_OK(task.unmap(S, GIB_PAGES));
}

// MemoryCopyCommitted (a fork's copy of a lazy object): only the source's touched pages are copied
// and charged, each exactly once, with their bytes; untouched pages stay untouched in the target;
// rights, object kinds, ranges and the target's quota are checked.
void lazy_memory_copies_only_touched_pages(Case& test) {
  Environment& own = environment();
  ScopedSlot source_slot(test), target_slot(test), plain_slot(test), reduced_slot(test), factory_slot(test),
      small_slot(test);
  REQUIRE(source_slot.valid() && target_slot.valid() && plain_slot.valid() && reduced_slot.valid() &&
          factory_slot.valid() && small_slot.valid());
  constexpr u64 S = SCRATCH_MAPPING_ADDRESS;
  constexpr u64 P = PAGE_SIZE;
  constexpr u64 GIB_PAGES = u64{1} << 18;
  Task task = own.self_task;
  Memory source = REQUIRE_OK(own.factory.create_lazy_memory(source_slot.selector(), GIB_PAGES));
  REQUIRE_OK(task.map(source, 0, S, GIB_PAGES, READ_WRITE));
  // Three touched pages in three leaves (0, 1 and the last): page 3, page 600, the last page.
  const u64 touched[] = {3, 600, GIB_PAGES - 1};
  for (u64 page : touched) {
    write_word(S + page * P, 0x6b00 + page);
    write_word(S + page * P + P - 8, ~page);
  }
  Memory target = REQUIRE_OK(own.factory.create_lazy_memory(target_slot.selector(), GIB_PAGES));
  u64 before = REQUIRE_OK(own.factory.info()).used_bytes;
  EXPECT_OK(target.copy_committed_from(source, 0, GIB_PAGES));
  // Three frames and three leaves of frame addresses: nothing for the 262,141 untouched pages.
  u64 copied = REQUIRE_OK(own.factory.info()).used_bytes;
  EXPECT_EQ(copied, before + 6 * P);
  // Copying again charges nothing: the target's pages have their frames; the bytes are rewritten.
  EXPECT_OK(target.copy_committed_from(source, 0, GIB_PAGES));
  EXPECT_EQ(REQUIRE_OK(own.factory.info()).used_bytes, copied);
  EXPECT_OK(task.unmap(S, GIB_PAGES));
  REQUIRE_OK(task.map(target, 0, S, GIB_PAGES, READ_WRITE));
  for (u64 page : touched) {
    EXPECT_EQ(read_word(S + page * P), 0x6b00 + page);
    EXPECT_EQ(read_word(S + page * P + P - 8), ~page);
  }
  EXPECT_EQ(read_word(S + 4 * P), 0u);  // Untouched in the source: zero in the target too.
  // A part of the range: only page 600 lies in [512, 1024).
  EXPECT_OK(target.decommit(0, GIB_PAGES));
  u64 empty = REQUIRE_OK(own.factory.info()).used_bytes;
  EXPECT_OK(target.copy_committed_from(source, 512, 512));
  EXPECT_EQ(REQUIRE_OK(own.factory.info()).used_bytes, empty + 2 * P);
  EXPECT_EQ(read_word(S + 600 * P), 0x6b00u + 600);
  EXPECT_EQ(read_word(S + 3 * P), 0u);
  // Rights: Write on the target, Read on the source.
  REQUIRE_OK(target.copy_to(reduced_slot.selector(), READ));
  EXPECT_ERROR(Memory(reduced_slot.selector()).copy_committed_from(source, 0, 1), Error::NoRights);
  EXPECT_OK(Memory(reduced_slot.selector()).remove());
  REQUIRE_OK(source.copy_to(reduced_slot.selector(), abi::rights_of(abi::MemoryRight::Write)));
  EXPECT_ERROR(target.copy_committed_from(Memory(reduced_slot.selector()), 0, 1), Error::NoRights);
  EXPECT_ERROR(target.copy_committed_from(Memory(CONSOLE), 0, 1), Error::WrongType);
  // Both objects lazy, the range inside both, not empty.
  Memory plain = REQUIRE_OK(own.factory.create_memory(plain_slot.selector(), 1));
  EXPECT_ERROR(target.copy_committed_from(plain, 0, 1), Error::InvalidArgument);
  EXPECT_ERROR(plain.copy_committed_from(source, 0, 1), Error::InvalidArgument);
  EXPECT_ERROR(target.copy_committed_from(source, GIB_PAGES - 1, 2), Error::InvalidArgument);
  EXPECT_ERROR(target.copy_committed_from(source, 0, 0), Error::InvalidArgument);
  // The target's factory pays: one whose quota holds the object but not the copies refuses them.
  Factory small = REQUIRE_OK(own.factory.create_factory(factory_slot.selector(), 3 * P));
  Memory poor = REQUIRE_OK(small.create_lazy_memory(small_slot.selector(), GIB_PAGES));
  u64 used = REQUIRE_OK(own.factory.info()).used_bytes;
  EXPECT_ERROR(poor.copy_committed_from(source, 0, GIB_PAGES), Error::QuotaExceeded);
  EXPECT_EQ(REQUIRE_OK(own.factory.info()).used_bytes, used);  // The parent factory paid nothing.
  EXPECT_OK(task.unmap(S, GIB_PAGES));
}

}  // namespace

extern const test::TestEntry MEMORY_TESTS[] = {
    {"lazy_memory_copies_only_touched_pages", lazy_memory_copies_only_touched_pages},
    {"lazy_memory_is_charged_when_touched", lazy_memory_is_charged_when_touched},
    {"memory_copies_without_mapping", memory_copies_without_mapping},
    {"mapped_memory_is_zeroed_and_shared_between_mappings", mapped_memory_is_zeroed_and_shared_between_mappings},
    {"map_rejects_malformed_and_over_privileged_requests", map_rejects_malformed_and_over_privileged_requests},
    {"unmap_cuts_mappings_in_one_ordered_pass", unmap_cuts_mappings_in_one_ordered_pass},
};
extern const usize MEMORY_TEST_COUNT = sizeof MEMORY_TESTS / sizeof MEMORY_TESTS[0];

}  // namespace kernel_basics
