// Host tests of the gateway's pure logic: the HTTP head parser (including a bounded random-bytes
// test), the deploy-configuration JSON parser, API keys, JSON escaping, metrics and the API's
// status mapping over a fake manager. GoogleTest under ASan/UBSan.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "api.hpp"
#include "config.hpp"
#include "store/image.hpp"
#include "http.hpp"
#include "keys.hpp"
#include "slice_memory.hpp"
#include "table_memory.hpp"

namespace gateway {
namespace {

ParseStatus parse(const std::string& text, RequestHead& head) { return parse_request_head(text.data(), text.size(), head); }

TEST(HttpParser, ParsesARequestWithHeaders) {
  RequestHead head;
  std::string text = "POST /function/echo?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nAuthorization:  Bearer k \r\n\r\nhello";
  ASSERT_EQ(parse(text, head), ParseStatus::Complete);
  EXPECT_TRUE(head.method.equals("POST"));
  EXPECT_TRUE(head.path.equals("/function/echo"));
  EXPECT_TRUE(head.query.equals("x=1"));
  EXPECT_EQ(head.content_length, 5u);
  EXPECT_TRUE(head.keep_alive);
  EXPECT_TRUE(head.header("authorization").equals("Bearer k"));
  EXPECT_EQ(head.head_length, text.size() - 5);
}

TEST(HttpParser, IncompleteUntilTheBlankLine) {
  RequestHead head;
  std::string text = "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n";
  for (size_t length = 0; length < text.size(); ++length)
    EXPECT_EQ(parse_request_head(text.data(), length, head), ParseStatus::Incomplete) << length;
  EXPECT_EQ(parse(text, head), ParseStatus::Complete);
}

TEST(HttpParser, RefusesMalformedHeads) {
  const char* cases[] = {
      "GARBAGE\x01 / HTTP/1.1\r\n\r\n",                    // control byte
      "GET /healthz HTTP/1.1\nHost: a\n\n",                 // bare LF
      "GET /healthz HTTP/1.1\r\rHost: a\r\n\r\n",           // CR without LF
      "GET /healthz HTTP/2.0\r\n\r\n",                      // version
      "GET healthz HTTP/1.1\r\n\r\n",                       // not an absolute path
      "GET  /healthz HTTP/1.1\r\n\r\n",                     // empty target
      "GET /healthz HTTP/1.1\r\n folded: x\r\n\r\n",        // obsolete folding
      "GET /healthz HTTP/1.1\r\nNo colon\r\n\r\n",          // header without colon
      "GET /healthz HTTP/1.1\r\nBad Name: x\r\n\r\n",       // space in a header name
      "GET /healthz HTTP/1.1\r\n: x\r\n\r\n",               // empty header name
      "POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n",      // bad length
      "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
      "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
      "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",  // conflicting lengths
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",  // two lengths
      "POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
      "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",  // no chunking in HTTP/1.0
      "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
      "GET /healthz HTTP/1.1\r\nExpect: something\r\n\r\n",
      "\r\nGET / HTTP/1.1\r\n\r\n",                         // empty request line
      "VERYLONGMETHODNAMEXYZ / HTTP/1.1\r\n\r\n",
  };
  for (const char* text : cases) {
    RequestHead head;
    EXPECT_EQ(parse(text, head), ParseStatus::Invalid) << text;
    EXPECT_NE(head.error, nullptr) << text;
  }
}

TEST(HttpParser, TransferEncoding) {
  RequestHead head;
  ASSERT_EQ(parse("POST /function/echo HTTP/1.1\r\nTransfer-Encoding: Chunked \r\n\r\n", head), ParseStatus::Complete);
  EXPECT_TRUE(head.chunked);
  EXPECT_FALSE(head.has_content_length);
  ASSERT_EQ(parse("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", head), ParseStatus::Invalid);
  EXPECT_EQ(head.error_status, 501u);
  EXPECT_STREQ(head.error, "unsupported Transfer-Encoding: only chunked is implemented");
  ASSERT_EQ(parse("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", head),
            ParseStatus::Invalid);
  EXPECT_EQ(head.error_status, 400u);
  EXPECT_STREQ(head.error, "both Content-Length and Transfer-Encoding");
}

TEST(HttpParser, GarbageIsRefusedEarly) {
  RequestHead head;
  EXPECT_EQ(parse(std::string("\x16\x03\x01", 3), head), ParseStatus::Invalid);  // A TLS hello.
  EXPECT_EQ(parse("G(", head), ParseStatus::Invalid);
}

TEST(HttpParser, HeadLimit) {
  RequestHead head;
  std::string text = "GET / HTTP/1.1\r\nX: " + std::string(MAX_HEAD_BYTES, 'a');
  EXPECT_EQ(parse(text, head), ParseStatus::TooLarge);
  std::string fits = "GET / HTTP/1.1\r\nX: " + std::string(MAX_HEAD_BYTES - 23, 'a') + "\r\n\r\n";
  ASSERT_LE(fits.size(), MAX_HEAD_BYTES);
  EXPECT_EQ(parse(fits, head), ParseStatus::Complete);
}

TEST(HttpParser, KeepAliveRules) {
  RequestHead head;
  ASSERT_EQ(parse("GET / HTTP/1.1\r\nConnection: close\r\n\r\n", head), ParseStatus::Complete);
  EXPECT_FALSE(head.keep_alive);
  ASSERT_EQ(parse("GET / HTTP/1.0\r\n\r\n", head), ParseStatus::Complete);
  EXPECT_FALSE(head.keep_alive);
  ASSERT_EQ(parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", head), ParseStatus::Complete);
  EXPECT_TRUE(head.keep_alive);
  ASSERT_EQ(parse("GET / HTTP/1.1\r\nConnection: keep-alive, close\r\n\r\n", head), ParseStatus::Complete);
  EXPECT_FALSE(head.keep_alive);
}

TEST(HttpParser, QueryParameter) {
  EXPECT_TRUE(query_parameter(Slice::of("a=1&name=echo&b"), "name").equals("echo"));
  EXPECT_EQ(query_parameter(Slice::of("names=echo"), "name").data, nullptr);
  EXPECT_TRUE(query_parameter(Slice::of("name="), "name").empty());
}

// Bounded random bytes (no fuzzing engine): the parser must never crash, never read out of
// bounds (ASan), and every Slice of a complete head must lie inside the input.
TEST(HttpParser, RandomBytes) {
  std::mt19937_64 generator(6);
  const std::string prefixes[] = {"", "GET / HTTP/1.1\r\n", "POST /function/x HTTP/1.1\r\nContent-Length: "};
  const std::string alphabet = "GET POST/ HTTP/1.1\r\n:abc-0123456789 \t";
  auto head = std::make_unique<RequestHead>();
  for (int round = 0; round < 20000; ++round) {
    std::string text = prefixes[round % 3];
    size_t length = generator() % 200;
    for (size_t index = 0; index < length; ++index)
      text.push_back(round % 2 == 0 ? static_cast<char>(generator() & 0xff) : alphabet[generator() % alphabet.size()]);
    if (round % 5 == 0) text += "\r\n\r\n";
    std::vector<char> exact(text.begin(), text.end());  // Exactly sized, so ASan sees any overread.
    ParseStatus status = parse_request_head(exact.data(), exact.size(), *head);
    if (status == ParseStatus::Complete) {
      ASSERT_LE(head->head_length, exact.size());
      for (size_t index = 0; index < head->header_count; ++index) {
        const Slice& value = head->headers[index].value;
        ASSERT_GE(value.data, exact.data());
        ASSERT_LE(value.data + value.size, exact.data() + exact.size());
      }
    } else if (status == ParseStatus::Invalid) {
      ASSERT_NE(head->error, nullptr);
    }
  }
}

TEST(DeployConfig, ParsesAllKeys) {
  DeployConfig config;
  const char* error = nullptr;
  ASSERT_TRUE(parse_deploy_config(Slice::of(R"({"name": "echo", "memory": 16777216, "timeout_ms": 5000,
      "max_output": 1048576, "max_depth": 4, "cpus": 0, "console": true, "linux": true})"), config, error)) << error;
  EXPECT_STREQ(config.name, "echo");
  EXPECT_EQ(config.memory, 16777216u);
  EXPECT_EQ(config.timeout_ms, 5000u);
  EXPECT_TRUE(config.console);
  EXPECT_TRUE(config.linux_executable);
  ASSERT_TRUE(parse_deploy_config(Slice::of(R"({"name": "sh", "args": ["-c", "echo hi"]})"), config, error)) << error;
  ASSERT_EQ(config.argument_bytes, 11u);
  EXPECT_EQ(std::string(config.arguments, 11), std::string("-c\0echo hi\0", 11));
  ASSERT_TRUE(parse_deploy_config(Slice::of(R"({"name":"a\u0062c"})"), config, error)) << error;
  EXPECT_STREQ(config.name, "abc");
}

TEST(DeployConfig, RefusesBadConfigurations) {
  const char* cases[] = {
      "", "{", "[]", "{}", R"({"name": "echo",})", R"({"name": "Echo"})", R"({"name": "echo", "memory": -1})",
      R"({"name": "echo", "memory": 1.5})", R"({"name": "echo", "memory": 1e9})", R"({"name": "echo", "memory": 01})",
      R"({"name": "echo", "memory": "1"})", R"({"name": "echo", "console": 1})", R"({"name": "echo", "other": 1})",
      R"({"name": "echo", "linux": "yes"})", R"({"name": "echo", "linux": true, "linux": false})",
      R"({"name": "sh", "args": "-c"})", R"({"name": "sh", "args": ["-c", 1]})", R"({"name": "sh", "args": ["a",]})",
      R"({"name": "echo", "name": "b"})", R"({"name": "echo"} x)", R"({"name": "a\u00e9"})",
      R"({"name": "1234567890123456789012345678901234567890123456789012345678901234"})", R"({"name": "echo", "memory": 99999999999999999999})",
      "{\"name\": \"a\nb\"}",
  };
  for (const char* text : cases) {
    DeployConfig config;
    const char* error = nullptr;
    EXPECT_FALSE(parse_deploy_config(Slice::of(text), config, error)) << text;
    EXPECT_NE(error, nullptr) << text;
  }
}

// Arguments that fill their MAX_ARGUMENT_BYTES (384-byte) buffer exactly are accepted; one more
// (even empty) string is refused. The parser used to write that string's NUL one byte past the
// buffer, into argument_bytes, which then exceeded the buffer (found by fuzz/config_fuzzer.cpp's
// invariant).
TEST(DeployConfig, ArgumentsThatFillTheBufferExactly) {
  constexpr usize LAST = manager::MAX_ARGUMENT_BYTES - 1;
  static_assert(manager::MAX_ARGUMENT_BYTES == 384);
  std::string full = std::string(R"({"name": "a", "args": [")") + std::string(LAST - 1, 'x') + R"(", "")";
  DeployConfig config;
  const char* error = nullptr;
  std::string exact = full + "]}";
  ASSERT_TRUE(parse_deploy_config(Slice{exact.data(), exact.size()}, config, error)) << error;
  EXPECT_EQ(config.argument_bytes, manager::MAX_ARGUMENT_BYTES);
  EXPECT_EQ(config.arguments[LAST - 2], 'x');
  EXPECT_EQ(config.arguments[LAST - 1], '\0');
  EXPECT_EQ(config.arguments[LAST], '\0');
  for (const char* more : {R"(, ""]})", R"(, "", ""]})", R"(, "y"]})"}) {
    std::string text = full + more;
    error = nullptr;
    EXPECT_FALSE(parse_deploy_config(Slice{text.data(), text.size()}, config, error)) << more;
    EXPECT_STREQ(error, "args are longer than 383 bytes in all") << more;
  }
}

TEST(ApiKeys, BearerAndBasic) {
  const ApiKey table[] = {{"dev-key-alpha", 1}, {"dev-key-beta", 2}};
  KeyIndex keys;
  keys.build(table, 2);
  u32 tenant = 0;
  EXPECT_TRUE(authenticate(Slice::of("Bearer dev-key-beta"), keys, tenant));
  EXPECT_EQ(tenant, 2u);
  EXPECT_TRUE(authenticate(Slice::of("bearer dev-key-alpha"), keys, tenant));
  EXPECT_EQ(tenant, 1u);
  // "user:dev-key-beta" in base64.
  EXPECT_TRUE(authenticate(Slice::of("Basic dXNlcjpkZXYta2V5LWJldGE="), keys, tenant));
  EXPECT_EQ(tenant, 2u);
  EXPECT_FALSE(authenticate(Slice::of("Bearer dev-key-alph"), keys, tenant));
  EXPECT_FALSE(authenticate(Slice::of("Bearer dev-key-alphaa"), keys, tenant));
  EXPECT_FALSE(authenticate(Slice::of("Bearer "), keys, tenant));
  EXPECT_FALSE(authenticate(Slice::of("Token dev-key-alpha"), keys, tenant));
  EXPECT_FALSE(authenticate(Slice::of("Basic !!!!"), keys, tenant));
  EXPECT_FALSE(authenticate(Slice::of("Basic ZGV2LWtleS1hbHBoYQ=="), keys, tenant));  // No colon.
}

TEST(Buffer, JsonEscapingAndBounds) {
  char storage[64];
  Buffer buffer(storage, sizeof storage);
  buffer.append_json_string("a\"b\\c\nd\x01\xff", 9);
  EXPECT_EQ(std::string(buffer.data(), buffer.size()), R"("a\"b\\c\nd\u0001\u00ff")");
  Buffer small(storage, 4);
  small.append("12345");
  EXPECT_TRUE(small.overflowed());
  EXPECT_EQ(small.size(), 0u);
  Buffer seconds(storage, sizeof storage);
  seconds.append_seconds(1234567);
  EXPECT_EQ(std::string(seconds.data(), seconds.size()), "1.234567");
}

// A fake manager: one tenant's functions in a table, invocations echo or fail by name.
class FakeManager final : public Backend {
 public:
  std::vector<std::pair<u32, std::string>> functions;
  u32 invoke_status = manager::STATUS_OK;
  u64 exit_detail = 0;  // An exit's detail: the system calls a Linux function's personality lacked.
  u32 last_tenant = 0;
  u64 last_send_timeout = 0;
  u64 last_grants = 0;            // The grants of the last DEPLOY.      // The send timeout the gateway gave its last INVOKE.
  bool invoke_times_out = false;  // No manager worker takes the INVOKE (its send phase times out).
  u64 last_input_memory = 0;      // The input Memory handle of the last INVOKE (0: bytes only).
  u64 last_output_memory = 0;     // The output window handle of the last INVOKE (0: none).
  u64 last_output_capacity = 0;
  u8* window_bytes = nullptr;     // Where an output window's bytes are (the test's FakeOutputWindow).
  u64 deploy_image_requests = 0;  // DEPLOY_IMAGEs received, and the flags of the last one.
  u64 last_deploy_image_flags = 0;
  std::function<void()> during_invoke;  // Runs inside invoke: stands for another connection meanwhile.
  u64 calls = 0;  // Requests the gateway sent.
  u64 describes = 0;  // DESCRIBEs among them.
  u64 timeout_ns = 7'000'000'000;  // What DESCRIBE says of every function: timeout_ms 7000.

  ManagerReply deploy(u32 tenant, const char* name, const Payload& image, const manager::FunctionConfig& config,
                      const char*, u64) override {
    ++calls;
    u64 size = image.length;
    ManagerReply reply;
    reply.delivered = true;
    last_tenant = tenant;
    last_grants = config.grants;
    if (size < 4) {
      reply.set_body(manager::STATUS_BAD_EXECUTABLE, manager::DetailReply{2});
    } else if (find(tenant, name)) {
      reply.status = manager::STATUS_NAME_TAKEN;
    } else {
      functions.emplace_back(tenant, name);
      reply.status = manager::STATUS_OK;
    }
    return reply;
  }
  ManagerReply invoke(u32 tenant, const char* name, const Payload& payload, u8* output, u64 capacity,
                      u64 output_memory, u64 send_timeout) override {
    ++calls;
    last_send_timeout = send_timeout;
    last_input_memory = payload.memory;
    last_output_memory = output_memory;
    last_output_capacity = capacity;
    const u8* input = payload.bytes;
    u64 size = payload.length;
    // An output window stands for a Memory object the manager writes: here, the window's bytes.
    if (output_memory != 0) output = window_bytes;
    if (invoke_times_out) {
      ManagerReply reply;
      reply.timed_out = true;
      return reply;
    }
    if (during_invoke) {
      auto hook = std::move(during_invoke);
      during_invoke = nullptr;
      hook();
    }
    ManagerReply reply;
    reply.delivered = true;
    if (!find(tenant, name)) {
      reply.status = manager::STATUS_NOT_FOUND;
      return reply;
    }
    manager::InvocationResult result{};
    result.exit_code = invoke_status == manager::STATUS_CRASHED ? 14 : 0;
    result.detail = invoke_status == manager::STATUS_CRASHED ? 0x1234 : exit_detail;
    u64 copied = size < capacity ? size : capacity;
    if (size != 0) std::memcpy(output, input, copied);
    result.output_size = copied;
    result.invocation_id = 77;
    reply.set_body(invoke_status, result);
    return reply;
  }
  std::string last_strings;  // The strings of the last CONFIGURE or DEPLOY_IMAGE sent in Memory.
  ManagerReply request_with_strings(u32 tenant, u32 kind, const void* body, u64 bytes, const char* strings,
                                    u64 strings_bytes) override {
    last_strings.assign(strings, strings_bytes);
    return request(tenant, kind, body, bytes);
  }
  ManagerReply request(u32 tenant, u32 kind, const void* body, u64 bytes) override {
    ++calls;
    if (kind == manager::DESCRIBE) ++describes;
    ManagerReply reply;
    reply.delivered = true;
    // The request as the manager would receive it.
    u64 words[metteagle::abi::MESSAGE_WORDS] = {};
    u64 word_count = sys::store_bytes(words, body, bytes);
    if (kind == manager::STATS) {  // The manager's pool, as fixed figures.
      manager::ManagerStats stats{};
      stats.pool_free_bytes = 123456789;
      stats.reserved_bytes = 58720256;
      stats.tenants = 1;
      stats.running_invocations = 2;
      stats.machine_free_bytes = 987654321;
      reply.set_body(manager::STATUS_OK, stats);
      return reply;
    }
    char name[manager::NAME_BYTES] = {};
    manager::NameRequest named_request;
    sys::load_body(words, word_count, named_request);
    bool named = kind != manager::LIST && manager::unpack_name(named_request.name, name);
    if (kind == manager::DEPLOY_IMAGE) {  // Every image exists; a replace needs the function, a create the name free.
      manager::DeployImageRequest image_request{};
      sys::load_body(words, word_count, image_request);
      ++deploy_image_requests;
      last_deploy_image_flags = image_request.flags;
      bool exists = named && find(tenant, name);
      bool replace = (image_request.flags & manager::DEPLOY_IMAGE_REPLACE) != 0;
      if (!named) reply.status = manager::STATUS_BAD_REQUEST;
      else if (replace && !exists) reply.status = manager::STATUS_NOT_FOUND;
      else if (!replace && exists) reply.status = manager::STATUS_NAME_TAKEN;
      else reply.status = manager::STATUS_OK;
      if (reply.status == manager::STATUS_OK && !exists) functions.emplace_back(tenant, name);
      return reply;
    }
    if (kind == manager::LIST) {
      manager::ListReply listed{};
      for (auto& function : functions) {
        if (function.first != tenant || listed.count == manager::LIST_NAMES_PER_REPLY) continue;
        manager::pack_name(function.second.c_str(), listed.names[listed.count++]);
      }
      listed.total = listed.count;
      reply.set_body(manager::STATUS_OK, listed);
    } else if (!named || !find(tenant, name)) {
      reply.status = manager::STATUS_NOT_FOUND;
    } else if (kind == manager::DESCRIBE) {
      manager::DescribeReply described{};
      described.executable_size = 100;
      described.config.timeout_nanoseconds = timeout_ns;
      described.config.max_output_bytes = 1 << 20;
      reply.set_body(manager::STATUS_OK, described);
    } else {
      for (size_t index = 0; index < functions.size(); ++index)
        if (functions[index].first == tenant && functions[index].second == name) functions.erase(functions.begin() + static_cast<long>(index));
      reply.status = manager::STATUS_OK;
    }
    return reply;
  }
  u64 now_microseconds() override { return clock += 10; }
  u64 ticks_to_microseconds(u64 ticks) override { return ticks; }

 private:
  bool find(u32 tenant, const std::string& name) {
    for (auto& function : functions)
      if (function.first == tenant && function.second == name) return true;
    return false;
  }
  u64 clock = 0;
};

class ApiTest : public ::testing::Test {
 protected:
  static constexpr ApiKey KEYS[] = {{"key-one-1234", 1, 2}, {"key-two-1234", 2, 1}, {"key-operator", 9, 1, true}};
  std::vector<char> text = std::vector<char>(64 * 1024);
  std::vector<u8> output = std::vector<u8>(1 << 20);
  // A second worker's storage: the same shared state, as a second connection sees it.
  std::vector<char> other_text = std::vector<char>(64 * 1024);
  std::vector<u8> other_output = std::vector<u8>(1 << 20);
  FakeManager fake;
  std::unique_ptr<GatewayShared> shared = std::make_unique<GatewayShared>(KEYS, 3);
  std::unique_ptr<HeapTableMemory> series_memory = heap_table_memory(Metrics::ENTRY_BYTES);
  std::unique_ptr<HeapTableMemory> catalog_memory = heap_table_memory(Catalog::ENTRY_BYTES);
  LazySliceMemory log_memory{4 * FunctionLogs::SLICE_BYTES, 1000};
  LazySliceMemory async_memory{4 * AsyncQueue::SLICE_BYTES, 1000};
  LazySliceMemory pool_memory{4 * Catalog::POOL_SLICE_BYTES + 4 * TenantSlices::PAGE_BYTES, 1000};
  ApiTest() {
    shared->configure_tables(series_memory.get(), catalog_memory.get(), MAX_FUNCTION_ENTRIES);
    shared->configure_tenant_memory(&log_memory, &async_memory, &pool_memory);
  }
  std::unique_ptr<Gateway> api = std::make_unique<Gateway>(
      fake, *shared, GatewayStorage{text.data(), text.size(), output.data(), output.size()});
  std::unique_ptr<Gateway> other = std::make_unique<Gateway>(
      fake, *shared, GatewayStorage{other_text.data(), other_text.size(), other_output.data(), other_output.size()});

  Response send(const std::string& head_text, const std::string& body = "", Gateway* through = nullptr) {
    std::string full = head_text + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
    RequestHead head;
    EXPECT_EQ(parse(full, head), ParseStatus::Complete) << full;
    Response response;
    (through != nullptr ? through : api.get())
        ->handle(head, Payload{reinterpret_cast<const u8*>(body.data()), body.size()}, response);
    return response;
  }
  // The body as a client gets it: a /metrics page's pieces put together (the connection renders
  // them as it sends, main.cpp).
  std::string body_of(const Response& response) {
    if (!response.page) return std::string(response.body, response.body_length);
    std::string page;
    std::vector<char> piece_storage(PAGE_PIECE_BYTES + PAGE_UNIT_BYTES);
    PageCursor cursor = response.page_cursor;
    for (bool done = false; !done;) {
      Buffer piece(piece_storage.data(), piece_storage.size());
      done = api->metrics_piece(cursor, piece, PAGE_PIECE_BYTES);
      EXPECT_FALSE(piece.overflowed());
      page.append(piece.data(), piece.size());
    }
    return page;
  }
};

// An image store the deploy by image never reaches (the manager opens images itself): only its
// presence makes `image` name a store image.
class UnusedImageStore final : public ImageStore {
 public:
  StoreReply import(u32, const char*, u64) override { return {}; }
  StoreReply write(u64, u64) override { return {}; }
  StoreReply commit(u64) override { return {}; }
  void abort(u64) override {}
  StoreReply list(u32, u64) override { return {}; }
  StoreReply remove(u32, const char*) override { return {}; }
};

// PUT of a function deployed from a store image (issue 14, item 5) is DEPLOY_IMAGE with
// DEPLOY_IMAGE_REPLACE (the POST without it): 202, FunctionStatus then shows the update's image,
// labels and whole 2,000-character envProcess; a PUT of a missing function is 404; a PUT refused
// by the gateway (an open quote) reaches no manager and leaves the catalog as it was.
TEST_F(ApiTest, PutOfAStoreImageFunctionReplacesIt) {
  UnusedImageStore images;
  std::vector<char> strings(DEPLOY_STRINGS_BYTES);
  Gateway deployer(fake, *shared,
                   GatewayStorage{text.data(), text.size(), output.data(), output.size(), strings.data(),
                                  strings.size()});
  deployer.set_image_store(&images);
  const std::string head = "Authorization: Bearer key-one-1234\r\nContent-Type: application/json\r\n";
  std::string long_command = "echo " + std::string(2000, 'w');
  auto deployment = [](const std::string& service, const std::string& image, const std::string& command,
                       const std::string& version) {
    return R"({"service": ")" + service + R"(", "image": ")" + image + R"(", "envProcess": ")" + command +
           R"(", "labels": {"v": ")" + version + R"("}})";
  };
  Response created = send("POST /system/functions HTTP/1.1\r\n" + head, deployment("img", "busybox:1", "echo one", "1"),
                          &deployer);
  EXPECT_EQ(created.status, 202u) << body_of(created);
  EXPECT_EQ(body_of(created), "{\"name\": \"img\", \"image\": \"busybox:1\"}\n");
  EXPECT_EQ(fake.last_deploy_image_flags, manager::DEPLOY_IMAGE_ARGUMENTS);
  Response updated = send("PUT /system/functions HTTP/1.1\r\n" + head,
                          deployment("img", "example/other:2", long_command, "2"), &deployer);
  EXPECT_EQ(updated.status, 202u) << body_of(updated);
  EXPECT_EQ(body_of(updated), "{\"name\": \"img\", \"image\": \"example/other:2\"}\n");
  EXPECT_EQ(fake.last_deploy_image_flags, manager::DEPLOY_IMAGE_ARGUMENTS | manager::DEPLOY_IMAGE_REPLACE);
  std::string shown = body_of(send("GET /system/function/img HTTP/1.1\r\n" + head, "", &deployer));
  EXPECT_NE(shown.find("\"image\": \"example/other:2\""), std::string::npos) << shown;
  EXPECT_NE(shown.find("\"envProcess\": \"" + long_command + "\""), std::string::npos) << shown.substr(0, 200);
  EXPECT_NE(shown.find("\"labels\": {\"v\":\"2\"}"), std::string::npos) << shown.substr(0, 200);

  Response missing = send("PUT /system/functions HTTP/1.1\r\n" + head, deployment("ghost", "busybox:1", "echo", "1"),
                          &deployer);
  EXPECT_EQ(missing.status, 404u);
  EXPECT_EQ(body_of(missing), "{\"error\": \"no such function (PUT updates a deployed function)\"}\n");
  EXPECT_EQ(send("GET /system/function/ghost HTTP/1.1\r\n" + head, "", &deployer).status, 404u);

  u64 sent = fake.deploy_image_requests;
  Response refused = send("PUT /system/functions HTTP/1.1\r\n" + head, deployment("img", "busybox:1", "'open", "3"),
                          &deployer);
  EXPECT_EQ(refused.status, 400u);
  EXPECT_EQ(body_of(refused), "{\"error\": \"envProcess: a quote is left open\"}\n");
  EXPECT_EQ(fake.deploy_image_requests, sent);
  shown = body_of(send("GET /system/function/img HTTP/1.1\r\n" + head, "", &deployer));
  EXPECT_NE(shown.find("\"envProcess\": \"" + long_command + "\""), std::string::npos) << shown.substr(0, 200);
  EXPECT_NE(shown.find("\"labels\": {\"v\":\"2\"}"), std::string::npos) << shown.substr(0, 200);
}

// The gateway's per-function tables refuse a deploy they cannot hold before the manager sees it
// (507 naming the bound), and a deploy that fails or a delete gives the room back (issue 14,
// item 3). 30 functions in all for three tenants of the manager's quota: 10 each.
TEST_F(ApiTest, DeployBeyondTheTablesIsRefusedFirst) {
  static constexpr ApiKey QUOTA_KEYS[] = {{"key-one-1234", 1, 2}, {"key-two-1234", 2, 1}, {"key-three-12", 3, 1},
                                          {"key-quota-12", 4, 1, false, 0, 3}};
  auto limited = std::make_unique<GatewayShared>(QUOTA_KEYS, 3);
  auto series = heap_table_memory(Metrics::ENTRY_BYTES);
  auto entries = heap_table_memory(Catalog::ENTRY_BYTES);
  limited->configure_tables(series.get(), entries.get(), 30);
  Gateway gateway(fake, *limited, GatewayStorage{text.data(), text.size(), output.data(), output.size()});
  const std::string key = "Authorization: Bearer key-one-1234\r\n";
  auto deploy = [&](const std::string& name, const std::string& executable = "ELF!") {
    return send("POST /system/functions HTTP/1.1\r\n" + key + "X-Function-Config: {\"name\": \"" + name + "\"}\r\n",
                executable, &gateway);
  };
  for (int index = 0; index < 10; ++index) ASSERT_EQ(deploy("f" + std::to_string(index)).status, 201u) << index;
  usize deployed = fake.functions.size();
  Response refused = deploy("f10");
  EXPECT_EQ(refused.status, 507u);
  EXPECT_EQ(body_of(refused),
            "{\"error\": \"the gateway holds state for at most 30 functions, of which this tenant's share is 10 (all "
            "tenants' quotas add up to more, so each gets an equal share or its whole quota when smaller); delete one "
            "first\", \"limit\": 10, \"bound\": 30}\n");
  EXPECT_EQ(fake.functions.size(), deployed);  // The manager never saw it.
  // An OpenFaaS deploy is refused the same way, and leaves no catalog entry.
  Response faas = send("POST /system/functions HTTP/1.1\r\n" + key + "Content-Type: application/json\r\n",
                       R"({"service": "f11", "image": "f0"})", &gateway);
  EXPECT_EQ(faas.status, 507u);
  EXPECT_EQ(limited->catalog.count(1), 0u);
  EXPECT_EQ(limited->metrics.series_count(1), 10u);
  // A delete gives the room back.
  EXPECT_EQ(send("DELETE /system/functions/f0 HTTP/1.1\r\n" + key, "", &gateway).status, 200u);
  EXPECT_EQ(limited->metrics.series_count(1), 9u);
  // A deploy the manager refuses gives back the room it reserved.
  EXPECT_EQ(deploy("bad", "EL").status, 422u);
  EXPECT_EQ(limited->metrics.series_count(1), 9u);
  EXPECT_EQ(deploy("f10").status, 201u);
  EXPECT_EQ(limited->metrics.series_count(1), 10u);
  // Another tenant's room was never touched.
  EXPECT_EQ(send("POST /system/functions HTTP/1.1\r\nAuthorization: Bearer key-two-1234\r\n"
                 "X-Function-Config: {\"name\": \"f0\"}\r\n", "ELF!", &gateway).status, 201u);
}

// A key's own functions= below its share: the refusal names its quota, as the manager's would.
TEST_F(ApiTest, DeployBeyondTheKeysQuotaIsRefusedFirst) {
  static constexpr ApiKey QUOTA_KEYS[] = {{"key-quota-12", 4, 1, false, 0, 3}};
  auto limited = std::make_unique<GatewayShared>(QUOTA_KEYS, 1);
  auto series = heap_table_memory(Metrics::ENTRY_BYTES);
  auto entries = heap_table_memory(Catalog::ENTRY_BYTES);
  limited->configure_tables(series.get(), entries.get(), 1000);
  Gateway gateway(fake, *limited, GatewayStorage{text.data(), text.size(), output.data(), output.size()});
  const std::string key = "Authorization: Bearer key-quota-12\r\n";
  for (int index = 0; index < 3; ++index)
    ASSERT_EQ(send("POST /system/functions HTTP/1.1\r\n" + key + "X-Function-Config: {\"name\": \"q" +
                       std::to_string(index) + "\"}\r\n", "ELF!", &gateway).status, 201u);
  Response refused = send("POST /system/functions HTTP/1.1\r\n" + key + "X-Function-Config: {\"name\": \"q3\"}\r\n",
                          "ELF!", &gateway);
  EXPECT_EQ(refused.status, 507u);
  EXPECT_EQ(body_of(refused),
            "{\"error\": \"function quota reached: this tenant may have 3 functions; delete one first\", \"quota\": 3}\n");
}

// Without room in the gateway at all (its tables not configured, or a bound of 0), every deploy is
// refused with the gateway's bound.
TEST_F(ApiTest, DeployWithoutTablesIsRefused) {
  auto bare = std::make_unique<GatewayShared>(KEYS, 3);
  Gateway gateway(fake, *bare, GatewayStorage{text.data(), text.size(), output.data(), output.size()});
  Response refused = send("POST /system/functions HTTP/1.1\r\nAuthorization: Bearer key-one-1234\r\n"
                          "X-Function-Config: {\"name\": \"f\"}\r\n", "ELF!", &gateway);
  EXPECT_EQ(refused.status, 507u);
  EXPECT_EQ(body_of(refused), "{\"error\": \"the gateway holds state for at most 0 functions: it had no memory for "
                              "its per-function tables at boot\", \"bound\": 0}\n");
  EXPECT_TRUE(fake.functions.empty());
}

TEST_F(ApiTest, StatusMapping) {
  const std::string key = "Authorization: Bearer key-one-1234\r\n";
  EXPECT_EQ(send("GET /healthz HTTP/1.1\r\n").status, 200u);
  EXPECT_EQ(send("GET /system/functions HTTP/1.1\r\n").status, 401u);
  EXPECT_EQ(send("GET /nowhere HTTP/1.1\r\n" + key).status, 404u);
  EXPECT_EQ(send("PATCH /system/functions HTTP/1.1\r\n" + key).status, 405u);
  EXPECT_EQ(send("PUT /system/functions HTTP/1.1\r\n" + key).status, 400u);  // PUT: an OpenFaaS update, no JSON.
  EXPECT_EQ(send("POST /system/functions HTTP/1.1\r\n" + key, "ELF!").status, 400u);  // No config.
  std::string config = "X-Function-Config: {\"name\": \"echo\"}\r\n";
  EXPECT_EQ(send("POST /system/functions HTTP/1.1\r\n" + key + "X-Function-Config: {bad}\r\n", "ELF!").status, 400u);
  EXPECT_EQ(send("POST /system/functions HTTP/1.1\r\n" + key + config, "EL").status, 422u);
  EXPECT_EQ(send("POST /system/functions HTTP/1.1\r\n" + key + config, "ELF!").status, 201u);
  EXPECT_EQ(fake.last_tenant, 1u);
  EXPECT_EQ(send("POST /system/functions HTTP/1.1\r\n" + key + config, "ELF!").status, 409u);
  Response invoked = send("POST /function/echo HTTP/1.1\r\n" + key, "hi");
  EXPECT_EQ(invoked.status, 200u);
  EXPECT_EQ(body_of(invoked), "hi");
  EXPECT_NE(std::string(invoked.extra_headers, invoked.extra_length).find("X-Call-Id: 77\r\n"), std::string::npos);
  EXPECT_EQ(send("POST /function/echo HTTP/1.1\r\nAuthorization: Bearer key-two-1234\r\n", "hi").status, 404u);
  fake.exit_detail = 3;  // A Linux function whose personality answered 3 calls with ENOSYS.
  EXPECT_EQ(send("POST /function/echo HTTP/1.1\r\n" + key, "hi").status, 200u);
  fake.exit_detail = 0;
  fake.invoke_status = manager::STATUS_CRASHED;
  Response crashed = send("POST /function/echo HTTP/1.1\r\n" + key, "hi");
  EXPECT_EQ(crashed.status, 500u);
  EXPECT_EQ(body_of(crashed), "{\"error\": \"function crashed\", \"exit_code\": 14, \"fault_address\": 4660}\n");
  fake.invoke_status = manager::STATUS_TIMEOUT;
  EXPECT_EQ(send("POST /function/echo HTTP/1.1\r\n" + key, "hi").status, 504u);
  fake.invoke_status = manager::STATUS_BUSY;
  EXPECT_EQ(send("POST /function/echo HTTP/1.1\r\n" + key, "hi").status, 429u);
  fake.invoke_status = manager::STATUS_QUOTA_EXCEEDED;
  Response quota = send("POST /function/echo HTTP/1.1\r\n" + key, "hi");
  EXPECT_EQ(quota.status, 500u);
  EXPECT_EQ(body_of(quota), "{\"error\": \"memory limit exceeded\"}\n");
  Response listed = send("GET /system/functions HTTP/1.1\r\n" + key);
  EXPECT_EQ(listed.status, 200u);
  EXPECT_NE(body_of(listed).find("\"name\": \"echo\""), std::string::npos);
  EXPECT_EQ(send("GET /system/logs?name=echo HTTP/1.1\r\n" + key).status, 200u);
  EXPECT_EQ(send("GET /system/logs HTTP/1.1\r\n" + key).status, 400u);
  Response metrics = send("GET /metrics HTTP/1.1\r\nAuthorization: Bearer key-operator\r\n");
  EXPECT_EQ(metrics.status, 200u);
  const std::string page = body_of(metrics);
  EXPECT_NE(page.find("metteagle_invocations_total{function=\"echo\",tenant=\"1\"} 6\n"), std::string::npos) << page;
  EXPECT_NE(page.find("metteagle_timeouts_total 1\n"), std::string::npos);
  // Per function: timeouts, the ENOSYS count of exits, and both histograms with the function's labels.
  EXPECT_NE(page.find("metteagle_function_timeouts_total{function=\"echo\",tenant=\"1\"} 1\n"), std::string::npos);
  EXPECT_NE(page.find("metteagle_function_unsupported_syscalls_total{function=\"echo\",tenant=\"1\"} 3\n"),
            std::string::npos);
  EXPECT_NE(page.find("metteagle_function_duration_seconds_count{function=\"echo\",tenant=\"1\"} 6\n"),
            std::string::npos);
  EXPECT_NE(page.find("metteagle_function_cold_start_seconds_bucket{function=\"echo\",tenant=\"1\",le=\"+Inf\"} "),
            std::string::npos);
  EXPECT_EQ(send("DELETE /system/functions/echo HTTP/1.1\r\n" + key).status, 200u);
  EXPECT_EQ(send("DELETE /system/functions/echo HTTP/1.1\r\n" + key).status, 404u);
  EXPECT_EQ(send("GET /system/functions/Bad%20Name HTTP/1.1\r\n" + key).status, 404u);
  // A deleted function's series goes at once; the totals keep what it counted.
  const std::string after = body_of(send("GET /metrics HTTP/1.1\r\nAuthorization: Bearer key-operator\r\n"));
  EXPECT_EQ(after.find("function=\"echo\""), std::string::npos) << after;
  EXPECT_NE(after.find("metteagle_invocations_all_total 6\n"), std::string::npos);
  EXPECT_NE(after.find("metteagle_series_refused_total{tenant=\"1\"} 0\n"), std::string::npos);
}

// Bodies of asynchronous jobs kept "in Memory": here, counted copies.
struct FakeInputs final : AsyncInputs {
  u64 keep(const u8* bytes, u64 length) override {
    if (full) return 0;
    kept.emplace_back(reinterpret_cast<const char*>(bytes), length);
    return kept.size();
  }
  void drop(u64 handle) override { dropped.push_back(handle); }
  bool full = false;
  std::vector<std::string> kept;
  std::vector<u64> dropped;
};

TEST_F(ApiTest, AsyncInvocations) {
  const std::string key = "Authorization: Bearer key-one-1234\r\n";
  const std::string config = "X-Function-Config: {\"name\": \"echo\"}\r\n";
  ASSERT_EQ(send("POST /system/functions HTTP/1.1\r\n" + key + config, "ELF!").status, 201u);
  Response unavailable = send("POST /async-function/echo HTTP/1.1\r\n" + key, "hi");
  EXPECT_EQ(unavailable.status, 503u);
  EXPECT_EQ(body_of(unavailable), "{\"error\": \"asynchronous invocations are not available\"}\n");
  static FakeInputs inputs;
  static int wakes = 0;
  inputs = FakeInputs{};
  wakes = 0;
  shared->async_inputs = &inputs;
  shared->async_wake = [] { ++wakes; };
  EXPECT_EQ(send("POST /async-function/echo HTTP/1.1\r\n").status, 401u);
  EXPECT_EQ(send("POST /async-function/Bad.Name HTTP/1.1\r\n" + key).status, 404u);
  Response bad = send("POST /async-function/echo HTTP/1.1\r\n" + key + "X-Callback-Url: https://10.0.2.2/cb\r\n");
  EXPECT_EQ(bad.status, 400u);
  EXPECT_EQ(body_of(bad), "{\"error\": \"X-Callback-Url: only http:// callbacks (the gateway speaks no TLS)\"}\n");
  const std::string limit_text = "POST /async-function/echo HTTP/1.1\r\n\r\n";
  RequestHead limit_head;
  ASSERT_EQ(parse(limit_text, limit_head), ParseStatus::Complete);
  EXPECT_EQ(api->body_limit(limit_head), 1u << 20);
  EXPECT_STREQ(api->body_limit_message(limit_head), "body larger than 1 MiB (the limit of asynchronous invocations)");

  Response accepted = send("POST /async-function/echo/sub/path?x=1 HTTP/1.1\r\n" + key +
                               "X-Callback-Url: http://10.0.2.2:9000/cb\r\n", "hello later");
  EXPECT_EQ(accepted.status, 202u);
  EXPECT_EQ(accepted.body_length, 0u);
  std::string headers(accepted.extra_headers, accepted.extra_length);
  ASSERT_EQ(headers.rfind("X-Call-Id: ", 0), 0u) << headers;
  std::string call_id = headers.substr(11, 36);
  EXPECT_EQ(headers, "X-Call-Id: " + call_id + "\r\n");
  EXPECT_EQ(call_id[14], '4');
  EXPECT_EQ(wakes, 1);
  EXPECT_EQ(shared->async.queued(1), 1u);
  EXPECT_TRUE(inputs.kept.empty());  // Small bodies wait in the job.
  std::string large(3000, 'L');
  EXPECT_EQ(send("POST /async-function/echo HTTP/1.1\r\n" + key, large).status, 202u);
  ASSERT_EQ(inputs.kept.size(), 1u);
  EXPECT_EQ(inputs.kept[0], large);
  inputs.full = true;
  Response no_room = send("POST /async-function/echo HTTP/1.1\r\n" + key, large);
  EXPECT_EQ(no_room.status, 503u);
  EXPECT_EQ(std::string(no_room.extra_headers, no_room.extra_length), "Retry-After: 1\r\n");
  for (usize index = 2; index < ASYNC_QUEUE_DEPTH; ++index)
    EXPECT_EQ(send("POST /async-function/echo HTTP/1.1\r\n" + key, "x").status, 202u);
  Response full = send("POST /async-function/echo HTTP/1.1\r\n" + key, "x");
  EXPECT_EQ(full.status, 429u);
  EXPECT_EQ(body_of(full), "{\"error\": \"this API key's tenant has 8 asynchronous invocations waiting already; "
                           "retry later\", \"queue\": 8}\n");
  EXPECT_EQ(std::string(full.extra_headers, full.extra_length), "Retry-After: 1\r\n");
  // Tenant 2's queue is its own.
  EXPECT_EQ(send("POST /async-function/echo HTTP/1.1\r\nAuthorization: Bearer key-two-1234\r\n", "x").status, 202u);

  // The first job runs as /function/echo would have, with the request's environment.
  AsyncJob job;
  ASSERT_TRUE(shared->async.take(job));
  EXPECT_EQ(job.tenant, 1u);
  EXPECT_STREQ(job.call_id, call_id.c_str());
  EXPECT_TRUE(job.has_callback);
  EXPECT_EQ(job.callback.port, 9000u);
  std::string environment(job.environment, job.environment_bytes);
  EXPECT_NE(environment.find("Http_Path=/sub/path"), std::string::npos);
  EXPECT_NE(environment.find("Http_Query=x=1"), std::string::npos);
  EXPECT_EQ(environment.find("key-one-1234"), std::string::npos);  // Never the API key.
  AsyncRun run;
  api->run_async(job, run, nullptr);
  EXPECT_EQ(run.response.status, 200u);
  EXPECT_EQ(body_of(run.response), "hello later");
  api->run_async(job, run, nullptr);  // A retry: the same answer, its headers once.
  EXPECT_EQ(body_of(run.response), "hello later");
  EXPECT_EQ(std::string(run.response.extra_headers, run.response.extra_length).find("X-Call-Id", 1), std::string::npos);
  api->finish_async(job, run.response.status, AsyncQueue::Outcome::Delivered, "delivered (answered 204)");
  EXPECT_EQ(shared->async.completed(1), 1u);
  std::string logs = body_of(send("GET /system/logs?name=echo HTTP/1.1\r\n" + key));
  EXPECT_NE(logs.find("async call=" + call_id + " status=200 callback=delivered (answered 204)"), std::string::npos)
      << logs;
  ASSERT_TRUE(shared->async.take(job));  // Tenant 2's turn.
  EXPECT_EQ(job.tenant, 2u);
  api->run_async(job, run, nullptr);
  EXPECT_EQ(run.response.status, 404u);  // Tenant 2 has no echo.
  api->finish_async(job, 404, AsyncQueue::Outcome::NoCallback, "none");
  ASSERT_TRUE(shared->async.take(job));
  EXPECT_EQ(job.input, 1u);  // The large body, kept.
  api->finish_async(job, 200, AsyncQueue::Outcome::NoCallback, "none");
  EXPECT_EQ(inputs.dropped, std::vector<u64>{1});
  Response metrics = send("GET /metrics HTTP/1.1\r\n" + key);
  EXPECT_NE(body_of(metrics).find("metteagle_async_rejected_total{tenant=\"1\"} 1\n"), std::string::npos);
  shared->async_inputs = nullptr;
  shared->async_wake = nullptr;
}

TEST_F(ApiTest, ConsoleIsAnOperatorGrant) {
  const std::string tenant = "Authorization: Bearer key-one-1234\r\n";
  const std::string operator_key = "Authorization: Bearer key-operator\r\n";
  const std::string console = "X-Function-Config: {\"name\": \"loud\", \"console\": true}\r\n";
  fake.last_grants = 99;
  Response refused = send("POST /system/functions HTTP/1.1\r\n" + tenant + console, "ELF!");
  EXPECT_EQ(refused.status, 403u);
  EXPECT_EQ(body_of(refused), "{\"error\": \"\\\"console\\\": true needs an operator key (the key file's console "
                              "flag); this API key has none\"}\n");
  EXPECT_EQ(fake.last_grants, 99u);  // Refused before the manager saw it.
  EXPECT_TRUE(fake.functions.empty());
  EXPECT_EQ(send("POST /system/functions HTTP/1.1\r\n" + tenant +
                 "X-Function-Config: {\"name\": \"quiet\", \"console\": false}\r\n", "ELF!").status, 201u);
  EXPECT_EQ(fake.last_grants, 0u);
  EXPECT_EQ(send("POST /system/functions HTTP/1.1\r\n" + operator_key + console, "ELF!").status, 201u);
  EXPECT_EQ(fake.last_grants, manager::GRANT_CONSOLE);
  EXPECT_EQ(fake.last_tenant, 9u);
  char rendered[512];
  Buffer line(rendered, sizeof rendered);
  render_response_head(refused, true, line);
  EXPECT_EQ(std::string(line.data(), line.size()).rfind("HTTP/1.1 403 Forbidden\r\n", 0), 0u);
}

// No manager worker takes the INVOKE within the function's timeout plus the margin: 504, the
// invocation did not run and counts nowhere.
// An invocation asks the manager for its function's limits (DESCRIBE) only when nothing that may
// have changed a function happened since the last time: a redeploy is described again, another
// tenant's function of the same name has its own limits.
TEST_F(ApiTest, InvocationsDescribeTheirFunctionOnceUntilAChange) {
  const std::string key = "Authorization: Bearer key-one-1234\r\n";
  const std::string other_key = "Authorization: Bearer key-two-1234\r\n";
  ASSERT_EQ(send("POST /system/functions HTTP/1.1\r\n" + key + "X-Function-Config: {\"name\": \"echo\"}\r\n", "ELF!")
                .status,
            201u);
  u64 described = fake.describes;
  EXPECT_EQ(send("POST /function/echo HTTP/1.1\r\n" + key, "a").status, 200u);
  EXPECT_EQ(fake.describes, described + 1);
  EXPECT_EQ(fake.last_send_timeout, 7'000'000'000u + INVOKE_SEND_MARGIN_NS);
  fake.timeout_ns = 9'000'000'000;  // Unseen: nothing told the gateway the function changed.
  EXPECT_EQ(send("POST /function/echo HTTP/1.1\r\n" + key, "b").status, 200u);
  EXPECT_EQ(send("POST /function/echo HTTP/1.1\r\n" + key, "c", other.get()).status, 200u);  // Another worker.
  EXPECT_EQ(fake.describes, described + 1);
  EXPECT_EQ(fake.last_send_timeout, 7'000'000'000u + INVOKE_SEND_MARGIN_NS);

  ASSERT_EQ(send("POST /system/functions HTTP/1.1\r\n" + other_key + "X-Function-Config: {\"name\": \"echo\"}\r\n",
                 "ELF!")
                .status,
            201u);  // A deploy (of any tenant) may change functions: described anew.
  EXPECT_EQ(send("POST /function/echo HTTP/1.1\r\n" + key, "d").status, 200u);
  EXPECT_EQ(fake.describes, described + 2);
  EXPECT_EQ(fake.last_send_timeout, 9'000'000'000u + INVOKE_SEND_MARGIN_NS);
  EXPECT_EQ(send("POST /function/echo HTTP/1.1\r\n" + other_key, "e").status, 200u);
  EXPECT_EQ(fake.describes, described + 3);  // The other tenant's echo is another function.

  ASSERT_EQ(send("DELETE /system/functions/echo HTTP/1.1\r\n" + key).status, 200u);
  EXPECT_EQ(send("POST /function/echo HTTP/1.1\r\n" + key, "f").status, 404u);  // Not believed deployed.
  EXPECT_EQ(fake.describes, described + 4);
}

// The cache itself: a description that raced a change is not kept, a change forgets every entry,
// and an entry is one tenant's function of one name.
TEST(InvokeLimits, AFillThatRacedAChangeIsNotBelieved) {
  auto cache = std::make_unique<InvokeLimits>();
  InvokeLimits::Limits limits;
  EXPECT_FALSE(cache->find(1, "echo", limits));
  u64 epoch = cache->epoch();
  cache->invalidate();  // A redeploy answered while the DESCRIBE was under way.
  cache->store(1, "echo", epoch, InvokeLimits::Limits{100, 200});
  EXPECT_FALSE(cache->find(1, "echo", limits));
  cache->store(1, "echo", cache->epoch(), InvokeLimits::Limits{100, 200});
  ASSERT_TRUE(cache->find(1, "echo", limits));
  EXPECT_EQ(limits.max_output_bytes, 100u);
  EXPECT_EQ(limits.timeout_nanoseconds, 200u);
  EXPECT_FALSE(cache->find(2, "echo", limits));
  EXPECT_FALSE(cache->find(1, "echo2", limits));
  EXPECT_FALSE(cache->find(1, "ech", limits));
  cache->invalidate();
  EXPECT_FALSE(cache->find(1, "echo", limits));
  // Only the requests that cannot change a function keep it (whatever the sub-tenant bits).
  for (u32 kind : {manager::DEPLOY, manager::REMOVE, manager::CONFIGURE, manager::DEPLOY_IMAGE, manager::SET_TENANT_QUOTA})
    EXPECT_TRUE(ChangeTracking::may_change(manager::with_sub_tenant(kind, 7))) << kind;
  for (u32 kind : {manager::INVOKE, manager::LIST, manager::DESCRIBE, manager::STATS})
    EXPECT_FALSE(ChangeTracking::may_change(manager::with_sub_tenant(kind, 7))) << kind;
}

TEST_F(ApiTest, InvokeSendTimeout) {
  const std::string key = "Authorization: Bearer key-one-1234\r\n";
  ASSERT_EQ(send("POST /system/functions HTTP/1.1\r\n" + key + "X-Function-Config: {\"name\": \"echo\"}\r\n", "ELF!")
                .status,
            201u);
  fake.invoke_times_out = true;
  Response timed_out = send("POST /function/echo HTTP/1.1\r\n" + key, "hi");
  EXPECT_EQ(timed_out.status, 504u);
  EXPECT_EQ(body_of(timed_out),
            "{\"error\": \"the container manager did not take the invocation within the function's timeout plus 5 s "
            "(all its workers are busy); it did not run\"}\n");
  EXPECT_EQ(fake.last_send_timeout, 7'000'000'000u + INVOKE_SEND_MARGIN_NS);  // The fake's timeout_ms is 7000.
  const std::string page = body_of(send("GET /metrics HTTP/1.1\r\nAuthorization: Bearer key-operator\r\n"));
  EXPECT_NE(page.find("metteagle_invocations_all_total 0\n"), std::string::npos) << page;
  fake.invoke_times_out = false;
  EXPECT_EQ(send("POST /function/echo HTTP/1.1\r\n" + key, "hi").status, 200u);
}

// Finding 8 (issue 10): an invocation that outlives a delete of its function must not bring the
// series back ("zombie" series filled the table so that other tenants' functions got none).
TEST_F(ApiTest, DeleteDuringInvocationLeavesNoSeries) {
  const std::string key = "Authorization: Bearer key-one-1234\r\n";
  const std::string config = "X-Function-Config: {\"name\": \"gone\"}\r\n";
  ASSERT_EQ(send("POST /system/functions HTTP/1.1\r\n" + key + config, "ELF!").status, 201u);
  EXPECT_EQ(shared->metrics.series_count(1), 1u);
  Response deleted;
  fake.during_invoke = [&] { deleted = send("DELETE /system/functions/gone HTTP/1.1\r\n" + key, "", other.get()); };
  (void)send("POST /function/gone HTTP/1.1\r\n" + key, "x");
  EXPECT_EQ(deleted.status, 200u);
  EXPECT_EQ(shared->metrics.series_count(1), 0u);
  std::string page = body_of(send("GET /metrics HTTP/1.1\r\nAuthorization: Bearer key-operator\r\n"));
  EXPECT_EQ(page.find("function=\"gone\""), std::string::npos) << page;
  EXPECT_NE(page.find("metteagle_invocations_all_total 1\n"), std::string::npos);
  // Deleted and deployed again while an invocation of the old one runs: the old invocation's
  // result does not land in the new function's series.
  ASSERT_EQ(send("POST /system/functions HTTP/1.1\r\n" + key + config, "ELF!").status, 201u);
  Response redeployed;
  fake.during_invoke = [&] {
    (void)send("DELETE /system/functions/gone HTTP/1.1\r\n" + key, "", other.get());
    redeployed = send("POST /system/functions HTTP/1.1\r\n" + key + config, "ELF!", other.get());
  };
  EXPECT_EQ(send("POST /function/gone HTTP/1.1\r\n" + key, "y").status, 200u);
  EXPECT_EQ(redeployed.status, 201u);
  page = body_of(send("GET /metrics HTTP/1.1\r\nAuthorization: Bearer key-operator\r\n"));
  EXPECT_NE(page.find("metteagle_invocations_total{function=\"gone\",tenant=\"1\"} 0\n"), std::string::npos) << page;
  Response log = send("GET /system/logs?name=gone HTTP/1.1\r\n" + key);
  EXPECT_EQ(log.status, 200u);
  EXPECT_EQ(body_of(log), "");
  EXPECT_EQ(shared->metrics.series_count(1), 1u);
}

// A metrics table with the host's memory for `bound` functions in all.
struct MetricsWithMemory {
  std::unique_ptr<HeapTableMemory> memory = heap_table_memory(Metrics::ENTRY_BYTES);
  std::unique_ptr<Metrics> metrics = std::make_unique<Metrics>();
  explicit MetricsWithMemory(usize bound = MAX_FUNCTION_ENTRIES) { metrics->configure(memory.get(), bound); }
};

TEST(MetricsTable, EachTenantHasItsOwnBound) {
  MetricsWithMemory table(4000);
  Metrics* metrics = table.metrics.get();
  metrics->set_quota(1, 100);
  for (u32 tenant = 2; tenant <= 16; ++tenant) metrics->set_quota(tenant, 200);
  // Tenant 1 deploys more than its quota: only it loses series, and the counter says how many.
  for (usize index = 0; index < 105; ++index) metrics->open(1, ("f" + std::to_string(index)).c_str());
  EXPECT_EQ(metrics->series_count(1), 100u);
  EXPECT_EQ(metrics->series_refused(1), 5u);
  bool made = true;
  EXPECT_EQ(metrics->reserve(1, "f200", made), TableRefusal::Tenant);
  EXPECT_FALSE(made);
  // An invocation of a function without a series: refused again, counted only in the totals.
  SeriesTicket none = metrics->begin(1, "f70x");
  EXPECT_EQ(none.slot, SeriesTicket::NONE);
  EXPECT_EQ(metrics->series_refused(1), 6u);
  metrics->record_invocation(none, InvocationRecord{});
  // Every other tenant still gets all of its quota, however full tenant 1 is.
  for (u32 tenant = 2; tenant <= 16; ++tenant) {
    EXPECT_EQ(metrics->limit(tenant), 200u);
    for (usize index = 0; index < 200; ++index) metrics->open(tenant, ("g" + std::to_string(index)).c_str());
    EXPECT_EQ(metrics->series_count(tenant), 200u) << tenant;
    EXPECT_EQ(metrics->series_refused(tenant), 0u) << tenant;
    EXPECT_EQ(metrics->reserve(tenant, "one-more", made), TableRefusal::Tenant);
  }
  EXPECT_EQ(metrics->series_total(), 100u + 15 * 200);
  // A delete gives the room back.
  metrics->forget(1, "f3");
  EXPECT_EQ(metrics->series_count(1), 99u);
  EXPECT_EQ(metrics->reserve(1, "f200", made), TableRefusal::None);
  EXPECT_TRUE(made);
  SeriesTicket ticket = metrics->begin(1, "f200");
  EXPECT_NE(ticket.slot, SeriesTicket::NONE);
  EXPECT_EQ(metrics->series_count(1), 100u);
  EXPECT_EQ(metrics->series_refused(1), 6u);
}

TEST(MetricsTable, StaleTicketsRecordOnlyTheTotals) {
  MetricsWithMemory table;
  Metrics* metrics = table.metrics.get();
  metrics->open(1, "echo");
  SeriesTicket ticket = metrics->begin(1, "echo");
  metrics->forget(1, "echo");
  InvocationRecord record;
  record.call_id = 5;
  metrics->record_invocation(ticket, record);  // Finishes after the delete.
  EXPECT_EQ(metrics->series_count(1), 0u);
  std::vector<char> storage(64 * 1024);
  Buffer log(storage.data(), storage.size());
  metrics->render_log(1, "echo", log);
  EXPECT_EQ(log.size(), 0u);
  // The slot is reused by another tenant's function: the stale ticket still does not count there.
  metrics->open(2, "other");
  metrics->record_invocation(ticket, record);
  Buffer page(storage.data(), storage.size());
  metrics->render(page);
  std::string text(page.data(), page.size());
  EXPECT_NE(text.find("metteagle_invocations_total{function=\"other\",tenant=\"2\"} 0\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("function=\"echo\""), std::string::npos);
  EXPECT_NE(text.find("metteagle_invocations_all_total 2\n"), std::string::npos);
  // A current ticket records into the series and its log.
  SeriesTicket current = metrics->begin(2, "other");
  metrics->record_invocation(current, record);
  Buffer other_log(storage.data(), storage.size());
  metrics->render_log(2, "other", other_log);
  EXPECT_EQ(std::string(other_log.data(), other_log.size()),
            "call=5 status=OK exit_code=0 output_bytes=0 duration_seconds=0.000000\n");
  // Deleted between DESCRIBE and begin(): begin() made a series the delete never saw; the
  // manager's NOT_FOUND takes it away again.
  SeriesTicket late = metrics->begin(1, "late");
  EXPECT_EQ(metrics->series_count(1), 1u);
  InvocationRecord not_found;
  not_found.status = manager::STATUS_NOT_FOUND;
  metrics->record_invocation(late, not_found);
  EXPECT_EQ(metrics->series_count(1), 0u);
}

TEST_F(ApiTest, ResponseHead) {
  Response response;
  api->error(response, 413, "too big");
  char storage[512];
  Buffer head(storage, sizeof storage);
  render_response_head(response, true, head);
  std::string rendered(head.data(), head.size());
  EXPECT_EQ(rendered.rfind("HTTP/1.1 413 Content Too Large\r\n", 0), 0u);
  EXPECT_NE(rendered.find("Content-Length: " + std::to_string(response.body_length) + "\r\n"), std::string::npos);
  auto large = std::make_unique<RequestHead>();
  large->method = Slice::of("POST");
  large->path = Slice::of("/function/echo");
  EXPECT_EQ(api->body_limit(*large), DEFAULT_BODY_LIMIT);
  EXPECT_STREQ(api->body_limit_message(*large), "body larger than 32 MiB (the gateway's limit)");
  // A deploy carries an executable: up to the manager's 16 MiB.
  large->path = Slice::of("/system/functions");
  EXPECT_EQ(api->body_limit(*large), 16ull << 20);
  EXPECT_STREQ(api->body_limit_message(*large), "executable larger than 16 MiB");
  // The key file's max_body_mib= sets the limit of every other body.
  auto small = std::make_unique<GatewayShared>(KEYS, 3, 2ull << 20);  // Megabytes: not on the stack.
  Gateway limited(fake, *small, GatewayStorage{text.data(), text.size(), output.data(), output.size()});
  large->path = Slice::of("/function/echo");
  EXPECT_EQ(limited.body_limit(*large), 2ull << 20);
  EXPECT_STREQ(limited.body_limit_message(*large), "body larger than 2 MiB (the gateway's limit)");
}

// /metrics needs a key: a tenant's key shows its own series only, an operator key every series.
TEST_F(ApiTest, MetricsPerKey) {
  const std::string one = "Authorization: Bearer key-one-1234\r\n";
  const std::string two = "Authorization: Bearer key-two-1234\r\n";
  const std::string config = "X-Function-Config: {\"name\": \"echo\"}\r\n";
  ASSERT_EQ(send("POST /system/functions HTTP/1.1\r\n" + one + config, "ELF!").status, 201u);
  ASSERT_EQ(send("POST /system/functions HTTP/1.1\r\n" + two + config, "ELF!").status, 201u);
  ASSERT_EQ(send("POST /function/echo HTTP/1.1\r\n" + one, "a").status, 200u);
  ASSERT_EQ(send("POST /function/echo HTTP/1.1\r\n" + two, "b").status, 200u);
  Response anonymous = send("GET /metrics HTTP/1.1\r\n");
  EXPECT_EQ(anonymous.status, 401u);
  EXPECT_EQ(body_of(anonymous), "{\"error\": \"missing or unknown API key\"}\n");
  EXPECT_EQ(send("GET /healthz HTTP/1.1\r\n").status, 200u);  // Stays open.
  const std::string mine = body_of(send("GET /metrics HTTP/1.1\r\n" + one));
  EXPECT_NE(mine.find("\nmetteagle_invocations_total{function=\"echo\",tenant=\"1\"} 1\n"), std::string::npos) << mine;
  EXPECT_NE(mine.find("\nmetteagle_concurrency_limit{tenant=\"1\"} 2\n"), std::string::npos) << mine;
  EXPECT_EQ(mine.find("tenant=\"2\""), std::string::npos) << mine;  // Nothing of the other tenant,
  EXPECT_EQ(mine.find("metteagle_invocations_all_total"), std::string::npos);  // nor totals over all,
  EXPECT_EQ(mine.find("metteagle_manager_"), std::string::npos);  // nor the machine's figures.
  EXPECT_EQ(mine.find("metteagle_http_responses_total"), std::string::npos);
  const std::string all = body_of(send("GET /metrics HTTP/1.1\r\nAuthorization: Bearer key-operator\r\n"));
  EXPECT_NE(all.find("\nmetteagle_invocations_total{function=\"echo\",tenant=\"1\"} 1\n"), std::string::npos) << all;
  EXPECT_NE(all.find("\nmetteagle_invocations_total{function=\"echo\",tenant=\"2\"} 1\n"), std::string::npos);
  EXPECT_NE(all.find("\nmetteagle_invocations_all_total 2\n"), std::string::npos);
  EXPECT_NE(all.find("\nmetteagle_manager_free_bytes 123456789\n"), std::string::npos);
}

// Log lines a tenant's ring could not keep (no memory for it) are on its /metrics page and the
// operator's, never on another tenant's.
TEST_F(ApiTest, DroppedLogLinesInMetrics) {
  const std::string one = "Authorization: Bearer key-one-1234\r\n";
  const std::string two = "Authorization: Bearer key-two-1234\r\n";
  const std::string config = "X-Function-Config: {\"name\": \"echo\"}\r\n";
  log_memory.refuse(1);
  ASSERT_EQ(send("POST /system/functions HTTP/1.1\r\n" + one + config, "ELF!").status, 201u);
  ASSERT_EQ(send("POST /system/functions HTTP/1.1\r\n" + two + config, "ELF!").status, 201u);
  for (int call = 0; call < 2; ++call) ASSERT_EQ(send("POST /function/echo HTTP/1.1\r\n" + one, "a").status, 200u);
  ASSERT_EQ(send("POST /function/echo HTTP/1.1\r\n" + two, "b").status, 200u);
  EXPECT_EQ(shared->logs.dropped(1), 2u);  // Each invocation's result line.
  EXPECT_EQ(body_of(send("GET /system/logs?name=echo HTTP/1.1\r\n" + one)), "");
  EXPECT_NE(body_of(send("GET /system/logs?name=echo HTTP/1.1\r\n" + two)), "");
  // A tenant's page ends with the family: its own line only.
  auto ends_with = [](const std::string& page, const std::string& end) {
    return page.size() >= end.size() && page.compare(page.size() - end.size(), end.size(), end) == 0;
  };
  const std::string mine = body_of(send("GET /metrics HTTP/1.1\r\n" + one));
  EXPECT_TRUE(ends_with(mine, "\n# TYPE metteagle_log_lines_dropped_total counter\n"
                              "metteagle_log_lines_dropped_total{tenant=\"1\"} 2\n"))
      << mine;
  const std::string theirs = body_of(send("GET /metrics HTTP/1.1\r\n" + two));
  EXPECT_TRUE(ends_with(theirs, "\n# TYPE metteagle_log_lines_dropped_total counter\n"
                                "metteagle_log_lines_dropped_total{tenant=\"2\"} 0\n"))
      << theirs;
  const std::string all = body_of(send("GET /metrics HTTP/1.1\r\nAuthorization: Bearer key-operator\r\n"));
  EXPECT_NE(all.find("\n# TYPE metteagle_log_lines_dropped_total counter\n"
                     "metteagle_log_lines_dropped_total{tenant=\"0\"} 0\n"
                     "metteagle_log_lines_dropped_total{tenant=\"1\"} 2\n"
                     "metteagle_log_lines_dropped_total{tenant=\"2\"} 0\n"
                     "metteagle_log_lines_dropped_total{tenant=\"9\"} 0\n# HELP "),
            std::string::npos)
      << all;
}

// The early answer to "Expect: 100-continue": what the head alone decides, before any body byte.
TEST_F(ApiTest, ScreenRefusesFromTheHeadAlone) {
  auto screen = [&](const std::string& request) {
    const std::string wire = request + "\r\n";  // The head's slices point into it.
    RequestHead head;
    EXPECT_EQ(parse(wire, head), ParseStatus::Complete) << wire;
    const char* message = nullptr;
    u32 status = api->screen(head, message);
    return std::make_pair(status, std::string(message != nullptr ? message : ""));
  };
  const std::string key = "Authorization: Bearer key-one-1234\r\n";
  EXPECT_EQ(screen("POST /nowhere HTTP/1.1\r\n" + key), std::make_pair(404u, std::string("no such route")));
  EXPECT_EQ(screen("POST /function/echo HTTP/1.1\r\n"), std::make_pair(401u, std::string("missing or unknown API key")));
  EXPECT_EQ(screen("POST /function/echo HTTP/1.1\r\nAuthorization: Bearer wrong-key-123\r\n"),
            std::make_pair(401u, std::string("missing or unknown API key")));
  EXPECT_EQ(screen("POST /function/Bad.Name HTTP/1.1\r\n" + key), std::make_pair(404u, std::string("no such function")));
  EXPECT_EQ(screen("POST /function/echo HTTP/1.1\r\n" + key).first, 0u);
  EXPECT_EQ(screen("POST /system/functions HTTP/1.1\r\n" + key).first, 0u);
  // A wrong method is answered after the body, with its Allow header.
  EXPECT_EQ(screen("PUT /function/echo HTTP/1.1\r\n" + key).first, 0u);
  EXPECT_EQ(screen("POST /healthz HTTP/1.1\r\n").first, 0u);
  Response refused;
  api->refusal(refused, 401, "missing or unknown API key");
  EXPECT_EQ(std::string(refused.extra_headers, refused.extra_length), "WWW-Authenticate: Bearer realm=\"metteagle\"\r\n");
}

// An output that may not fit the worker's buffer goes to the connection's window, and the
// response is sent from there; a request body in a window goes to the backend as that object.
TEST_F(ApiTest, LargeOutputsGoToTheOutputWindow) {
  struct FakeOutputWindow final : OutputWindow {
    u64 open_output(u64 capacity) override {
      ++opens;
      if (refuse) return 0;
      bytes.assign(capacity, 0);
      return 42;
    }
    const u8* output_bytes(u64 length) override { return length <= bytes.size() ? bytes.data() : nullptr; }
    bool read_output(u8* target, u64 length) override {
      ++reads;
      if (length > bytes.size()) return false;
      std::copy(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(length), target);
      return true;
    }
    std::vector<u8> bytes;
    int opens = 0;
    int reads = 0;
    bool refuse = false;
  } window;
  const std::string key = "Authorization: Bearer key-one-1234\r\n";
  ASSERT_EQ(send("POST /system/functions HTTP/1.1\r\n" + key + "X-Function-Config: {\"name\": \"echo\"}\r\n", "ELF!").status,
            201u);
  std::string input(5000, 'q');
  const std::string wire = "POST /function/echo HTTP/1.1\r\n" + key + "Content-Length: 5000\r\n\r\n";
  RequestHead head;
  ASSERT_EQ(parse(wire, head), ParseStatus::Complete);
  window.opens = 0;
  fake.window_bytes = nullptr;
  // The fake writes the output into the window's bytes once the window exists.
  Response response;
  struct Forward final : OutputWindow {
    u64 open_output(u64 capacity) override {
      u64 handle = inner->open_output(capacity);
      if (handle != 0) *bytes = inner->bytes.data();
      return handle;
    }
    const u8* output_bytes(u64 length) override { return inner->output_bytes(length); }
    bool read_output(u8* target, u64 length) override { return inner->read_output(target, length); }
    FakeOutputWindow* inner;
    u8** bytes;
  } forward;
  forward.inner = &window;
  forward.bytes = &fake.window_bytes;
  api->handle(head, Payload{reinterpret_cast<const u8*>(input.data()), input.size(), 7}, response, &forward);
  EXPECT_EQ(response.status, 200u);
  EXPECT_TRUE(response.body_in_window);
  EXPECT_EQ(window.opens, 1);
  EXPECT_EQ(fake.last_output_memory, 42u);
  EXPECT_EQ(fake.last_input_memory, 7u);
  EXPECT_EQ(fake.last_output_capacity, 1u << 20);  // The function's max_output (DESCRIBE word 4).
  EXPECT_EQ(std::string(response.body, response.body_length), input);
  EXPECT_EQ(response.body, reinterpret_cast<const char*>(window.bytes.data()));
  EXPECT_EQ(window.reads, 0);

  // A small output (at most READ_OUTPUT_BYTES) is read out of the window and sent inline.
  std::string small(100, 's');
  Response read_response;
  api->handle(head, Payload{reinterpret_cast<const u8*>(small.data()), small.size(), 7}, read_response, &forward);
  EXPECT_EQ(read_response.status, 200u);
  EXPECT_FALSE(read_response.body_in_window);
  EXPECT_EQ(window.reads, 1);
  EXPECT_EQ(std::string(read_response.body, read_response.body_length), small);
  EXPECT_NE(read_response.body, reinterpret_cast<const char*>(window.bytes.data()));

  window.refuse = true;
  api->handle(head, Payload{reinterpret_cast<const u8*>(input.data()), input.size()}, response, &forward);
  EXPECT_EQ(response.status, 503u);
  EXPECT_EQ(std::string(response.body, response.body_length),
            "{\"error\": \"no memory for the response now; retry later\"}\n");
}

// The event loop admits invocations (TenantAdmission); a refused one gets the 429 naming its
// tenant's limit and queue, counted with the running figures in the tenant's /metrics lines.
TEST_F(ApiTest, AdmissionRefusalAndMetrics) {
  const std::string one = "Authorization: Bearer key-one-1234\r\n";
  std::string config = "X-Function-Config: {\"name\": \"echo\"}\r\n";
  ASSERT_EQ(send("POST /system/functions HTTP/1.1\r\n" + one + config, "ELF!").status, 201u);
  using Decision = TenantAdmission::Decision;
  EXPECT_EQ(shared->admission.arrive(2, 5, 100), Decision::Run);  // key-two: limit 1, no queue.
  EXPECT_EQ(shared->admission.arrive(2, 6, 100), Decision::Rejected);
  Response rejected;
  api->over_admission(rejected, AdmissionRoute::Lane::Invocation, 2);
  EXPECT_EQ(rejected.status, 429u);
  EXPECT_EQ(body_of(rejected), "{\"error\": \"too many invocations in flight: this API key's tenant may run 1 at a "
                               "time and queue 0 more\", \"limit\": 1, \"queue\": 0}\n");
  EXPECT_NE(std::string(rejected.extra_headers, rejected.extra_length).find("Retry-After: 1\r\n"), std::string::npos);
  // Another tenant is not affected; the handler itself counts nothing (the loop admitted it).
  EXPECT_EQ(send("POST /function/echo HTTP/1.1\r\n" + one, "c").status, 200u);
  EXPECT_EQ(shared->admission.running(1), 0u);
  std::string metrics = body_of(send("GET /metrics HTTP/1.1\r\nAuthorization: Bearer key-operator\r\n"));
  EXPECT_NE(metrics.find("\nmetteagle_rejected_total{tenant=\"2\"} 1\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("\nmetteagle_rejected_total{tenant=\"1\"} 0\n"), std::string::npos);
  EXPECT_NE(metrics.find("\nmetteagle_concurrency_limit{tenant=\"1\"} 2\n"), std::string::npos);
  EXPECT_NE(metrics.find("\nmetteagle_invocations_in_flight{tenant=\"2\"} 1\n"), std::string::npos);
  EXPECT_EQ(metrics.find("metteagle_admission_rejected_total"), std::string::npos);  // One 429 counter.
  shared->admission.finish(2);
  EXPECT_EQ(shared->admission.running(2), 0u);
}

// Where the event loop sends each complete request: /healthz and every request without a valid
// key are its own answers (no thread, no manager call, so none takes a tenant's place); an
// invocation goes through its tenant's invocation admission, every other request through its
// tenant's control admission (the workers).
TEST_F(ApiTest, AdmissionRoutes) {
  using Lane = AdmissionRoute::Lane;
  const std::string one = "Authorization: Bearer key-one-1234\r\n";
  const std::string operator_key = "Authorization: Bearer key-operator\r\n";
  const std::string wrong = "Authorization: Bearer wrong-key-123\r\n";
  struct Case {
    std::string request;
    Lane lane;
    u32 tenant;
    u32 loop_status;  // The loop's answer (Lane::Loop).
  } const cases[] = {
      {"GET /healthz HTTP/1.1\r\n", Lane::Loop, 0, 200},
      {"HEAD /healthz HTTP/1.1\r\n", Lane::Loop, 0, 200},
      {"POST /healthz HTTP/1.1\r\n" + one, Lane::Loop, 0, 405},
      {"GET /nowhere HTTP/1.1\r\n" + one, Lane::Loop, 0, 404},
      {"GET /metrics HTTP/1.1\r\n", Lane::Loop, 0, 401},
      {"GET /system/functions HTTP/1.1\r\n" + wrong, Lane::Loop, 0, 401},
      {"POST /function/echo HTTP/1.1\r\n", Lane::Loop, 0, 401},
      {"POST /system/images HTTP/1.1\r\n" + wrong, Lane::Loop, 0, 401},
      {"PATCH /system/functions HTTP/1.1\r\n" + one, Lane::Loop, 0, 405},
      {"POST /function/echo HTTP/1.1\r\n" + one, Lane::Invocation, 1, 0},
      {"GET /function/echo/sub?x=1 HTTP/1.1\r\n" + one, Lane::Invocation, 1, 0},
      {"GET /system/functions HTTP/1.1\r\n" + one, Lane::Control, 1, 0},
      {"POST /system/functions HTTP/1.1\r\n" + one, Lane::Control, 1, 0},
      {"DELETE /system/functions/echo HTTP/1.1\r\n" + one, Lane::Control, 1, 0},
      {"POST /system/images HTTP/1.1\r\n" + one, Lane::Control, 1, 0},
      {"POST /async-function/echo HTTP/1.1\r\n" + one, Lane::Control, 1, 0},
      {"GET /system/logs?name=echo HTTP/1.1\r\n" + one, Lane::Control, 1, 0},
      {"GET /metrics HTTP/1.1\r\n" + operator_key, Lane::Control, 9, 0},
  };
  for (const Case& c : cases) {
    const std::string wire = c.request + "\r\n";  // The head's slices point into it.
    RequestHead head;
    ASSERT_EQ(parse(wire, head), ParseStatus::Complete) << wire;
    AdmissionRoute route = api->admission_of(head);
    EXPECT_EQ(route.lane, c.lane) << c.request;
    EXPECT_EQ(route.tenant, c.tenant) << c.request;
    if (c.lane != Lane::Loop) continue;
    u64 calls = fake.calls;
    Response response;
    api->handle(head, Payload{}, response);
    EXPECT_EQ(response.status, c.loop_status) << c.request;
    EXPECT_EQ(fake.calls, calls) << c.request;  // The loop's answer asks the manager nothing.
  }
}

// A control request its tenant's admission refused (its queue full) is 429 naming the queue, one
// dropped after waiting too long is 503; both say when to retry, and both are counted in the
// tenant's own metteagle_control_* series, which another tenant's key does not see.
TEST_F(ApiTest, ControlAdmissionAnswersAndMetrics) {
  using Decision = TenantAdmission::Decision;
  using Lane = AdmissionRoute::Lane;
  TenantAdmission& control = shared->control;
  EXPECT_EQ(control.queue_limit(1), GatewayShared::CONTROL_QUEUE);
  // Tenant 1 takes 2 of the 4 workers (one each stays for tenants 2 and 9), then fills its queue.
  EXPECT_EQ(control.arrive(1, 0, 100), Decision::Run);
  EXPECT_EQ(control.arrive(1, 1, 100), Decision::Run);
  for (u32 connection = 2; connection < 2 + GatewayShared::CONTROL_QUEUE; ++connection)
    EXPECT_EQ(control.arrive(1, connection, 100 + connection), Decision::Queued) << connection;
  EXPECT_EQ(control.arrive(1, 99, 200), Decision::Rejected);
  Response rejected;
  api->over_admission(rejected, Lane::Control, 1);
  EXPECT_EQ(rejected.status, 429u);
  EXPECT_EQ(body_of(rejected), "{\"error\": \"too many requests waiting: this API key's tenant has 64 requests "
                               "waiting for the gateway's 4 workers already; retry later\", \"queue\": 64}\n");
  EXPECT_EQ(std::string(rejected.extra_headers, rejected.extra_length), "Retry-After: 1\r\n");
  u32 connection = 0;
  u32 tenant = 0;
  ASSERT_TRUE(control.expired(102, connection, tenant));  // The oldest waiting one.
  EXPECT_EQ(connection, 2u);
  EXPECT_EQ(tenant, 1u);
  EXPECT_FALSE(control.expired(102, connection, tenant));
  Response dropped;
  api->queue_timeout(dropped, Lane::Control);
  EXPECT_EQ(dropped.status, 503u);
  EXPECT_EQ(body_of(dropped),
            "{\"error\": \"the request waited in its tenant's queue for a worker too long; nothing was done\"}\n");
  EXPECT_EQ(std::string(dropped.extra_headers, dropped.extra_length), "Retry-After: 1\r\n");
  Response invocation_dropped;
  api->queue_timeout(invocation_dropped, Lane::Invocation);
  EXPECT_EQ(body_of(invocation_dropped),
            "{\"error\": \"the invocation waited in its tenant's queue too long; it did not run\"}\n");
  // Tenant 2's request takes its kept worker at once, behind none of tenant 1's 63 waiting.
  EXPECT_EQ(control.arrive(2, 200, 300), Decision::Run);
  const std::string mine = body_of(send("GET /metrics HTTP/1.1\r\nAuthorization: Bearer key-one-1234\r\n"));
  EXPECT_NE(mine.find("# TYPE metteagle_control_running gauge\nmetteagle_control_running{tenant=\"1\"} 2\n"),
            std::string::npos)
      << mine;
  EXPECT_NE(mine.find("\nmetteagle_control_waiting{tenant=\"1\"} 63\n"), std::string::npos);
  EXPECT_NE(mine.find("\nmetteagle_control_admitted_total{tenant=\"1\"} 2\n"), std::string::npos);
  EXPECT_NE(mine.find("\nmetteagle_control_queued_total{tenant=\"1\"} 64\n"), std::string::npos);
  EXPECT_NE(mine.find("\nmetteagle_control_rejected_total{tenant=\"1\"} 1\n"), std::string::npos);
  EXPECT_NE(mine.find("\nmetteagle_control_timed_out_total{tenant=\"1\"} 1\n"), std::string::npos);
  EXPECT_EQ(mine.find("tenant=\"2\""), std::string::npos);  // Only the key's own tenant.
  // The invocation series are their own: nothing of this counted there.
  EXPECT_NE(mine.find("\nmetteagle_rejected_total{tenant=\"1\"} 0\n"), std::string::npos);
  EXPECT_NE(mine.find("\nmetteagle_admission_queued_total{tenant=\"1\"} 0\n"), std::string::npos);
  const std::string all = body_of(send("GET /metrics HTTP/1.1\r\nAuthorization: Bearer key-operator\r\n"));
  EXPECT_NE(all.find("\nmetteagle_control_running{tenant=\"2\"} 1\n"), std::string::npos) << all;
  EXPECT_NE(all.find("\nmetteagle_control_running{tenant=\"9\"} 0\n"), std::string::npos);
}

// The manager's own statuses for a tenant's exhausted share or limits, and its pool as gauges.
TEST_F(ApiTest, TenantShareStatusesAndManagerGauges) {
  const std::string key = "Authorization: Bearer key-one-1234\r\n";
  std::string config = "X-Function-Config: {\"name\": \"echo\"}\r\n";
  EXPECT_EQ(send("POST /system/functions HTTP/1.1\r\n" + key + config, "ELF!").status, 201u);
  fake.invoke_status = manager::STATUS_TENANT_BUSY;
  Response busy = send("POST /function/echo HTTP/1.1\r\n" + key, "hi");
  EXPECT_EQ(busy.status, 429u);
  EXPECT_NE(body_of(busy).find("tenant memory quota in use"), std::string::npos) << body_of(busy);
  EXPECT_NE(std::string(busy.extra_headers, busy.extra_length).find("Retry-After: 1\r\n"), std::string::npos);
  // The pool could not reserve the limit: a capacity answer naming the limit, never the function's.
  fake.invoke_status = manager::STATUS_NO_CAPACITY;
  fake.exit_detail = 120ull << 20;
  Response full = send("POST /function/echo HTTP/1.1\r\n" + key, "hi");
  EXPECT_EQ(full.status, 503u);
  EXPECT_EQ(body_of(full), "{\"error\": \"no capacity for a 120 MiB invocation now; retry later\", "
                           "\"memory_limit_bytes\": 125829120}\n");
  EXPECT_NE(std::string(full.extra_headers, full.extra_length).find("Retry-After: 1\r\n"), std::string::npos);
  fake.exit_detail = 0;
  fake.invoke_status = manager::STATUS_QUOTA_EXCEEDED;
  EXPECT_EQ(body_of(send("POST /function/echo HTTP/1.1\r\n" + key, "hi")), "{\"error\": \"memory limit exceeded\"}\n");
  fake.invoke_status = manager::STATUS_OUT_OF_MEMORY;
  EXPECT_EQ(send("POST /function/echo HTTP/1.1\r\n" + key, "hi").status, 503u);
  fake.invoke_status = manager::STATUS_OK;
  std::string page = body_of(send("GET /metrics HTTP/1.1\r\nAuthorization: Bearer key-operator\r\n"));
  EXPECT_NE(page.find("# TYPE metteagle_manager_free_bytes gauge\nmetteagle_manager_free_bytes 123456789\n"),
            std::string::npos) << page;
  EXPECT_NE(page.find("\nmetteagle_manager_reserved_bytes 58720256\n"), std::string::npos);
  EXPECT_NE(page.find("\nmetteagle_manager_tenants 1\n"), std::string::npos);
  EXPECT_NE(page.find("\nmetteagle_manager_running_invocations 2\n"), std::string::npos);
  EXPECT_NE(page.find("\nmetteagle_kernel_free_bytes 987654321\n"), std::string::npos);
}

TEST(KeyFile, ParsesKeysTenantsAndLimits) {
  KeyTable table;
  KeysError error;
  ASSERT_TRUE(parse_keys(Slice::of("# comment\n\n  dev-key-alpha tenant=1 limit=4\r\n"
                                   "other.key_~+/-9\ttenant=65535\n"
                                   "operator-key tenant=9 console limit=2\n"),
                         table, error))
      << error.reason << " at line " << error.line;
  ASSERT_EQ(table.count(), 3u);
  EXPECT_STREQ(table.keys()[0].key, "dev-key-alpha");
  EXPECT_FALSE(table.keys()[0].console);
  EXPECT_FALSE(table.keys()[1].console);
  EXPECT_TRUE(table.keys()[2].console);  // The operator grant.
  EXPECT_EQ(table.keys()[2].concurrency_limit, 2u);
  EXPECT_EQ(table.keys()[0].sub_tenant, 1u);
  EXPECT_EQ(table.keys()[0].concurrency_limit, 4u);
  EXPECT_STREQ(table.keys()[1].key, "other.key_~+/-9");
  EXPECT_EQ(table.keys()[1].sub_tenant, 65535u);
  EXPECT_EQ(table.keys()[1].concurrency_limit, DEFAULT_CONCURRENCY_LIMIT);
  u32 tenant = 0;
  EXPECT_TRUE(authenticate(Slice::of("Bearer other.key_~+/-9"), table.index(), tenant));
  EXPECT_EQ(tenant, 65535u);
  const ApiKey* matched = nullptr;
  EXPECT_TRUE(authenticate(Slice::of("Bearer operator-key"), table.index(), matched));
  ASSERT_NE(matched, nullptr);
  EXPECT_EQ(matched, &table.keys()[2]);
}

// 4,096 keys (the most a key file may name) parse, each found by its own key and tenant; one
// more is refused; a duplicate key or tenant among thousands names its line.
TEST(KeyFile, ThousandsOfKeys) {
  std::string text;
  for (u32 tenant = 1; tenant <= MAX_KEYS; ++tenant) text += "tenant-key-" + std::to_string(tenant) + " tenant=" + std::to_string(tenant) + "\n";
  static KeyTable table;
  KeysError error;
  ASSERT_TRUE(parse_keys(Slice{text.data(), text.size()}, table, error)) << error.reason << " at line " << error.line;
  ASSERT_EQ(table.count(), MAX_KEYS);
  EXPECT_EQ(table.index().count(), MAX_KEYS);
  for (u32 tenant = 1; tenant <= MAX_KEYS; ++tenant) {
    std::string header = "Bearer tenant-key-" + std::to_string(tenant);
    u32 found = 0;
    ASSERT_TRUE(authenticate(Slice{header.data(), header.size()}, table.index(), found)) << header;
    EXPECT_EQ(found, tenant);
  }
  u32 found = 0;
  EXPECT_FALSE(authenticate(Slice::of("Bearer tenant-key-4097"), table.index(), found));
  EXPECT_FALSE(authenticate(Slice::of("Bearer tenant-key-"), table.index(), found));
  std::string over = text + "tenant-key-4097 tenant=4097\n";
  EXPECT_FALSE(parse_keys(Slice{over.data(), over.size()}, table, error));
  EXPECT_STREQ(error.reason, "more than 4096 keys");
  EXPECT_EQ(error.line, 4097u);
  EXPECT_EQ(table.count(), 0u);
  EXPECT_FALSE(authenticate(Slice::of("Bearer tenant-key-1"), table.index(), found));  // Emptied.
  std::string twice_key = text.substr(0, text.find("tenant-key-3000 ")) + "tenant-key-17 tenant=60000\n";
  EXPECT_FALSE(parse_keys(Slice{twice_key.data(), twice_key.size()}, table, error));
  EXPECT_STREQ(error.reason, "the same key is given twice");
  EXPECT_EQ(error.line, 3000u);
  std::string twice_tenant = text.substr(0, text.find("tenant-key-3000 ")) + "another-key tenant=2999\n";
  EXPECT_FALSE(parse_keys(Slice{twice_tenant.data(), twice_tenant.size()}, table, error));
  EXPECT_STREQ(error.reason, "the same tenant is given to two keys");
  EXPECT_EQ(error.line, 3000u);
}

TEST(KeyFile, QueueAndFunctionQuota) {
  KeyTable table;
  KeysError error;
  ASSERT_TRUE(parse_keys(Slice::of("good-key-1 tenant=1 limit=4 queue=2 functions=3\ngood-key-2 tenant=2\n"), table,
                         error))
      << error.reason;
  EXPECT_EQ(table.keys()[0].queue_limit, 2u);
  EXPECT_EQ(table.keys()[0].function_quota, 3u);
  EXPECT_EQ(table.keys()[1].queue_limit, 0u);      // No queue: 429 once the limit runs.
  EXPECT_EQ(table.keys()[1].function_quota, 0u);   // The manager's quota.
  for (const char* bad : {"good-key-1 tenant=1 queue=65\n", "good-key-1 tenant=1 queue=x\n",
                          "good-key-1 tenant=1 queue=1 queue=1\n", "good-key-1 tenant=1 functions=0\n",
                          "good-key-1 tenant=1 functions=1048577\n", "good-key-1 tenant=1 functions=2 functions=2\n"}) {
    EXPECT_FALSE(parse_keys(Slice::of(bad), table, error)) << bad;
    EXPECT_EQ(error.line, 1u) << bad;
  }
}

// The event loop's admission: a tenant runs at most its limit (and at most the capacity), queues
// up to its queue= in order, is refused beyond; a finished one frees its slot for the next queued;
// a queued one past its deadline is dropped; every figure appears in /metrics.
TEST(TenantAdmission, RunsQueuesRejectsAndDrops) {
  ApiKey keys[] = {{"key-one-1234", 1, 8}, {"key-two-1234", 2, 1}};
  keys[0].queue_limit = 2;
  TenantSlots slots;
  ASSERT_TRUE(slots.configure(keys, 2));
  TenantAdmission admission;
  admission.configure(slots, keys, 2, 6);
  using Decision = TenantAdmission::Decision;
  EXPECT_EQ(admission.running_limit(1), 6u);  // limit=8, but at most the capacity.
  EXPECT_EQ(admission.running_limit(2), 1u);
  // Tenant 1 may take 5 of the 6: one stays free for tenant 2, which has nothing running.
  for (u32 connection = 10; connection < 15; ++connection) EXPECT_EQ(admission.arrive(1, connection, 100), Decision::Run);
  EXPECT_EQ(admission.arrive(1, 15, 200), Decision::Queued);
  EXPECT_EQ(admission.arrive(1, 16, 300), Decision::Queued);
  EXPECT_EQ(admission.arrive(1, 17, 300), Decision::Rejected);
  EXPECT_EQ(admission.arrive(2, 20, 300), Decision::Run);  // Its kept slot.
  EXPECT_EQ(admission.arrive(2, 21, 300), Decision::Rejected);  // limit=1, queue=0.
  EXPECT_EQ(admission.arrive(7, 30, 300), Decision::Rejected);  // No key names tenant 7.
  EXPECT_EQ(admission.running(1), 5u);
  EXPECT_EQ(admission.queued(1), 2u);
  EXPECT_EQ(admission.running_total(), 6u);
  u32 next = 0;
  EXPECT_FALSE(admission.next(next));  // Nothing freed yet.
  admission.finish(1);
  ASSERT_TRUE(admission.next(next));
  EXPECT_EQ(next, 15u);  // In arrival order; still 5 running.
  EXPECT_FALSE(admission.next(next));
  EXPECT_EQ(admission.running(1), 5u);
  EXPECT_EQ(admission.queued(1), 1u);
  u32 tenant = 0;
  EXPECT_FALSE(admission.expired(299, next, tenant));  // 16 waits since 300.
  ASSERT_TRUE(admission.expired(300, next, tenant));
  EXPECT_EQ(next, 16u);
  EXPECT_EQ(tenant, 1u);
  for (int finished = 0; finished < 6; ++finished) admission.finish(1);  // One too many: stays at 0.
  EXPECT_EQ(admission.running(1), 0u);
  EXPECT_EQ(admission.running_total(), 1u);
  EXPECT_EQ(admission.rejected(1), 1u);
  EXPECT_EQ(admission.queued_total(1), 2u);
  EXPECT_EQ(admission.dropped(1), 1u);
  char text[4096];
  Buffer page(text, sizeof text);
  { RowCursor rows; EXPECT_TRUE(admission.render(page, 1, rows, ~usize{0})); }
  std::string rendered(page.data(), page.size());
  EXPECT_NE(rendered.find("\nmetteagle_invocations_in_flight{tenant=\"1\"} 0\n"), std::string::npos) << rendered;
  EXPECT_NE(rendered.find("\nmetteagle_concurrency_limit{tenant=\"1\"} 6\n"), std::string::npos);
  EXPECT_NE(rendered.find("\nmetteagle_rejected_total{tenant=\"1\"} 1\n"), std::string::npos);
  EXPECT_NE(rendered.find("\nmetteagle_admission_queued{tenant=\"1\"} 0\n"), std::string::npos);
  EXPECT_NE(rendered.find("\nmetteagle_admission_queued_total{tenant=\"1\"} 2\n"), std::string::npos);
  EXPECT_NE(rendered.find("\nmetteagle_admission_dropped_total{tenant=\"1\"} 1\n"), std::string::npos);
  EXPECT_EQ(rendered.find("tenant=\"2\""), std::string::npos);  // Only the tenant's own lines.
}

// Fairness for any number of tenants: two tenants at their limits with full queues leave a slot
// for every tenant with nothing running, so a third one's invocation runs at once; a freed slot
// goes to the queued tenant with the fewest running (in turn among equals), not to the first come.
TEST(TenantAdmission, KeepsASlotForEveryIdleTenant) {
  ApiKey keys[] = {{"key-alpha-123", 1, 4}, {"key-beta-1234", 2, 4}, {"key-gamma-123", 3, 4}, {"key-delta-123", 4, 4}};
  keys[0].queue_limit = 4;
  keys[1].queue_limit = 4;
  keys[2].queue_limit = 4;
  TenantSlots slots;
  ASSERT_TRUE(slots.configure(keys, 4));
  TenantAdmission admission;
  admission.configure(slots, keys, 4, 6);
  using Decision = TenantAdmission::Decision;
  // A takes 3 (B, C and D keep one each), then queues.
  for (u32 connection = 10; connection < 13; ++connection) EXPECT_EQ(admission.arrive(1, connection, 0), Decision::Run);
  EXPECT_EQ(admission.arrive(1, 13, 0), Decision::Queued);  // 3 free, kept for B, C and D.
  EXPECT_EQ(admission.arrive(2, 20, 0), Decision::Run);      // B's kept slot.
  EXPECT_EQ(admission.arrive(2, 21, 0), Decision::Queued);  // 2 free, kept for C and D.
  EXPECT_EQ(admission.arrive(2, 22, 0), Decision::Queued);
  EXPECT_EQ(admission.arrive(3, 30, 0), Decision::Run);  // C runs at once, as D would.
  EXPECT_EQ(admission.arrive(4, 40, 0), Decision::Run);
  EXPECT_EQ(admission.running_total(), 6u);
  EXPECT_EQ(admission.arrive(3, 31, 0), Decision::Queued);
  u32 next = 0;
  // D finishes: its slot stays kept for it (it has nothing running now).
  admission.finish(4);
  EXPECT_FALSE(admission.next(next));
  // A finishes one: the freed slot goes to B (B and C have 1 running against A's 2; B is next in turn),
  // and A's queued one waits although it came first.
  admission.finish(1);
  ASSERT_TRUE(admission.next(next));
  EXPECT_EQ(next, 21u);
  EXPECT_FALSE(admission.next(next));
  admission.finish(1);
  ASSERT_TRUE(admission.next(next));
  EXPECT_EQ(next, 31u);  // A and C have 1 running, C is next in turn.
  admission.finish(2);
  ASSERT_TRUE(admission.next(next));
  EXPECT_EQ(next, 13u);  // A and B have 1: A's turn.
  admission.finish(3);
  ASSERT_TRUE(admission.next(next));
  EXPECT_EQ(next, 22u);  // Only B has one queued.
  EXPECT_EQ(admission.queued(1) + admission.queued(2) + admission.queued(3), 0u);
  EXPECT_EQ(admission.running(1), 2u);
  EXPECT_EQ(admission.running(2), 2u);
  EXPECT_EQ(admission.running(3), 1u);
  EXPECT_EQ(admission.running_total(), 5u);  // The sixth stays kept for D.
}

// With many keys, the slots kept for idle tenants are at most half the capacity (else every tenant
// would be held to one); an idle tenant beyond that queues, and the next freed slot is its own
// before any tenant with something running gets one more.
TEST(TenantAdmission, KeepsAtMostHalfForIdleTenants) {
  std::vector<ApiKey> keys;
  for (u32 tenant = 1; tenant <= 10; ++tenant) {
    ApiKey key{"key-many-1234", tenant, 4};
    key.queue_limit = 2;
    keys.push_back(key);
  }
  TenantSlots slots;
  ASSERT_TRUE(slots.configure(keys.data(), keys.size()));
  TenantAdmission admission;
  admission.configure(slots, keys.data(), keys.size(), 6);
  using Decision = TenantAdmission::Decision;
  for (u32 connection = 10; connection < 13; ++connection) EXPECT_EQ(admission.arrive(1, connection, 0), Decision::Run);
  EXPECT_EQ(admission.arrive(1, 13, 0), Decision::Queued);  // 3 free: kept for 3 idle tenants.
  for (u32 tenant = 2; tenant <= 4; ++tenant) EXPECT_EQ(admission.arrive(tenant, tenant * 10, 0), Decision::Run);
  EXPECT_EQ(admission.arrive(5, 50, 0), Decision::Queued);  // All 6 run.
  admission.finish(1);
  u32 next = 0;
  ASSERT_TRUE(admission.next(next));
  EXPECT_EQ(next, 50u);  // Tenant 5 has none running: before tenant 1's queued one.
  EXPECT_FALSE(admission.next(next));
  EXPECT_EQ(admission.running(5), 1u);
  EXPECT_EQ(admission.queued(1), 1u);
}

// The workers' admission (GatewayShared::control): every tenant may use any worker, but one with
// something running takes another only while one stays free for each tenant with nothing running
// (up to half of the 4), so a tenant sending many slow deploys holds at most its share; then it
// queues up to its queue limit in order, and is refused beyond that; the others' requests start
// at once.
TEST(TenantAdmission, ControlRequestsShareTheWorkers) {
  ApiKey keys[] = {{"key-alpha-123", 1, 1}, {"key-beta-1234", 2, 1}, {"key-gamma-123", 3, 1}};
  TenantSlots slots;
  ASSERT_TRUE(slots.configure(keys, 3));
  TenantAdmission control;
  control.configure_control(slots, keys, 3, 4, 64);
  using Decision = TenantAdmission::Decision;
  EXPECT_EQ(control.running_limit(1), 4u);  // Not the key's limit= (that one is for invocations).
  EXPECT_EQ(control.queue_limit(1), 64u);
  EXPECT_EQ(control.arrive(1, 100, 0), Decision::Run);
  EXPECT_EQ(control.arrive(1, 101, 0), Decision::Run);
  for (u32 connection = 102; connection < 166; ++connection)
    EXPECT_EQ(control.arrive(1, connection, connection), Decision::Queued) << connection;
  EXPECT_EQ(control.arrive(1, 166, 200), Decision::Rejected);  // The 65th waiting.
  EXPECT_EQ(control.running(1), 2u);
  EXPECT_EQ(control.queued(1), 64u);
  EXPECT_EQ(control.rejected(1), 1u);
  EXPECT_EQ(control.queued_total(1), 64u);
  EXPECT_EQ(control.admitted(1), 2u);
  // B and C each start at once, ahead of A's 64.
  EXPECT_EQ(control.arrive(2, 200, 300), Decision::Run);
  EXPECT_EQ(control.arrive(3, 250, 300), Decision::Run);
  EXPECT_EQ(control.arrive(2, 201, 300), Decision::Queued);  // All 4 busy now.
  EXPECT_EQ(control.running_total(), 4u);
  // C's worker, freed, stays kept for C (nothing running); A's freed one goes to A's oldest (A and
  // B have 1 running each, A is first in turn), the next one to B.
  control.finish(3);
  u32 next = 0;
  EXPECT_FALSE(control.next(next));
  control.finish(1);
  ASSERT_TRUE(control.next(next));
  EXPECT_EQ(next, 102u);
  EXPECT_FALSE(control.next(next));
  control.finish(1);
  ASSERT_TRUE(control.next(next));
  EXPECT_EQ(next, 201u);
  // Waiting past the deadline: A's oldest are dropped, one at a time, in order; B's queue is empty.
  u32 tenant = 0;
  ASSERT_TRUE(control.expired(104, next, tenant));
  EXPECT_EQ(next, 103u);
  EXPECT_EQ(tenant, 1u);
  ASSERT_TRUE(control.expired(104, next, tenant));
  EXPECT_EQ(next, 104u);
  EXPECT_FALSE(control.expired(104, next, tenant));
  EXPECT_EQ(control.dropped(1), 2u);
  EXPECT_EQ(control.queued(1), 61u);
  EXPECT_EQ(control.admitted(1), 3u);
  EXPECT_EQ(control.admitted(2), 2u);
  char text[8192];
  Buffer page(text, sizeof text);
  { RowCursor rows; EXPECT_TRUE(control.render(page, 2, rows, ~usize{0})); }
  std::string rendered(page.data(), page.size());
  EXPECT_EQ(rendered,
            "# HELP metteagle_control_running Control requests (all but invocations and /healthz) on a worker now, by "
            "tenant.\n# TYPE metteagle_control_running gauge\nmetteagle_control_running{tenant=\"2\"} 2\n"
            "# HELP metteagle_control_waiting Control requests waiting in their tenant's queue for a worker now.\n"
            "# TYPE metteagle_control_waiting gauge\nmetteagle_control_waiting{tenant=\"2\"} 0\n"
            "# HELP metteagle_control_admitted_total Control requests handed to a worker, at once or from the queue.\n"
            "# TYPE metteagle_control_admitted_total counter\nmetteagle_control_admitted_total{tenant=\"2\"} 2\n"
            "# HELP metteagle_control_queued_total Control requests that waited in their tenant's queue.\n"
            "# TYPE metteagle_control_queued_total counter\nmetteagle_control_queued_total{tenant=\"2\"} 1\n"
            "# HELP metteagle_control_rejected_total Control requests refused with 429: the tenant's queue was full.\n"
            "# TYPE metteagle_control_rejected_total counter\nmetteagle_control_rejected_total{tenant=\"2\"} 0\n"
            "# HELP metteagle_control_timed_out_total Queued control requests dropped with 503: they waited past the "
            "deadline.\n# TYPE metteagle_control_timed_out_total counter\n"
            "metteagle_control_timed_out_total{tenant=\"2\"} 0\n");
}

// Fairness ordering of the workers: a freed worker goes to the queued tenant with the fewest
// running, so a tenant whose 64 slow requests queued first does not keep another tenant's one
// waiting behind all of them.
TEST(TenantAdmission, ControlFreedWorkerGoesToTheFewestRunning) {
  ApiKey keys[] = {{"key-alpha-123", 1, 1}, {"key-beta-1234", 2, 1}};
  TenantSlots slots;
  ASSERT_TRUE(slots.configure(keys, 2));
  TenantAdmission control;
  control.configure_control(slots, keys, 2, 4, 64);
  using Decision = TenantAdmission::Decision;
  // A takes 3 (one stays for B), then queues.
  for (u32 connection = 10; connection < 13; ++connection) EXPECT_EQ(control.arrive(1, connection, 0), Decision::Run);
  for (u32 connection = 13; connection < 20; ++connection) EXPECT_EQ(control.arrive(1, connection, 0), Decision::Queued);
  EXPECT_EQ(control.arrive(2, 20, 5), Decision::Run);
  EXPECT_EQ(control.arrive(2, 21, 5), Decision::Queued);
  control.finish(1);  // A: 2 running, B: 1.
  u32 next = 0;
  ASSERT_TRUE(control.next(next));
  EXPECT_EQ(next, 21u);  // B's, though A's 7 came first.
  EXPECT_FALSE(control.next(next));
  control.finish(2);  // A: 2, B: 1.
  ASSERT_TRUE(control.next(next));
  EXPECT_EQ(next, 13u);  // Only A has one waiting.
  EXPECT_EQ(control.running(1), 3u);
  EXPECT_EQ(control.running(2), 1u);
}

TEST(KeyFile, ConnectionLimitLine) {
  KeyTable table;
  KeysError error;
  ASSERT_TRUE(parse_keys(Slice::of("good-key-1 tenant=1\n"), table, error));
  EXPECT_EQ(table.connection_limit(), MAX_CONNECTION_LIMIT);
  ASSERT_TRUE(parse_keys(Slice::of("# tests\nconnections=80\ngood-key-1 tenant=1\n"), table, error));
  EXPECT_EQ(table.connection_limit(), 80u);
  EXPECT_EQ(table.count(), 1u);
  EXPECT_FALSE(parse_keys(Slice::of("connections=80\n"), table, error));  // Still needs a key.
  EXPECT_EQ(table.connection_limit(), MAX_CONNECTION_LIMIT);
}

TEST(KeyFile, BodyLimitLine) {
  KeyTable table;
  KeysError error;
  ASSERT_TRUE(parse_keys(Slice::of("good-key-1 tenant=1\n"), table, error));
  EXPECT_EQ(table.body_limit(), DEFAULT_BODY_LIMIT);
  ASSERT_TRUE(parse_keys(Slice::of("max_body_mib=40\ngood-key-1 tenant=1\n"), table, error));
  EXPECT_EQ(table.body_limit(), 40ull << 20);
  ASSERT_TRUE(parse_keys(Slice::of("max_body_mib=128\ngood-key-1 tenant=1\n"), table, error));
  EXPECT_EQ(table.body_limit(), 128ull << 20);
  for (const char* bad : {"max_body_mib=0\n", "max_body_mib=129\n", "max_body_mib=4x\n", "max_body_mib=4 more\n",
                          "max_body_mib=4\nmax_body_mib=5\n"}) {
    std::string text = std::string(bad) + "good-key-1 tenant=1\n";
    EXPECT_FALSE(parse_keys(Slice::of(text.c_str()), table, error)) << bad;
    EXPECT_EQ(table.body_limit(), DEFAULT_BODY_LIMIT) << bad;
    EXPECT_NE(std::string(error.reason).find("max_body_mib="), std::string::npos) << bad;
  }
}

TEST(KeyFile, ErrorsNameTheLine) {
  struct Case {
    const char* text;
    usize line;
    const char* reason_part;
  } const cases[] = {
      {"", 0, "no key"},
      {"# only a comment\n", 0, "no key"},
      {"short tenant=1\n", 1, "8 to 128"},
      {"# c\nbad*key*here tenant=1\n", 2, "characters"},
      {"good-key-1 tenant=0\n", 1, "tenant="},
      {"good-key-1 tenant=65536\n", 1, "tenant="},
      {"good-key-1 tenant=x\n", 1, "tenant="},
      {"good-key-1 tenant=1 tenant=2\n", 1, "twice"},
      {"good-key-1\n", 1, "no tenant"},
      {"good-key-1 tenant=1 limit=0\n", 1, "limit="},
      {"good-key-1 tenant=1 limit=65\n", 1, "limit="},
      {"good-key-1 tenant=1 limit=1 limit=2\n", 1, "twice"},
      {"good-key-1 tenant=1 colour=red\n", 1, "unknown word"},
      {"good-key-1 tenant=1 console console\n", 1, "console given twice"},
      {"good-key-1 tenant=1 console=yes\n", 1, "unknown word"},
      {"good-key-1 tenant=1 CONSOLE\n", 1, "unknown word"},
      {"good-key-1 tenant=1\ngood-key-1 tenant=2\n", 2, "same key"},
      {"good-key-1 tenant=1\ngood-key-2 tenant=1\n", 2, "same tenant"},
      {"good-key-1 tenant=1 \x01\n", 1, "control"},
      {"good-key-\xc3\xa9 tenant=1\n", 1, "control or non-ASCII"},
      {"connections=0\ngood-key-1 tenant=1\n", 1, "connections="},
      {"connections=257\ngood-key-1 tenant=1\n", 1, "connections="},
      {"good-key-1 tenant=1\nconnections=8 x\n", 2, "alone on its line"},
      {"connections=8\nconnections=9\ngood-key-1 tenant=1\n", 2, "connections= given twice"},
  };
  for (const Case& test : cases) {
    KeyTable table;
    KeysError error;
    EXPECT_FALSE(parse_keys(Slice::of(test.text), table, error)) << test.text;
    EXPECT_EQ(table.count(), 0u) << test.text;
    EXPECT_EQ(error.line, test.line) << test.text;
    ASSERT_NE(error.reason, nullptr);
    EXPECT_NE(std::string(error.reason).find(test.reason_part), std::string::npos) << test.text << ": " << error.reason;
  }
  std::string many;
  for (int index = 0; index < 4097; ++index) many += "key-number-" + std::to_string(index) + " tenant=" + std::to_string(index + 1) + "\n";
  KeyTable table;
  KeysError error;
  EXPECT_FALSE(parse_keys(Slice{many.data(), many.size()}, table, error));
  EXPECT_EQ(error.line, 4097u);
  // The key characters are 8-128 long: 128 is fine.
  std::string longest = std::string(128, 'k') + " tenant=3\n";
  EXPECT_TRUE(parse_keys(Slice{longest.data(), longest.size()}, table, error));
  std::string too_long = std::string(129, 'k') + " tenant=3\n";
  EXPECT_FALSE(parse_keys(Slice{too_long.data(), too_long.size()}, table, error));
}

}  // namespace
}  // namespace gateway

// Image references (user/store/include/store/image.hpp): docker's familiar form, ":latest" added,
// and what the store's names cannot take refused.
namespace {
std::string normalised(const char* text) {
  char out[store::NAME_BYTES];
  if (!store::normalise_image_name(text, std::strlen(text), out)) return "<refused>";
  return out;
}
}  // namespace

TEST(ImageNames, NormalisedAsDockerDoesAndRefusedWhenInvalid) {
  EXPECT_EQ(normalised("busybox"), "busybox:latest");
  EXPECT_EQ(normalised("docker.io/library/busybox"), "busybox:latest");
  EXPECT_EQ(normalised("docker.io/example/app:1"), "example/app:1");
  EXPECT_EQ(normalised("ghcr.io/acme/hello:1.2"), "ghcr.io/acme/hello:1.2");
  EXPECT_EQ(normalised("localhost:5000/app"), "localhost:5000/app:latest");
  EXPECT_EQ(normalised("app@sha256:0123"), "app@sha256:0123");
  EXPECT_EQ(normalised(""), "<refused>");
  EXPECT_EQ(normalised("+tree"), "<refused>");
  EXPECT_EQ(normalised("a+b"), "<refused>");
  EXPECT_EQ(normalised("a b"), "<refused>");
  EXPECT_EQ(normalised("app:"), "<refused>");
  EXPECT_EQ(normalised(std::string(101, 'a').c_str()), "<refused>");
  EXPECT_EQ(normalised(std::string(100, 'a').c_str()), std::string(100, 'a') + ":latest");
  char record[store::NAME_BYTES];
  store::image_record_name(65535, "busybox:latest", record);
  EXPECT_STREQ(record, "image+65535+busybox:latest");
}
