// sha256: the output is the lower-case hexadecimal SHA-256 of the input (64 bytes).
#include "function/function.hpp"
#include "sha256.hpp"

int function_main(const FunctionInput& input, FunctionOutput& output) {
  char hex[hashing::Sha256::HEX_BYTES];
  hashing::sha256_hex(input.data(), input.size(), hex);
  return output.write(hex, 2 * hashing::Sha256::DIGEST_BYTES) ? 0 : 1;
}
