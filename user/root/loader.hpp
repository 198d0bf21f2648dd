// Starting one program from a boot module: validate its ELF image, build its task, copy its
// segments in, give it exactly the configured capabilities and start its first thread.
// Invariant: on failure everything created for the program is deleted again and its slots are
// freed, so a bad module costs the root task nothing.
#pragma once

#include "boot_config.hpp"
#include "endpoints.hpp"
#include "sys/sys.hpp"

namespace root {

// Data modules (`data` in a boot configuration): text files the root keeps, each in a Memory
// object of its own, for the programs that name them with `file=`.
struct DataFile {
  char name[MAX_NAME_LENGTH + 1];
  sys::u64 selector;  // The root's Memory capability: the file's bytes, then at least one zero byte.
};
struct DataFiles {
  static constexpr sys::usize MAX = 8;
  DataFile entries[MAX] = {};
  sys::usize count = 0;
  const DataFile* find(const char* name) const;
};
// The gateway's key file of 4,096 keys (up to 256 bytes a line) is the largest data module wanted.
constexpr sys::u64 MAX_DATA_FILE_BYTES = 1024 * 1024;

struct RootContext {
  sys::Task self;
  sys::Factory factory;
  sys::Console console;
  sys::SlotAllocator& slots;
  EndpointRegistry& endpoints;
  DataFiles& files;
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

// Keeps a data module: copies its bytes into a fresh Memory object (so it ends with a zero byte)
// and records it under the configuration's name. Refused: more than MAX_DATA_FILE_BYTES, a NUL
// byte (data modules are text), a name already used, more than DataFiles::MAX files.
[[nodiscard]] bool keep_data_file(const ProgramConfig& config, const ProgramImage& image, RootContext& context,
                                  LaunchFailure& failure);

[[nodiscard]] bool launch_program(const ProgramConfig& config, const ProgramImage& image, RootContext& context,
                                  LaunchReport& report, LaunchFailure& failure);

}  // namespace root
