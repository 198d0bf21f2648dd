// Child-side code of the exception cases; see faulting_code.hpp. Every function here runs in a
// child task on its own thread, so it may only use its own stack, its UTCB and the selectors the
// case gave the child.
#include "faulting_code.hpp"

namespace kernel_exceptions {
namespace {

[[noreturn]] void report_and_exit(u32 label, u64 value) {
  (void)Endpoint(CHILD_REPORT).send(Message::make(label, {value}), REPORT_TIMEOUT);
  exit_thread();
}

}  // namespace

// noipa: each label must exist exactly once, so the compiler may neither clone nor inline these.
[[gnu::noipa]] void read_entry(u64 address) {
  u64 value;
  asm volatile(".global exception_read_instruction\nexception_read_instruction: movq (%1), %0"
               : "=r"(value)
               : "r"(address)
               : "memory");
  report_and_exit(REPORT_AFTER_FAULT, value);
}

[[gnu::noipa]] void write_entry(u64 address) {
  asm volatile(".global exception_write_instruction\nexception_write_instruction: movq %1, (%0)"
               :
               : "r"(address), "r"(u64{0x5157})
               : "memory");
  report_and_exit(REPORT_AFTER_FAULT, 0);
}

[[gnu::noipa]] void invalid_opcode_entry(u64) {
  asm volatile(".global exception_invalid_opcode_instruction\nexception_invalid_opcode_instruction: ud2");
  report_and_exit(REPORT_AFTER_FAULT, 0);
}

[[gnu::noipa]] void divide_entry(u64) {
  u64 quotient = 1;
  u64 remainder = 0;
  u64 divisor = 0;
  asm volatile(".global exception_divide_instruction\nexception_divide_instruction: divq %2"
               : "+a"(quotient), "+d"(remainder)
               : "r"(divisor));
  report_and_exit(REPORT_AFTER_FAULT, quotient);
}

[[gnu::noipa]] void breakpoint_entry(u64) {
  asm volatile(
      ".global exception_breakpoint_instruction\nexception_breakpoint_instruction: int3\n"
      ".global exception_after_breakpoint\nexception_after_breakpoint: nop");
  report_and_exit(REPORT_AFTER_FAULT, 0);
}

[[gnu::noipa]] void resumed_entry(u64) { report_and_exit(REPORT_RESUMED_AT, 0); }

[[gnu::noipa]] void echo_entry(u64) {
  Endpoint service(CHILD_SERVICE);
  Message request;
  Message answer;
  if (!service.receive(request).ok()) exit_thread();
  while (true) {
    answer = Message::make(REPORT_ECHO, {request.words[0] + 1});
    if (!service.reply_wait(answer, request).ok()) exit_thread();
  }
}

}  // namespace kernel_exceptions
