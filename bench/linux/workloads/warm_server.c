// warm_server.c: the Linux guest's warm process (bench/linux/http_run.py, system "linux-warm"): an
// HTTP/1.1 keep-alive server that serves the empty function from a process that is already running,
// with no isolation per request: `POST /function/empty` is answered `200` with an empty body, as
// MettEagle's empty function is, and anything else `404`. It is the upper bound a per-request
// container start is measured against.
//
// Usage: warm_server PORT. One worker process per online CPU, each an epoll loop over the shared
// listening socket (accept is non-blocking, so a worker that loses the race just goes on); requests
// are parsed as they arrive, pipelined ones answered in order; a request body (Content-Length) is
// read and dropped; `Connection: close` or HTTP/1.0 closes after the answer. A head longer than the
// buffer is answered 431 and closed; chunked bodies are refused with 411 (wrk never sends them).
// Prints "warm_server: listening on PORT (N workers)" once the socket listens.
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HEAD_MAX 8192
#define EVENTS 64

struct conn {
  int fd;
  size_t used;          // bytes of buffer holding unparsed input
  unsigned long skip;   // body bytes of the current request still to drop
  int close_after;      // the current request asked for the connection to end
  char buffer[HEAD_MAX];
};

static const char OK[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
static const char OK_CLOSE[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
static const char NOT_FOUND[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
static const char NOT_FOUND_CLOSE[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
static const char TOO_LARGE[] = "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
static const char NO_LENGTH[] = "HTTP/1.1 411 Length Required\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

static int send_all(int fd, const char* data, size_t length) {
  int waits = 0;
  while (length > 0) {
    ssize_t n = send(fd, data, length, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      // The answers are tiny; a full send buffer means a client that does not read. Wait for it
      // up to a second, then give the connection up rather than hold the worker.
      if (++waits > 1000) return -1;
      struct timespec pause = {0, 1000000};
      nanosleep(&pause, NULL);
      continue;
    }
    if (n <= 0) return -1;
    data += n;
    length -= (size_t)n;
  }
  return 0;
}

// The value of header `name` in head [start, end), or NULL; *length receives its length.
static const char* header(const char* start, const char* end, const char* name, size_t* length) {
  size_t name_length = strlen(name);
  const char* line = memchr(start, '\n', (size_t)(end - start));
  while (line && line + 1 < end) {
    line++;
    const char* eol = memchr(line, '\n', (size_t)(end - line));
    if (!eol) eol = end;
    if ((size_t)(eol - line) > name_length && line[name_length] == ':' && strncasecmp(line, name, name_length) == 0) {
      const char* value = line + name_length + 1;
      while (value < eol && (*value == ' ' || *value == '\t')) value++;
      const char* value_end = eol;
      while (value_end > value && (value_end[-1] == '\r' || value_end[-1] == ' ')) value_end--;
      *length = (size_t)(value_end - value);
      return value;
    }
    line = eol;
  }
  return NULL;
}

// Answers every complete request in c->buffer; returns -1 when the connection is to be closed.
static int serve(struct conn* c) {
  size_t at = 0;
  for (;;) {
    if (c->skip > 0) {
      size_t take = c->used - at < c->skip ? c->used - at : c->skip;
      at += take;
      c->skip -= take;
      if (c->skip > 0) break;
      if (c->close_after) return -1;
    }
    char* head = c->buffer + at;
    char* end = memmem(head, c->used - at, "\r\n\r\n", 4);
    if (!end) {
      if (at == 0 && c->used == sizeof c->buffer) {
        send_all(c->fd, TOO_LARGE, sizeof TOO_LARGE - 1);
        return -1;
      }
      break;
    }
    end += 4;
    size_t length = 0;
    const char* value;
    if (header(head, end, "Transfer-Encoding", &length)) {
      send_all(c->fd, NO_LENGTH, sizeof NO_LENGTH - 1);
      return -1;
    }
    unsigned long body = 0;
    if ((value = header(head, end, "Content-Length", &length))) body = strtoul(value, NULL, 10);
    int http10 = memmem(head, (size_t)(end - head), " HTTP/1.0\r\n", 11) != NULL;
    value = header(head, end, "Connection", &length);
    int close_after = http10 ? !(value && length == 10 && strncasecmp(value, "keep-alive", 10) == 0)
                             : (value && length == 5 && strncasecmp(value, "close", 5) == 0);
    int empty = strncmp(head, "POST /function/empty ", 21) == 0;
    const char* answer = empty ? (close_after ? OK_CLOSE : OK) : (close_after ? NOT_FOUND_CLOSE : NOT_FOUND);
    if (send_all(c->fd, answer, strlen(answer)) < 0) return -1;
    at = (size_t)(end - c->buffer);
    c->skip = body;
    c->close_after = close_after;
    if (body == 0 && close_after) return -1;
  }
  memmove(c->buffer, c->buffer + at, c->used - at);
  c->used -= at;
  return 0;
}

static void worker(int listener) {
  int poller = epoll_create1(0);
  if (poller < 0) {
    perror("warm_server: epoll_create1");
    exit(1);
  }
  struct epoll_event event = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = NULL};
  if (epoll_ctl(poller, EPOLL_CTL_ADD, listener, &event) < 0) {
    perror("warm_server: epoll_ctl");
    exit(1);
  }
  struct epoll_event ready[EVENTS];
  for (;;) {
    int count = epoll_wait(poller, ready, EVENTS, -1);
    if (count < 0 && errno == EINTR) continue;
    if (count < 0) {
      perror("warm_server: epoll_wait");
      exit(1);
    }
    for (int i = 0; i < count; i++) {
      struct conn* c = ready[i].data.ptr;
      if (!c) {
        int fd;
        while ((fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
          int one = 1;
          setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          struct conn* fresh = calloc(1, sizeof *fresh);
          if (!fresh) {
            close(fd);
            continue;
          }
          fresh->fd = fd;
          struct epoll_event add = {.events = EPOLLIN, .data.ptr = fresh};
          if (epoll_ctl(poller, EPOLL_CTL_ADD, fd, &add) < 0) {
            close(fd);
            free(fresh);
          }
        }
        continue;
      }
      int done = 0;
      for (;;) {
        ssize_t n = recv(c->fd, c->buffer + c->used, sizeof c->buffer - c->used, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) break;
        if (n <= 0) {
          done = 1;
          break;
        }
        c->used += (size_t)n;
        if (serve(c) < 0) {
          done = 1;
          break;
        }
      }
      if (done) {
        close(c->fd);  // also removes it from the epoll set
        free(c);
      }
    }
  }
}

int main(int argc, char** argv) {
  if (argc != 2 || atoi(argv[1]) <= 0 || atoi(argv[1]) > 65535) {
    fprintf(stderr, "usage: warm_server PORT\n");
    return 2;
  }
  int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[1])),
                                .sin_addr.s_addr = htonl(INADDR_ANY)};
  if (listener < 0 || bind(listener, (struct sockaddr*)&address, sizeof address) < 0 || listen(listener, 1024) < 0) {
    perror("warm_server: listen");
    return 1;
  }
  long workers = sysconf(_SC_NPROCESSORS_ONLN);
  if (workers < 1) workers = 1;
  printf("warm_server: listening on %s (%ld workers)\n", argv[1], workers);
  fflush(stdout);
  for (long i = 1; i < workers; i++) {
    pid_t pid = fork();
    if (pid < 0) {
      perror("warm_server: fork");
      return 1;
    }
    if (pid == 0) worker(listener);
  }
  worker(listener);
  return 0;
}
