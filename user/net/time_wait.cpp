// Ending a TIME-WAIT for a new SYN (see time_wait.hpp).
#include "time_wait.hpp"

#include "lwip/priv/tcp_priv.h"
#include "lwip/tcp.h"

namespace net {

namespace {

using sys::u16;
using sys::u32;
using sys::u8;
using sys::usize;

constexpr usize ETHERNET_HEADER = 14;
constexpr usize IPV4_MINIMUM = 20;
constexpr usize TCP_MINIMUM = 20;
constexpr u8 PROTOCOL_TCP = 6;
constexpr u8 FLAG_RST = 0x04, FLAG_SYN = 0x02, FLAG_ACK = 0x10;

u16 big16(const u8* bytes) { return static_cast<u16>(bytes[0] << 8 | bytes[1]); }
u32 big32(const u8* bytes) {
  return static_cast<u32>(bytes[0]) << 24 | static_cast<u32>(bytes[1]) << 16 | static_cast<u32>(bytes[2]) << 8 | bytes[3];
}

}  // namespace

void end_time_wait_for(const u8* frame, usize length) {
  if (tcp_tw_pcbs == nullptr || length < ETHERNET_HEADER + IPV4_MINIMUM) return;
  const u8* ip = frame + ETHERNET_HEADER;
  if (big16(frame + 12) != 0x0800 || ip[0] >> 4 != 4 || ip[9] != PROTOCOL_TCP) return;
  usize ip_header = static_cast<usize>(ip[0] & 0xf) * 4;
  if ((big16(ip + 6) & 0x3fff) != 0) return;  // A fragment: lwIP reassembles none (IP_REASSEMBLY 0).
  if (ip_header < IPV4_MINIMUM || length < ETHERNET_HEADER + ip_header + TCP_MINIMUM) return;
  const u8* tcp = ip + ip_header;
  if ((tcp[13] & (FLAG_SYN | FLAG_ACK | FLAG_RST)) != FLAG_SYN) return;  // Only a connection's first SYN.
  u16 remote_port = big16(tcp), local_port = big16(tcp + 2);
  u32 sequence = big32(tcp + 4);
  u32 remote_address, local_address;  // In network order, as lwIP keeps addresses.
  __builtin_memcpy(&remote_address, ip + 12, 4);
  __builtin_memcpy(&local_address, ip + 16, 4);
  for (tcp_pcb* pcb = tcp_tw_pcbs; pcb != nullptr; pcb = pcb->next) {
    if (pcb->remote_port != remote_port || pcb->local_port != local_port ||
        ip4_addr_get_u32(ip_2_ip4(&pcb->remote_ip)) != remote_address ||
        ip4_addr_get_u32(ip_2_ip4(&pcb->local_ip)) != local_address)
      continue;
    // An old duplicate SYN (at or before what the old connection received) gets lwIP's answer.
    if (TCP_SEQ_GT(sequence, pcb->rcv_nxt)) tcp_abort(pcb);  // A TIME-WAIT pcb goes without a RST.
    return;
  }
}

}  // namespace net
