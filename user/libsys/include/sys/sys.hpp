// libsys in one include: capability handles, IPC, RPC, slots, the standard selectors and the UTCB.
#pragma once

#include "sys/capability.hpp"
#include "sys/console.hpp"
#include "sys/device.hpp"
#include "sys/endpoint.hpp"
#include "sys/factory.hpp"
#include "sys/memory.hpp"
#include "sys/message.hpp"
#include "sys/protocol.hpp"
#include "sys/rpc.hpp"
#include "sys/selectors.hpp"
#include "sys/slots.hpp"
#include "sys/task.hpp"
#include "sys/thread.hpp"
#include "sys/utcb.hpp"
