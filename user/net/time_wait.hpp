// time_wait: a new connection may reuse the addresses and ports of one that lwIP still holds in
// TIME-WAIT. QEMU's user network gives a guest connection its host client's port, and the host's
// kernel hands a loopback port out again at once (Linux's tcp_tw_reuse), while the guest, which
// closed first, keeps the old connection in TIME-WAIT for 2 MSL (120 s). lwIP answers such a SYN
// with an ACK of the old connection (RFC 793), the peer resets, lwIP ignores the reset (RFC 1337),
// and the peer tries again every 12 s: the request waited until the TIME-WAIT ended (requests of
// 80-115 s whose invocation took 1-2 s). As BSD and Linux do (RFC 1122 4.2.2.13, RFC 6191), a
// SYN whose sequence number lies beyond what the old connection received ends the TIME-WAIT, and
// the listener takes it.
// Invariant: only TIME-WAIT pcbs are ended here, and those have no socket any more.
#pragma once

#include "sys/types.hpp"

namespace net {

// Looks at an Ethernet frame about to enter lwIP and ends the TIME-WAIT a new SYN in it reuses.
void end_time_wait_for(const sys::u8* frame, sys::usize length);

}  // namespace net
