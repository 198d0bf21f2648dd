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

u64 milliseconds(u64 start, u64 end) { return elapsed_nanoseconds(start, end) / 1'000'000; }

}  // namespace
}  // namespace kernel_adversarial
