// Thread bodies of the lifecycle cases: child-task threads that block in IPC (or spin) and stay
// there until destroyed, and own-task workers that block and then report how their call ended.
// Invariant: child entries never return (they end with exit_thread); a worker reports exactly once.
#pragma once

#include "../support/child_task.hpp"
#include "../support/local_thread.hpp"

namespace kernel_lifecycle {

using namespace support;

// Selectors in the child's capability space.
constexpr u64 CHILD_ENDPOINT = 8;   // The endpoint the child's threads block on.
constexpr u64 CHILD_PARKING = 9;    // An endpoint nobody sends to: receiving there blocks forever.
constexpr u64 CHILD_REPORT = 10;    // Send: results of factory_probe_entry.
constexpr u64 CHILD_FACTORY_COPY = 11;   // A factory capability without Create.
constexpr u64 CHILD_NOT_A_FACTORY = 12;  // An endpoint where a factory is expected.
constexpr u64 CHILD_REAL_FACTORY = 13;   // A factory with Create (the contrast).
constexpr u64 CHILD_FREE_SLOT = 20;

// Child entries (the argument is unused unless said).
void send_forever_entry(u64);
void receive_forever_entry(u64);
void call_forever_entry(u64);
// Receives one call on CHILD_ENDPOINT and never answers it: then waits on CHILD_PARKING.
void hold_call_entry(u64);
void spin_entry(u64);
// Tries FactoryCreate (an endpoint) through the child's slots OWN_FACTORY (empty),
// CHILD_FACTORY_COPY, CHILD_NOT_A_FACTORY and CHILD_REAL_FACTORY, and reports the four errors.
void factory_probe_entry(u64);

enum class WorkerOperation : u64 { Send, Call, Receive };
struct WorkerOrder {
  WorkerOperation operation;
  u64 endpoint;  // Selector in the own task.
  u64 report;    // Endpoint (own task) that receives the result: label = the Error.
  u64 timeout;
};
// Own-task worker: runs the order's operation, then sends the error it ended with.
void worker_entry(u64 order_address);

}  // namespace kernel_lifecycle
