// Adversarial: reads address 0 (never mapped); the manager must report STATUS_CRASHED.
#include "function/function.hpp"

int function_main(const FunctionInput& input, FunctionOutput& output) {
  // The address comes from a register the compiler cannot see through, so the read stays a read
  // of address 0 and not undefined behaviour it could drop.
  u64 address = input.size() & 0;
  asm volatile("" : "+r"(address));
  auto value = *reinterpret_cast<volatile u64*>(address);
  output.print("%lu", value);
  return 0;
}
