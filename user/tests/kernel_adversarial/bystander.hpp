// Bystander: a thread on the other CPU that makes system calls back to back and records the
// longest time between two of them, the liveness figure of the flood cases (mapping_flood.cpp,
// capability_flood.cpp). Each including file has its own (the header is for one file each).
// Invariant: longest_gap only grows while stop is 0; done is set once the thread stopped calling.
#pragma once

#include "../support/local_thread.hpp"

namespace kernel_adversarial {
namespace {

using namespace support;

struct Bystander {
  volatile u64 stop;
  volatile u64 calls;
  volatile u64 longest_gap;  // TSC ticks (ThreadSelf reports the TSC at kernel entry).
  volatile u64 done;
  u64 parking;               // An endpoint nobody sends to: where the thread waits afterwards.
};
Bystander bystander;

void bystander_entry(u64) {
  u64 previous = thread_self().timestamp;
  while (bystander.stop == 0) {
    u64 now = thread_self().timestamp;
    if (now - previous > bystander.longest_gap) bystander.longest_gap = now - previous;
    previous = now;
    bystander.calls = bystander.calls + 1;
  }
  bystander.done = 1;
  Message message;
  (void)Endpoint(bystander.parking).receive(message);
}

[[maybe_unused]] u64 milliseconds(u64 start, u64 end) { return elapsed_nanoseconds(start, end) / 1'000'000; }

// Stops the bystander (it must stop calling within REPORT_TIMEOUT), logs the longest bounded gap
// (`longest`, TSC ticks) for `phases` and returns it in nanoseconds.
u64 stop_bystander(Case& test, u64 longest, const char* phases) {
  bystander.stop = 1;
  u64 waited = 0;
  while (bystander.done == 0 && waited < REPORT_TIMEOUT) {
    pause_for(1'000'000);
    waited += 1'000'000;
  }
  EXPECT_EQ(bystander.done, 1);
  u64 gap = elapsed_nanoseconds(0, longest);
  Console console(CONSOLE);
  sys::printf(console, "# longest gap between two system calls on CPU 1 during %s: %lu us (%lu calls)\n", phases,
              gap / 1000, bystander.calls);
  return gap;
}

// Runs a flood (`attempt` stores its longest bounded gap in nanoseconds) and expects the gap below
// `bound`. A gap at or above the bound is measured once more with a fresh flood: a stall the kernel
// causes (one call holding the lock for seconds) repeats in every attempt, while a host that
// descheduled the vCPU thread for a second (seen under TCG on a loaded 2-core host, in phases
// whose calls are all short) rarely does so twice. Both attempts' gaps are logged.
template <typename Attempt>
void expect_liveness(Case& test, Attempt attempt, u64 bound) {
  Console console(CONSOLE);
  u64 gap = 0;
  attempt(test, gap);
  if (gap >= bound && !test.failed()) {
    sys::printf(console, "# longest gap %lu ms reached the bound of %lu ms: flooding once more\n", gap / 1'000'000,
                bound / 1'000'000);
    gap = 0;
    attempt(test, gap);
  }
  EXPECT(gap < bound);
}

}  // namespace
}  // namespace kernel_adversarial
