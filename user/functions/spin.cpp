// Adversarial: spins forever; the manager must end it with STATUS_TIMEOUT.
#include "function/function.hpp"

int function_main(const FunctionInput&, FunctionOutput&) {
  for (;;) asm volatile("pause");
}
