// Address layout the root task uses: its own scratch window for filling memory, and the fixed
// addresses of a child's stack and first UTCB. Invariant: child image segments lie below
// CHILD_IMAGE_LIMIT, so they never overlap the stack or UTCB placed above it.
#pragma once

#include "sys/types.hpp"

namespace root {

using sys::u64;

// In the root task: where a new segment's memory is mapped while its bytes are copied in. Above
// the root's fixed areas (boot info, modules, stack; abi/boot.hpp), 1 GiB long.
constexpr u64 LOAD_WINDOW_ADDRESS = 0x0000000040000000;
constexpr u64 LOAD_WINDOW_PAGES = (u64{1} << 30) / sys::PAGE_SIZE;

// In every child.
constexpr u64 CHILD_IMAGE_LIMIT = 0x0000700000000000;
constexpr u64 PIE_LOAD_BASE = 0x0000000000400000;  // Load base of position-independent (ET_DYN) images.
constexpr u64 CHILD_STACK_PAGES = 16;
constexpr u64 CHILD_STACK_TOP = 0x00007ff000000000;
constexpr u64 CHILD_UTCB_ADDRESS = CHILD_STACK_TOP + 0x10000;  // A gap page range above the stack.
static_assert(CHILD_STACK_TOP - CHILD_STACK_PAGES * sys::PAGE_SIZE >= CHILD_IMAGE_LIMIT);
static_assert(CHILD_UTCB_ADDRESS + sys::PAGE_SIZE <= sys::abi::USER_SPACE_END);

}  // namespace root
