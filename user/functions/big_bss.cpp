// big_bss: a small executable with a 40 MiB zero-filled segment (.bss). Deploying it stores only
// its file; every invocation gets the zero-filled part from its own memory limit. It checks that
// the first and last bytes of every page are zero, writes them, and outputs "bss <MiB> MiB zero".
#include "function/function.hpp"

namespace {
constexpr usize BSS_BYTES = 40u << 20;
u8 zero_filled[BSS_BYTES];
}  // namespace

int function_main(const FunctionInput&, FunctionOutput& output) {
  for (usize offset = 0; offset < BSS_BYTES; offset += 4096) {
    volatile u8* page = zero_filled + offset;
    if (page[0] != 0 || page[4095] != 0) {
      output.print("byte at %zu is not zero", offset);
      return 1;
    }
    page[0] = 1;
    page[4095] = 1;
  }
  output.print("bss %zu MiB zero", BSS_BYTES >> 20);
  return 0;
}
