// Checks shared by the in-guest clients of the container manager (containers and linux tests):
// deploying with a precise failure message, expecting a status, comparing inline output.
// They expect the current case to be named `test` and a `client()` returning the ManagerClient.
#pragma once

#include "client.hpp"

// The C functions of kernel/lib/memory_functions.cpp (no C library headers in user programs).
#include "sys/string.hpp"

namespace containers {

// Deploys size bytes at bytes as name; the case fails (and returns) unless the manager says OK.
#define DEPLOY_BYTES(name, bytes, size, config)                                                              \
  do {                                                                                                       \
    Reply deploy_reply_ = client().deploy(name, bytes, size, config);                                        \
    if (deploy_reply_.status != manager::STATUS_OK || deploy_reply_.transport != Error::None) {              \
      test.fail(__FILE__, __LINE__, "deploy %s gave %s (ipc %s, word 0 %#lx)", name,                         \
                status_name(deploy_reply_.status), error_name(deploy_reply_.transport), deploy_reply_.detail()); \
      return;                                                                                                \
    }                                                                                                        \
  } while (0)

#define EXPECT_STATUS(reply, expected)                                                                       \
  do {                                                                                                       \
    const Reply& status_reply_ = (reply);                                                                    \
    if (status_reply_.transport != Error::None)                                                              \
      test.fail(__FILE__, __LINE__, "%s: ipc failed with %s", #reply, error_name(status_reply_.transport));  \
    else if (status_reply_.status != (expected))                                                             \
      test.fail(__FILE__, __LINE__, "%s gave %s (exit %lu, detail %#lx), expected %s", #reply,               \
                status_name(status_reply_.status), status_reply_.result().exit_code, status_reply_.result().detail, \
                status_name(expected));                                                                      \
  } while (0)

// The output of an inline reply as text (for messages), NUL-terminated.
struct OutputText {
  char text[manager::INLINE_BYTES + 1] = {};
  explicit OutputText(const Reply& reply) {
    u64 size = reply.result().output_size < manager::INLINE_BYTES ? reply.result().output_size : manager::INLINE_BYTES;
    memcpy(text, reply.inline_output(), size);
    for (u64 index = 0; index < size; ++index)
      if (text[index] == '\0') text[index] = '.';
  }
};

inline bool output_is(const Reply& reply, const char* expected) {
  u64 length = strlen(expected);
  return reply.result().output_size == length && memcmp(reply.inline_output(), expected, length) == 0;
}

#define EXPECT_OUTPUT(reply, expected)                                                                    \
  do {                                                                                                    \
    if (!output_is(reply, expected))                                                                      \
      test.fail(__FILE__, __LINE__, "output \"%s\" (%lu bytes), expected \"%s\"", OutputText(reply).text, \
                (reply).result().output_size, expected);                                                  \
  } while (0)

}  // namespace containers
