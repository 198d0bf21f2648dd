// Host tests of asynchronous invocations' pure parts (user/gateway/async.cpp): the callback URL
// parser (every refusal with its reason), call ids, the callback's head, the answer's status line,
// and the per-tenant queue (its bound, one running job per tenant, tenants in turn, the metrics).
#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <string>

#include "async.hpp"

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

TEST(AsyncQueue, BoundedPerTenantOneRunningTenantsInTurn) {
  auto queue = std::make_unique<AsyncQueue>();
  AsyncJob job;
  EXPECT_FALSE(queue->take(job));
  for (usize index = 0; index < ASYNC_QUEUE_DEPTH; ++index) ASSERT_TRUE(queue->push(job_of(1)));
  EXPECT_FALSE(queue->push(job_of(1)));  // Tenant 1's queue is full ...
  queue->count_rejection(1);
  EXPECT_TRUE(queue->push(job_of(2, "other")));  // ... tenant 2's is not.
  EXPECT_EQ(queue->queued(1), ASYNC_QUEUE_DEPTH);
  ASSERT_TRUE(queue->take(job));
  EXPECT_EQ(job.tenant, 1u);
  ASSERT_TRUE(queue->take(job));  // Tenant 1 has one running: tenant 2's turn.
  EXPECT_EQ(job.tenant, 2u);
  EXPECT_STREQ(job.name, "other");
  EXPECT_FALSE(queue->take(job));  // Each tenant has one running.
  EXPECT_EQ(queue->running(1), 1u);
  EXPECT_TRUE(queue->push(job_of(1)));  // A place came free when the job was taken.
  queue->finish(1, AsyncQueue::Outcome::Delivered);
  queue->finish(2, AsyncQueue::Outcome::CallbackFailed);
  queue->finish(2, AsyncQueue::Outcome::CallbackFailed);  // Nothing of 2 runs: ignored.
  EXPECT_EQ(queue->completed(1), 1u);
  EXPECT_EQ(queue->completed(2), 1u);
  EXPECT_EQ(queue->callback_failures(2), 1u);
  ASSERT_TRUE(queue->take(job));
  EXPECT_EQ(job.tenant, 1u);
  queue->finish(1, AsyncQueue::Outcome::NoCallback);
  std::string page(4096, '\0');
  Buffer text(page.data(), page.size());
  queue->render(text, 1);
  page.resize(text.size());
  EXPECT_NE(page.find("metteagle_async_queued{tenant=\"1\"} 7\n"), std::string::npos) << page;
  EXPECT_NE(page.find("metteagle_async_queued_total{tenant=\"1\"} 9\n"), std::string::npos);
  EXPECT_NE(page.find("metteagle_async_rejected_total{tenant=\"1\"} 1\n"), std::string::npos);
  EXPECT_NE(page.find("metteagle_async_completed_total{tenant=\"1\"} 2\n"), std::string::npos);
  EXPECT_NE(page.find("metteagle_async_callbacks_total{tenant=\"1\"} 1\n"), std::string::npos);
  EXPECT_NE(page.find("metteagle_async_callback_failures_total{tenant=\"1\"} 0\n"), std::string::npos);
  EXPECT_EQ(page.find("tenant=\"2\""), std::string::npos);  // Only tenant 1's lines.
  EXPECT_NE(queue->next_sequence(), queue->next_sequence());
}

}  // namespace
}  // namespace gateway
