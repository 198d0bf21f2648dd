// The names libsys uses everywhere: the ABI's integers, errors, object types and rights, and
// Result<T> (the kernel library's freestanding one, reused as is).
// Invariant: libsys has no types of its own for anything the ABI already defines.
#pragma once

#include "abi/boot.hpp"
#include "abi/error.hpp"
#include "abi/rights.hpp"
#include "abi/syscall.hpp"
#include "abi/types.hpp"
#include "lib/result.hpp"

namespace sys {

namespace abi = metteagle::abi;
using abi::Error;
using abi::i32;
using abi::i64;
using abi::ObjectType;
using abi::u16;
using abi::u32;
using abi::u64;
using abi::u8;
using abi::usize;
using klib::Result;

constexpr u64 PAGE_SIZE = 4096;

using abi::error_name;

}  // namespace sys
