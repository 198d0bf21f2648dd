// panic: print the reason and end the machine with the panic exit status.
#include "core/panic.hpp"

#include <cstdarg>

#include "arch/x86_64/cpu.hpp"
#include "arch/x86_64/platform.hpp"
#include "core/console.hpp"

namespace kernel {

void panic(const char* format, ...) {
  arch::disable_interrupts();
  log("\n*** KERNEL PANIC: ");
  va_list arguments;
  va_start(arguments, format);
  vlog(format, arguments);
  va_end(arguments);
  log("\n");
  arch::qemu_exit(EXIT_PANIC_CODE);
}

}  // namespace kernel
