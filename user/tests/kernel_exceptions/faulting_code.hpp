// The child-side code of the exception cases: entry points that fault in one precise way, each at
// an instruction whose address is exported, and the reports they send when they get past it.
// Invariant: every faulting instruction has a global label, so the handler can compare rip exactly.
#pragma once

#include "../support/child_task.hpp"

namespace kernel_exceptions {

using namespace support;

// Selectors in the child's capability space.
constexpr u64 CHILD_REPORT = 8;   // Endpoint, Send: where child threads report.
constexpr u64 CHILD_SERVICE = 9;  // Endpoint, Receive: the echo service of echo_entry.

// Addresses in the child's address space.
constexpr u64 UNMAPPED_ADDRESS = 0x0000000070000000;  // Never mapped.
constexpr u64 READ_ONLY_ADDRESS = 0x0000000070100000;  // Mapped read-only by the case.
constexpr u64 REPAIRED_ADDRESS = 0x0000000070200000;   // Mapped by the handler during the fault.
constexpr u64 NON_CANONICAL_ADDRESS = 0x8000000000000000;

enum ReportLabel : u32 {
  REPORT_AFTER_FAULT = 0x51,  // The faulting instruction completed; word 0: the value it read.
  REPORT_RESUMED_AT = 0x52,   // resumed_entry ran.
  REPORT_ECHO = 0x53,         // echo_entry's answer label.
};

// Each reads, writes or executes as its name says, then reports REPORT_AFTER_FAULT and exits.
void read_entry(u64 address);
void write_entry(u64 address);
void invalid_opcode_entry(u64 unused);
void divide_entry(u64 unused);
void breakpoint_entry(u64 unused);
// Where a handler's ResumeAt sends a thread: reports REPORT_RESUMED_AT and exits.
void resumed_entry(u64 unused);
// Answers every call on CHILD_SERVICE with REPORT_ECHO and word 0 + 1, forever.
void echo_entry(u64 unused);

}  // namespace kernel_exceptions

// The exported instruction addresses (defined in inline assembly in faulting_code.cpp).
extern "C" char exception_read_instruction[];
extern "C" char exception_write_instruction[];
extern "C" char exception_invalid_opcode_instruction[];
extern "C" char exception_divide_instruction[];
extern "C" char exception_breakpoint_instruction[];
extern "C" char exception_after_breakpoint[];
