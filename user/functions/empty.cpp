// empty: does nothing and exits with 0; measures the cost of an invocation itself. It uses the C
// entry point, so it also shows that a function can be written against function.h alone.
#include "function/function.h"

extern "C" int metteagle_function_main(void) { return 0; }
