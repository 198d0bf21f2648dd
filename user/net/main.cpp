// net: the network server. One task holds the virtio-net device (device memory, DMA memory, its
// interrupt) and lwIP (NO_SYS), and runs one event loop: device interrupts and lwIP's timers.
// Static address 10.0.2.15/24, gateway 10.0.2.2 (QEMU user networking). Started with an endpoint
// (`endpoint=net:receive`) it serves the IPC socket interface (socket_server.hpp) and polls that
// endpoint from the same loop; without one it serves the HTTP health check on port 8080.
// Invariant: lwIP is only ever entered from this loop's thread.
#include "http_health.hpp"
#include "socket_server.hpp"
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
// How long the loop may leave a socket client's request waiting on the endpoint.
constexpr u64 SOCKET_POLL_INTERVAL_NS = 500'000;
constexpr u64 NANOSECONDS_PER_MILLISECOND = 1'000'000;
constexpr usize MISSED_INTERRUPT_LIMIT = 3;

Console console(CONSOLE);
SlotAllocator slots(FIRST_FREE, 256);
net::VirtioNet device;
netif interface;
net::SocketServer sockets;

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
  Notification events(notification_slot);
  u64 irq_slot = slots.allocate().value();
  constexpr u64 LEVEL_TRIGGERED = 1;
  auto irq = platform.create_irq(irq_slot, device.location().interrupt_line, LEVEL_TRIGGERED, factory);
  bool interrupts = irq.ok() && irq->bind(events, DEVICE_BIT).ok();
  if (interrupts)
    printf(console, "net: interrupts on line %lu\n", device.location().interrupt_line);
  else
    printf(console, "net: line %lu is not routable (error %u); polling every %lu us\n",
           device.location().interrupt_line, static_cast<unsigned>(irq.ok() ? Error::None : irq.error()),
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
  bool serving_sockets = endpoint_count >= 1;
  if (serving_sockets) {
    if (auto started_sockets = sockets.start(Endpoint(FIRST_ENDPOINT), factory, slots); !started_sockets.ok())
      fail("starting the socket interface", started_sockets.error());
    printf(console, "net: 10.0.2.15/24 gateway 10.0.2.2, socket interface on endpoint %lu\n", FIRST_ENDPOINT);
  } else {
    if (!net::start_health_responder(HEALTH_PORT)) fail("listening on the health port", Error::Busy);
    printf(console, "net: 10.0.2.15/24 gateway 10.0.2.2, http health check listening on port %u\n", HEALTH_PORT);
  }

  // Frames found after a wait that ended by timeout mean the device's interrupt did not arrive
  // (a machine wired differently than virtio_net.cpp assumes); after a few, poll instead.
  usize missed_interrupts = 0;
  bool woken_by_device = false;
  for (;;) {
    usize frames = deliver_frames();
    if (interrupts && !woken_by_device && frames != 0) {
      // The loop also wakes for socket clients, so frames may have arrived (and raised the
      // interrupt) while it was busy: a pending device bit proves the interrupt works.
      auto pending = events.wait(0);
      if (pending.ok() && (pending.value() & DEVICE_BIT) != 0) {
        woken_by_device = true;
        device.acknowledge_interrupt();
        deliver_frames();
        (void)irq->acknowledge();
      }
    }
    if (interrupts && !woken_by_device && frames != 0 && ++missed_interrupts == MISSED_INTERRUPT_LIMIT) {
      interrupts = false;
      printf(console, "net: frames arrive without interrupts on line %lu; polling every %lu us\n",
             device.location().interrupt_line, POLL_INTERVAL_NS / 1000);
    }
    sys_check_timeouts();
    // The kernel has no single wait for the device notification and the endpoint, so the loop
    // polls the endpoint between short waits on the notification (docs/NETWORK.md).
    usize served = 0;
    if (serving_sockets) {
      sockets.expire_deadlines();
      served = sockets.serve_pending(0);
    }
    u32 sleep_ms = sys_timeouts_sleeptime();
    u64 timeout = sleep_ms == SYS_TIMEOUTS_SLEEPTIME_INFINITE ? abi::TIMEOUT_INFINITE
                                                              : u64{sleep_ms} * NANOSECONDS_PER_MILLISECOND;
    if (!interrupts && timeout > POLL_INTERVAL_NS) timeout = POLL_INTERVAL_NS;
    if (serving_sockets && timeout > SOCKET_POLL_INTERVAL_NS) timeout = SOCKET_POLL_INTERVAL_NS;
    if (served != 0) timeout = 0;  // A busy client: look at the device, then straight back to it.
    auto bits = events.wait(timeout);
    woken_by_device = bits.ok() && (bits.value() & DEVICE_BIT) != 0;
    if (interrupts && woken_by_device) {
      // Acknowledge at the device first (its level-triggered line drops), then take the frames,
      // then unmask: a frame arriving meanwhile raises the line again and is not lost.
      device.acknowledge_interrupt();
      deliver_frames();
      (void)irq->acknowledge();
    }
  }
}
