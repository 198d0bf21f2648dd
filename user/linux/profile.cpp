// Profiling of a Linux invocation (docs/BENCHMARKS.md, "Where cold_invoke_go_hello goes"): with
// -DMETTEAGLE_LINUX_PROFILE=ON the personality records each system call (thread, number, TSC at
// entry, ticks spent, ticks waited) and, at exit, logs a summary per call and the timeline; under
// icount one TSC tick is one guest instruction. Off (the default) every function here is empty.
// Invariant: recording never blocks and never allocates; records past PROFILE_RECORDS are counted,
// not kept.
#include "personality.hpp"

#ifndef METTEAGLE_LINUX_PROFILE
#define METTEAGLE_LINUX_PROFILE 0
#endif

namespace personality {
namespace {

struct ProfileRecord {
  u32 number;
  u32 tid;
  u64 entered;
  u64 spent;
  u64 waited;
};

constexpr usize PROFILE_RECORDS = 16384;
ProfileRecord records[METTEAGLE_LINUX_PROFILE ? PROFILE_RECORDS : 1];
u64 record_count = 0;
u64 started_at = 0;
u64 bytes_at_start = 0;

u64 factory_bytes_used() {
  sys::SyscallRegisters registers{};
  if (sys::invoke(abi::Syscall::FactoryInfo, manager::FUNCTION_FACTORY, registers) != sys::Error::None) return 0;
  return registers.argument2;
}

}  // namespace

void profile_start() {
  if constexpr (METTEAGLE_LINUX_PROFILE) {
    started_at = read_tsc();
    bytes_at_start = factory_bytes_used();
  }
}

void profile_record(u64 number, u64 tid, u64 entered, u64 spent, u64 waited) {
  if constexpr (METTEAGLE_LINUX_PROFILE) {
    u64 index = __atomic_fetch_add(&record_count, 1, __ATOMIC_RELAXED);
    if (index < PROFILE_RECORDS)
      records[index] = {static_cast<u32>(number), static_cast<u32>(tid), entered, spent, waited};
  }
}

void profile_report() {
  if constexpr (METTEAGLE_LINUX_PROFILE) {
    u64 ended = read_tsc();
    u64 count = record_count < PROFILE_RECORDS ? record_count : PROFILE_RECORDS;
    u64 total_spent = 0, total_waited = 0;
    for (usize i = 0; i < count; ++i) {
      total_spent += records[i].spent;
      total_waited += records[i].waited;
    }
    // The long calls (over 20,000 ticks): tid, number, start since the personality started, spent, waited.
    for (usize i = 0; i < count; ++i)
      if (records[i].spent > 20'000)
        logf("profile: t %u %u %lu %lu %lu\n", records[i].tid, records[i].number, records[i].entered - started_at,
             records[i].spent, records[i].waited);
    // Per call number: count, ticks spent (waits included), ticks waited.
    static bool done[METTEAGLE_LINUX_PROFILE ? PROFILE_RECORDS : 1];
    for (usize i = 0; i < count; ++i) {
      if (done[i]) continue;
      u64 calls = 0, spent = 0, waited = 0;
      for (usize j = i; j < count; ++j) {
        if (records[j].number != records[i].number) continue;
        done[j] = true;
        ++calls;
        spent += records[j].spent;
        waited += records[j].waited;
      }
      logf("profile: call %u x%lu spent %lu waited %lu\n", records[i].number, calls, spent, waited);
    }
    // Per thread: calls, ticks in calls and waiting, first and last call.
    for (u32 tid = 1; tid <= 8; ++tid) {
      u64 calls = 0, spent = 0, waited = 0, first = 0, last = 0;
      for (usize i = 0; i < count; ++i) {
        if (records[i].tid != tid) continue;
        if (calls++ == 0) first = records[i].entered - started_at;
        last = records[i].entered + records[i].spent - started_at;
        spent += records[i].spent;
        waited += records[i].waited;
      }
      if (calls > 0)
        logf("profile: tid %u x%lu spent %lu waited %lu from %lu to %lu\n", tid, calls, spent, waited, first, last);
    }
    logf("profile: %lu ticks from start to exit, %lu calls, %lu ticks in calls of which %lu waiting, "
         "%lu bytes charged since start\n",
         ended - started_at, record_count, total_spent, total_waited, factory_bytes_used() - bytes_at_start);
    // Pages with a frame in the personality's chunks (brk, mmap, fixed): each was one demand-zero
    // fault unless the personality committed it for itself.
    u64 resident = 0;
    for (usize i = 0; i < memory_chunk_count(); ++i) {
      MemoryChunk chunk = memory_chunk(i);
      for (u64 page = 0; page < chunk.pages; page += 64) {
        u64 pages = chunk.pages - page < 64 ? chunk.pages - page : 64;
        sys::SyscallRegisters registers{page, pages, 0, 0, 0, 0};
        if (sys::invoke(abi::Syscall::MemoryResidency, chunk.slot, registers) != sys::Error::None) continue;
        for (u64 bits = registers.argument1; bits != 0; bits &= bits - 1) ++resident;
      }
    }
    logf("profile: %lu chunks, %lu resident pages in them\n", memory_chunk_count(), resident);
  }
}

}  // namespace personality
