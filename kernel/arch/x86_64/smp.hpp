// Multiprocessor support: starting APs, inter-processor interrupts, TLB shootdown.
#pragma once

#include <atomic>

#include "lib/types.hpp"

namespace arch {
using namespace klib;

constexpr u32 MAX_CPUS = 8;
// Priority class 0xf (vectors 0xf0-0xff) is what a CPU halted in a shootdown's wait still takes
// (halt_until_urgent_interrupt): the shootdown itself and the wake. Everything that needs the
// kernel lock is below it.
constexpr u8 VECTOR_RESCHEDULE = 0xe0;
constexpr u8 VECTOR_SHOOTDOWN = 0xf1;
// Ends a halt in a wait (for the kernel lock's turn, or for a shootdown's answers); it carries no
// work of its own.
constexpr u8 VECTOR_WAKE = 0xf2;

// Starts up to wanted - 1 APs; each runs entry(index) on a stack from allocate_stack (its top).
// Returns how many CPUs are online afterwards.
u32 start_application_processors(u32 wanted, u64 (*allocate_frame)(), u64 (*allocate_stack)(), void (*entry)(u32));
void announce_online();
void record_apic_id(u32 cpu_index);
extern std::atomic<u32> online_cpus;
inline u32 online_cpu_count() { return online_cpus.load(std::memory_order_relaxed); }
u32 local_apic_id();

void send_reschedule(u32 cpu_index);
void send_wake(u32 cpu_index);
// Before this returns, every other CPU that runs on page-table root has flushed its TLB (root's
// tables stay: its threads go on) or, with leave, switched to the kernel's tables (root's tables
// are about to be freed; whatever ran on them is dead and faults or reschedules on its way out).
// With root SHOOTDOWN_EVERY_ROOT (never leave), every other CPU flushes whatever it runs on: one
// round of interrupts covers translations of any number of address spaces.
void shootdown(u32 self_index, u64 root, bool leave);
constexpr u64 SHOOTDOWN_EVERY_ROOT = 0;
// Records which root a CPU runs on (address_space_activate calls it).
void note_active_root(u32 cpu_index, u64 root);
// The receiving side, from the shootdown interrupt or while spinning for the kernel lock.
void handle_shootdown(u32 cpu_index);

}  // namespace arch
