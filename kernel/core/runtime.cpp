// Freestanding C++ runtime pieces the compiler may call in the kernel (the mem* functions are
// kernel/lib/memory_functions.cpp, shared with user programs).
#include "core/panic.hpp"

extern "C" {

void __cxa_pure_virtual() { kernel::panic("pure virtual function called"); }

}  // extern "C"
