// Adversarial: mallocs 64 KiB blocks until malloc returns null (the heap is charged to the memory
// limit), then frees them and checks the heap still serves a request. Output "blocks=<n>";
// exit 0 unless the heap misbehaved.
#include "function/function.hpp"

int function_main(const FunctionInput&, FunctionOutput& output) {
  constexpr usize BLOCK = 64 * 1024;
  constexpr usize MAX_BLOCKS = 8192;
  static void* blocks[MAX_BLOCKS];
  usize count = 0;
  while (count < MAX_BLOCKS) {
    void* block = malloc(BLOCK);
    if (block == nullptr) break;
    memset(block, static_cast<int>(count), BLOCK);  // Touch it: the memory must really be there.
    blocks[count++] = block;
  }
  output.print("blocks=%zu", count);
  if (count == 0 || count == MAX_BLOCKS) return 1;
  for (usize index = 0; index < count; ++index) {
    if (static_cast<u8*>(blocks[index])[BLOCK - 1] != static_cast<u8>(index)) return 2;
    free(blocks[index]);
  }
  void* again = malloc(BLOCK * (count / 2 + 1));
  if (again == nullptr) return 3;
  void* grown = realloc(calloc(4, 16), 4096);
  if (grown == nullptr) return 4;
  free(grown);
  free(again);
  return 0;
}
