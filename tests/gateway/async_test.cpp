// Host tests of asynchronous invocations' pure parts (user/gateway/async.cpp): the callback URL
// parser (every refusal with its reason), call ids, the callback's head, the answer's status line,
// and the per-tenant queue (its bound, one running job per tenant, tenants in turn, the metrics,
// thousands of tenants, a tenant whose slice cannot be backed).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>

#include "async.hpp"
#include "slice_memory.hpp"

namespace gateway {
namespace {

const char* parse(const std::string& text, CallbackUrl& url) {
  return parse_callback_url(Slice{text.data(), text.size()}, url);
}

TEST(CallbackUrl, TakesHttpWithIpv4Literals) {
  CallbackUrl url;
  ASSERT_EQ(parse("http://10.0.2.2:8123/cb", url), nullptr);
  EXPECT_EQ(url.address, 0x0a000202u);
  EXPECT_EQ(url.port, 8123u);
  EXPECT_STREQ(url.host, "10.0.2.2:8123");
  EXPECT_STREQ(url.path, "/cb");
  ASSERT_EQ(parse("http://192.168.1.20/hooks/done?job=7&x=%20y", url), nullptr);
  EXPECT_EQ(url.address, 0xc0a80114u);
  EXPECT_EQ(url.port, 80u);
  EXPECT_STREQ(url.host, "192.168.1.20");
  EXPECT_STREQ(url.path, "/hooks/done?job=7&x=%20y");
  ASSERT_EQ(parse("http://1.2.3.4:65535", url), nullptr);
  EXPECT_EQ(url.port, 65535u);
  EXPECT_STREQ(url.path, "/");
  ASSERT_EQ(parse("http://1.2.3.4?q=1", url), nullptr);
  EXPECT_STREQ(url.path, "/?q=1");
  EXPECT_STREQ(url.host, "1.2.3.4");
  ASSERT_EQ(parse("http://223.255.255.255:1/", url), nullptr);
  EXPECT_EQ(url.address, 0xdfffffffu);
  std::string longest = "http://1.2.3.4/" + std::string(254, 'a');
  EXPECT_EQ(parse(longest, url), nullptr);
  EXPECT_EQ(std::string(url.path).size(), 255u);
}

TEST(CallbackUrl, RefusesEverythingElseWithItsReason) {
  const struct {
    const char* url;
    const char* why;
  } cases[] = {
      {"", "X-Callback-Url must be http://host:port/path"},
      {"ftp://1.2.3.4/", "X-Callback-Url must be http://host:port/path"},
      {"HTTP://1.2.3.4/", "X-Callback-Url must be http://host:port/path"},
      {"https://1.2.3.4/", "X-Callback-Url: only http:// callbacks (the gateway speaks no TLS)"},
      {"http://", "X-Callback-Url has no host"},
      {"http://:80/", "X-Callback-Url has no host"},
      {"http://example.com/cb", "X-Callback-Url: the host must be an IPv4 address such as 10.0.2.2 (the gateway "
                                "resolves no names)"},
      {"http://localhost:8080/", "X-Callback-Url: the host must be an IPv4 address such as 10.0.2.2 (the gateway "
                                 "resolves no names)"},
      {"http://1.2.3/", "X-Callback-Url: the host must be an IPv4 address such as 10.0.2.2 (the gateway resolves "
                        "no names)"},
      {"http://1.2.3.4.5/", "X-Callback-Url: the host must be an IPv4 address such as 10.0.2.2 (the gateway "
                            "resolves no names)"},
      {"http://1.2.3.256/", "X-Callback-Url: the host must be an IPv4 address such as 10.0.2.2 (the gateway "
                            "resolves no names)"},
      {"http://01.2.3.4/", "X-Callback-Url: the host must be an IPv4 address such as 10.0.2.2 (the gateway "
                           "resolves no names)"},
      {"http://1..3.4/", "X-Callback-Url: the host must be an IPv4 address such as 10.0.2.2 (the gateway resolves "
                         "no names)"},
      {"http://[::1]:80/", "X-Callback-Url: the host must be an IPv4 address"},
      {"http://user:pw@1.2.3.4/", "X-Callback-Url: no user information (user@) allowed"},
      {"http://127.0.0.1:8080/", "X-Callback-Url: the address may not be 0.x, 127.x (the guest itself), "
                                 "multicast or broadcast"},
      {"http://0.0.0.0/", "X-Callback-Url: the address may not be 0.x, 127.x (the guest itself), multicast or "
                          "broadcast"},
      {"http://224.0.0.1/", "X-Callback-Url: the address may not be 0.x, 127.x (the guest itself), multicast or "
                            "broadcast"},
      {"http://255.255.255.255/", "X-Callback-Url: the address may not be 0.x, 127.x (the guest itself), multicast "
                                  "or broadcast"},
      {"http://1.2.3.4:0/", "X-Callback-Url: the port must be a number from 1 to 65535"},
      {"http://1.2.3.4:65536/", "X-Callback-Url: the port must be a number from 1 to 65535"},
      {"http://1.2.3.4:/", "X-Callback-Url: the port must be a number from 1 to 65535"},
      {"http://1.2.3.4:08/", "X-Callback-Url: the port must be a number from 1 to 65535"},
      {"http://1.2.3.4:8a/", "X-Callback-Url: the port must be a number from 1 to 65535"},
      {"http://1.2.3.4/a#frag", "X-Callback-Url: no fragment (#) allowed"},
      {"http://1.2.3.4/a b", "X-Callback-Url: the path must be printable ASCII without spaces"},
      {"http://1.2.3.4/a\r\nX-Evil: 1", "X-Callback-Url: the path must be printable ASCII without spaces"},
      {"http://1.2.3.4/\x80", "X-Callback-Url: the path must be printable ASCII without spaces"},
  };
  for (const auto& bad : cases) {
    CallbackUrl url;
    const char* why = parse(bad.url, url);
    ASSERT_NE(why, nullptr) << bad.url;
    EXPECT_STREQ(why, bad.why) << bad.url;
  }
  CallbackUrl url;
  EXPECT_STREQ(parse("http://1.2.3.4/" + std::string(255, 'a'), url),
               "X-Callback-Url: the path is longer than 255 bytes");
}

TEST(CallId, IsAVersion4Uuid) {
  char id[CALL_ID_BYTES];
  format_call_id(0x0123456789abcdefull, 0xfedcba9876543210ull, id);
  EXPECT_STREQ(id, "01234567-89ab-4def-bedc-ba9876543210");
  format_call_id(0, 0, id);
  EXPECT_STREQ(id, "00000000-0000-4000-8000-000000000000");
}

AsyncJob job_of(u32 tenant, const char* name = "echo") {
  AsyncJob job;
  job.tenant = tenant;
  std::snprintf(job.name, sizeof job.name, "%s", name);
  return job;
}

TEST(Callback, HeadAndAnswerStatus) {
  AsyncJob job = job_of(1);
  std::snprintf(job.call_id, sizeof job.call_id, "01234567-89ab-4def-bedc-ba9876543210");
  ASSERT_EQ(parse_callback_url(Slice::of("http://10.0.2.2:9000/done?x=1"), job.callback), nullptr);
  char bytes[1024];
  Buffer head(bytes, sizeof bytes);
  render_callback_head(job, 500, "application/json", 1'234'567, 42, head);
  ASSERT_FALSE(head.overflowed());
  EXPECT_EQ(std::string(head.data(), head.size()),
            "POST /done?x=1 HTTP/1.1\r\nHost: 10.0.2.2:9000\r\nUser-Agent: metteagle-gateway\r\n"
            "Content-Type: application/json\r\nContent-Length: 42\r\n"
            "X-Call-Id: 01234567-89ab-4def-bedc-ba9876543210\r\nX-Function-Name: echo\r\n"
            "X-Function-Status: 500\r\nX-Duration-Seconds: 1.234567\r\nConnection: close\r\n\r\n");
  auto status = [](const std::string& text) { return response_status(text.data(), text.size()); };
  EXPECT_EQ(status("HTTP/1.1 204 No Content\r\n\r\n"), 204u);
  EXPECT_EQ(status("HTTP/1.0 200 OK\r\n"), 200u);
  EXPECT_EQ(status("HTTP/1.1 503\r\n"), 503u);
  EXPECT_EQ(status("HTTP/1.1 200 OK"), 0u);  // The line is not complete yet.
  EXPECT_EQ(status("HTTP/2 200 OK\r\n"), 0u);
  EXPECT_EQ(status("HTTP/1.1 20 OK\r\n"), 0u);
  EXPECT_EQ(status("HTTP/1.1 2000 OK\r\n"), 0u);
  EXPECT_EQ(status("HTTP/1.1 099 x\r\n"), 0u);
  EXPECT_EQ(status("SSH-2.0-OpenSSH\r\n"), 0u);
}

using Push = AsyncQueue::Push;

constexpr usize SLICE_PAGES = AsyncQueue::SLICE_BYTES / TenantSlices::PAGE_BYTES;

// A queue for `slots`, its span in the heap with room for `budget_pages` pages; the memory counts
// the slices backed while the queue held its lock (none may be).
struct Queue {
  Queue(std::unique_ptr<TenantSlots> tenant_slots, usize budget_pages)
      : slots(std::move(tenant_slots)),
        memory(slots->count() * AsyncQueue::SLICE_BYTES, budget_pages),
        queue(std::make_unique<AsyncQueue>()) {
    queue->configure(*slots, &memory);
    memory.watch([this] { return queue->locked(); });
  }
  std::unique_ptr<TenantSlots> slots;
  LazySliceMemory memory;
  std::unique_ptr<AsyncQueue> queue;
};

// The queue's part of a /metrics page, in pieces of at least `budget` bytes (each piece ends at
// the first row that reaches it), as the gateway renders it.
std::string rendered(const AsyncQueue& queue, u32 tenant = ALL_TENANTS, usize budget = 1 << 20,
                     usize* pieces = nullptr) {
  std::string page;
  RowCursor rows;
  std::string piece(budget + 1024, '\0');
  for (usize count = 1;; ++count) {
    Buffer text(piece.data(), piece.size());
    bool done = queue.render(text, tenant, rows, budget);
    EXPECT_FALSE(text.overflowed());
    page.append(text.data(), text.size());
    if (pieces != nullptr) *pieces = count;
    if (done) return page;
  }
}

TEST(AsyncQueue, BoundedPerTenantOneRunningTenantsInTurn) {
  Queue fixture(numbered_slots(2), 3 * SLICE_PAGES);
  AsyncQueue* queue = fixture.queue.get();
  AsyncJob job;
  EXPECT_FALSE(queue->take(job));
  for (usize index = 0; index < ASYNC_QUEUE_DEPTH; ++index) ASSERT_EQ(queue->push(job_of(1)), Push::Queued);
  EXPECT_EQ(queue->push(job_of(1)), Push::Full);  // Tenant 1's queue is full ...
  queue->count_rejection(1);
  EXPECT_EQ(queue->push(job_of(2, "other")), Push::Queued);  // ... tenant 2's is not.
  EXPECT_EQ(queue->queued(1), ASYNC_QUEUE_DEPTH);
  ASSERT_TRUE(queue->take(job));
  EXPECT_EQ(job.tenant, 1u);
  ASSERT_TRUE(queue->take(job));  // Tenant 1 has one running: tenant 2's turn.
  EXPECT_EQ(job.tenant, 2u);
  EXPECT_STREQ(job.name, "other");
  EXPECT_FALSE(queue->take(job));  // Each tenant has one running.
  EXPECT_EQ(queue->running(1), 1u);
  EXPECT_EQ(queue->push(job_of(1)), Push::Queued);  // A place came free when the job was taken.
  queue->finish(1, AsyncQueue::Outcome::Delivered);
  queue->finish(2, AsyncQueue::Outcome::CallbackFailed);
  queue->finish(2, AsyncQueue::Outcome::CallbackFailed);  // Nothing of 2 runs: ignored.
  EXPECT_EQ(queue->completed(1), 1u);
  EXPECT_EQ(queue->completed(2), 1u);
  EXPECT_EQ(queue->callback_failures(2), 1u);
  ASSERT_TRUE(queue->take(job));
  EXPECT_EQ(job.tenant, 1u);
  queue->finish(1, AsyncQueue::Outcome::NoCallback);
  std::string page = rendered(*queue, 1);
  EXPECT_NE(page.find("metteagle_async_queued{tenant=\"1\"} 7\n"), std::string::npos) << page;
  EXPECT_NE(page.find("metteagle_async_queued_total{tenant=\"1\"} 9\n"), std::string::npos);
  EXPECT_NE(page.find("metteagle_async_rejected_total{tenant=\"1\"} 1\n"), std::string::npos);
  EXPECT_NE(page.find("metteagle_async_completed_total{tenant=\"1\"} 2\n"), std::string::npos);
  EXPECT_NE(page.find("metteagle_async_callbacks_total{tenant=\"1\"} 1\n"), std::string::npos);
  EXPECT_NE(page.find("metteagle_async_callback_failures_total{tenant=\"1\"} 0\n"), std::string::npos);
  EXPECT_EQ(page.find("tenant=\"2\""), std::string::npos);  // Only tenant 1's lines.
  EXPECT_NE(queue->next_sequence(), queue->next_sequence());
  EXPECT_EQ(fixture.memory.backed_pages(), 2 * SLICE_PAGES);  // Tenant 0 never queued: no slice.
}

TEST(AsyncQueue, ThousandsOfTenantsQueueAndTakeTurns) {
  Queue fixture(numbered_slots(MAX_KEYS), (MAX_KEYS + 1) * SLICE_PAGES);
  AsyncQueue* queue = fixture.queue.get();
  ASSERT_EQ(fixture.slots->count(), MAX_KEYS + 1);
  // Two jobs of every tenant, pushed a round at a time.
  for (const char* round : {"first", "second"})
    for (u32 tenant = 1; tenant <= MAX_KEYS; ++tenant) ASSERT_EQ(queue->push(job_of(tenant, round)), Push::Queued);
  EXPECT_EQ(fixture.memory.backed_pages(), MAX_KEYS * SLICE_PAGES);  // Each slice backed once,
  EXPECT_EQ(fixture.memory.calls(), MAX_KEYS);
  EXPECT_EQ(fixture.memory.calls_under_lock(), 0u);  // before the queue's lock was taken.
  // Every tenant's first job in the order the tenants became ready, then none: each runs one.
  AsyncJob job;
  for (u32 tenant = 1; tenant <= MAX_KEYS; ++tenant) {
    ASSERT_TRUE(queue->take(job));
    ASSERT_EQ(job.tenant, tenant);
    ASSERT_STREQ(job.name, "first");
  }
  EXPECT_FALSE(queue->take(job));
  EXPECT_EQ(queue->running(MAX_KEYS), 1u);
  EXPECT_EQ(queue->queued(MAX_KEYS), 1u);
  // Finished in reverse order, the tenants take their next turn in that order.
  for (u32 tenant = MAX_KEYS; tenant >= 1; --tenant) queue->finish(tenant, AsyncQueue::Outcome::NoCallback);
  for (u32 tenant = MAX_KEYS; tenant >= 1; --tenant) {
    ASSERT_TRUE(queue->take(job));
    ASSERT_EQ(job.tenant, tenant);
    ASSERT_STREQ(job.name, "second");
  }
  EXPECT_FALSE(queue->take(job));
  for (u32 tenant = 1; tenant <= MAX_KEYS; ++tenant) queue->finish(tenant, AsyncQueue::Outcome::Delivered);
  EXPECT_FALSE(queue->take(job));
  for (u32 tenant : {1u, 2048u, 4096u}) {
    EXPECT_EQ(queue->queued(tenant), 0u);
    EXPECT_EQ(queue->running(tenant), 0u);
    EXPECT_EQ(queue->completed(tenant), 2u);
  }
  std::string page = rendered(*queue, 4096);
  EXPECT_NE(page.find("metteagle_async_queued_total{tenant=\"4096\"} 2\n"), std::string::npos) << page;
  EXPECT_NE(page.find("metteagle_async_callbacks_total{tenant=\"4096\"} 1\n"), std::string::npos) << page;
  EXPECT_EQ(page.find("tenant=\"1\""), std::string::npos);
  // The operator's page: six lines of every tenant, in slot order, the same in pieces of ~4 KiB.
  usize pieces = 0;
  std::string all = rendered(*queue);
  EXPECT_EQ(rendered(*queue, ALL_TENANTS, 4096, &pieces), all);
  EXPECT_GT(pieces, 100u);
  EXPECT_EQ(static_cast<usize>(std::count(all.begin(), all.end(), '\n')), 6 * (2 + MAX_KEYS));
  EXPECT_LT(all.find("metteagle_async_completed_total{tenant=\"1\"} 2\n"),
            all.find("metteagle_async_completed_total{tenant=\"4096\"} 2\n"));
  // A tenant the key file does not name has no queue.
  EXPECT_EQ(queue->push(job_of(MAX_KEYS + 1)), Push::NoMemory);
  EXPECT_EQ(queue->queued(MAX_KEYS + 1), 0u);
}

TEST(AsyncQueue, NoMemoryForOneTenantWhileOthersProceed) {
  Queue fixture(numbered_slots(5), 3 * SLICE_PAGES);
  AsyncQueue* queue = fixture.queue.get();
  fixture.memory.refuse(2);
  EXPECT_EQ(queue->push(job_of(2)), Push::NoMemory);
  EXPECT_EQ(queue->push(job_of(1)), Push::Queued);
  EXPECT_EQ(queue->push(job_of(3)), Push::Queued);
  EXPECT_EQ(queue->queued(2), 0u);
  AsyncJob job;
  ASSERT_TRUE(queue->take(job));
  EXPECT_EQ(job.tenant, 1u);
  ASSERT_TRUE(queue->take(job));
  EXPECT_EQ(job.tenant, 3u);
  EXPECT_FALSE(queue->take(job));  // Nothing of tenant 2 was kept.
  // The budget has room for one more slice: tenant 4 gets it, tenant 5 none; tenants already
  // backed go on queueing without taking memory.
  EXPECT_EQ(queue->push(job_of(4)), Push::Queued);
  EXPECT_EQ(queue->push(job_of(5)), Push::NoMemory);
  usize calls = fixture.memory.calls();
  for (usize index = 1; index < ASYNC_QUEUE_DEPTH; ++index) EXPECT_EQ(queue->push(job_of(4)), Push::Queued);
  EXPECT_EQ(queue->push(job_of(4)), Push::Full);  // Full is told apart from NoMemory.
  EXPECT_EQ(queue->push(job_of(1)), Push::Queued);
  EXPECT_EQ(fixture.memory.calls(), calls);
  EXPECT_EQ(fixture.memory.backed_pages(), 3 * SLICE_PAGES);
  EXPECT_EQ(fixture.memory.calls_under_lock(), 0u);  // Refused ones too were asked outside the lock.
  ASSERT_TRUE(queue->take(job));
  EXPECT_EQ(job.tenant, 4u);
  EXPECT_FALSE(queue->take(job));  // Tenant 1 waits for its running job.
  queue->finish(1, AsyncQueue::Outcome::NoCallback);
  ASSERT_TRUE(queue->take(job));
  EXPECT_EQ(job.tenant, 1u);
  // A refused tenant has lines (as one refused with 429 had), in slot order; a tenant that never
  // asked has none.
  queue->count_rejection(4);
  EXPECT_EQ(rendered(*queue).find("metteagle_async_queued{tenant=\"1\"} 0\n"
                                   "metteagle_async_queued{tenant=\"2\"} 0\n"
                                   "metteagle_async_queued{tenant=\"3\"} 0\n"
                                   "metteagle_async_queued{tenant=\"4\"} 7\n"
                                   "metteagle_async_queued{tenant=\"5\"} 0\n# HELP"),
            rendered(*queue).find("metteagle_async_queued{"));
  EXPECT_EQ(rendered(*queue).find("tenant=\"0\""), std::string::npos);
  EXPECT_NE(rendered(*queue).find("metteagle_async_rejected_total{tenant=\"4\"} 1\n"), std::string::npos);
}

TEST(AsyncQueue, RendersInSlotOrderAndRefusesBeforeConfigure) {
  auto unconfigured = std::make_unique<AsyncQueue>();
  EXPECT_EQ(unconfigured->push(job_of(1)), Push::NoMemory);
  AsyncJob job;
  EXPECT_FALSE(unconfigured->take(job));
  // Key file order: tenant 7, then tenant 3; tenant 3 queues first.
  auto slots = std::make_unique<TenantSlots>();
  const u32 tenants[] = {7, 3};
  ASSERT_TRUE(slots->configure(tenants, 2));
  Queue fixture(std::move(slots), 3 * SLICE_PAGES);
  ASSERT_EQ(fixture.queue->push(job_of(3)), Push::Queued);
  ASSERT_EQ(fixture.queue->push(job_of(7)), Push::Queued);
  std::string page = rendered(*fixture.queue);
  EXPECT_NE(page.find("metteagle_async_queued{tenant=\"7\"} 1\nmetteagle_async_queued{tenant=\"3\"} 1\n"),
            std::string::npos)
      << page;
  ASSERT_TRUE(fixture.queue->take(job));
  EXPECT_EQ(job.tenant, 3u);  // Turns follow the order tenants became ready, not slots.
}

}  // namespace
}  // namespace gateway
