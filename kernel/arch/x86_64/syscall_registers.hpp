// SyscallRegisters: the x86-64 system-call convention of abi/syscall.hpp over a saved TrapFrame,
// and the few other register roles generic code needs (a thread's entry point, its resumption).
// Invariant: this file and the rest of kernel/arch/x86_64 are the only kernel code that names a
// register; generic code reads arguments, writes outputs, messages and errors through here.
#pragma once

#include "abi/syscall.hpp"
#include "arch/x86_64/platform.hpp"

namespace arch {

// A message as it travels in registers: the tag and words 0-3.
struct MessageRegisters {
  u64 tag;
  u64 words[metteagle::abi::REGISTER_WORDS];
};

class SyscallRegisters {
 public:
  explicit SyscallRegisters(TrapFrame& frame) : frame_(&frame) {}

  u64 operation() const { return frame_->rax; }
  u64 selector() const { return frame_->rdi; }

  // Argument Index (1-5) in ABI order; any other index does not compile.
  template <u32 Index>
  u64 argument() const {
    return *slot<Index>();
  }
  // A call that continues in the next kernel entry leaves its arguments advanced.
  template <u32 Index>
  void set_argument(u64 value) {
    *slot<Index>() = value;
  }
  // Output Index (1-5) travels in the register of argument Index.
  template <u32 Index>
  void set_output(u64 value) {
    *slot<Index>() = value;
  }

  u64 timeout() const { return frame_->r12; }
  void set_error(metteagle::abi::Error error) { frame_->rax = static_cast<u64>(error); }

  MessageRegisters message() const { return {frame_->rsi, {frame_->rdx, frame_->r10, frame_->r8, frame_->r9}}; }
  // A received message: tag, words 0-3 and the badge of the capability it came through.
  void set_message(u64 tag, const u64 (&words)[metteagle::abi::REGISTER_WORDS], u64 badge) {
    frame_->rsi = tag;
    frame_->rdx = words[0];
    frame_->r10 = words[1];
    frame_->r8 = words[2];
    frame_->r9 = words[3];
    frame_->r12 = badge;
  }

  // Makes the thread enter operation again, with its registers as they are, when it returns to
  // user mode: `syscall` is two bytes (0f 05) and left rip just past itself.
  void restart(metteagle::abi::Syscall operation) {
    frame_->rip -= 2;
    frame_->rax = static_cast<u64>(operation);
  }

 private:
  template <u32 Index>
  u64* slot() const {
    static_assert(Index >= 1 && Index <= 5, "system calls have arguments 1 to 5");
    if constexpr (Index == 1) return &frame_->rsi;
    else if constexpr (Index == 2) return &frame_->rdx;
    else if constexpr (Index == 3) return &frame_->r10;
    else if constexpr (Index == 4) return &frame_->r8;
    else return &frame_->r9;
  }

  TrapFrame* frame_;
};

// Where a user thread is: its instruction and stack pointers.
inline u64 user_instruction_pointer(const TrapFrame& frame) { return frame.rip; }
inline u64 user_stack_pointer(const TrapFrame& frame) { return frame.rsp; }
// Sets where a user thread continues (a resumed exception, a started thread).
inline void set_user_position(TrapFrame& frame, u64 instruction_pointer, u64 stack_pointer) {
  frame.rip = instruction_pointer;
  frame.rsp = stack_pointer;
}
// A thread's first instruction, stack, and the one argument it starts with (rdi).
inline void set_user_entry(TrapFrame& frame, u64 instruction_pointer, u64 stack_pointer, u64 argument) {
  set_user_position(frame, instruction_pointer, stack_pointer);
  frame.rdi = argument;
}
// A new user thread's frame: user code and stack segments, interrupts on, nothing else.
inline void initialize_user_frame(TrapFrame& frame) {
  frame = {};
  frame.cs = 0x2b;
  frame.ss = 0x23;
  frame.rflags = 0x202;
}

// Carry, parity, adjust, zero, sign, direction and overflow: what a user program may set.
constexpr u64 USER_FLAGS = 0x0cd5;
constexpr u64 ALWAYS_SET_FLAGS = 0x202;  // Interrupts on, and the reserved bit 1.

// A personality's view of a redirected `syscall`: every register as the instruction left them.
inline metteagle::abi::PersonalityRegisters personality_registers(const TrapFrame& frame) {
  return {frame.rax, frame.rbx, frame.rcx, frame.rdx, frame.rsi, frame.rdi, frame.rbp, frame.r8, frame.r9, frame.r10,
          frame.r11, frame.r12, frame.r13, frame.r14, frame.r15, frame.rip, frame.rflags, frame.rsp};
}
// Enters a personality handler: its entry, its stack, the address of the saved registers (rdi)
// and why it is entered (rsi: PERSONALITY_ENTRY_SYSCALL or PERSONALITY_ENTRY_INTERRUPT).
inline void enter_personality(TrapFrame& frame, u64 entry, u64 stack, u64 saved_registers_address, u64 reason) {
  set_user_entry(frame, entry, stack, saved_registers_address);
  frame.rsi = reason;
}
// Where registers a handler left would resume.
inline u64 saved_instruction_pointer(const metteagle::abi::PersonalityRegisters& saved) { return saved.rip; }
inline u64 saved_stack_pointer(const metteagle::abi::PersonalityRegisters& saved) { return saved.rsp; }
// Resumes the registers a handler left (the caller checked rip and rsp); only arithmetic flags
// pass, interrupts stay on.
inline void load_personality_registers(TrapFrame& frame, const metteagle::abi::PersonalityRegisters& saved) {
  frame.rax = saved.rax;
  frame.rbx = saved.rbx;
  frame.rcx = saved.rcx;
  frame.rdx = saved.rdx;
  frame.rsi = saved.rsi;
  frame.rdi = saved.rdi;
  frame.rbp = saved.rbp;
  frame.r8 = saved.r8;
  frame.r9 = saved.r9;
  frame.r10 = saved.r10;
  frame.r11 = saved.r11;
  frame.r12 = saved.r12;
  frame.r13 = saved.r13;
  frame.r14 = saved.r14;
  frame.r15 = saved.r15;
  frame.rip = saved.rip;
  frame.rsp = saved.rsp;
  frame.rflags = (saved.rflags & USER_FLAGS) | ALWAYS_SET_FLAGS;
  // sysretq would load rcx with rip and r11 with rflags: registers of an interrupted program that
  // differ from those go back through iretq (syscall_return reads a non-zero error code so).
  frame.error_code = frame.rcx != frame.rip || frame.r11 != frame.rflags ? 1 : 0;
}

}  // namespace arch
