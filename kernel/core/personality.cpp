// System-call personalities: a thread's `syscall` instructions redirected to a user-level handler
// in its own task (a Linux ABI, for instance), and the FS base that thread-local storage needs.
// The kernel knows nothing of the foreign ABI: it saves the registers in the UTCB, enters the
// handler, and later resumes whatever registers the handler leaves there.
// Invariant: the handler runs with personality_active set, so its own system calls are native;
// a resumed thread gets only user-space rip/rsp and arithmetic flags, whatever the UTCB says.
#include <cstddef>

#include "abi/syscall.hpp"
#include "arch/x86_64/cpu_local.hpp"
#include "core/syscall_support.hpp"
#include "object/capability_space.hpp"

namespace kernel {
namespace {

namespace abi = metteagle::abi;
using abi::Error;
using abi::rights_of;
using arch::TrapFrame;

// Carry, parity, adjust, zero, sign, direction and overflow: what a user program may set.
constexpr u64 USER_FLAGS = 0x0cd5;
constexpr u64 ALWAYS_SET_FLAGS = 0x202;  // Interrupts on, and the reserved bit 1.

abi::Utcb& utcb_of(Thread& thread) { return *reinterpret_cast<abi::Utcb*>(arch::physical_to_virtual(thread.utcb_frame)); }

// The thread named by selector (Control right), or the caller for selector 0.
Result<Thread*> thread_or_self(Thread& self, u64 selector) {
  if (selector == abi::NULL_SELECTOR) return &self;
  Capability* slot = TRY(lookup(own_task(self), selector, ObjectType::Thread, rights_of(abi::ThreadRight::Control)));
  return object_of<Thread>(*slot);
}

bool user_address(u64 address) { return address < abi::USER_SPACE_END; }
// Where code can run: below the usable end, so no instruction ends at a non-canonical address.
bool user_code_address(u64 address) { return address < abi::USER_SPACE_USABLE_END; }

}  // namespace

bool redirect_to_personality(Thread& self, TrapFrame& frame) {
  if (self.syscall_handler_entry == 0) return false;
  abi::Utcb& utcb = utcb_of(self);
  if (utcb.personality_active != 0) return false;  // The handler's own calls are native.
  abi::PersonalityRegisters& saved = utcb.personality_registers;
  saved = {frame.rax, frame.rbx, frame.rcx, frame.rdx, frame.rsi, frame.rdi, frame.rbp, frame.r8, frame.r9, frame.r10,
           frame.r11, frame.r12, frame.r13, frame.r14, frame.r15, frame.rip, frame.rflags, frame.rsp};
  utcb.personality_active = 1;
  frame.rip = self.syscall_handler_entry;
  frame.rsp = self.syscall_handler_stack;
  frame.rdi = self.utcb_address + offsetof(abi::Utcb, personality_registers);
  return true;
}

void thread_set_syscall_handler(Thread& self, TrapFrame& frame) {
  auto thread = thread_or_self(self, frame.rdi);
  if (!thread) return finish(frame, thread.error());
  u64 entry = argument(frame, 1);
  u64 stack = argument(frame, 2);
  if (entry != 0 && (!user_code_address(entry) || !user_address(stack))) return finish(frame, Error::InvalidArgument);
  thread.value()->syscall_handler_entry = entry;
  thread.value()->syscall_handler_stack = entry == 0 ? 0 : stack;
  finish(frame, Error::None);
}

void personality_return(Thread& self, TrapFrame& frame) {
  if (self.syscall_handler_entry == 0) return finish(frame, Error::InvalidArgument);
  abi::Utcb& utcb = utcb_of(self);
  // One copy out of the UTCB (user-writable memory), then checks on the copy.
  abi::PersonalityRegisters saved = utcb.personality_registers;
  if (!user_code_address(saved.rip) || !user_address(saved.rsp)) return finish(frame, Error::InvalidArgument);
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
  utcb.personality_active = 0;
}

void thread_set_fs_base(Thread& self, TrapFrame& frame) {
  auto thread = thread_or_self(self, frame.rdi);
  if (!thread) return finish(frame, thread.error());
  u64 base = argument(frame, 1);
  if (!user_address(base)) return finish(frame, Error::InvalidArgument);
  thread.value()->fs_base = base;
  if (thread.value() == &self) arch::set_fs_base(base);
  finish(frame, Error::None);
}

}  // namespace kernel
