// Prints docs/SYSCALLS.md from the ABI headers, so the reference cannot drift from the code.
// A ctest compares the committed file with this output.
#include <cstdio>
#include <cstring>

#include "abi/boot.hpp"
#include "abi/error.hpp"
#include "abi/rights.hpp"
#include "abi/syscall.hpp"

namespace abi = metteagle::abi;

namespace {

// The rights column names a typed right ("EndpointRight::Send"); the reference shows its last
// word, and "-" for NoRight::None.
const char* right_name(const char* spelled) {
  if (std::strcmp(spelled, "NoRight::None") == 0) return "-";
  const char* separator = std::strstr(spelled, "::");
  return separator != nullptr ? separator + 2 : spelled;
}

const char* lock_name(abi::SyscallLock lock) {
  switch (lock) {
    case abi::SyscallLock::Kernel: return "the kernel lock";
  }
  return "?";
}

}  // namespace

int main() {
  std::printf("# System-call reference\n\n");
  std::printf("Generated from `abi/include/abi/*.hpp` by `host/abi_reference` (run `make docs`); do not edit.\n\n");
  std::printf("## Calling convention\n\n");
  std::printf("| register | in | out |\n|---|---|---|\n");
  std::printf("| rax | operation number | error code |\n");
  std::printf("| rdi | target capability selector | - |\n");
  std::printf("| rsi | a1 / message tag | o1 / message tag |\n");
  std::printf("| rdx | a2 / word 0 | o2 / word 0 |\n");
  std::printf("| r10 | a3 / word 1 | o3 / word 1 |\n");
  std::printf("| r8 | a4 / word 2 | o4 / word 2 |\n");
  std::printf("| r9 | a5 / word 3 | o5 / word 3 |\n");
  std::printf("| r12 | IPC timeout in ns (0 = poll, %#llx = forever) | badge of the sender (receive) |\n\n",
              static_cast<unsigned long long>(abi::TIMEOUT_INFINITE));
  std::printf("`rcx` and `r11` are clobbered by `syscall`; every other register is preserved. Selector 0 never "
              "names a capability. Every operation with a target also fails with `InvalidCapability` (no "
              "capability in slot rdi), `WrongType` and `NoRights` (a right in the rights column is missing).\n\n");
  std::printf("The target column names the object type rdi must name: `Any` takes a capability of any type, `None` "
              "ignores rdi, and `ThreadOrSelf` takes a Thread capability or selector 0 for the calling thread. The "
              "kernel checks the target's type and right before the operation runs: its dispatch table, its "
              "operation count and this reference come from the one table in `abi/include/abi/syscall.hpp`.\n\n");

  std::printf("## Operations\n\n| # | operation | target | rights | summary |\n|---|---|---|---|---|\n");
#define ROW(name, number, target, right, lock, arguments, outputs, errors, summary) \
  std::printf("| %d | `%s` | %s | %s | %s |\n", number, #name, #target, right_name(#right), summary);
  ABI_SYSCALLS(ROW)
#undef ROW
  std::printf("\n");
#define SECTION(name, number, target, right, lock, arguments, outputs, errors, summary)                                \
  std::printf("### %s (%d)\n\n%s.\n\n- target: %s, rights: %s, runs under: %s\n- arguments: %s\n- outputs: %s\n"      \
              "- errors: %s\n\n",                                                                                       \
              #name, number, summary, #target, right_name(#right), lock_name(abi::SyscallLock::lock), arguments, outputs, \
              errors);
  ABI_SYSCALLS(SECTION)
#undef SECTION

  std::printf("## Error codes\n\n| value | name | meaning |\n|---|---|---|\n");
#define ERROR_ROW(name, value, text) std::printf("| %d | `%s` | %s |\n", value, #name, text);
  ABI_ERRORS(ERROR_ROW)
#undef ERROR_ROW

  std::printf("\n## Rights\n\nRights only shrink: every derivation computes `new = old & mask`.\n\n");
  std::printf("| object | rights (bit values) |\n|---|---|\n");
  std::printf("| Task | Map %u, Capabilities %u |\n", abi::rights_of(abi::TaskRight::Map),
              abi::rights_of(abi::TaskRight::Capabilities));
  std::printf("| Thread | Control %u, Interrupt %u |\n", abi::rights_of(abi::ThreadRight::Control),
              abi::rights_of(abi::ThreadRight::Interrupt));
  std::printf("| Endpoint | Send %u, Receive %u, Grant %u |\n", abi::rights_of(abi::EndpointRight::Send),
              abi::rights_of(abi::EndpointRight::Receive), abi::rights_of(abi::EndpointRight::Grant));
  std::printf("| Memory | Read %u, Write %u, Execute %u |\n", abi::rights_of(abi::MemoryRight::Read),
              abi::rights_of(abi::MemoryRight::Write), abi::rights_of(abi::MemoryRight::Execute));
  std::printf("| Factory | Create %u |\n", abi::rights_of(abi::FactoryRight::Create));
  std::printf("| DebugConsole | Write %u, Exit %u |\n", abi::rights_of(abi::DebugConsoleRight::Write),
              abi::rights_of(abi::DebugConsoleRight::Exit));

  std::printf("\n## Messages\n\nTag: label in bits 0-31, word count in bits 32-38 (at most %llu), transferred "
              "capabilities in bits 40-41 (at most %llu). Words 0-%llu travel in registers, the rest in the UTCB's "
              "`words[]` at their own index. Capabilities to send are named in the UTCB's `send_capabilities` "
              "(with `send_rights` masks) and need the Grant right on the endpoint capability; the receiver names "
              "empty slots in `receive_slots`, and `received_capabilities` tells how many arrived. A capability "
              "whose source is not valid, or whose receive slot is not empty or lies in a chunk of the receiver's "
              "space that its factory cannot pay for (made only once the source is valid), is skipped.\n\n",
              static_cast<unsigned long long>(abi::MESSAGE_WORDS),
              static_cast<unsigned long long>(abi::MAX_TRANSFER_CAPABILITIES),
              static_cast<unsigned long long>(abi::REGISTER_WORDS - 1));
  std::printf("The UTCB is one page per thread (%zu bytes), mapped at the address given when the thread was "
              "created; `%%gs:0` holds that address.\n\n", sizeof(abi::Utcb));
  std::printf("## Exceptions\n\nA user fault becomes a call to the thread's exception endpoint with label "
              "PageFault %#x, GeneralProtection %#x, InvalidOpcode %#x, DivideError %#x, Breakpoint %#x or Other "
              "%#x, and words: 0 rip, 1 fault address, 2 error code, 3 rsp, 4 vector. The reply label decides: "
              "Resume %u (retry), ResumeAt %u (word 0 = rip, word 1 = rsp), anything else kills the thread. A thread "
              "without a handler ends at its first fault; nothing else is affected.\n\n",
              static_cast<unsigned>(abi::ExceptionKind::PageFault),
              static_cast<unsigned>(abi::ExceptionKind::GeneralProtection),
              static_cast<unsigned>(abi::ExceptionKind::InvalidOpcode),
              static_cast<unsigned>(abi::ExceptionKind::DivideError),
              static_cast<unsigned>(abi::ExceptionKind::Breakpoint), static_cast<unsigned>(abi::ExceptionKind::Other),
              static_cast<unsigned>(abi::ExceptionReply::Resume), static_cast<unsigned>(abi::ExceptionReply::ResumeAt));
  std::printf("## The root task\n\nSelectors at its first instruction: task %llu, thread %llu, factory %llu "
              "(quota: all memory left after boot), console %llu, boot modules from %llu (Memory, Read only). "
              "First free slot %llu of %llu. `rdi` holds the address of the boot information page (%#llx).\n",
              static_cast<unsigned long long>(abi::ROOT_TASK), static_cast<unsigned long long>(abi::ROOT_THREAD),
              static_cast<unsigned long long>(abi::ROOT_FACTORY), static_cast<unsigned long long>(abi::ROOT_CONSOLE),
              static_cast<unsigned long long>(abi::ROOT_FIRST_MODULE),
              static_cast<unsigned long long>(abi::ROOT_FIRST_FREE),
              static_cast<unsigned long long>(abi::ROOT_CAPABILITY_SLOTS),
              static_cast<unsigned long long>(abi::ROOT_BOOT_INFO_ADDRESS));
  return 0;
}
