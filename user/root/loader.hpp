// Starting one program from a boot module: validate its ELF image, build its task, copy its
// segments in, give it exactly the configured capabilities and start its first thread.
// Invariant: on failure everything created for the program is deleted again and its slots are
// freed, so a bad module costs the root task nothing.
#pragma once

#include "boot_config.hpp"
#include "endpoints.hpp"
#include "sys/sys.hpp"

namespace root {

struct RootContext {
  sys::Task self;
  sys::Factory factory;
  sys::Console console;
  sys::SlotAllocator& slots;
  EndpointRegistry& endpoints;
};

struct ProgramImage {
  const sys::u8* bytes;
  sys::usize size;
  sys::u64 badge;  // Set on every endpoint capability the program gets: tells servers who calls.
};

struct LaunchReport {
  sys::u64 task_selector;  // The root's capability to the child's task (kept for later teardown).
  sys::u64 entry;
  sys::usize segment_count;
};

// Why a launch failed: what the root was doing and the kernel's error (Error::None when the
// reason is the image or the configuration, then `detail` says what is wrong).
struct LaunchFailure {
  const char* step;
  sys::Error error;
  const char* detail;
};

[[nodiscard]] bool launch_program(const ProgramConfig& config, const ProgramImage& image, RootContext& context,
                                  LaunchReport& report, LaunchFailure& failure);

}  // namespace root
