// SocketServer over lwIP's raw TCP API: listeners, accepted connections with their unread data,
// and the callers parked on them. Handles carry a generation so a stale handle is NotFound.
#include "socket_server.hpp"

#include "lwip/tcp.h"
#include "net/socket.hpp"

namespace net {
namespace {

using namespace sys;

constexpr usize MAX_LISTENERS = 4;
// Below MEMP_NUM_TCP_PCB (lwipopts.h, 352): closing ones linger in lwIP for a while.
constexpr usize MAX_CONNECTIONS = 320;
constexpr usize ACCEPT_QUEUE = 64;
constexpr usize MAX_POLLERS = 4;  // One Poll per badge at a time.
constexpr u64 LISTENER_BIT = 0x8000;
constexpr u64 INDEX_MASK = 0x7fff;
constexpr u64 GENERATION_SHIFT = 16;
// A handle's generation has 40 bits, so handles stay below 2^56 and Poll can carry events above.
constexpr u64 GENERATION_MASK = (u64{1} << (POLL_EVENT_SHIFT - GENERATION_SHIFT)) - 1;
static_assert(MAX_CONNECTIONS <= INDEX_MASK && MAX_LISTENERS <= INDEX_MASK);
constexpr usize REQUESTS_PER_ROUND = 64;
// A send parked on lwIP's memory (not its window) may see no sent callback: retried this often.
constexpr u64 SEND_RETRY_NS = 1'000'000;
// A short segment's ACK waits this long for the answer to carry it (docs/NETWORK.md, ACKs): the
// gateway answers 97% of empty invocations within 2 ms, 46% within 1 ms (TCG, one connection).
constexpr u64 ACK_DELAY_NS = 2'000'000;
constexpr u64 MAX_TIMEOUT_NS = 3'600'000'000'000ull;  // Longer waits are "forever".

constexpr u64 INTEREST_BITS = POLL_READABLE | POLL_WRITABLE | POLL_DELIVER;  // What Watch and Poll accept.

// A caller waiting in a Reply object until its socket is ready or its deadline passes. The Reply
// object is created the first time the waiter parks (a client that never blocks needs none) and
// kept with its slot.
struct Waiter {
  u64 reply_object = 0;
  bool waiting = false;
  u64 deadline = 0;  // TSC ticks; 0 = none.
  u64 maximum = 0;   // Receive: the most bytes the caller takes.
};

struct Connection {
  bool in_use = false;
  bool accepted = false;     // Handed to the client by Accept or Connect (before that it sits in a queue).
  bool connecting = false;   // Connect's SYN is out; its caller waits in `sender` for the answer.
  u64 owner = 0;             // The badge of the client that owns the listener.
  u64 generation = 0;
  tcp_pcb* pcb = nullptr;    // Null once lwIP freed it (reset).
  pbuf* pending = nullptr;   // Received and not yet taken; acknowledged to lwIP as it is taken.
  bool peer_closed = false;
  bool reset = false;
  u64 peer_address = 0;
  u64 peer_port = 0;
  u64 interest = 0;          // What Poll reports for it (POLL_READABLE, POLL_WRITABLE), and POLL_DELIVER.
  u64 ack_due = 0;           // TSC: a delayed ACK goes out alone now unless data carried it; 0 = none.
  Waiter receiver;
  Waiter sender;
  u64 send_length = 0;
  u8 send_data[SEND_BYTES];
};

struct Listener {
  bool in_use = false;
  u64 owner = 0;
  u64 generation = 0;
  tcp_pcb* pcb = nullptr;
  usize queue[ACCEPT_QUEUE] = {};
  usize queue_head = 0;
  usize queue_count = 0;
  u64 interest = 0;
  Waiter acceptor;
};

// A badge's Poll: parked until one of its watched sockets is ready, a Wake, or its deadline.
struct Poller {
  bool in_use = false;
  u64 owner = 0;
  bool woken = false;        // A Wake arrived while no Poll waited: the next one returns at once.
  usize next_connection = 0;  // Where the next scan starts (round robin).
  Waiter waiter;
};

// A client's bulk buffer (SOCKET_ATTACH): its Memory, moved with MemoryRead/MemoryWrite only.
struct Attachment {
  bool in_use = false;
  u64 owner = 0;
  u64 memory_slot = 0;
  u64 size = 0;
  u64 delivery_offset = 0;  // Poll's deliveries go to [delivery_offset, + delivery_bytes) ...
  u64 delivery_bytes = 0;   // ... (0: into the answer).
};
constexpr usize MAX_ATTACHMENTS = 4;

Endpoint service;
// The answer to the request just served: sent with the next receive, which IpcReplyWait does in
// the same system call (serve_pending), so a request costs the server one call, not two.
Message pending_answer;
bool answer_pending = false;
Attachment attachments[MAX_ATTACHMENTS];
u64 receive_slot = 0;  // Where a capability sent with a request lands (set_receive_slots).
u8 staging[BULK_BYTES];  // Bytes between lwIP's pbufs and an attached buffer.
Connection connections[MAX_CONNECTIONS];
Listener listeners[MAX_LISTENERS];
Poller pollers[MAX_POLLERS];
u64 ticks_per_microsecond = 1;
// When expire_deadlines next has work (TSC): no parked caller's deadline and no parked send's retry
// comes earlier. ~0: nothing waits with a deadline. Kept so the loop, which turns once per batch of
// requests, scans the connections only when something is due.
u64 next_check = 0;
// Connections owed a delayed ACK, in the order their deadlines fall (every delay is ACK_DELAY_NS, so
// arming order is deadline order): the loop looks only at the head, never scans the connections.
// An entry whose connection re-armed or was reused since (its ack_due differs) is skipped.
struct AckDue {
  usize index;
  u64 due;
};
constexpr usize ACK_QUEUE = 4 * MAX_CONNECTIONS;
AckDue ack_queue[ACK_QUEUE];
usize ack_head = 0;
usize ack_count = 0;
Factory reply_factory;
SlotAllocator* reply_slots = nullptr;

u64 now() { return __builtin_ia32_rdtsc(); }

u64 deadline_after(u64 timeout_ns) {
  if (timeout_ns >= MAX_TIMEOUT_NS) return 0;
  return now() + (timeout_ns / 1000 + 1) * ticks_per_microsecond;
}

void check_by(u64 due) {
  if (due != 0 && due < next_check) next_check = due;
}

Message status_message(Error error) { return Message::make(static_cast<u32>(error)); }

// Answers the caller of the request being served (when serve_pending next receives, or ends).
void respond(const Message& answer) {
  pending_answer = answer;
  answer_pending = true;
}

// Whether an answer waits to go out; it is taken (the caller sends it).
bool take_pending_answer() {
  bool pending = answer_pending;
  answer_pending = false;
  return pending;
}

// A success answer carrying (the first `bytes` bytes of) `body`.
template <MessageBody Body>
Message answer_of(const Body& body, u64 bytes = sizeof(Body)) {
  return message_of(0, body, bytes);
}

// An answer to Receive with `length` 0: the peer closed its side.
Message peer_closed_answer() { return answer_of(ReceiveReply{}, offsetof(ReceiveReply, bytes)); }

// An answer to Poll with nothing ready and no Wake.
Message empty_poll_answer() { return answer_of(PollReply{}, offsetof(PollReply, ready)); }

void answer_parked(Waiter& waiter, const Message& message) {
  // A caller that vanished meanwhile (NotFound) needs no answer.
  (void)reply_with(waiter.reply_object, message);
  waiter.waiting = false;
  waiter.deadline = 0;
}

Result<u64> new_reply_object(Factory factory, SlotAllocator& slots) {
  auto slot = slots.allocate();
  if (!slot.ok()) return slot.error();
  auto created = factory.create(ObjectType::Reply, slot.value());
  if (!created.ok()) {
    slots.free(slot.value());
    return created.error();
  }
  return slot.value();
}

// Parks the caller of the request being served; false (and nothing parked) when there is no
// Reply object for it: the caller must then be answered at once.
bool park(Waiter& waiter, u64 timeout_ns) {
  if (waiter.reply_object == 0) {
    auto created = new_reply_object(reply_factory, *reply_slots);
    if (!created.ok()) return false;
    waiter.reply_object = created.value();
  }
  if (!save_reply(waiter.reply_object).ok()) return false;
  waiter.waiting = true;
  waiter.deadline = deadline_after(timeout_ns);
  check_by(waiter.deadline);
  return true;
}

u64 handle_of(u64 generation, u64 index, bool listener) {
  return ((generation & GENERATION_MASK) << GENERATION_SHIFT) | (listener ? LISTENER_BIT : 0) | index;
}

Connection* connection_of(u64 handle, u64 badge) {
  if ((handle & LISTENER_BIT) != 0) return nullptr;
  u64 index = handle & INDEX_MASK;
  if (index >= MAX_CONNECTIONS) return nullptr;
  Connection& connection = connections[index];
  if (!connection.in_use || !connection.accepted || connection.owner != badge ||
      (connection.generation & GENERATION_MASK) != handle >> GENERATION_SHIFT)
    return nullptr;
  return &connection;
}

Listener* listener_of(u64 handle, u64 badge) {
  if ((handle & LISTENER_BIT) == 0) return nullptr;
  u64 index = handle & INDEX_MASK;
  if (index >= MAX_LISTENERS) return nullptr;
  Listener& listener = listeners[index];
  if (!listener.in_use || listener.owner != badge || (listener.generation & GENERATION_MASK) != handle >> GENERATION_SHIFT)
    return nullptr;
  return &listener;
}

// Copies the first `length` received bytes (at most what is pending) to `target`.
void copy_pending(const Connection& connection, u8* target, u64 length) {
  pbuf_copy_partial(connection.pending, target, static_cast<u16_t>(length), 0);
}

// The first `length` received bytes were handed to the client: freed, and the window reopens.
void drop_pending(Connection& connection, u64 length) {
  connection.pending = pbuf_free_header(connection.pending, static_cast<u16_t>(length));
  if (connection.pcb != nullptr) tcp_recved(connection.pcb, static_cast<u16_t>(length));
}

// The answer to a Receive when the connection can give one now; false while it must wait.
bool receive_answer(Connection& connection, u64 maximum, Message& answer) {
  if (connection.pending != nullptr) {
    u64 length = connection.pending->tot_len;
    if (length > maximum) length = maximum;
    if (length > RECEIVE_BYTES) length = RECEIVE_BYTES;
    ReceiveReply body;
    body.length = length;
    copy_pending(connection, body.bytes, length);
    drop_pending(connection, length);
    put(answer, 0, body, offsetof(ReceiveReply, bytes) + length);
    return true;
  }
  if (connection.reset) {
    answer = status_message(Error::Destroyed);
    return true;
  }
  if (connection.peer_closed) {
    answer = peer_closed_answer();
    return true;
  }
  return false;
}

Attachment* attachment_of(u64 badge) {
  for (auto& attachment : attachments)
    if (attachment.in_use && attachment.owner == badge) return &attachment;
  return nullptr;
}

// The badge's buffer when [offset, offset + length) is a bulk transfer that fits in it, else null.
const Attachment* bulk_span(u64 badge, u64 offset, u64 length) {
  const Attachment* attachment = attachment_of(badge);
  if (attachment == nullptr || length == 0 || length > BULK_BYTES || offset > attachment->size ||
      length > attachment->size - offset)
    return nullptr;
  return attachment;
}

// A bulk Receive: what is pending now (at most `maximum`) into the badge's buffer at `offset`.
Message receive_bulk_answer(Connection& connection, const Attachment& attachment, u64 offset, u64 maximum) {
  if (connection.pending != nullptr) {
    u64 length = connection.pending->tot_len;
    if (length > maximum) length = maximum;
    copy_pending(connection, staging, length);
    // A buffer the client revoked or shrank meanwhile: its error, and the bytes stay pending.
    if (!Memory(attachment.memory_slot).write(offset, staging, length).ok()) return status_message(Error::InvalidArgument);
    drop_pending(connection, length);
    return answer_of(BulkReceived{length});
  }
  if (connection.reset) return status_message(Error::Destroyed);
  if (connection.peer_closed) return answer_of(BulkReceived{0});
  return status_message(Error::Timeout);
}

// Writable means room for this much: a client woken for each acknowledged segment would send a
// large response a segment at a time (1.3 MB/s for 32 MiB); half the send buffer keeps the window
// full with one wake per half. Always reachable: it is below TCP_SND_BUF.
constexpr u64 WRITABLE_ROOM = TCP_SND_BUF / 2 > SEND_BYTES ? TCP_SND_BUF / 2 : SEND_BYTES;

// What of `connection`'s interest is ready now.
u64 ready_events(const Connection& connection) {
  u64 events = 0;
  bool broken = connection.reset || connection.pcb == nullptr;
  if ((connection.interest & POLL_READABLE) != 0 && (connection.pending != nullptr || connection.peer_closed || broken))
    events |= POLL_READABLE;
  if ((connection.interest & POLL_WRITABLE) != 0 && (broken || tcp_sndbuf(connection.pcb) >= WRITABLE_ROOM))
    events |= POLL_WRITABLE;
  return events;
}

// A POLL_DELIVER connection's received bytes into the answer being built (or the delivery area it
// stages), as far as it has room: how many, which the caller drops once they reach the client.
u64 deliver(const Connection& connection, PollReplyBuilder& reply, u64 entry) {
  if ((connection.interest & POLL_DELIVER) == 0 || connection.pending == nullptr ||
      (reply.events(entry) & POLL_READABLE) == 0)
    return 0;
  u64 room = reply.delivery_room();
  if (room == 0) return 0;
  u64 pending = connection.pending->tot_len;
  u64 length = pending < room ? pending : room;
  copy_pending(connection, reply.deliver(entry, length, length == pending), length);
  return length;
}

// The Poll answer for `poller` (its owner's ready sockets, listeners first, then connections from
// where the last scan stopped); false when nothing is ready and no Wake is pending.
bool poll_answer(Poller& poller, Message& answer) {
  PollReplyBuilder reply;
  for (usize index = 0; index < MAX_LISTENERS && reply.count() < POLL_MAX_READY; ++index) {
    Listener& listener = listeners[index];
    if (listener.in_use && listener.owner == poller.owner && (listener.interest & POLL_READABLE) != 0 &&
        listener.queue_count > 0)
      (void)reply.add(handle_of(listener.generation, index, true), POLL_READABLE);
  }
  u64 first_connection = reply.count();
  usize found[POLL_MAX_READY];  // The connection of each entry from first_connection on.
  usize scanned = 0;
  usize index = poller.next_connection;
  for (; scanned < MAX_CONNECTIONS && reply.count() < POLL_MAX_READY; ++scanned, index = (index + 1) % MAX_CONNECTIONS) {
    Connection& connection = connections[index];
    if (!connection.in_use || !connection.accepted || connection.owner != poller.owner) continue;
    u64 events = ready_events(connection);
    if (events == 0) continue;
    found[reply.count()] = index;
    (void)reply.add(handle_of(connection.generation, index, false), events);
  }
  poller.next_connection = index;
  if (reply.count() == 0 && !poller.woken) return false;
  // The deliveries: staged and written to the badge's delivery area in one MemoryWrite when it has
  // one, else into the answer. Bytes leave lwIP only once they are the client's.
  const Attachment* area = attachment_of(poller.owner);
  if (area != nullptr && area->delivery_bytes == 0) area = nullptr;
  PollReplyBuilder staged;
  PollReplyBuilder& target = area != nullptr ? staged : reply;
  if (area != nullptr) {
    staged = reply;
    staged.deliver_into(staging, area->delivery_bytes);
  }
  u64 taken[POLL_MAX_READY] = {};
  for (u64 entry = first_connection; entry < target.count(); ++entry)
    taken[entry] = deliver(connections[found[entry]], target, entry);
  if (area != nullptr) {
    // The client took its buffer back: no deliveries, the bytes wait for a Receive.
    if (staged.area_used() != 0 && Memory(area->memory_slot).write(area->delivery_offset, staging, staged.area_used()).ok())
      reply = staged;
    else
      for (u64& length : taken) length = 0;
  }
  for (u64 entry = first_connection; entry < reply.count(); ++entry)
    if (taken[entry] != 0) drop_pending(connections[found[entry]], taken[entry]);
  reply.finish(answer, poller.woken);
  poller.woken = false;
  return true;
}

// Something changed for `owner`'s sockets: answer its parked Poll if anything is ready now.
void notify_owner(u64 owner) {
  for (auto& poller : pollers) {
    if (!poller.in_use || poller.owner != owner || !poller.waiter.waiting) continue;
    Message answer;
    if (poll_answer(poller, answer)) answer_parked(poller.waiter, answer);
  }
}

// A connection's or listener's interest (Watch, and Poll's changes); false when `badge` has no
// such socket.
bool set_interest(u64 handle, u64 interest, u64 badge) {
  if (Connection* connection = connection_of(handle, badge); connection != nullptr) {
    connection->interest = interest;
  } else if (Listener* listener = listener_of(handle, badge); listener != nullptr) {
    listener->interest = interest & POLL_READABLE;
  } else {
    return false;
  }
  return true;
}

// A Poll's interest changes (its count checked already): none when any has unknown bits, else
// each in turn, a socket that is gone skipped (the client closed it after asking).
bool apply_watches(const PollRequest& body, u64 badge) {
  for (u64 index = 0; index < body.count; ++index)
    if ((body.watch[index] >> POLL_EVENT_SHIFT & ~INTEREST_BITS) != 0) return false;
  for (u64 index = 0; index < body.count; ++index)
    (void)set_interest(body.watch[index] & POLL_HANDLE_MASK, body.watch[index] >> POLL_EVENT_SHIFT, badge);
  return true;
}

Poller* poller_of(u64 badge) {
  Poller* free_poller = nullptr;
  for (auto& poller : pollers) {
    if (poller.in_use && poller.owner == badge) return &poller;
    if (!poller.in_use && free_poller == nullptr) free_poller = &poller;
  }
  if (free_poller != nullptr) {
    u64 reply_object = free_poller->waiter.reply_object;
    *free_poller = Poller{};
    free_poller->in_use = true;
    free_poller->owner = badge;
    free_poller->waiter.reply_object = reply_object;
  }
  return free_poller;
}

void wake_receiver(Connection& connection) {
  if (!connection.receiver.waiting || connection.receiver.maximum == 0) return;
  Message answer;
  if (receive_answer(connection, connection.receiver.maximum, answer)) answer_parked(connection.receiver, answer);
}

// Queues `length` bytes for sending when lwIP has room for all of them; false while it has not.
bool send_answer(Connection& connection, const u8* bytes, u64 length, Message& answer) {
  if (connection.reset || connection.pcb == nullptr) {
    answer = status_message(Error::Destroyed);
    return true;
  }
  if (tcp_sndbuf(connection.pcb) < length) return false;
  err_t written = tcp_write(connection.pcb, bytes, static_cast<u16_t>(length), TCP_WRITE_FLAG_COPY);
  if (written == ERR_MEM) return false;
  if (written != ERR_OK) {
    answer = status_message(Error::Destroyed);
    return true;
  }
  tcp_output(connection.pcb);
  answer = answer_of(SentReply{length});
  return true;
}

void wake_sender(Connection& connection) {
  if (!connection.sender.waiting || connection.connecting) return;
  Message answer;
  if (send_answer(connection, connection.send_data, connection.send_length, answer))
    answer_parked(connection.sender, answer);
}

void free_pending(Connection& connection) {
  if (connection.pending == nullptr) return;
  // Acknowledge what was never read, so lwIP's window is whole again and tcp_close ends the
  // connection with a FIN after the queued answer instead of a reset that would discard it.
  if (connection.pcb != nullptr) tcp_recved(connection.pcb, connection.pending->tot_len);
  pbuf_free(connection.pending);
  connection.pending = nullptr;
}

void release_connection(Connection& connection) {
  free_pending(connection);
  if (connection.pcb != nullptr) {
    tcp_pcb* pcb = connection.pcb;
    tcp_arg(pcb, nullptr);
    tcp_recv(pcb, nullptr);
    tcp_sent(pcb, nullptr);
    tcp_err(pcb, nullptr);
    if (tcp_close(pcb) != ERR_OK) tcp_abort(pcb);
    connection.pcb = nullptr;
  }
  if (connection.receiver.waiting) answer_parked(connection.receiver, status_message(Error::Destroyed));
  if (connection.sender.waiting) answer_parked(connection.sender, status_message(Error::Destroyed));
  connection.in_use = false;
  connection.accepted = false;
  connection.connecting = false;
}

err_t on_receive(void* argument, tcp_pcb* pcb, pbuf* buffer, err_t) {
  auto* connection = static_cast<Connection*>(argument);
  if (connection == nullptr) return ERR_ARG;
  if (buffer == nullptr) {
    connection->peer_closed = true;
  } else if (connection->pending == nullptr) {
    connection->pending = buffer;
  } else {
    pbuf_cat(connection->pending, buffer);
  }
  // A full-sized segment is acknowledged at once (tcp_input sends the ACK after this callback): a
  // sender using Nagle's algorithm (QEMU's user network does) holds the short rest of its write
  // until that ACK comes, and lwIP alone would delay it to its next 250 ms tick (every request
  // above ~1.4 KB waited ~240 ms, issue 14). A short segment usually ends a request: its ACK waits
  // ACK_DELAY_NS for the answer to carry it, and expire_deadlines sends it alone if none came.
  if (buffer != nullptr && pcb != nullptr) {
    if (buffer->tot_len >= tcp_mss(pcb)) {
      tcp_set_flags(pcb, TF_ACK_NOW);
    } else if ((pcb->flags & TF_ACK_DELAY) != 0) {
      // This segment is the first one owed an ACK (lwIP turns a second one into TF_ACK_NOW): its
      // delay starts now, whatever deadline an earlier, already acknowledged segment left. A full
      // queue (only under a flood of re-armings) acknowledges at once instead.
      if (ack_count == ACK_QUEUE) {
        tcp_set_flags(pcb, TF_ACK_NOW);
      } else {
        connection->ack_due = deadline_after(ACK_DELAY_NS);
        ack_queue[(ack_head + ack_count++) % ACK_QUEUE] =
            AckDue{static_cast<usize>(connection - connections), connection->ack_due};
      }
    }
  }
  wake_receiver(*connection);
  notify_owner(connection->owner);
  return ERR_OK;
}

err_t on_sent(void* argument, tcp_pcb*, u16_t) {
  auto* connection = static_cast<Connection*>(argument);
  if (connection != nullptr) {
    wake_sender(*connection);
    notify_owner(connection->owner);
  }
  return ERR_OK;
}

void on_error(void* argument, err_t error) {
  auto* connection = static_cast<Connection*>(argument);
  if (connection == nullptr) return;
  connection->pcb = nullptr;  // lwIP has freed it already.
  if (connection->connecting) {
    // The caller never got the handle: its Connect fails, and the slot is free again. A reset
    // answering the SYN is a refusal; lwIP giving up its SYN retries (ERR_ABRT) is a timeout.
    connection->connecting = false;
    connection->in_use = false;
    if (connection->sender.waiting)
      answer_parked(connection->sender, status_message(error == ERR_RST ? Error::Destroyed : Error::Timeout));
    return;
  }
  connection->reset = true;
  if (connection->pending != nullptr) {
    pbuf_free(connection->pending);
    connection->pending = nullptr;
  }
  if (connection->receiver.waiting) answer_parked(connection->receiver, status_message(Error::Destroyed));
  if (connection->sender.waiting) answer_parked(connection->sender, status_message(Error::Destroyed));
  notify_owner(connection->owner);
}

u64 free_connection_index() {
  for (usize index = 0; index < MAX_CONNECTIONS; ++index)
    if (!connections[index].in_use) return index;
  return MAX_CONNECTIONS;
}

// A fresh connection in slot `index` for `owner` over `pcb`: a new generation, the slot's Reply
// objects kept, lwIP's callbacks pointed at it, Nagle off (it would hold a response's last
// segment until the previous one is acknowledged).
Connection& open_connection(usize index, u64 owner, tcp_pcb* pcb) {
  Connection& connection = connections[index];
  u64 generation = connection.generation + 1;
  u64 receive_reply = connection.receiver.reply_object;
  u64 send_reply = connection.sender.reply_object;
  connection = Connection{};
  connection.in_use = true;
  connection.owner = owner;
  connection.generation = generation;
  connection.pcb = pcb;
  connection.receiver.reply_object = receive_reply;
  connection.sender.reply_object = send_reply;
  tcp_arg(pcb, &connection);
  tcp_recv(pcb, on_receive);
  tcp_sent(pcb, on_sent);
  tcp_err(pcb, on_error);
  tcp_nagle_disable(pcb);
  return connection;
}

Message accept_answer(Listener& listener) {
  usize index = listener.queue[listener.queue_head];
  listener.queue_head = (listener.queue_head + 1) % ACCEPT_QUEUE;
  --listener.queue_count;
  Connection& connection = connections[index];
  connection.accepted = true;
  return answer_of(Accepted{handle_of(connection.generation, index, false), connection.peer_address, connection.peer_port});
}

err_t on_accept(void* argument, tcp_pcb* pcb, err_t error) {
  auto* listener = static_cast<Listener*>(argument);
  if (error != ERR_OK || pcb == nullptr) return ERR_VAL;
  usize free_index = free_connection_index();
  // No room (or nobody listens any more): refuse rather than queue without bound.
  if (listener == nullptr || free_index == MAX_CONNECTIONS || listener->queue_count == ACCEPT_QUEUE) {
    tcp_abort(pcb);
    return ERR_ABRT;
  }
  Connection& connection = open_connection(free_index, listener->owner, pcb);
  connection.peer_address = ip4_addr_get_u32(&pcb->remote_ip);
  connection.peer_port = pcb->remote_port;
  listener->queue[(listener->queue_head + listener->queue_count) % ACCEPT_QUEUE] = free_index;
  ++listener->queue_count;
  if (listener->acceptor.waiting) answer_parked(listener->acceptor, accept_answer(*listener));
  notify_owner(listener->owner);
  return ERR_OK;
}

err_t on_connected(void* argument, tcp_pcb*, err_t) {
  auto* connection = static_cast<Connection*>(argument);
  if (connection == nullptr || !connection->connecting) return ERR_OK;
  connection->connecting = false;
  connection->accepted = true;
  usize index = static_cast<usize>(connection - connections);
  if (connection->sender.waiting)
    answer_parked(connection->sender, answer_of(ConnectReply{handle_of(connection->generation, index, false)}));
  return ERR_OK;
}

// Connect: validated first (nothing is allocated for a bad request), then a slot and a PCB, the
// SYN, and the caller parked until on_connected, on_error or its deadline answers it.
void handle_connect(const Message& request, u64 badge) {
  ConnectRequest body;
  get(request, body);
  u64 first_byte = body.address & 0xff;  // Network order: a of a.b.c.d.
  bool allowed_address = body.address <= 0xffffffff && first_byte != 0 && first_byte != 127 && first_byte < 224;
  if (!carries<ConnectRequest>(request) || !allowed_address || body.port == 0 || body.port > 0xffff ||
      body.timeout == 0) {
    respond(status_message(Error::InvalidArgument));
    return;
  }
  usize index = free_connection_index();
  tcp_pcb* pcb = index < MAX_CONNECTIONS ? tcp_new() : nullptr;
  if (pcb == nullptr) {
    respond(status_message(Error::QuotaExceeded));
    return;
  }
  Connection& connection = open_connection(index, badge, pcb);
  connection.connecting = true;
  connection.peer_address = body.address;
  connection.peer_port = body.port;
  ip_addr_t remote;
  ip4_addr_set_u32(&remote, static_cast<u32_t>(body.address));
  err_t started = tcp_connect(pcb, &remote, static_cast<u16_t>(body.port), on_connected);
  if (started != ERR_OK) {
    release_connection(connection);  // Nobody waits on it yet: only the PCB goes.
    respond(status_message(started == ERR_RTE ? Error::NotFound : Error::QuotaExceeded));
    return;
  }
  if (!park(connection.sender, body.timeout)) {
    release_connection(connection);
    respond(status_message(Error::QuotaExceeded));
  }
}

Message handle_listen(const Message& request) {
  ListenRequest body;
  get(request, body);
  u64 port = body.port;
  if (port == 0 || port > 0xffff) return status_message(Error::InvalidArgument);
  Listener* free_listener = nullptr;
  u64 index = 0;
  for (; index < MAX_LISTENERS; ++index) {
    if (!listeners[index].in_use) {
      free_listener = &listeners[index];
      break;
    }
  }
  if (free_listener == nullptr) return status_message(Error::QuotaExceeded);
  tcp_pcb* pcb = tcp_new();
  if (pcb == nullptr) return status_message(Error::QuotaExceeded);
  if (tcp_bind(pcb, IP_ANY_TYPE, static_cast<u16_t>(port)) != ERR_OK) {
    tcp_close(pcb);
    return status_message(Error::Busy);
  }
  tcp_pcb* listening = tcp_listen(pcb);
  if (listening == nullptr) {
    tcp_close(pcb);
    return status_message(Error::QuotaExceeded);
  }
  Listener& listener = *free_listener;
  u64 accept_reply = listener.acceptor.reply_object;
  u64 generation = listener.generation + 1;
  listener = Listener{};
  listener.in_use = true;
  listener.owner = request.badge;
  listener.generation = generation;
  listener.pcb = listening;
  listener.acceptor.reply_object = accept_reply;
  tcp_arg(listening, &listener);
  tcp_accept(listening, on_accept);
  return answer_of(ListenReply{handle_of(generation, index, true)});
}

void close_listener(Listener& listener) {
  tcp_arg(listener.pcb, nullptr);
  tcp_accept(listener.pcb, nullptr);
  tcp_close(listener.pcb);  // Closing a listening pcb cannot fail.
  while (listener.queue_count > 0) {
    release_connection(connections[listener.queue[listener.queue_head]]);
    listener.queue_head = (listener.queue_head + 1) % ACCEPT_QUEUE;
    --listener.queue_count;
  }
  if (listener.acceptor.waiting) answer_parked(listener.acceptor, status_message(Error::Destroyed));
  listener.in_use = false;
}

// The checks every data transfer makes first, in this order: the connection is the caller's
// (NotFound), the request is well formed (InvalidArgument), and no transfer of the same direction
// (`waiter`) waits on it already (Busy). Error::None when it may go on.
Error transfer_refusal(const Connection* connection, bool well_formed, Waiter Connection::*waiter) {
  if (connection == nullptr) return Error::NotFound;
  if (!well_formed) return Error::InvalidArgument;
  if ((connection->*waiter).waiting) return Error::Busy;
  return Error::None;
}

// What lwIP takes for `connection` now, at most `length` (all of it for a broken connection,
// whose send then reports the error).
u64 room_now(const Connection& connection, u64 length) {
  u64 room = connection.pcb != nullptr && !connection.reset ? tcp_sndbuf(connection.pcb) : length;
  return length < room ? length : room;
}

// Send and SendNow.
void handle_send(const Message& request, u64 badge) {
  SendRequest body;
  get(request, body);
  Connection* connection = carries<SendRequest>(request, offsetof(SendRequest, bytes)) ? connection_of(body.connection, badge) : nullptr;
  bool well_formed = body.length != 0 && body.length <= SEND_BYTES &&
                     carries<SendRequest>(request, offsetof(SendRequest, bytes) + body.length);
  if (Error refusal = transfer_refusal(connection, well_formed, &Connection::sender); refusal != Error::None) {
    respond(status_message(refusal));
    return;
  }
  Message answer;
  if (request.label() == SOCKET_SEND_NOW) {
    u64 take = room_now(*connection, body.length);
    // tcp_write can still refuse for want of segments or heap (ERR_MEM): that is Busy too.
    respond(take != 0 && send_answer(*connection, body.bytes, take, answer) ? answer : status_message(Error::Busy));
    return;
  }
  if (send_answer(*connection, body.bytes, body.length, answer)) {
    respond(answer);
    return;
  }
  for (u64 index = 0; index < body.length; ++index) connection->send_data[index] = body.bytes[index];
  connection->send_length = body.length;
  if (!park(connection->sender, abi::TIMEOUT_INFINITE)) {
    respond(status_message(Error::QuotaExceeded));
    return;
  }
  check_by(deadline_after(SEND_RETRY_NS));  // expire_deadlines retries it.
}

// ReceiveBulk and SendBulk.
void handle_bulk(const Message& request, u64 badge) {
  BulkRequest body;
  get(request, body);
  bool sending = request.label() == SOCKET_SEND_BULK;
  Connection* connection = carries<BulkRequest>(request) ? connection_of(body.connection, badge) : nullptr;
  const Attachment* attachment = bulk_span(badge, body.offset, body.length);
  Error refusal = transfer_refusal(connection, attachment != nullptr, sending ? &Connection::sender : &Connection::receiver);
  if (refusal != Error::None) {
    respond(status_message(refusal));
    return;
  }
  if (!sending) {
    respond(receive_bulk_answer(*connection, *attachment, body.offset, body.length));
    return;
  }
  u64 take = room_now(*connection, body.length);
  if (take == 0) {
    respond(status_message(Error::Busy));
    return;
  }
  if (!Memory(attachment->memory_slot).read(body.offset, staging, take).ok()) {
    respond(status_message(Error::InvalidArgument));
    return;
  }
  Message answer;
  respond(send_answer(*connection, staging, take, answer) ? answer : status_message(Error::Busy));
}

// Serves one request: answers it now, or parks the caller (and answers it later).
void dispatch(const Message& request) {
  u64 badge = request.badge;
  switch (request.label()) {
    case SOCKET_LISTEN:
      // The backlog is optional.
      respond(!carries<ListenRequest>(request, offsetof(ListenRequest, backlog)) ? status_message(Error::InvalidArgument)
                                                                                      : handle_listen(request));
      return;
    case SOCKET_ACCEPT: {
      AcceptRequest body;
      get(request, body);
      Listener* listener = carries<AcceptRequest>(request) ? listener_of(body.listener, badge) : nullptr;
      if (listener == nullptr) break;
      if (listener->acceptor.waiting) {
        respond(status_message(Error::Busy));
      } else if (listener->queue_count > 0) {
        respond(accept_answer(*listener));
      } else if (body.timeout == 0) {
        respond(status_message(Error::Timeout));
      } else if (!park(listener->acceptor, body.timeout)) {
        respond(status_message(Error::QuotaExceeded));
      }
      return;
    }
    case SOCKET_CONNECT:
      handle_connect(request, badge);
      return;
    case SOCKET_SEND:
    case SOCKET_SEND_NOW:
      handle_send(request, badge);
      return;
    case SOCKET_WATCH: {
      WatchRequest body;
      get(request, body);
      if (!carries<WatchRequest>(request)) break;
      if ((body.interest & ~INTEREST_BITS) != 0) {
        respond(status_message(Error::InvalidArgument));
        return;
      }
      if (!set_interest(body.handle, body.interest, badge)) break;
      respond(Message::make(0));
      notify_owner(badge);
      return;
    }
    case SOCKET_POLL: {
      PollRequest body;
      u64 carried = get(request, body);
      if (!carries<PollRequest>(request, offsetof(PollRequest, watch))) break;
      if (body.count > POLL_MAX_WATCH || body.count * 8 > carried - offsetof(PollRequest, watch)) {
        respond(status_message(Error::InvalidArgument));
        return;
      }
      if (!apply_watches(body, badge)) {
        respond(status_message(Error::InvalidArgument));
        return;
      }
      Poller* poller = poller_of(badge);
      if (poller == nullptr) {
        respond(status_message(Error::QuotaExceeded));
        return;
      }
      if (poller->waiter.waiting) {
        respond(status_message(Error::Busy));
        return;
      }
      Message answer;
      if (poll_answer(*poller, answer)) {
        respond(answer);
      } else if (body.timeout == 0) {
        respond(empty_poll_answer());
      } else if (!park(poller->waiter, body.timeout)) {
        respond(status_message(Error::QuotaExceeded));
      }
      return;
    }
    case SOCKET_WAKE: {
      Poller* poller = poller_of(badge);
      if (poller == nullptr) {
        respond(status_message(Error::QuotaExceeded));
        return;
      }
      poller->woken = true;
      respond(Message::make(0));
      if (poller->waiter.waiting) {
        Message answer;
        if (poll_answer(*poller, answer)) answer_parked(poller->waiter, answer);
      }
      return;
    }
    case SOCKET_RECEIVE: {
      ReceiveRequest body;
      get(request, body);
      Connection* connection = carries<ReceiveRequest>(request) ? connection_of(body.connection, badge) : nullptr;
      if (Error refusal = transfer_refusal(connection, body.maximum != 0, &Connection::receiver); refusal != Error::None) {
        respond(status_message(refusal));
        return;
      }
      Message answer;
      if (receive_answer(*connection, body.maximum, answer)) {
        respond(answer);
      } else if (body.timeout == 0) {
        respond(status_message(Error::Timeout));
      } else if (park(connection->receiver, body.timeout)) {
        connection->receiver.maximum = body.maximum;
      } else {
        respond(status_message(Error::QuotaExceeded));
      }
      return;
    }
    case SOCKET_ATTACH: {
      AttachRequest body;
      get(request, body);  // A request without the size asks for 0 bytes (without the area: none).
      bool has_memory = request.received_capabilities >= 1;
      u64 size = body.size;
      bool bad_area = body.delivery_bytes != 0 &&
                      (body.delivery_offset % 8 != 0 || body.delivery_bytes > BULK_BYTES || body.delivery_bytes < 16 ||
                       body.delivery_offset > size || body.delivery_bytes > size - body.delivery_offset);
      if (!has_memory || size == 0 || size > MAX_ATTACH_BYTES || bad_area) {
        respond(status_message(Error::InvalidArgument));
        return;
      }
      if (attachment_of(badge) != nullptr) {
        respond(status_message(Error::Busy));
        return;
      }
      Attachment* free_attachment = nullptr;
      for (auto& attachment : attachments)
        if (!attachment.in_use && free_attachment == nullptr) free_attachment = &attachment;
      auto next_slot = reply_slots->allocate();
      if (free_attachment == nullptr || !next_slot.ok()) {
        if (next_slot.ok()) reply_slots->free(next_slot.value());
        respond(status_message(Error::QuotaExceeded));
        return;
      }
      // Both ends of its range must be readable and writable, so later moves fail only if the
      // client takes it back.
      Memory buffer(receive_slot);
      u8 probe[1] = {};
      bool usable = buffer.read(0, probe, 1).ok() && buffer.write(0, probe, 1).ok() &&
                    buffer.read(size - 1, probe, 1).ok() && buffer.write(size - 1, probe, 1).ok();
      if (!usable) {
        reply_slots->free(next_slot.value());
        respond(status_message(Error::InvalidArgument));
        return;
      }
      *free_attachment = Attachment{true, badge, receive_slot, size, body.delivery_offset, body.delivery_bytes};
      receive_slot = next_slot.value();
      set_receive_slots(receive_slot);
      respond(Message::make(0));
      return;
    }
    case SOCKET_RECEIVE_BULK:
    case SOCKET_SEND_BULK:
      handle_bulk(request, badge);
      return;
    case SOCKET_CLOSE: {
      HandleRequest body;
      get(request, body);
      if (!carries<HandleRequest>(request)) break;
      if (Connection* connection = connection_of(body.handle, badge); connection != nullptr) {
        release_connection(*connection);
      } else if (Listener* listener = listener_of(body.handle, badge); listener != nullptr) {
        close_listener(*listener);
      } else {
        break;
      }
      respond(Message::make(0));
      return;
    }
    default:
      respond(status_message(Error::Unsupported));
      return;
  }
  respond(status_message(Error::NotFound));
}

}  // namespace

Result<void> SocketServer::start(Endpoint endpoint, Factory factory, SlotAllocator& slots) {
  service = endpoint;
  u64 hertz = thread_self().tsc_hertz;
  ticks_per_microsecond = hertz >= 1'000'000 ? hertz / 1'000'000 : 1;
  reply_factory = factory;
  reply_slots = &slots;
  // The listeners' and pollers' Reply objects now (a client's first Accept or Poll must not fail for
  // want of one); the connections' when one first parks (the gateway never blocks on them).
  for (auto& listener : listeners) listener.acceptor.reply_object = TRY(new_reply_object(factory, slots));
  for (auto& poller : pollers) poller.waiter.reply_object = TRY(new_reply_object(factory, slots));
  receive_slot = TRY(slots.allocate());
  set_receive_slots(receive_slot);
  return {};
}

usize SocketServer::serve_pending(u64 first_timeout) {
  Message request;
  usize served = 0;
  u64 timeout = first_timeout;
  while (served < REQUESTS_PER_ROUND) {
    // The last request's answer, then the next request: one system call.
    auto received = take_pending_answer() ? service.reply_wait(pending_answer, request, timeout)
                                          : service.receive(request, timeout);
    if (!received.ok()) break;
    dispatch(request);
    // A capability sent with any request but a successful Attach is not kept: its slot must be
    // empty for the next one.
    if (request.received_capabilities > 0 && request.label() != SOCKET_ATTACH) (void)Capability(receive_slot).remove();
    if (request.received_capabilities > 0 && request.label() == SOCKET_ATTACH) {
      bool kept = false;
      for (auto& attachment : attachments) kept = kept || (attachment.in_use && attachment.memory_slot == receive_slot);
      if (!kept) (void)Capability(receive_slot).remove();
    }
    ++served;
    timeout = 0;  // Only what is queued already: the loop comes back as soon as it has looked at the device.
  }
  if (take_pending_answer()) (void)reply(pending_answer);  // The round's last, when it ended by count.
  return served;
}

namespace {

// Sends the delayed ACKs whose deadline passed and that no answer carried meanwhile.
void send_due_acks(u64 current) {
  while (ack_count != 0 && ack_queue[ack_head].due <= current) {
    AckDue entry = ack_queue[ack_head];
    ack_head = (ack_head + 1) % ACK_QUEUE;
    --ack_count;
    Connection& connection = connections[entry.index];
    if (!connection.in_use || connection.ack_due != entry.due) continue;  // Re-armed or reused since.
    connection.ack_due = 0;
    // Still owed (no data went out since, and lwIP's own timer did not send it): send it now.
    if (connection.pcb != nullptr && (connection.pcb->flags & TF_ACK_DELAY) != 0) {
      tcp_set_flags(connection.pcb, TF_ACK_NOW);
      tcp_output(connection.pcb);
    }
  }
}

}  // namespace

void SocketServer::expire_deadlines() {
  u64 current = now();
  send_due_acks(current);
  if (current < next_check) return;
  next_check = ~u64{0};
  for (auto& listener : listeners) {
    if (listener.in_use && listener.acceptor.waiting && listener.acceptor.deadline != 0 &&
        current >= listener.acceptor.deadline)
      answer_parked(listener.acceptor, status_message(Error::Timeout));
  }
  for (auto& connection : connections) {
    if (!connection.in_use) continue;
    if (connection.connecting && connection.sender.waiting && connection.sender.deadline != 0 &&
        current >= connection.sender.deadline) {
      // No answer to the SYN in time: the caller gets Timeout and the attempt is dropped.
      answer_parked(connection.sender, status_message(Error::Timeout));
      release_connection(connection);
      continue;
    }
    if (connection.receiver.waiting && connection.receiver.deadline != 0 && current >= connection.receiver.deadline)
      answer_parked(connection.receiver, status_message(Error::Timeout));
    // A send parked on lwIP's memory (not only its window) may see no sent callback: retry here.
    wake_sender(connection);
  }
  for (auto& poller : pollers) {
    if (poller.in_use && poller.waiter.waiting && poller.waiter.deadline != 0 && current >= poller.waiter.deadline)
      answer_parked(poller.waiter, empty_poll_answer());
  }
  // Who still waits decides the next check.
  for (auto& listener : listeners)
    if (listener.in_use && listener.acceptor.waiting) check_by(listener.acceptor.deadline);
  for (auto& connection : connections) {
    if (!connection.in_use) continue;
    if (connection.receiver.waiting) check_by(connection.receiver.deadline);
    if (connection.sender.waiting) check_by(connection.connecting ? connection.sender.deadline : deadline_after(SEND_RETRY_NS));
  }
  for (auto& poller : pollers)
    if (poller.in_use && poller.waiter.waiting) check_by(poller.waiter.deadline);
}

u64 SocketServer::next_deadline_ns() {
  u64 next = ack_count != 0 && ack_queue[ack_head].due < next_check ? ack_queue[ack_head].due : next_check;
  if (next == ~u64{0}) return ~u64{0};
  u64 current = now();
  return next <= current ? 0 : ((next - current) / ticks_per_microsecond + 1) * 1000;
}

}  // namespace net
