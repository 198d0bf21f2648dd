// Host tests of the function records (user/gateway/records.cpp): their blob names, the checks of
// a record's header against its size, the index of current records, the secret names a
// FunctionDeployment may carry, and a follow stream's position in the function logs.
#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <string>

#include "logs.hpp"
#include "openfaas.hpp"
#include "records.hpp"
#include "slice_memory.hpp"

namespace gateway {
namespace {

TEST(Records, NamesRoundTrip) {
  char name[store::NAME_BYTES];
  ASSERT_TRUE(record_name("function", 7, "my-fn_2", 42, name));
  EXPECT_STREQ(name, "function+7+my-fn_2+42");
  u32 tenant = 0;
  u64 sequence = 0;
  char parsed[RECORD_FUNCTION_NAME_BYTES];
  ASSERT_TRUE(parse_record_name("function", name, tenant, parsed, sequence));
  EXPECT_EQ(tenant, 7u);
  EXPECT_STREQ(parsed, "my-fn_2");
  EXPECT_EQ(sequence, 42u);
  ASSERT_TRUE(record_name("secret", 65535, "db", 18446744073709551615ull, name));
  EXPECT_STREQ(name, "secret+65535+db+18446744073709551615");
  ASSERT_TRUE(parse_record_name("secret", name, tenant, parsed, sequence));
  EXPECT_EQ(sequence, 18446744073709551615ull);
  // A name of 63 characters fits the store's 127.
  std::string longest(63, 'a');
  ASSERT_TRUE(record_name("function", 4294967295u, longest.c_str(), 18446744073709551615ull, name));
  ASSERT_TRUE(parse_record_name("function", name, tenant, parsed, sequence));
  EXPECT_EQ(std::string(parsed), longest);
}

TEST(Records, RefusesOtherNames) {
  char name[store::NAME_BYTES];
  EXPECT_FALSE(record_name("function", 1, "", 1, name));
  EXPECT_FALSE(record_name("function", 1, "Upper", 1, name));
  EXPECT_FALSE(record_name("function", 1, "a+b", 1, name));
  EXPECT_FALSE(record_name("function", 1, std::string(64, 'a').c_str(), 1, name));
  u32 tenant = 0;
  u64 sequence = 0;
  char parsed[RECORD_FUNCTION_NAME_BYTES];
  for (const char* other : {"image+1+busybox:latest", "tree+0000", "spool+1", "function+1+echo", "function+1+echo+",
                            "function+01+echo+1", "function+1+echo+01", "function+1++1", "function+4294967296+a+1",
                            "function+1+echo+1+2", "function+1+Echo+1", "secret+1+echo+1", "functions+1+echo+1",
                            "function+1+echo+18446744073709551616", "function+1+echo+99999999999999999999"}) {
    EXPECT_FALSE(parse_record_name("function", other, tenant, parsed, sequence)) << other;
  }
}

RecordHeader header_of(u64 config, u64 executable, std::initializer_list<u64> layers) {
  RecordHeader header{};
  header.magic = RECORD_MAGIC;
  header.version = RECORD_VERSION;
  header.config_bytes = config;
  header.executable_bytes = executable;
  for (u64 layer : layers) header.layer_bytes[header.layer_count++] = layer;
  return header;
}

TEST(Records, HeaderMustMatchItsSize) {
  RecordHeader native = header_of(30, 1000, {});
  EXPECT_TRUE(record_header_valid(native, sizeof native + 1030));
  EXPECT_FALSE(record_header_valid(native, sizeof native + 1029));
  EXPECT_FALSE(record_header_valid(native, sizeof native + 1031));
  RecordHeader layered = header_of(30, 1000, {200, 300});
  EXPECT_TRUE(record_header_valid(layered, sizeof layered + 1530));
  RecordHeader json_only = header_of(0, 0, {200});
  EXPECT_TRUE(record_header_valid(json_only, sizeof json_only + 200));
  // No native part and no layer, an executable without its configuration, an empty or huge layer,
  // too many layers, a wrong magic or version: refused.
  RecordHeader nothing = header_of(0, 0, {});
  EXPECT_FALSE(record_header_valid(nothing, sizeof nothing));
  RecordHeader orphan = header_of(0, 10, {5});
  EXPECT_FALSE(record_header_valid(orphan, sizeof orphan + 15));
  RecordHeader empty_layer = header_of(30, 0, {0});
  EXPECT_FALSE(record_header_valid(empty_layer, sizeof empty_layer + 30));
  RecordHeader huge_layer = header_of(0, 0, {MAX_RECORD_LAYER_BYTES + 1});
  EXPECT_FALSE(record_header_valid(huge_layer, sizeof huge_layer + MAX_RECORD_LAYER_BYTES + 1));
  RecordHeader many = header_of(1, 0, {});
  many.layer_count = MAX_RECORD_LAYERS + 1;
  EXPECT_FALSE(record_header_valid(many, sizeof many + 1));
  RecordHeader magic = native;
  magic.magic ^= 1;
  EXPECT_FALSE(record_header_valid(magic, sizeof magic + 1030));
  RecordHeader version = native;
  version.version = 2;
  EXPECT_FALSE(record_header_valid(version, sizeof version + 1030));
  RecordHeader big = header_of(30, manager::MAX_EXECUTABLE_BYTES + 1, {});
  EXPECT_FALSE(record_header_valid(big, sizeof big + 30 + manager::MAX_EXECUTABLE_BYTES + 1));
  // Sizes that would wrap around.
  RecordHeader wrap = header_of(30, ~u64{0} - 10, {});
  EXPECT_FALSE(record_header_valid(wrap, sizeof wrap + 19));
}

TEST(Records, IndexKeepsOneSequencePerTenantAndName) {
  auto index = std::make_unique<RecordIndex>();
  u64 sequence = 0;
  EXPECT_FALSE(index->find(1, "echo", sequence));
  ASSERT_TRUE(index->set(1, "echo", 5));
  ASSERT_TRUE(index->set(2, "echo", 6));
  ASSERT_TRUE(index->set(1, "echo", 9));  // Replaces tenant 1's.
  ASSERT_TRUE(index->find(1, "echo", sequence));
  EXPECT_EQ(sequence, 9u);
  ASSERT_TRUE(index->find(2, "echo", sequence));
  EXPECT_EQ(sequence, 6u);
  EXPECT_EQ(index->count_of(1), 1u);
  index->erase(1, "echo");
  EXPECT_FALSE(index->find(1, "echo", sequence));
  EXPECT_TRUE(index->find(2, "echo", sequence));
  index->observe(100);
  EXPECT_EQ(index->next_sequence(), 101u);
  EXPECT_EQ(index->next_sequence(), 102u);
  index->observe(50);  // Never backwards.
  EXPECT_EQ(index->next_sequence(), 103u);
  ASSERT_TRUE(index->set(3, "zeta", 1));
  ASSERT_TRUE(index->set(3, "alpha", 2));
  ASSERT_TRUE(index->set(3, "mid", 3));
  char names[2][RECORD_FUNCTION_NAME_BYTES];
  ASSERT_EQ(index->names_of(3, names, 2), 2u);  // Bounded by the capacity.
  char all[8][RECORD_FUNCTION_NAME_BYTES];
  ASSERT_EQ(index->names_of(3, all, 8), 3u);
  EXPECT_STREQ(all[0], "alpha");
  EXPECT_STREQ(all[1], "mid");
  EXPECT_STREQ(all[2], "zeta");
}

TEST(Records, IndexRefusesWhenFull) {
  auto index = std::make_unique<RecordIndex>();
  char name[16];
  for (usize i = 0; i < RecordIndex::CAPACITY; ++i) {
    snprintf(name, sizeof name, "f%zu", i);
    ASSERT_TRUE(index->set(1, name, i + 1));
  }
  EXPECT_FALSE(index->set(2, "one-more", 1));
  EXPECT_TRUE(index->set(1, "f0", 99));  // An existing entry is still updated.
  u64 sequence = 0;
  for (usize i = 0; i < RecordIndex::CAPACITY; i += 97) {
    snprintf(name, sizeof name, "f%zu", i);
    ASSERT_TRUE(index->find(1, name, sequence)) << name;
    EXPECT_EQ(sequence, i == 0 ? 99u : i + 1);
  }
  index->erase(1, "f5");  // Room for one: the tombstone is reused.
  EXPECT_FALSE(index->find(1, "f5", sequence));
  EXPECT_TRUE(index->set(2, "one-more", 1));
  EXPECT_FALSE(index->set(2, "two-more", 1));
  EXPECT_TRUE(index->find(2, "one-more", sequence));
}

// The hash table under churn: entries found after their neighbours on the probe path were erased
// and new ones set in their tombstones, many times over (deploy and delete cycles).
TEST(Records, IndexSurvivesChurn) {
  auto index = std::make_unique<RecordIndex>();
  char name[24];
  constexpr usize LIVE = 12000;
  for (usize i = 0; i < LIVE; ++i) {
    snprintf(name, sizeof name, "keep%zu", i);
    ASSERT_TRUE(index->set(static_cast<u32>(i % 16), name, i + 1));
  }
  for (usize round = 0; round < 20; ++round) {
    for (usize i = 0; i < 4000; ++i) {
      snprintf(name, sizeof name, "churn%zu", i);
      ASSERT_TRUE(index->set(7, name, round)) << round << " " << i;
    }
    for (usize i = 0; i < 4000; ++i) {
      snprintf(name, sizeof name, "churn%zu", i);
      index->erase(7, name);
    }
  }
  u64 sequence = 0;
  for (usize i = 0; i < LIVE; ++i) {
    snprintf(name, sizeof name, "keep%zu", i);
    ASSERT_TRUE(index->find(static_cast<u32>(i % 16), name, sequence)) << name;
    EXPECT_EQ(sequence, i + 1);
    EXPECT_FALSE(index->find(static_cast<u32>(i % 16 + 1), name, sequence));  // Another tenant's: none.
  }
  EXPECT_FALSE(index->find(7, "churn5", sequence));
  EXPECT_EQ(index->count_of(7), LIVE / 16);
}

std::string deployment_error(const std::string& json) {
  FunctionDeployment deployment;
  const char* error = nullptr;
  return parse_function_deployment(Slice{json.data(), json.size()}, deployment, error) ? "accepted" : error;
}

TEST(Records, DeploymentSecretNames) {
  FunctionDeployment deployment;
  const char* error = nullptr;
  std::string json = R"({"service": "f", "image": "i", "secrets": ["db-password", "api-key"]})";
  ASSERT_TRUE(parse_function_deployment(Slice{json.data(), json.size()}, deployment, error)) << error;
  ASSERT_EQ(deployment.secret_count, 2u);
  EXPECT_STREQ(deployment.secrets[0], "db-password");
  EXPECT_STREQ(deployment.secrets[1], "api-key");
  const std::string label = "secrets: each name must be a DNS label (1 to 63 characters of a-z, 0-9 and '-')";
  EXPECT_EQ(deployment_error(R"({"service": "f", "image": "i", "secrets": ["Upper"]})"), label);
  EXPECT_EQ(deployment_error(R"({"service": "f", "image": "i", "secrets": [""]})"), label);
  EXPECT_EQ(deployment_error(R"({"service": "f", "image": "i", "secrets": ["-a"]})"), label);
  EXPECT_EQ(deployment_error(R"({"service": "f", "image": "i", "secrets": ["a\u0000b"]})"), label);
  EXPECT_EQ(deployment_error("{\"service\": \"f\", \"image\": \"i\", \"secrets\": [\"" + std::string(64, 'a') + "\"]}"),
            label);
  EXPECT_EQ(deployment_error(R"({"service": "f", "image": "i", "secrets": ["a", "a"]})"), "secrets: a name is given twice");
  EXPECT_EQ(deployment_error(R"({"service": "f", "image": "i", "secrets": ["a","b","c","d","e","f","g","h","i"]})"),
            "secrets: a function may name at most 8");
}

TEST(Records, FollowGetsEveryNewLineOnceInWholeLines) {
  auto slots = numbered_slots(2);
  auto memory = lazy_slice_memory(*slots, FunctionLogs::SLICE_BYTES);
  auto logs = std::make_unique<FunctionLogs>();
  logs->configure(*slots, memory.get());
  logs->append(1, "f", 1, 1'000'000, "before\n", 7);
  char text[4096];
  Buffer first(text, sizeof text);
  u64 after = 0;
  logs->render(1, "f", 0, 0, first, &after);
  EXPECT_EQ(std::string(first.data(), first.size()).find("before") != std::string::npos, true);
  // Lines of the same invocation at the same time, another function's and another tenant's.
  logs->append(1, "f", 2, 2'000'000, "one\ntwo\n", 8);
  logs->append(1, "g", 3, 2'000'000, "other function\n", 15);
  logs->append(2, "f", 4, 2'000'000, "other tenant\n", 13);
  logs->append(1, "f", 2, 2'000'000, "three", 5);
  Buffer next(text, sizeof text);
  logs->render_after(1, "f", after, next);
  std::string rendered(next.data(), next.size());
  EXPECT_EQ(rendered,
            "{\"name\": \"f\", \"namespace\": \"\", \"instance\": \"2\", \"timestamp\": \"1970-01-01T00:00:02.000000Z\", "
            "\"text\": \"one\"}\n"
            "{\"name\": \"f\", \"namespace\": \"\", \"instance\": \"2\", \"timestamp\": \"1970-01-01T00:00:02.000000Z\", "
            "\"text\": \"two\"}\n"
            "{\"name\": \"f\", \"namespace\": \"\", \"instance\": \"2\", \"timestamp\": \"1970-01-01T00:00:02.000000Z\", "
            "\"text\": \"three\"}\n");
  // Nothing new: nothing rendered, the position stays.
  u64 position = after;
  Buffer none(text, sizeof text);
  logs->render_after(1, "f", after, none);
  EXPECT_EQ(none.size(), 0u);
  EXPECT_EQ(after, position);
  // A buffer that holds one line and a half: one whole line, and the next call goes on from there.
  logs->append(1, "f", 5, 3'000'000, "aaaa\nbbbb\n", 10);
  usize one_line = rendered.size() / 3 + 2;  // "one" -> "aaaa": one byte longer.
  Buffer small(text, one_line + one_line / 2);
  logs->render_after(1, "f", after, small);
  std::string got(small.data(), small.size());
  EXPECT_FALSE(small.overflowed());
  EXPECT_NE(got.find("\"aaaa\""), std::string::npos) << got;
  EXPECT_EQ(got.find("bbbb"), std::string::npos) << got;
  Buffer rest(text, sizeof text);
  logs->render_after(1, "f", after, rest);
  std::string remaining(rest.data(), rest.size());
  EXPECT_NE(remaining.find("\"bbbb\""), std::string::npos) << remaining;
  EXPECT_EQ(remaining.find("aaaa"), std::string::npos) << remaining;
}

}  // namespace
}  // namespace gateway
