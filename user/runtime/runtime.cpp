// Freestanding C++ runtime pieces the compiler may call in user programs (the mem* functions are
// kernel/lib/memory_functions.cpp, shared with the kernel).

extern "C" {

// A pure virtual call is a program bug; end the thread rather than jump to garbage.
[[noreturn]] void metteagle_exit_thread();
void __cxa_pure_virtual() { metteagle_exit_thread(); }

}  // extern "C"
