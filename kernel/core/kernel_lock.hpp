// The kernel lock: one lock serializes all kernel work on kernel objects across CPUs.
// Invariant: a CPU holds it from entry (system call, user trap, interrupt) until it returns, and
// holds it across every switch_context, so the thread switched to releases it on its own way out.
// A CPU spinning for it keeps answering TLB shootdowns, so the holder can wait for them.
// A CPU that waits long halts until the releaser wakes it (VECTOR_WAKE); interrupts that arrive
// meanwhile are deferred until it holds the lock (kernel_lock_halted_here, run_deferred_interrupts).
// A CPU asking again for the lock it holds, or waiting for it 30 s, panics naming the holder and
// where it took the lock, instead of hanging every CPU silently.
#pragma once

#include "lib/types.hpp"

namespace kernel {

void kernel_lock_acquire();
void kernel_lock_release();
// True while this CPU is halted in the lock's wait (read by the trap dispatcher).
bool kernel_lock_halted_here();
// How many halts waiters began, and how many times the lock was released (its ticket counter).
klib::u64 kernel_lock_halts();
klib::u32 kernel_lock_turns();

}  // namespace kernel

extern "C" void kernel_lock_release_for_new_thread();
