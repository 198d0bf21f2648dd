// IoPorts: creation (the range was checked by the Platform), reading and writing ports inside the
// range, and destruction.
// Invariant: see io_ports.hpp; no access reaches a port outside [first, first + count).
#include "object/io_ports.hpp"

#include "arch/x86_64/cpu.hpp"
#include "core/syscall_dispatch.hpp"
#include "object/lifetime.hpp"

namespace kernel {

using abi::Error;
using abi::Syscall;

Result<IoPorts*> create_io_ports(Factory* factory, u32 first, u32 count) {
  IoPorts* ports = TRY(allocate_object<IoPorts>(factory, ObjectType::IoPorts));
  ports->first = first;
  ports->count = count;
  return ports;
}

namespace {

bool port_access_valid(const IoPorts& ports, u64 port, u64 width) {
  if (width != 1 && width != 2 && width != 4) return false;
  return port >= ports.first && port + width <= u64{ports.first} + ports.count;
}

}  // namespace

template <> [[gnu::always_inline]] inline
Result<Outcome> invoke<Syscall::IoPortRead>(Thread&, Target<Syscall::IoPortRead> target,
                                            SyscallArguments<Syscall::IoPortRead>& arguments) {
  u64 port = arguments.port();
  u64 width = arguments.width();
  if (!port_access_valid(target.object, port, width)) return Error::InvalidArgument;
  auto number = static_cast<u16>(port);
  arguments.set_value(width == 1 ? arch::in8(number) : width == 2 ? arch::in16(number) : arch::in32(number));
  return Outcome::Finished;
}
KERNEL_SYSCALL_DISPATCHER(IoPortRead);

template <> [[gnu::always_inline]] inline
Result<Outcome> invoke<Syscall::IoPortWrite>(Thread&, Target<Syscall::IoPortWrite> target,
                                             SyscallArguments<Syscall::IoPortWrite>& arguments) {
  u64 port = arguments.port();
  u64 width = arguments.width();
  u64 value = arguments.value();
  if (!port_access_valid(target.object, port, width)) return Error::InvalidArgument;
  auto number = static_cast<u16>(port);
  if (width == 1) arch::out8(number, static_cast<u8>(value));
  else if (width == 2) arch::out16(number, static_cast<u16>(value));
  else arch::out32(number, static_cast<u32>(value));
  return Outcome::Finished;
}
KERNEL_SYSCALL_DISPATCHER(IoPortWrite);

void destroy_io_ports(IoPorts& ports) { free_object(&ports); }

}  // namespace kernel
