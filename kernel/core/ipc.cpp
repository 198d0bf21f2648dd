// Synchronous IPC; see ipc.hpp.
#include "core/ipc.hpp"

#include "abi/syscall.hpp"
#include "arch/x86_64/cpu.hpp"
#include "arch/x86_64/syscall_registers.hpp"
#include "core/scheduler.hpp"
#include "object/capability_space.hpp"
#include "object/lifetime.hpp"
#include "object/task.hpp"

namespace kernel {

using metteagle::abi::Error;
using metteagle::abi::ExceptionKind;
using metteagle::abi::ExceptionReply;
using metteagle::abi::MessageTag;
using metteagle::abi::Utcb;

namespace {

struct Message {
  u64 tag;
  u64 registers[4];
  const u64* words;  // Word i >= 4 is words[i].
};

Utcb& utcb_of(Thread& thread) { return *reinterpret_cast<Utcb*>(arch::physical_to_virtual(thread.utcb_frame)); }

Message registers_of(Thread& thread) {
  arch::MessageRegisters registers = arch::SyscallRegisters(*thread.frame).message();
  return {registers.tag,
          {registers.words[0], registers.words[1], registers.words[2], registers.words[3]},
          utcb_of(thread).words};
}

Message exception_of(Thread& thread) {
  u32 label = static_cast<u32>(ExceptionKind::Other);
  switch (thread.exception_words[4]) {
    case arch::VECTOR_PAGE_FAULT: label = static_cast<u32>(ExceptionKind::PageFault); break;
    case arch::VECTOR_GENERAL_PROTECTION: label = static_cast<u32>(ExceptionKind::GeneralProtection); break;
    case arch::VECTOR_INVALID_OPCODE: label = static_cast<u32>(ExceptionKind::InvalidOpcode); break;
    case arch::VECTOR_DIVIDE: label = static_cast<u32>(ExceptionKind::DivideError); break;
    case arch::VECTOR_BREAKPOINT: label = static_cast<u32>(ExceptionKind::Breakpoint); break;
    default: break;
  }
  const u64* words = thread.exception_words;
  return {MessageTag::make(label, 5).raw, {words[0], words[1], words[2], words[3]}, words};
}

// Capabilities named in the sender's UTCB move into the empty slots the receiver named; each
// failed transfer is skipped. Returns how many arrived.
u64 transfer_capabilities(Thread& sender, Thread& receiver, u64 count) {
  Utcb& from = utcb_of(sender);
  Utcb& to = utcb_of(receiver);
  u64 arrived = 0;
  for (u64 index = 0; index < count; ++index) {
    auto source = lookup(*sender.task, from.send_capabilities[index]);
    if (!source) continue;
    // Only for a valid source, as it may make the receiver's chunk (charged to its factory).
    auto target = lookup_empty(*receiver.task, to.receive_slots[index]);
    if (!target) continue;
    derive_capability(*target.value(), *source.value(), static_cast<u32>(from.send_rights[index]), 0);
    ++arrived;
  }
  to.received_capabilities = arrived;
  return arrived;
}

// Writes message into receiver's registers and UTCB; its pending system call returns success.
void deliver(const Message& message, Thread* sender, Thread& receiver, u64 badge, bool may_grant) {
  MessageTag tag{message.tag};
  u64 words = tag.words() < metteagle::abi::MESSAGE_WORDS ? tag.words() : metteagle::abi::MESSAGE_WORDS;
  Utcb& target = utcb_of(receiver);
  for (u64 index = metteagle::abi::REGISTER_WORDS; index < words; ++index) target.words[index] = message.words[index];
  u64 capabilities = 0;
  if (tag.capabilities() > 0 && may_grant && sender != nullptr)
    capabilities = transfer_capabilities(*sender, receiver, tag.capabilities());
  else target.received_capabilities = 0;
  arch::SyscallRegisters registers(*receiver.frame);
  registers.set_message(MessageTag::make(tag.label(), words, capabilities).raw, message.registers, badge);
  registers.set_error(Error::None);
}

void link_call(Thread& caller, Thread& server) {
  // A server answers only its last caller. One it took earlier and neither answered nor saved in
  // a Reply object can never be answered: its call ends now, instead of waiting forever linked to
  // a server that no longer knows it (and later writing into that server once it is freed).
  if (Thread* forgotten = server.caller) {
    server.caller = nullptr;
    forgotten->callee = nullptr;
    abandon_caller(*forgotten);
  }
  caller.callee = &server;
  server.caller = &caller;
  caller.state = ThreadState::BlockedReply;
}

void wait_with_timeout(Thread& thread, u64 timeout_nanoseconds, ThreadState state) {
  if (timeout_nanoseconds != metteagle::abi::TIMEOUT_INFINITE) {
    u64 now = arch::read_tsc();
    u64 delay = nanoseconds_to_tsc(timeout_nanoseconds);
    // A deadline past the end of the TSC's range is no deadline at all.
    if (delay <= ~u64{0} - now) add_timeout(thread, now + delay);
  }
  block_current(state);
}

// How many waiting receivers a call looks at for one on the CPU it prefers.
constexpr u32 RECEIVER_SCAN = 16;
// The most threads ready on the caller's CPU for a call to stay there.
constexpr u32 CALLER_CPU_READY_LIMIT = 1;

// The receiver a send goes to: the longest waiting, except that a call picks, among the first
// RECEIVER_SCAN, one on the caller's CPU when at most one other thread is ready there (the caller
// blocks and the callee runs at once or next, with no other CPU woken), and one on another CPU
// when more are (the call runs beside this CPU's work). Under TCG a wake of another vCPU costs
// more than the parallelism gives when there is little to have (docs/BENCHMARKS.md, HTTP).
Thread* take_receiver(Endpoint& endpoint, bool is_call) {
  if (!is_call || cpu_count() == 1) return endpoint.receivers.pop_front();
  Cpu& cpu = this_cpu();
  bool here = cpu.ready.size() <= CALLER_CPU_READY_LIMIT;
  u32 scanned = 0;
  for (Thread& candidate : endpoint.receivers) {
    if (++scanned > RECEIVER_SCAN) break;
    if ((candidate.cpu == cpu.local.index) == here) {
      ThreadQueue::remove(candidate);
      return &candidate;
    }
  }
  return endpoint.receivers.pop_front();
}

}  // namespace

void ipc_send(Capability& capability, bool is_call, u64 timeout_nanoseconds) {
  Thread& sender = *current_thread();
  auto& endpoint = *object_of<Endpoint>(capability);
  bool may_grant = capability.has(metteagle::abi::EndpointRight::Grant);
  if (Thread* receiver = take_receiver(endpoint, is_call)) {
    cancel_timeout(*receiver);
    receiver->blocked_on = nullptr;
    deliver(registers_of(sender), &sender, *receiver, capability.badge, may_grant);
    make_ready(*receiver);
    if (is_call) {
      link_call(sender, *receiver);
      block_current(ThreadState::BlockedReply);  // The reply (or an error) is in our frame then.
    } else {
      arch::SyscallRegisters(*sender.frame).set_error(Error::None);
    }
    return;
  }
  if (timeout_nanoseconds == 0) {
    arch::SyscallRegisters(*sender.frame).set_error(Error::Timeout);
    return;
  }
  sender.send_badge = capability.badge;
  sender.send_is_call = is_call;
  sender.send_may_grant = may_grant;
  sender.blocked_on = &endpoint;
  endpoint.senders.push_back(sender);
  wait_with_timeout(sender, timeout_nanoseconds, ThreadState::BlockedSend);
}

void ipc_receive(Endpoint& endpoint, u64 timeout_nanoseconds) {
  Thread& receiver = *current_thread();
  if (Thread* sender = endpoint.senders.pop_front()) {
    cancel_timeout(*sender);
    sender->blocked_on = nullptr;
    if (sender->sending_exception) {
      deliver(exception_of(*sender), nullptr, receiver, sender->exception_badge, false);
      link_call(*sender, receiver);
    } else {
      deliver(registers_of(*sender), sender, receiver, sender->send_badge, sender->send_may_grant);
      if (sender->send_is_call) {
        link_call(*sender, receiver);
      } else {
        arch::SyscallRegisters(*sender->frame).set_error(Error::None);
        make_ready(*sender);
      }
    }
    return;
  }
  if (timeout_nanoseconds == 0) {
    arch::SyscallRegisters(*receiver.frame).set_error(Error::Timeout);
    return;
  }
  if (take_pending_interrupt(receiver)) {
    arch::SyscallRegisters(*receiver.frame).set_error(Error::Interrupted);
    return;
  }
  receiver.blocked_on = &endpoint;
  endpoint.receivers.push_back(receiver);
  wait_with_timeout(receiver, timeout_nanoseconds, ThreadState::BlockedReceive);
}

namespace {

// Delivers the answer in server's registers to caller: a message, or for a fault report the
// handler's decision (resume, resume elsewhere, kill). The call link is already cut.
void answer(Thread& server, Thread& caller) {
  if (!caller.sending_exception) {
    deliver(registers_of(server), &server, caller, 0, true);
    make_ready(caller);
    return;
  }
  caller.sending_exception = false;
  arch::MessageRegisters decision = arch::SyscallRegisters(*server.frame).message();
  auto action = static_cast<ExceptionReply>(MessageTag{decision.tag}.label());
  if (action == ExceptionReply::ResumeAt) {
    u64 instruction_pointer = decision.words[0];
    u64 stack_pointer = decision.words[1];
    // Only user addresses, and code only where it can be mapped: the exit path returns with
    // sysret/iret to whatever is here.
    if (instruction_pointer < metteagle::abi::USER_SPACE_USABLE_END && stack_pointer < metteagle::abi::USER_SPACE_END) {
      arch::set_user_position(*caller.frame, instruction_pointer, stack_pointer);
    } else {
      action = ExceptionReply::Kill;
    }
  } else if (action != ExceptionReply::Resume) {
    action = ExceptionReply::Kill;
  }
  if (action == ExceptionReply::Kill) {
    stop_thread(caller);
    return;
  }
  make_ready(caller);
}

}  // namespace

bool ipc_reply() {
  Thread& server = *current_thread();
  Thread* caller = server.caller;
  if (caller == nullptr) return false;
  server.caller = nullptr;
  caller->callee = nullptr;
  answer(server, *caller);
  return true;
}

Result<void> ipc_save_reply(Reply& reply) {
  Thread& server = *current_thread();
  Thread* caller = server.caller;
  if (caller == nullptr) return Error::NotFound;
  if (reply.caller != nullptr) return Error::Busy;
  server.caller = nullptr;
  caller->callee = nullptr;
  caller->callee_reply = &reply;
  reply.caller = caller;
  return {};
}

Result<void> ipc_reply_with(Reply& reply) {
  Thread* caller = reply.caller;
  if (caller == nullptr) return Error::NotFound;
  reply.caller = nullptr;
  caller->callee_reply = nullptr;
  answer(*current_thread(), *caller);
  return {};
}

void deliver_exception(arch::TrapFrame& frame) {
  Thread& thread = *current_thread();
  Endpoint* handler = thread.exception_endpoint;
  if (handler == nullptr || handler->header.dying) {
    stop_thread(thread);  // No one can fix this fault: the thread ends, nothing else does.
    return;
  }
  thread.exception_words[0] = arch::user_instruction_pointer(frame);
  thread.exception_words[1] = frame.vector == arch::VECTOR_PAGE_FAULT ? arch::read_cr2() : 0;
  thread.exception_words[2] = frame.error_code;
  thread.exception_words[3] = arch::user_stack_pointer(frame);
  thread.exception_words[4] = frame.vector;
  thread.sending_exception = true;
  if (Thread* receiver = handler->receivers.pop_front()) {
    cancel_timeout(*receiver);
    receiver->blocked_on = nullptr;
    deliver(exception_of(thread), nullptr, *receiver, thread.exception_badge, false);
    make_ready(*receiver);
    link_call(thread, *receiver);
    block_current(ThreadState::BlockedReply);
    return;
  }
  thread.blocked_on = handler;
  handler->senders.push_back(thread);
  block_current(ThreadState::BlockedSend);
}

}  // namespace kernel
