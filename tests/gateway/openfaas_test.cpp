// Host tests of OpenFaaS's shapes (user/gateway/openfaas.cpp): FunctionDeployment parsing with its
// precise errors, DNS-label names, memory quantities, envProcess (up to 64 KiB) and its splitting,
// the catalog's envProcess pools, the watchdog's request environment and the boot-relative createdAt.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "table_memory.hpp"
#include "catalog.hpp"
#include "logs.hpp"
#include "openfaas.hpp"
#include "slice_memory.hpp"

namespace gateway {
namespace {

Slice slice(const std::string& text) { return Slice{text.data(), text.size()}; }

std::vector<std::string> strings(const char* data, u64 bytes) {
  std::vector<std::string> out;
  for (u64 at = 0; at < bytes;) {
    std::string one(data + at);
    out.push_back(one);
    at += one.size() + 1;
  }
  return out;
}

std::string parse_error(const std::string& json) {
  FunctionDeployment deployment;
  const char* error = nullptr;
  bool ok = parse_function_deployment(slice(json), deployment, error);
  return ok ? "accepted" : error;
}

TEST(OpenFaas, FullDeployment) {
  std::string json = R"({"service": "printenv", "image": "busybox", "envProcess": "sh -c 'echo \"$A\"'",
    "envVars": {"A": "1", "GREETING": "hello env"}, "labels": {"team": "a"}, "annotations": {"note": "n"},
    "limits": {"memory": "32Mi"}, "requests": {"memory": "16Mi"}, "secrets": [], "namespace": "",
    "constraints": [], "readOnlyRootFilesystem": true, "registryAuth": "x"})";
  FunctionDeployment deployment;
  const char* error = nullptr;
  ASSERT_TRUE(parse_function_deployment(slice(json), deployment, error)) << error;
  EXPECT_STREQ(deployment.service, "printenv");
  EXPECT_STREQ(deployment.image, "busybox");
  char env_process[64];
  ASSERT_TRUE(env_process_text(deployment, env_process, sizeof env_process));
  EXPECT_STREQ(env_process, "sh -c 'echo \"$A\"'");
  EXPECT_STREQ(deployment.labels, R"({"team":"a"})");
  EXPECT_STREQ(deployment.annotations, R"({"note":"n"})");
  EXPECT_TRUE(deployment.has_memory);
  EXPECT_EQ(deployment.memory, 32ull << 20);
  EXPECT_EQ(deployment.secret_count, 0u);
  std::vector<char> environment(deployment.environment_bytes);
  ASSERT_TRUE(render_environment(deployment, environment.data(), environment.size()));
  EXPECT_EQ(strings(environment.data(), deployment.environment_bytes),
            (std::vector<std::string>{"A=1", "GREETING=hello env", "fprocess=sh -c 'echo \"$A\"'"}));
  EXPECT_FALSE(render_environment(deployment, environment.data(), environment.size() - 1));
}

// A deployment's environment up to 64 KiB (KEY=value strings with their NULs) is taken; one byte
// more is refused with the limit named; escapes count as the bytes they decode to.
TEST(OpenFaas, LargeEnvironment) {
  constexpr usize LIMIT = manager::MAX_STRINGS_BYTES;
  // "BIG=" + value + NUL is exactly the limit.
  std::string value(LIMIT - 5, 'v');
  std::string json = R"({"service": "x", "image": "b", "envVars": {"BIG": ")" + value + "\"}}";
  FunctionDeployment deployment;
  const char* error = nullptr;
  ASSERT_TRUE(parse_function_deployment(slice(json), deployment, error)) << error;
  EXPECT_EQ(deployment.environment_bytes, LIMIT);
  std::vector<char> environment(LIMIT);
  ASSERT_TRUE(render_environment(deployment, environment.data(), environment.size()));
  EXPECT_EQ(std::string(environment.data(), 4), "BIG=");
  EXPECT_EQ(environment[LIMIT - 2], 'v');
  EXPECT_EQ(environment[LIMIT - 1], '\0');
  EXPECT_EQ(parse_error(R"({"service": "x", "image": "b", "envVars": {"BIG": ")" + value + "v\"}}"),
            "envVars and envProcess take more than 65536 bytes (64 KiB, KEY=value strings): the limit of a "
            "function's environment and arguments");
  // "\u0041" decodes to one byte.
  EXPECT_EQ(parse_error(R"({"service": "x", "image": "b", "envVars": {"BIG": ")" + value.substr(1) + "\\u0041\"}}"),
            "accepted");
  std::string many = R"({"service": "x", "image": "b", "envVars": {)";
  for (int i = 0; i <= 1024; ++i) many += (i == 0 ? "\"V" : ", \"V") + std::to_string(i) + "\": \"1\"";
  EXPECT_EQ(parse_error(many + "}}"), "envVars: a function takes at most 1024 variables");
}

// envProcess has no bound of its own below the environment's (64 KiB, as args): a 2,000-character
// one and one that fills the environment exactly are kept whole (escapes decoded), rendered as
// fprocess and split from there; one byte more is refused naming the limit.
TEST(OpenFaas, LongEnvProcess) {
  std::string tail(2000, 'e');
  std::string json = R"({"service": "x", "image": "b", "envProcess": "echo \"a\u0041\" )" + tail + "\"}";
  FunctionDeployment deployment;
  const char* error = nullptr;
  ASSERT_TRUE(parse_function_deployment(slice(json), deployment, error)) << error;
  std::string expected = "echo \"aA\" " + tail;
  EXPECT_EQ(deployment.env_process_bytes, expected.size());
  std::vector<char> text(expected.size() + 1);
  ASSERT_TRUE(env_process_text(deployment, text.data(), text.size()));
  EXPECT_EQ(std::string(text.data()), expected);
  EXPECT_FALSE(env_process_text(deployment, text.data(), text.size() - 1));
  std::vector<char> environment(deployment.environment_bytes);
  ASSERT_TRUE(render_environment(deployment, environment.data(), environment.size()));
  EXPECT_EQ(strings(environment.data(), deployment.environment_bytes), (std::vector<std::string>{"fprocess=" + expected}));
  EXPECT_EQ(std::string(rendered_env_process(deployment, environment.data())), expected);
  std::vector<char> words(expected.size() + 1);
  u64 bytes = 0;
  ASSERT_TRUE(split_env_process(rendered_env_process(deployment, environment.data()), words.data(), words.size(), bytes));
  EXPECT_EQ(strings(words.data(), bytes), (std::vector<std::string>{"echo", "aA", tail}));

  // "fprocess=" + value + NUL is exactly the environment's limit; one more byte is refused.
  std::string fills(manager::MAX_STRINGS_BYTES - 10, 'p');
  std::string at_limit = R"({"service": "x", "image": "b", "envProcess": ")" + fills + "\"}";
  ASSERT_TRUE(parse_function_deployment(slice(at_limit), deployment, error)) << error;
  EXPECT_EQ(deployment.environment_bytes, manager::MAX_STRINGS_BYTES);
  EXPECT_EQ(parse_error(R"({"service": "x", "image": "b", "envProcess": ")" + fills + "p\"}"),
            "envVars and envProcess take more than 65536 bytes (64 KiB, KEY=value strings): the limit of a "
            "function's environment and arguments");
  EXPECT_EQ(parse_error(R"({"service": "x", "image": "b", "envProcess": 5})"), "envProcess must be a string");
  EXPECT_EQ(parse_error(R"({"service": "x", "image": "b", "envProcess": "a\u0000b"})"),
            "strings may not hold NUL characters");
  // An empty envProcess is there (it empties an image's Cmd) but adds no fprocess.
  std::string empty = R"({"service": "x", "image": "b", "envProcess": ""})";
  ASSERT_TRUE(parse_function_deployment(slice(empty), deployment, error));
  EXPECT_TRUE(deployment.has_env_process);
  EXPECT_EQ(deployment.environment_bytes, 0u);
  EXPECT_STREQ(rendered_env_process(deployment, nullptr), "");
}

FunctionDeployment deployment_of(const std::string& json) {
  FunctionDeployment deployment;
  const char* error = nullptr;
  EXPECT_TRUE(parse_function_deployment(slice(json), deployment, error)) << error;
  return deployment;
}

std::string status_env_process(const Catalog& catalog, u32 tenant, const char* name) {
  std::vector<char> out(4 * manager::MAX_STRINGS_BYTES);
  Buffer text(out.data(), out.size());
  catalog.append_env_process(tenant, name, text);
  return std::string(text.data(), text.size());
}

std::string json_quoted(const std::string& text) { return "\"" + text + "\""; }

// The catalog keeps each envProcess whole (up to 64 KiB), in its tenant's own pool: replacing or
// forgetting one moves the others' texts without changing them, and a tenant over its pool is
// refused without anything changing, for it or for another tenant.
TEST(Catalog, EnvProcessKeptWholePerTenant) {
  auto memory = heap_table_memory(Catalog::ENTRY_BYTES);
  auto catalog = std::make_unique<Catalog>();
  catalog->configure(memory.get(), MAX_FUNCTION_ENTRIES);
  auto slots = std::make_unique<TenantSlots>();
  const u32 tenants[] = {1, 2};
  ASSERT_TRUE(slots->configure(tenants, 2));
  LazySliceMemory pools(slots->count() * Catalog::POOL_SLICE_BYTES + TenantSlices::PAGE_BYTES * 3, 1000);
  catalog->configure_pools(&pools, slots.get());
  pools.watch([&] { return catalog->locked(); });
  std::string long_one(2000, 'l');
  // The JSON bodies outlive what the catalog records of them (as a request's body does).
  std::string a = R"({"service": "a", "image": "img", "envProcess": ")" + long_one + R"(", "labels": {"k": "v"}})";
  std::string b = R"({"service": "b", "image": "img", "envProcess": "echo \"b\""})";
  std::string c = R"({"service": "c", "image": "img"})";
  ASSERT_TRUE(catalog->record(1, deployment_of(a)));
  ASSERT_TRUE(catalog->record(1, deployment_of(b)));
  ASSERT_TRUE(catalog->record(1, deployment_of(c)));
  EXPECT_EQ(status_env_process(*catalog, 1, "a"), json_quoted(long_one));
  EXPECT_EQ(status_env_process(*catalog, 1, "b"), R"("echo \"b\"")");
  EXPECT_EQ(status_env_process(*catalog, 1, "c"), R"("")");
  EXPECT_EQ(status_env_process(*catalog, 2, "a"), R"("")");  // Another tenant's name.
  CatalogEntry entry;
  ASSERT_TRUE(catalog->find(1, "a", entry));
  EXPECT_STREQ(entry.labels, R"({"k":"v"})");
  // An update replaces a's text (shorter now): b's, after it, moves down intact.
  std::string a2 = R"({"service": "a", "image": "img2", "envProcess": "new"})";
  ASSERT_TRUE(catalog->record(1, deployment_of(a2)));
  EXPECT_EQ(status_env_process(*catalog, 1, "a"), R"("new")");
  EXPECT_EQ(status_env_process(*catalog, 1, "b"), R"("echo \"b\"")");
  ASSERT_TRUE(catalog->find(1, "a", entry));
  EXPECT_STREQ(entry.image, "img2");
  EXPECT_STREQ(entry.labels, "{}");
  catalog->forget(1, "a");
  EXPECT_EQ(status_env_process(*catalog, 1, "a"), R"("")");
  EXPECT_EQ(status_env_process(*catalog, 1, "b"), R"("echo \"b\"")");

  // The largest envProcess fits; a tenant's pool holds ENV_PROCESS_POOL_BYTES in all.
  std::string largest(MAX_ENV_PROCESS_BYTES - 10, 'x');
  std::vector<std::string> bodies;
  for (int i = 0; i < 5; ++i)
    bodies.push_back(R"({"service": "big)" + std::to_string(i) + R"(", "image": "img", "envProcess": ")" + largest + "\"}");
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(catalog->record(1, deployment_of(bodies[i]))) << i;
  FunctionDeployment fifth = deployment_of(bodies[4]);
  // 4 x 65,527 + 9 (b's and its NUL) bytes are held: a fifth (65,527) does not fit 262,144.
  EXPECT_EQ(catalog->env_process_fits(1, fifth), Catalog::Room::Full);
  EXPECT_FALSE(catalog->record(1, fifth));
  EXPECT_FALSE(catalog->find(1, "big4", entry));
  EXPECT_EQ(status_env_process(*catalog, 1, "big0"), json_quoted(largest));
  // Replacing one of them by one as long fits (its old text is freed); another tenant has its own room.
  std::string again = R"({"service": "big1", "image": "other", "envProcess": ")" + largest + "\"}";
  EXPECT_EQ(catalog->env_process_fits(1, deployment_of(again)), Catalog::Room::Fits);
  ASSERT_TRUE(catalog->record(1, deployment_of(again)));
  ASSERT_TRUE(catalog->find(1, "big1", entry));
  EXPECT_STREQ(entry.image, "other");
  EXPECT_EQ(catalog->env_process_fits(2, fifth), Catalog::Room::Fits);
  ASSERT_TRUE(catalog->record(2, fifth));
  EXPECT_EQ(status_env_process(*catalog, 2, "big4"), json_quoted(largest));
  EXPECT_EQ(status_env_process(*catalog, 1, "big2"), json_quoted(largest));
  EXPECT_EQ(status_env_process(*catalog, 1, "b"), R"("echo \"b\"")");
  // Freed room is room again.
  catalog->forget(1, "big0");
  EXPECT_EQ(catalog->env_process_fits(1, fifth), Catalog::Room::Fits);
  ASSERT_TRUE(catalog->record(1, fifth));
  EXPECT_EQ(status_env_process(*catalog, 1, "big4"), json_quoted(largest));
  // A tenant whose pool's pages cannot be backed now (its window budget) is told so, and nothing
  // changes; a tenant without a key has no pool.
  pools.refuse(2);
  std::string more = R"({"service": "more", "image": "img", "envProcess": ")" + largest + "\"}";
  EXPECT_EQ(catalog->env_process_fits(2, deployment_of(more)), Catalog::Room::NoMemory);
  EXPECT_FALSE(catalog->record(2, deployment_of(more)));
  EXPECT_FALSE(catalog->find(2, "more", entry));
  EXPECT_EQ(status_env_process(*catalog, 2, "big4"), json_quoted(largest));
  EXPECT_EQ(catalog->env_process_fits(3, deployment_of(more)), Catalog::Room::NoMemory);
  EXPECT_EQ(status_env_process(*catalog, 1, "big3"), json_quoted(largest));
  EXPECT_EQ(status_env_process(*catalog, 1, "big1"), json_quoted(largest));
  // Every pool page was backed once, outside the catalog's lock.
  EXPECT_GT(pools.calls(), 0u);
  EXPECT_EQ(pools.calls_under_lock(), 0u);
  EXPECT_EQ(pools.backed_twice(), 0u);
}

TEST(OpenFaas, PreciseErrors) {
  EXPECT_EQ(parse_error(R"({"service": "x",)"), "the body is not valid JSON (a FunctionDeployment object expected)");
  EXPECT_EQ(parse_error(R"([1])"), "the body must be a JSON object (a FunctionDeployment)");
  EXPECT_EQ(parse_error(R"({"image": "busybox"})"), "service is required (the function's name)");
  EXPECT_EQ(parse_error(R"({"service": 5, "image": "b"})"), "service must be a string");
  EXPECT_EQ(parse_error(R"({"service": "Bad_Name", "image": "b"})"),
            "a function name may hold only a-z, 0-9 and '-' (a DNS label)");
  EXPECT_EQ(parse_error(R"({"service": "edge-", "image": "b"})"),
            "a function name must start and end with a letter or a digit (a DNS label)");
  EXPECT_EQ(parse_error("{\"service\": \"" + std::string(64, 'a') + "\", \"image\": \"b\"}"),
            "a function name must be 1 to 63 characters (a DNS label)");
  EXPECT_EQ(parse_error("{\"service\": \"" + std::string(63, 'a') + "\", \"image\": \"b\"}"), "accepted");
  EXPECT_EQ(parse_error("{\"service\": \"" + std::string(31, 'a') + "\", \"image\": \"b\"}"), "accepted");
  EXPECT_EQ(parse_error(R"({"service": "", "image": "b"})"), "a function name must be 1 to 63 characters (a DNS label)");
  EXPECT_EQ(parse_error(R"({"service": "x"})"), "image is required (a function uploaded before, or an image reference)");
  EXPECT_EQ(parse_error(R"({"service": "x", "image": "b", "envVars": {"A": 1}})"), "envVars must be an object of strings");
  EXPECT_EQ(parse_error(R"({"service": "x", "image": "b", "envVars": {"A=B": "1"}})"), "an envVars name may not hold '='");
  EXPECT_EQ(parse_error(R"({"service": "x", "image": "b", "labels": ["a"]})"), "labels must be an object of strings");
  EXPECT_EQ(parse_error(R"({"service": "x", "image": "b", "limits": {"memory": "lots"}})"),
            "limits must be an object like {\"memory\": \"128Mi\"}");
  EXPECT_EQ(parse_error(R"({"service": "x", "image": "b", "secrets": "s"})"), "secrets must be an array of names");
  EXPECT_EQ(parse_error(R"({"service": "x", "image": "b", "namespace": "openfaas-fn"})"),
            "namespaces are not supported (each API key is its own tenant)");
  EXPECT_EQ(parse_error(R"({"service": "x", "service": "y", "image": "b"})"), "a member appears twice");
  EXPECT_EQ(parse_error(R"({"service": "x", "image": "b", "envVars": {"A": ")" + std::string(400, 'v') + "\"}}"),
            "accepted");
}

TEST(OpenFaas, MemoryQuantities) {
  u64 bytes = 0;
  EXPECT_TRUE(parse_memory_quantity(Slice::of("128Mi"), bytes));
  EXPECT_EQ(bytes, 128ull << 20);
  EXPECT_TRUE(parse_memory_quantity(Slice::of("1Gi"), bytes));
  EXPECT_EQ(bytes, 1ull << 30);
  EXPECT_TRUE(parse_memory_quantity(Slice::of("64M"), bytes));
  EXPECT_EQ(bytes, 64'000'000u);
  EXPECT_TRUE(parse_memory_quantity(Slice::of("4096"), bytes));
  EXPECT_EQ(bytes, 4096u);
  EXPECT_FALSE(parse_memory_quantity(Slice::of("Mi"), bytes));
  EXPECT_FALSE(parse_memory_quantity(Slice::of("12Xi"), bytes));
  EXPECT_FALSE(parse_memory_quantity(Slice::of("99999999999Gi"), bytes));
}

TEST(OpenFaas, EnvProcessSplitsLikeAShell) {
  char out[128];
  u64 bytes = 0;
  ASSERT_TRUE(split_env_process("sh -c 'echo \"a b\"; exit 3'  x\"y z\"", out, sizeof out, bytes));
  EXPECT_EQ(strings(out, bytes), (std::vector<std::string>{"sh", "-c", "echo \"a b\"; exit 3", "xy z"}));
  EXPECT_FALSE(split_env_process("sh -c 'open", out, sizeof out, bytes));
  EXPECT_FALSE(split_env_process("abcdefgh", out, 8, bytes));
  ASSERT_TRUE(split_env_process("   ", out, sizeof out, bytes));
  EXPECT_EQ(bytes, 0u);
}

TEST(OpenFaas, WatchdogEnvironment) {
  std::string raw = "PATCH /function/f/sub/path?a=1&b=2 HTTP/1.1\r\nHost: x\r\nx-custom-HEADER: yes\r\n"
                    "Authorization: Bearer secret\r\nContent-Type: text/plain\r\n\r\n";
  RequestHead head;
  ASSERT_EQ(parse_request_head(raw.data(), raw.size(), head), ParseStatus::Complete);
  char out[448];
  usize bytes = watchdog_environment(head, Slice::of("/sub/path"), out, sizeof out);
  EXPECT_EQ(strings(out, bytes), (std::vector<std::string>{"Http_Method=PATCH", "Http_Path=/sub/path",
                                                           "Http_Query=a=1&b=2", "Http_Host=x",
                                                           "Http_X_Custom_Header=yes", "Http_Content_Type=text/plain"}));
  // Only whole variables, as many as fit.
  bytes = watchdog_environment(head, Slice{}, out, 30);
  EXPECT_EQ(strings(out, bytes), (std::vector<std::string>{"Http_Method=PATCH", "Http_Path=/"}));
}

TEST(OpenFaas, BootTime) {
  char text[64];
  Buffer output(text, sizeof text);
  append_boot_time(output, (86400ull * 400 + 3661) * 1'000'000 + 42);
  EXPECT_EQ(std::string(output.data(), output.size()), "1971-02-05T01:01:01.000042Z");
}

TEST(FunctionLogs, LinesTailSinceAndTenants) {
  auto slots = numbered_slots(2);
  auto memory = lazy_slice_memory(*slots, FunctionLogs::SLICE_BYTES);
  auto logs = std::make_unique<FunctionLogs>();
  logs->configure(*slots, memory.get());
  std::string const two_lines = "first\n\nsecond \"q\"";
  logs->append(1, "f", 7, 1'000'000, two_lines.data(), two_lines.size());
  logs->append(1, "g", 8, 2'000'000, "other function\n", 15);
  logs->append(1, "f", 9, 3'000'000, "third", 5);
  std::vector<char> text(64 * 1024);
  Buffer output(text.data(), text.size());
  logs->render(1, "f", 0, 0, output);
  EXPECT_EQ(std::string(output.data(), output.size()),
            "{\"name\": \"f\", \"namespace\": \"\", \"instance\": \"7\", \"timestamp\": \"1970-01-01T00:00:01.000000Z\", "
            "\"text\": \"first\"}\n"
            "{\"name\": \"f\", \"namespace\": \"\", \"instance\": \"7\", \"timestamp\": \"1970-01-01T00:00:01.000000Z\", "
            "\"text\": \"second \\\"q\\\"\"}\n"
            "{\"name\": \"f\", \"namespace\": \"\", \"instance\": \"9\", \"timestamp\": \"1970-01-01T00:00:03.000000Z\", "
            "\"text\": \"third\"}\n");
  output.clear();
  logs->render(1, "f", 0, 1, output);
  EXPECT_NE(std::string(output.data(), output.size()).find("third"), std::string::npos);
  EXPECT_EQ(std::string(output.data(), output.size()).find("first"), std::string::npos);
  output.clear();
  logs->render(1, "f", 2'000'000, 0, output);
  EXPECT_EQ(std::count(output.data(), output.data() + output.size(), '\n'), 1);
  // A tenant that logs a lot evicts only its own lines.
  for (int i = 0; i < 1000; ++i) logs->append(2, "f", 1, 5'000'000, "noise\n", 6);
  output.clear();
  logs->render(1, "f", 0, 0, output);
  EXPECT_EQ(std::count(output.data(), output.data() + output.size(), '\n'), 3);
  output.clear();
  logs->render(2, "f", 0, 0, output);
  EXPECT_FALSE(output.overflowed());
  EXPECT_EQ(std::count(output.data(), output.data() + output.size(), '\n'), 128);
  logs->forget(1, "f");
  output.clear();
  logs->render(1, "f", 0, 0, output);
  EXPECT_EQ(output.size(), 0u);
}

TEST(FunctionLogs, BootTimeRoundTrip) {
  u64 microseconds = 0;
  ASSERT_TRUE(parse_boot_time(Slice::of("1971-02-05T01:01:01.000042Z"), microseconds));
  EXPECT_EQ(microseconds, (86400ull * 400 + 3661) * 1'000'000 + 42);
  ASSERT_TRUE(parse_boot_time(Slice::of("1970-01-01T00:00:09Z"), microseconds));
  EXPECT_EQ(microseconds, 9'000'000u);
  EXPECT_FALSE(parse_boot_time(Slice::of("yesterday"), microseconds));
  EXPECT_FALSE(parse_boot_time(Slice::of("1970-01-01T00:00:09"), microseconds));
  EXPECT_FALSE(parse_boot_time(Slice::of("1970-13-01T00:00:09Z"), microseconds));
}

}  // namespace
}  // namespace gateway
