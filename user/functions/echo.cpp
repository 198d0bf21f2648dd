// echo: the output is the input, byte for byte (inline or through Memory, up to 1 MiB).
#include "function/function.hpp"

int function_main(const FunctionInput& input, FunctionOutput& output) {
  return output.write(input.data(), input.size()) ? 0 : 1;
}
