// net: the network server. One task holds the virtio-net device (device memory, DMA memory, its
// interrupt) and lwIP (NO_SYS), and runs one event loop: device interrupts and lwIP's timers.
// Static address 10.0.2.15/24, gateway 10.0.2.2 (QEMU user networking). Started with an endpoint
// (`endpoint=net:receive`) it serves the IPC socket interface (socket_server.hpp): the loop runs on a
// second thread and waits on that endpoint, and the first thread waits on the device's notification
// and interrupts the loop's wait (ThreadInterrupt) when the device has work. Without an endpoint it
// serves the HTTP health check on port 8080 from the first thread, waiting on the notification.
// Invariant: lwIP is only ever entered from the loop's thread.
#include "http_health.hpp"
#include "socket_server.hpp"
#include "time_wait.hpp"
#include "lwip/etharp.h"
#include "lwip/init.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/timeouts.h"
#include "netif/ethernet.h"
#include "print.hpp"
#include "sys/sys.hpp"
#include "virtio_net.hpp"

#include "sys/string.hpp"
extern "C" [[noreturn]] void metteagle_exit_thread();

namespace net {
void port_initialize();
}

namespace {

using namespace sys;

constexpr u64 REGISTERS_ADDRESS = 0x50000000;
constexpr u64 DMA_ADDRESS = 0x60000000;
constexpr u64 DEVICE_BIT = 1;
constexpr u64 PLATFORM = abi::ROOT_PLATFORM;  // The `platform` boot word gives it at the root's selector.
constexpr u16 HEALTH_PORT = 8080;
// Without an interrupt the loop polls the device this often.
constexpr u64 POLL_INTERVAL_NS = 1'000'000;
constexpr u64 NANOSECONDS_PER_MILLISECOND = 1'000'000;
constexpr usize MISSED_INTERRUPT_LIMIT = 3;
// The socket loop's thread: its stack and UTCB (the first thread's stack is 64 KiB too, docs/BOOT.md).
constexpr u64 LOOP_STACK_PAGES = 16;
constexpr u64 LOOP_STACK_ADDRESS = 0x0000700000000000;
constexpr u64 LOOP_UTCB_ADDRESS = 0x0000700100000000;
constexpr u32 READ_WRITE = abi::rights_of(abi::MemoryRight::Read, abi::MemoryRight::Write);

Console console(CONSOLE);
SlotAllocator slots(FIRST_FREE, 256);
net::VirtioNet device;
netif interface;
net::SocketServer sockets;
Notification events;
Irq irq;
bool interrupts = false;  // The device's line is bound to `events`; false: the loop polls the device.
// Device bits the first thread took from `events` for the socket loop (atomic: two threads).
u64 device_bits = 0;

err_t link_output(struct netif*, struct pbuf* packet) {
  auto copy = [packet](u8* target) {
    for (const pbuf* piece = packet; piece != nullptr; piece = piece->next) {
      memcpy(target, piece->payload, piece->len);
      target += piece->len;
    }
  };
  // A full transmit ring empties as the device works; wait for it briefly rather than drop.
  for (int attempt = 0; attempt < 1000; ++attempt) {
    auto sent = device.transmit(packet->tot_len, copy);
    if (sent.ok()) return ERR_OK;
    if (sent.error() != Error::Busy) return ERR_IF;
    yield_thread();
  }
  return ERR_MEM;
}

err_t interface_init(struct netif* target) {
  target->name[0] = 'e';
  target->name[1] = 'n';
  target->hwaddr_len = ETH_HWADDR_LEN;
  memcpy(target->hwaddr, device.mac(), ETH_HWADDR_LEN);
  target->mtu = 1500;
  target->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET | NETIF_FLAG_LINK_UP;
  target->output = etharp_output;
  target->linkoutput = link_output;
  return ERR_OK;
}

usize deliver_frames() {
  usize frames = device.receive([](const u8* frame, usize length) {
    net::end_time_wait_for(frame, length);
    pbuf* packet = pbuf_alloc(PBUF_RAW, static_cast<u16_t>(length), PBUF_POOL);
    if (packet == nullptr) return;  // Out of buffers: drop; TCP retransmits.
    pbuf_take(packet, frame, static_cast<u16_t>(length));
    if (interface.input(packet, &interface) != ERR_OK) pbuf_free(packet);
  });
  device.reclaim_transmitted();
  return frames;
}

[[noreturn]] void fail(const char* step, Error error) {
  printf(console, "net: %s failed: error %u\n", step, static_cast<unsigned>(error));
  metteagle_exit_thread();
}

// The device raised its line: acknowledge at the device first (its level-triggered line drops),
// then take the frames, then unmask: a frame arriving meanwhile raises the line again and is not lost.
void handle_device_interrupt() {
  device.acknowledge_interrupt();
  deliver_frames();
  (void)irq.acknowledge();
}

// Frames found after a wait that ended by timeout mean the device's interrupt did not arrive (a
// machine wired differently than virtio_net.cpp assumes); after a few, the loop polls instead.
class MissedInterrupts {
 public:
  // An interrupt arrived: the line works, and frames found without one are merely early.
  void prove() { proven_ = true; }
  void count() {
    if (!interrupts || proven_ || ++missed_ != MISSED_INTERRUPT_LIMIT) return;
    interrupts = false;
    printf(console, "net: frames arrive without interrupts on line %lu; polling every %lu us\n",
           device.location().interrupt_line, POLL_INTERVAL_NS / 1000);
  }

 private:
  usize missed_ = 0;
  bool proven_ = false;
};

// How long lwIP's timers let the loop wait, at most `limit` ns.
u64 lwip_wait_ns(u64 limit) {
  u32 sleep_ms = sys_timeouts_sleeptime();
  u64 timeout = sleep_ms == SYS_TIMEOUTS_SLEEPTIME_INFINITE ? abi::TIMEOUT_INFINITE
                                                            : u64{sleep_ms} * NANOSECONDS_PER_MILLISECOND;
  if (!interrupts && timeout > POLL_INTERVAL_NS) timeout = POLL_INTERVAL_NS;
  return timeout < limit ? timeout : limit;
}

// The health check's loop (no socket clients): the device and lwIP's timers, waiting on the
// device's notification.
[[noreturn]] void serve_health() {
  MissedInterrupts missed;
  bool woken_by_device = false;
  for (;;) {
    usize frames = deliver_frames();
    if (interrupts && !woken_by_device && frames != 0) {
      // The interrupt of these frames may be pending still: a pending device bit proves it works.
      auto pending = events.wait(0);
      if (pending.ok() && (pending.value() & DEVICE_BIT) != 0) {
        missed.prove();
        handle_device_interrupt();
      } else {
        missed.count();
      }
    }
    sys_check_timeouts();
    auto bits = events.wait(lwip_wait_ns(abi::TIMEOUT_INFINITE));
    woken_by_device = bits.ok() && (bits.value() & DEVICE_BIT) != 0;
    if (woken_by_device) missed.prove();
    if (interrupts && woken_by_device) handle_device_interrupt();
  }
}

// The socket loop (on its own thread): waits on the endpoint, so a client's call is served the
// moment it comes (before, the loop slept on the notification and looked at the endpoint at most
// every 0.5 ms, in practice at the kernel's next 1 ms tick, on every call that found it asleep:
// docs/BENCHMARKS.md, HTTP). The device's interrupts end that wait through the first thread.
[[noreturn]] void serve_sockets(u64) {
  if (auto started = sockets.start(Endpoint(FIRST_ENDPOINT), Factory(OWN_FACTORY), slots); !started.ok())
    fail("starting the socket interface", started.error());
  printf(console, "net: 10.0.2.15/24 gateway 10.0.2.2, socket interface on endpoint %lu\n", FIRST_ENDPOINT);
  MissedInterrupts missed;
  bool timed_out = false;
  for (;;) {
    u64 bits = __atomic_exchange_n(&device_bits, 0, __ATOMIC_ACQ_REL);
    bool woken_by_device = (bits & DEVICE_BIT) != 0;
    if (woken_by_device) missed.prove();
    if (interrupts && woken_by_device) handle_device_interrupt();
    usize frames = deliver_frames();
    // Frames after a quiet wait, and no interrupt for them yet: the line may not work. (Frames
    // that came while the loop was busy are still announced by the first thread.)
    if (interrupts && timed_out && frames != 0 && __atomic_load_n(&device_bits, __ATOMIC_ACQUIRE) == 0)
      missed.count();
    sys_check_timeouts();
    sockets.expire_deadlines();
    u64 timeout = lwip_wait_ns(sockets.next_deadline_ns());
    timed_out = sockets.serve_pending(timeout) == 0 && __atomic_load_n(&device_bits, __ATOMIC_ACQUIRE) == 0;
  }
}

// The first thread once the socket loop runs: hands the device's notification bits to the loop
// and ends its wait on the endpoint. It never enters lwIP.
[[noreturn]] void watch_device(Thread loop) {
  for (;;) {
    auto bits = events.wait();
    if (!bits.ok()) continue;
    __atomic_fetch_or(&device_bits, bits.value(), __ATOMIC_ACQ_REL);
    (void)loop.interrupt();
  }
}

// Starts serve_sockets on a thread of its own, with a stack and UTCB of this task.
Result<Thread> start_socket_loop(Factory factory, Task self) {
  u64 stack_slot = TRY(slots.allocate());
  u64 thread_slot = TRY(slots.allocate());
  Memory stack = TRY(factory.create_memory(stack_slot, LOOP_STACK_PAGES));
  TRY_VOID(self.map(stack, 0, LOOP_STACK_ADDRESS, LOOP_STACK_PAGES, READ_WRITE));
  Thread thread = TRY(factory.create_thread(thread_slot, self, LOOP_UTCB_ADDRESS));
  TRY_VOID(start_thread(thread, LOOP_STACK_ADDRESS + LOOP_STACK_PAGES * PAGE_SIZE, serve_sockets, 0));
  return thread;
}

}  // namespace

extern "C" void metteagle_main(u64 endpoint_count) {
  Platform platform(PLATFORM);
  Factory factory(OWN_FACTORY);
  Task self(SELF_TASK);
  net::port_initialize();

  auto started = device.start(net::VirtioNetResources{platform, factory, self, slots, REGISTERS_ADDRESS, DMA_ADDRESS});
  if (!started.ok()) fail("starting the virtio-net device", started.error());
  const u8* mac = device.mac();
  printf(console, "net: virtio-net at transport %lu of %lu, MAC %02x:%02x:%02x:%02x:%02x:%02x\n",
         device.location().slot, device.location().transport_count, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);

  // The device's interrupt, when the kernel can route its line; otherwise the loop polls.
  u64 notification_slot = slots.allocate().value();  // Cannot fail: the allocator is fresh.
  if (auto created = factory.create(ObjectType::Notification, notification_slot); !created.ok())
    fail("creating the notification", created.error());
  events = Notification(notification_slot);
  u64 irq_slot = slots.allocate().value();
  constexpr u64 LEVEL_TRIGGERED = 1;
  auto created_irq = platform.create_irq(irq_slot, device.location().interrupt_line, LEVEL_TRIGGERED, factory);
  if (created_irq.ok()) irq = created_irq.value();
  interrupts = created_irq.ok() && irq.bind(events, DEVICE_BIT).ok();
  if (interrupts)
    printf(console, "net: interrupts on line %lu\n", device.location().interrupt_line);
  else
    printf(console, "net: line %lu is not routable (error %u); polling every %lu us\n",
           device.location().interrupt_line, static_cast<unsigned>(created_irq.ok() ? Error::None : created_irq.error()),
           POLL_INTERVAL_NS / 1000);

  lwip_init();
  ip4_addr_t address, netmask, gateway;
  IP4_ADDR(&address, 10, 0, 2, 15);
  IP4_ADDR(&netmask, 255, 255, 255, 0);
  IP4_ADDR(&gateway, 10, 0, 2, 2);
  if (netif_add(&interface, &address, &netmask, &gateway, nullptr, interface_init, ethernet_input) == nullptr)
    fail("adding the interface", Error::InvalidArgument);
  netif_set_default(&interface);
  netif_set_up(&interface);
  // Learn the gateway's MAC now: every connection forwarded by QEMU comes from 10.0.2.2, and with an
  // empty ARP cache the first SYN-ACK would wait for an ARP round trip (or be lost with the SYN).
  etharp_request(&interface, &gateway);
  // With an endpoint the port belongs to the clients (the gateway); without one, the health check.
  if (endpoint_count == 0) {
    if (!net::start_health_responder(HEALTH_PORT)) fail("listening on the health port", Error::Busy);
    printf(console, "net: 10.0.2.15/24 gateway 10.0.2.2, http health check listening on port %u\n", HEALTH_PORT);
    serve_health();
  }
  // From here on lwIP belongs to the loop's thread.
  auto loop = start_socket_loop(factory, self);
  if (!loop.ok()) fail("starting the socket loop's thread", loop.error());
  watch_device(loop.value());
}
