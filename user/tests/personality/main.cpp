// personality: the kernel's mechanism for foreign system-call ABIs. A thread with a syscall handler
// has its `syscall` instructions delivered to the handler (registers saved in its UTCB); the
// handler's own calls are native; PersonalityReturn resumes the saved registers. Also FS bases.
#include "../framework.hpp"

using namespace sys;
using test::Case;

namespace {

constexpr u64 HANDLER_STACK = 0x70000000;
constexpr u64 HANDLER_STACK_PAGES = 4;
constexpr u64 FOREIGN_CALL = 0x1234;  // No native operation has this number.

Console console(abi::ROOT_CONSOLE);
volatile u64 handler_calls = 0;
volatile u64 native_call_in_handler = 0xffff;
volatile u64 return_to_last_page = 0xffff;  // PersonalityReturn's answer to a rip in the last page.

// The handler: adds 1000 to the foreign call's first argument and returns it in rax.
extern "C" [[noreturn]] void handle_foreign_call(abi::PersonalityRegisters* registers) {
  handler_calls = handler_calls + 1;
  // A native call from inside the handler is a real native call.
  native_call_in_handler = static_cast<u64>(invoke(abi::Syscall::ThreadSelf, abi::NULL_SELECTOR));
  if (registers->rax == 0) {
    // Resuming where a `syscall` would end at the non-canonical USER_SPACE_END is refused; the
    // handler goes on and returns properly.
    u64 rip = registers->rip;
    registers->rip = abi::USER_SPACE_END - 2;
    return_to_last_page = static_cast<u64>(invoke(abi::Syscall::PersonalityReturn, abi::NULL_SELECTOR));
    registers->rip = rip;
  }
  registers->rax = registers->rdi + 1000;
  invoke(abi::Syscall::PersonalityReturn, abi::NULL_SELECTOR);
  __builtin_trap();  // PersonalityReturn does not return.
}

u64 foreign_syscall(u64 number, u64 argument) {
  u64 result;
  asm volatile("syscall" : "=a"(result) : "a"(number), "D"(argument) : "rcx", "r11", "memory");
  return result;
}

void foreign_calls_reach_the_handler_and_resume(Case& test) {
  Memory stack = REQUIRE_OK(Factory(abi::ROOT_FACTORY).create_memory(abi::ROOT_FIRST_FREE, HANDLER_STACK_PAGES));
  REQUIRE_OK(Task(abi::ROOT_TASK).map(stack, 0, HANDLER_STACK, HANDLER_STACK_PAGES, memory_rights(true, true, false)));
  u64 stack_top = HANDLER_STACK + HANDLER_STACK_PAGES * 4096 - 8;  // As after a call: rsp + 8 aligned.
  EXPECT_EQ(invoke(abi::Syscall::ThreadSetSyscallHandler, abi::NULL_SELECTOR, 0xffff800000000000, stack_top),
            Error::InvalidArgument);
  // No handler entry in the last page below USER_SPACE_END, where no code can be mapped.
  EXPECT_EQ(invoke(abi::Syscall::ThreadSetSyscallHandler, abi::NULL_SELECTOR, abi::USER_SPACE_END - 2, stack_top),
            Error::InvalidArgument);
  REQUIRE(invoke(abi::Syscall::ThreadSetSyscallHandler, abi::NULL_SELECTOR,
                 reinterpret_cast<u64>(&handle_foreign_call), stack_top) == Error::None);
  u64 first = foreign_syscall(FOREIGN_CALL, 1);
  u64 second = foreign_syscall(0, 7);  // Number 0 would be DebugWrite natively: here it is foreign.
  // Switch back to native calls, from a foreign call's point of view impossible: the program asks
  // natively by marking itself inside the handler (the personality is no security boundary).
  utcb()->personality_active = 1;
  EXPECT_EQ(invoke(abi::Syscall::ThreadSetSyscallHandler, abi::NULL_SELECTOR, 0, 0), Error::None);
  utcb()->personality_active = 0;
  EXPECT_EQ(first, 1001);
  EXPECT_EQ(second, 1007);
  EXPECT_EQ(handler_calls, 2);
  EXPECT_EQ(return_to_last_page, static_cast<u64>(Error::InvalidArgument));
  EXPECT_EQ(native_call_in_handler, static_cast<u64>(Error::None));
  // Without a handler, PersonalityReturn is refused, and syscalls are native again.
  EXPECT_EQ(invoke(abi::Syscall::PersonalityReturn, abi::NULL_SELECTOR), Error::InvalidArgument);
  EXPECT_EQ(foreign_syscall(FOREIGN_CALL, 1), static_cast<u64>(Error::Unsupported));
  EXPECT_OK(Task(abi::ROOT_TASK).unmap(HANDLER_STACK, HANDLER_STACK_PAGES));
}

void fs_base_reaches_fs_relative_loads(Case& test) {
  static u64 block[4] = {0x1111, 0x2222, 0x3333, 0x4444};
  EXPECT_EQ(invoke(abi::Syscall::ThreadSetFsBase, abi::NULL_SELECTOR, reinterpret_cast<u64>(block)), Error::None);
  u64 value;
  asm volatile("mov %%fs:16, %0" : "=r"(value));
  EXPECT_EQ(value, 0x3333);
  // A thread switch keeps it: yield and read again.
  (void)invoke(abi::Syscall::ThreadYield, abi::NULL_SELECTOR);
  asm volatile("mov %%fs:8, %0" : "=r"(value));
  EXPECT_EQ(value, 0x2222);
  EXPECT_EQ(invoke(abi::Syscall::ThreadSetFsBase, abi::NULL_SELECTOR, 0xffff800000000000), Error::InvalidArgument);
  EXPECT_EQ(invoke(abi::Syscall::ThreadSetFsBase, abi::ROOT_CONSOLE, 0), Error::WrongType);
  EXPECT_EQ(invoke(abi::Syscall::ThreadSetFsBase, abi::NULL_SELECTOR, 0), Error::None);
}

const test::TestEntry tests[] = {
    {"foreign_calls_reach_the_handler_and_resume", foreign_calls_reach_the_handler_and_resume},
    {"fs_base_reaches_fs_relative_loads", fs_base_reaches_fs_relative_loads},
};

}  // namespace

extern "C" void metteagle_main(u64) { test::run_all(console, tests, sizeof(tests) / sizeof(tests[0])); }
