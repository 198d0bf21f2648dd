// The kernel lock: one lock serializes all kernel work on kernel objects across CPUs.
// Invariant: a CPU holds it from entry (system call, user trap, interrupt) until it returns, and
// holds it across every switch_context, so the thread switched to releases it on its own way out.
// A CPU spinning for it keeps answering TLB shootdowns, so the holder can wait for them.
// A CPU asking again for the lock it holds, or waiting for it 30 s, panics naming the holder and
// where it took the lock, instead of hanging every CPU silently.
#pragma once

namespace kernel {

void kernel_lock_acquire();
void kernel_lock_release();

}  // namespace kernel

extern "C" void kernel_lock_release_for_new_thread();
