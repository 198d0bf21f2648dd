// Thread bodies of the lifecycle cases; see blocking_code.hpp.
#include "blocking_code.hpp"

namespace kernel_lifecycle {

void send_forever_entry(u64) {
  (void)Endpoint(CHILD_ENDPOINT).send(Message::make(1, {1}));
  exit_thread();
}

void receive_forever_entry(u64) {
  Message message;
  (void)Endpoint(CHILD_ENDPOINT).receive(message);
  exit_thread();
}

void call_forever_entry(u64) {
  Message reply;
  (void)Endpoint(CHILD_ENDPOINT).call(Message::make(1, {1}), reply);
  exit_thread();
}

void hold_call_entry(u64) {
  Message message;
  (void)Endpoint(CHILD_ENDPOINT).receive(message);
  (void)Endpoint(CHILD_PARKING).receive(message);
  exit_thread();
}

void spin_entry(u64) {
  volatile u64 counter = 0;
  for (;;) counter = counter + 1;
}

void factory_probe_entry(u64) {
  auto attempt = [](u64 factory) {
    return static_cast<u64>(Factory(factory).create_endpoint(CHILD_FREE_SLOT).error());
  };
  u64 without_capability = attempt(OWN_FACTORY);
  u64 without_right = attempt(CHILD_FACTORY_COPY);
  u64 wrong_type = attempt(CHILD_NOT_A_FACTORY);
  u64 with_factory = attempt(CHILD_REAL_FACTORY);
  (void)Endpoint(CHILD_REPORT)
      .send(Message::make(1, {without_capability, without_right, wrong_type, with_factory}), REPORT_TIMEOUT);
  exit_thread();
}

void worker_entry(u64 order_address) {
  const auto* order = reinterpret_cast<const WorkerOrder*>(order_address);
  Endpoint endpoint(order->endpoint);
  Message message = Message::make(1, {1});
  Error result = Error::None;
  switch (order->operation) {
    case WorkerOperation::Send: result = endpoint.send(message, order->timeout).error(); break;
    case WorkerOperation::Call: result = endpoint.call(message, message, order->timeout).error(); break;
    case WorkerOperation::Receive: result = endpoint.receive(message, order->timeout).error(); break;
  }
  (void)Endpoint(order->report).send(Message::make(static_cast<u32>(result)), REPORT_TIMEOUT);
}

}  // namespace kernel_lifecycle
