// The in-guest tenant programs' own objects and helpers (containers, linux and python tests): one
// slot allocator, one ManagerClient over the manager endpoint, the console, invocations whose
// output is a transcript in a Memory object, and a program's native run to compare with.
// Invariant: each program has exactly one allocator and one client (function-local statics).
#pragma once

#include "../framework.hpp"
#include "client.hpp"

namespace containers {

inline SlotAllocator& slots() {
  static SlotAllocator allocator(FIRST_FREE, 256);
  return allocator;
}

inline ManagerClient& client() {
  static ManagerClient instance(Endpoint(MANAGER_ENDPOINT), Factory(OWN_FACTORY), Task(SELF_TASK), slots());
  return instance;
}

inline Console console() { return Console(CONSOLE); }

// Invokes `name` with `input_text` (at most a page) as input and its output in a Memory of its own
// (a transcript longer than the inline bytes); `text` gets the output, NUL-terminated. False, and
// the case fails, when the memory is refused.
constexpr u64 TRANSCRIPT_PAGES = 2;
inline bool invoke_transcript(test::Case& test, const char* name, Reply& reply,
                              char (&text)[TRANSCRIPT_PAGES * 4096 + 1], const char* input_text = "") {
  if (client().invoke_transcript(name, input_text, text, TRANSCRIPT_PAGES, reply)) return true;
  test.fail(__FILE__, __LINE__, "no memory for the transcript");
  return false;
}

// A program's run on the host (run-native, at build time): its stdout bytes and its exit status.
struct NativeRun {
  const u8* output;
  const u8* output_end;
  const u8* status;
  const u8* status_end;
};
// The native run `name` embedded under `prefix` (linux, python): prefix_native_name[...].
#define NATIVE_RUN(prefix, name)                                                                           \
  containers::NativeRun {                                                                                  \
    prefix##_native_##name, prefix##_native_##name##_end, prefix##_native_##name##_status,                 \
        prefix##_native_##name##_status_end                                                                \
  }

}  // namespace containers
