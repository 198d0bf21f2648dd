// HealthResponder over lwIP's raw TCP API (callbacks from the event loop; no threads).
#include "http_health.hpp"

#include "lwip/tcp.h"

#include "sys/string.hpp"

namespace net {
namespace {

using sys::u16;
using sys::usize;

constexpr usize MAX_HEAD = 1024;
constexpr usize MAX_CONNECTIONS = 16;

constexpr char OK_RESPONSE[] =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
constexpr char NOT_FOUND_RESPONSE[] =
    "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 10\r\nConnection: close\r\n\r\nnot found\n";
constexpr char BAD_REQUEST_RESPONSE[] =
    "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 12\r\nConnection: close\r\n\r\nbad request\n";

struct Connection {
  bool in_use;
  bool answered;
  usize length;
  char head[MAX_HEAD];
};

Connection connections[MAX_CONNECTIONS];

bool starts_with(const char* text, usize length, const char* prefix) {
  usize index = 0;
  for (; prefix[index] != '\0'; ++index)
    if (index >= length || text[index] != prefix[index]) return false;
  return true;
}

// The end of the request head (after "\r\n\r\n"), or 0 while it is incomplete.
usize head_end(const char* text, usize length) {
  for (usize index = 3; index < length; ++index)
    if (text[index - 3] == '\r' && text[index - 2] == '\n' && text[index - 1] == '\r' && text[index] == '\n')
      return index + 1;
  return 0;
}

void release(Connection* connection) {
  if (connection != nullptr) connection->in_use = false;
}

// Returns what a callback must return: ERR_ABRT when the pcb had to be aborted (it is gone).
err_t close_connection(tcp_pcb* pcb, Connection* connection) {
  tcp_arg(pcb, nullptr);
  tcp_recv(pcb, nullptr);
  tcp_err(pcb, nullptr);
  release(connection);
  if (tcp_close(pcb) == ERR_OK) return ERR_OK;
  tcp_abort(pcb);
  return ERR_ABRT;
}

err_t respond(tcp_pcb* pcb, Connection* connection, HttpAnswer answer) {
  connection->answered = true;
  // The answers are short constants that fit TCP_SND_BUF whole; tcp_close sends them before the FIN.
  err_t written = tcp_write(pcb, answer.text, static_cast<u16>(answer.length), 0);
  if (written == ERR_OK) tcp_output(pcb);
  return close_connection(pcb, connection);
}

err_t on_receive(void* argument, tcp_pcb* pcb, pbuf* buffer, err_t error) {
  auto* connection = static_cast<Connection*>(argument);
  if (buffer == nullptr || error != ERR_OK) {  // The peer closed (or lwIP reports an error).
    if (buffer != nullptr) pbuf_free(buffer);
    return close_connection(pcb, connection);
  }
  tcp_recved(pcb, buffer->tot_len);
  if (connection == nullptr || connection->answered) {
    pbuf_free(buffer);
    return ERR_OK;
  }
  usize room = MAX_HEAD - connection->length;
  usize take = buffer->tot_len < room ? buffer->tot_len : room;
  pbuf_copy_partial(buffer, connection->head + connection->length, static_cast<u16>(take), 0);
  connection->length += take;
  pbuf_free(buffer);
  if (head_end(connection->head, connection->length) != 0 || connection->length == MAX_HEAD)
    return respond(pcb, connection, answer_request(connection->head, connection->length));
  return ERR_OK;
}

void on_error(void* argument, err_t) { release(static_cast<Connection*>(argument)); }

err_t on_accept(void*, tcp_pcb* pcb, err_t error) {
  if (error != ERR_OK || pcb == nullptr) return ERR_VAL;
  Connection* connection = nullptr;
  for (auto& candidate : connections) {
    if (!candidate.in_use) {
      connection = &candidate;
      break;
    }
  }
  if (connection == nullptr) {  // Every slot is busy: refuse rather than queue without bound.
    tcp_abort(pcb);
    return ERR_ABRT;
  }
  *connection = Connection{true, false, 0, {}};
  tcp_arg(pcb, connection);
  tcp_recv(pcb, on_receive);
  tcp_err(pcb, on_error);
  tcp_nagle_disable(pcb);
  return ERR_OK;
}

}  // namespace

HttpAnswer answer_request(const char* head, usize length) {
  if (head_end(head, length) == 0) return {BAD_REQUEST_RESPONSE, sizeof(BAD_REQUEST_RESPONSE) - 1};
  if (starts_with(head, length, "GET /healthz ") || starts_with(head, length, "GET /healthz?"))
    return {OK_RESPONSE, sizeof(OK_RESPONSE) - 1};
  if (!starts_with(head, length, "GET ") && !starts_with(head, length, "HEAD "))
    return {BAD_REQUEST_RESPONSE, sizeof(BAD_REQUEST_RESPONSE) - 1};
  return {NOT_FOUND_RESPONSE, sizeof(NOT_FOUND_RESPONSE) - 1};
}

bool start_health_responder(u16 port) {
  tcp_pcb* pcb = tcp_new();
  if (pcb == nullptr) return false;
  if (tcp_bind(pcb, IP_ANY_TYPE, port) != ERR_OK) {
    tcp_close(pcb);
    return false;
  }
  tcp_pcb* listener = tcp_listen(pcb);
  if (listener == nullptr) {
    tcp_close(pcb);
    return false;
  }
  tcp_accept(listener, on_accept);
  return true;
}

}  // namespace net
