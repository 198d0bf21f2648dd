// mettctl against a real HTTP peer: a cpp-httplib server on 127.0.0.1 (ephemeral port) inside the
// test process answers with canned responses; each test runs the whole CLI (argument parsing, HTTP
// client, response checks) and asserts its stdout, stderr and exit code. A raw TCP peer covers
// answers that are not HTTP at all.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "cli.hpp"

namespace mettctl {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr int ok = 0;
constexpr int function_failed = 1;
constexpr int usage = 2;
constexpr int platform = 125;

// A real HTTP server on an ephemeral loopback port. Register handlers, then start().
class FakeGateway {
 public:
  httplib::Server server;
  std::atomic<int> requests{0};

  FakeGateway() {
    // Counted before routing, so the count is final by the time the client has its answer.
    server.set_pre_routing_handler([this](httplib::Request const&, httplib::Response&) {
      ++requests;
      return httplib::Server::HandlerResponse::Unhandled;
    });
  }
  ~FakeGateway() {
    if (thread_.joinable()) {
      server.stop();
      thread_.join();
    }
  }

  void start() {
    port_ = server.bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    thread_ = std::thread([this] { server.listen_after_bind(); });
    // stop() only works once the server runs, so the destructor needs it running.
    while (!server.is_running()) std::this_thread::sleep_for(1ms);
  }

  [[nodiscard]] std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  int port_ = 0;
  std::thread thread_;
};

// A TCP peer that answers the first connection with raw bytes, whatever the request, then closes.
class RawPeer {
 public:
  explicit RawPeer(std::string answer) : answer_(std::move(answer)) {
    socket_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    EXPECT_EQ(::bind(socket_, reinterpret_cast<sockaddr*>(&address), length), 0);
    EXPECT_EQ(::listen(socket_, 1), 0);
    EXPECT_EQ(::getsockname(socket_, reinterpret_cast<sockaddr*>(&address), &length), 0);
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] {
      int connection = ::accept(socket_, nullptr, nullptr);
      if (connection < 0) return;
      char buffer[4096];
      (void)::recv(connection, buffer, sizeof buffer, 0);
      (void)::send(connection, answer_.data(), answer_.size(), MSG_NOSIGNAL);
      ::close(connection);
    });
  }
  ~RawPeer() {
    ::shutdown(socket_, SHUT_RDWR);  // Wakes accept() if no client came.
    thread_.join();
    ::close(socket_);
  }
  [[nodiscard]] std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  std::string answer_;
  int socket_ = -1;
  int port_ = 0;
  std::thread thread_;
};

struct Outcome {
  int exit_code;
  std::string out;
  std::string err;
};

Outcome run(std::vector<std::string> const& arguments, std::string const& input = "") {
  std::istringstream in(input);
  std::ostringstream out;
  std::ostringstream err;
  Io io{in, out, err, false};
  int exit_code = run_cli(arguments, io);
  return Outcome{exit_code, out.str(), err.str()};
}

bool contains(std::string const& text, std::string const& part) { return text.find(part) != std::string::npos; }

void reply_json(httplib::Response& response, int status, json const& body) {
  response.status = status;
  response.set_content(body.dump(), "application/json");
}

class Mettctl : public ::testing::Test {
 protected:
  void SetUp() override {
    ::unsetenv("METTCTL_GATEWAY");
    ::unsetenv("METTCTL_KEY");
  }
  void TearDown() override {
    for (auto const& path : temporary_files_) std::filesystem::remove(path);
  }

  // The global options every test passes: the fake gateway and a key.
  [[nodiscard]] std::vector<std::string> with_gateway(std::vector<std::string> arguments) const {
    std::vector<std::string> all{"--gateway", gateway.url(), "--key", "secret"};
    all.insert(all.end(), arguments.begin(), arguments.end());
    return all;
  }

  [[nodiscard]] std::string temporary_file(std::string const& contents) {
    auto path = std::filesystem::temp_directory_path() /
                ("mettctl_test_" + std::to_string(::getpid()) + "_" + std::to_string(temporary_files_.size()));
    std::ofstream(path, std::ios::binary) << contents;
    temporary_files_.push_back(path);
    return path.string();
  }

  FakeGateway gateway;

 private:
  std::vector<std::filesystem::path> temporary_files_;
};

// ---- invoke -------------------------------------------------------------------------------------

TEST_F(Mettctl, InvokeSendsInputWithKeyAndPrintsOutputUnchanged) {
  std::string const binary_output("out\0put\xff\n", 9);
  gateway.server.Post("/function/echo", [&](httplib::Request const& request, httplib::Response& response) {
    EXPECT_EQ(request.get_header_value("Authorization"), "Bearer secret");
    EXPECT_EQ(request.body, "hello");
    response.set_content(binary_output, "application/octet-stream");
    response.set_header("X-Call-Id", "42");
  });
  gateway.start();
  Outcome outcome = run(with_gateway({"invoke", "echo", "--data", "hello"}));
  EXPECT_EQ(outcome.exit_code, ok) << outcome.err;
  EXPECT_EQ(outcome.out, binary_output);
  EXPECT_EQ(outcome.err, "");
}

TEST_F(Mettctl, InvokeVerbosePrintsCallIdDurationAndPhasesToStderr) {
  gateway.server.Post("/function/echo", [](httplib::Request const&, httplib::Response& response) {
    response.set_content("x", "application/octet-stream");
    response.set_header("X-Call-Id", "7");
    response.set_header("X-Duration-Seconds", "0.004");
    response.set_header("X-Phase-Create-Ticks", "100");
    response.set_header("X-Phase-Load-Ticks", "200");
    response.set_header("X-Phase-Run-Ticks", "300");
    response.set_header("X-Phase-Teardown-Ticks", "400");
  });
  gateway.start();
  Outcome outcome = run(with_gateway({"invoke", "echo", "--data", "", "--verbose"}));
  EXPECT_EQ(outcome.exit_code, ok);
  EXPECT_EQ(outcome.out, "x");
  EXPECT_EQ(outcome.err,
            "Status: 200\nX-Call-Id: 7\nX-Duration-Seconds: 0.004\nX-Phase-Create-Ticks: 100\n"
            "X-Phase-Load-Ticks: 200\nX-Phase-Run-Ticks: 300\nX-Phase-Teardown-Ticks: 400\n");
}

TEST_F(Mettctl, InvokeReadsStdinWithoutDataOrFile) {
  gateway.server.Post("/function/echo", [](httplib::Request const& request, httplib::Response& response) {
    response.set_content("got " + request.body, "text/plain");
  });
  gateway.start();
  Outcome outcome = run(with_gateway({"invoke", "echo"}), std::string("from\0stdin", 10));
  EXPECT_EQ(outcome.exit_code, ok);
  EXPECT_EQ(outcome.out, std::string("got from\0stdin", 14));
}

TEST_F(Mettctl, InvokeReadsFile) {
  gateway.server.Post("/function/echo", [](httplib::Request const& request, httplib::Response& response) {
    response.set_content(request.body, "text/plain");
  });
  gateway.start();
  std::string path = temporary_file(std::string("file\0input", 10));
  Outcome outcome = run(with_gateway({"invoke", "echo", "--file", path}));
  EXPECT_EQ(outcome.exit_code, ok);
  EXPECT_EQ(outcome.out, std::string("file\0input", 10));
}

TEST_F(Mettctl, InvokeEncodesTheNameInThePath) {
  gateway.server.Post("/function/(.+)", [](httplib::Request const& request, httplib::Response& response) {
    response.set_content("name=" + request.matches[1].str(), "text/plain");
  });
  gateway.start();
  Outcome outcome = run(with_gateway({"invoke", "a b/c?d", "--data", ""}));
  EXPECT_EQ(outcome.exit_code, ok) << outcome.err;
  EXPECT_EQ(outcome.out, "name=a b/c?d");
}

TEST_F(Mettctl, InvokeCrashIsFunctionFailureWithTheJsonErrorOnStderr) {
  json const error = {{"error", "crashed"}, {"exit_code", -1}, {"fault_address", 0}};
  gateway.server.Post("/function/null_deref",
                      [&](httplib::Request const&, httplib::Response& response) { reply_json(response, 500, error); });
  gateway.start();
  Outcome outcome = run(with_gateway({"invoke", "null_deref", "--data", ""}));
  EXPECT_EQ(outcome.exit_code, function_failed);
  EXPECT_EQ(outcome.out, "");
  EXPECT_EQ(json::parse(outcome.err), error);
}

TEST_F(Mettctl, InvokeTimeoutIsFunctionFailure) {
  gateway.server.Post("/function/spin", [](httplib::Request const&, httplib::Response& response) {
    reply_json(response, 504, {{"error", "timed out"}});
  });
  gateway.start();
  Outcome outcome = run(with_gateway({"invoke", "spin", "--data", "", "-v"}));
  EXPECT_EQ(outcome.exit_code, function_failed);
  EXPECT_TRUE(contains(outcome.err, "Status: 504\n"));
  EXPECT_TRUE(contains(outcome.err, R"({"error":"timed out"})"));
}

TEST_F(Mettctl, InvokeFailureWithoutJsonErrorIsPlatformError) {
  for (std::string body : {"Internal Server Error", "", "[]", R"({"error": 3})", R"({"message": "x"})", "{\"error\":"}) {
    FakeGateway peer;
    peer.server.Post("/function/echo", [&](httplib::Request const&, httplib::Response& response) {
      response.status = 500;
      response.set_content(body, "application/json");
    });
    peer.start();
    Outcome outcome = run({"--gateway", peer.url(), "--key", "k", "invoke", "echo", "--data", ""});
    EXPECT_EQ(outcome.exit_code, platform) << body;
    EXPECT_TRUE(contains(outcome.err, "malformed response")) << outcome.err;
  }
}

TEST_F(Mettctl, InvokeRefusalsArePlatformErrors) {
  for (int status : {400, 401, 404, 413, 429, 502, 503}) {
    FakeGateway peer;
    peer.server.Post("/function/echo", [&](httplib::Request const&, httplib::Response& response) {
      reply_json(response, status, {{"error", "refused with " + std::to_string(status)}});
    });
    peer.start();
    Outcome outcome = run({"--gateway", peer.url(), "--key", "k", "invoke", "echo", "--data", ""});
    EXPECT_EQ(outcome.exit_code, platform) << status;
    EXPECT_TRUE(contains(outcome.err, "gateway answered " + std::to_string(status) + ": refused with")) << outcome.err;
    EXPECT_EQ(outcome.out, "");
  }
}

TEST_F(Mettctl, InvokeDataAndFileExcludeEachOther) {
  gateway.start();
  Outcome outcome = run(with_gateway({"invoke", "echo", "--data", "x", "--file", "/etc/hostname"}));
  EXPECT_EQ(outcome.exit_code, usage);
  EXPECT_EQ(gateway.requests, 0);
}

TEST_F(Mettctl, InvokeUnreadableFileIsUsageError) {
  gateway.start();
  for (std::string path : {"/nonexistent/input", "/"}) {
    Outcome outcome = run(with_gateway({"invoke", "echo", "--file", path}));
    EXPECT_EQ(outcome.exit_code, usage) << path;
    EXPECT_TRUE(contains(outcome.err, "cannot read input file")) << outcome.err;
  }
  EXPECT_EQ(gateway.requests, 0);
}

// ---- deploy -------------------------------------------------------------------------------------

// A gateway that answers every request from its head alone, as the real one does for a body over
// its limit: it reads up to the blank line, answers 413 with a JSON error and closes, leaving the
// body unread. Serves `connections` connections; records the heads it saw.
class EarlyAnswerPeer {
 public:
  explicit EarlyAnswerPeer(int connections) {
    socket_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    EXPECT_EQ(::bind(socket_, reinterpret_cast<sockaddr*>(&address), length), 0);
    EXPECT_EQ(::listen(socket_, 4), 0);
    EXPECT_EQ(::getsockname(socket_, reinterpret_cast<sockaddr*>(&address), &length), 0);
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this, connections] {
      for (int served = 0; served < connections; ++served) {
        int connection = ::accept(socket_, nullptr, nullptr);
        if (connection < 0) return;
        std::string head;
        char byte;
        while (head.find("\r\n\r\n") == std::string::npos && ::recv(connection, &byte, 1, 0) == 1) head += byte;
        heads.push_back(head);
        std::string body = R"({"error": "executable larger than 16 MiB"})";
        std::string answer = "HTTP/1.1 413 Content Too Large\r\nContent-Type: application/json\r\nContent-Length: " +
                             std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
        (void)::send(connection, answer.data(), answer.size(), MSG_NOSIGNAL);
        ::close(connection);  // The body is left unread: the client's send then fails.
      }
    });
  }
  ~EarlyAnswerPeer() {
    ::shutdown(socket_, SHUT_RDWR);
    thread_.join();
    ::close(socket_);
  }
  [[nodiscard]] std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<std::string> heads;

 private:
  int socket_ = -1;
  int port_ = 0;
  std::thread thread_;
};

TEST_F(Mettctl, DeployOfAFileTooLargeShowsTheGateways413) {
  // 24 MiB: far more than the socket buffers hold, so the send fails after the gateway's answer.
  std::string elf(24u << 20, 'x');
  std::string path = temporary_file(elf);
  Outcome outcome;
  std::vector<std::string> heads;
  {
    EarlyAnswerPeer peer(2);
    outcome = run({"--gateway", peer.url(), "--key", "secret", "deploy", "big", path});
    heads = peer.heads;
  }
  EXPECT_EQ(outcome.exit_code, platform) << outcome.err;
  EXPECT_EQ(outcome.out, "");
  EXPECT_EQ(outcome.err, "mettctl: deploy big: gateway answered 413: executable larger than 16 MiB\n");
  // The second request asked with its head alone (Expect: 100-continue), no body.
  ASSERT_EQ(heads.size(), 2u);
  EXPECT_TRUE(contains(heads[1], "Expect: 100-continue\r\n")) << heads[1];
  EXPECT_TRUE(contains(heads[1], "Content-Length: 25165824\r\n")) << heads[1];
  EXPECT_TRUE(contains(heads[1], "Authorization: Bearer secret\r\n")) << heads[1];
  EXPECT_TRUE(contains(heads[1], "X-Function-Config: {\"name\":\"big\"}\r\n")) << heads[1];
}

TEST_F(Mettctl, VersionPrintsClientThenGateway) {
  gateway.server.Get("/system/info", [](httplib::Request const&, httplib::Response& response) {
    reply_json(response, 200,
               {{"provider", {{"provider", "metteagle"}, {"orchestration", "metteagle-manager"},
                              {"version", {{"release", "dev"}, {"sha", ""}}}}},
                {"version", {{"release", "dev"}, {"sha", "abc123"}}},
                {"arch", "x86_64"}});
  });
  gateway.start();
  Outcome outcome = run(with_gateway({"version"}));
  EXPECT_EQ(outcome.exit_code, ok) << outcome.err;
  std::istringstream lines(outcome.out);
  std::string client, server, extra;
  std::getline(lines, client);
  std::getline(lines, server);
  EXPECT_FALSE(std::getline(lines, extra));
  EXPECT_TRUE(client.starts_with("mettctl dev")) << client;
  EXPECT_EQ(server, "gateway " + gateway.url() + ": metteagle dev (commit abc123), orchestration metteagle-manager");
}

TEST_F(Mettctl, VersionWithoutGatewayPrintsTheClientAndExits125) {
  Outcome outcome = run({"--gateway", "http://127.0.0.1:9", "--key", "secret", "version"});
  EXPECT_EQ(outcome.exit_code, platform);
  EXPECT_TRUE(outcome.out.starts_with("mettctl dev")) << outcome.out;
  EXPECT_TRUE(contains(outcome.err, "cannot connect")) << outcome.err;
}

TEST_F(Mettctl, DeploySendsExecutableAndConfiguration) {
  std::string const elf("\x7f" "ELF\x02\x01\x01\0\0\0", 10);
  gateway.server.Post("/system/functions", [&](httplib::Request const& request, httplib::Response& response) {
    EXPECT_EQ(request.get_header_value("Authorization"), "Bearer secret");
    EXPECT_EQ(request.get_header_value("Content-Type"), "application/octet-stream");
    EXPECT_EQ(request.body, elf);
    json config = json::parse(request.get_header_value("X-Function-Config"));
    EXPECT_EQ(config, json({{"name", "echo"},
                            {"memory", 16u << 20},
                            {"timeout_ms", 500},
                            {"max_output", 1024},
                            {"max_depth", 4},
                            {"cpus", 13},
                            {"console", true}}));
    reply_json(response, 201, {{"name", "echo"}});
  });
  gateway.start();
  Outcome outcome = run(with_gateway({"deploy", "echo", temporary_file(elf), "--memory", "16M", "--timeout", "500ms",
                                      "--max-output", "1K", "--max-depth", "4", "--cpus", "0,2-3", "--console"}));
  EXPECT_EQ(outcome.exit_code, ok) << outcome.err;
  EXPECT_EQ(outcome.out, "echo\n");
}

TEST_F(Mettctl, DeployLeavesOutOptionsNotGiven) {
  gateway.server.Post("/system/functions", [](httplib::Request const& request, httplib::Response& response) {
    EXPECT_EQ(json::parse(request.get_header_value("X-Function-Config")), json({{"name", "echo"}}));
    reply_json(response, 201, {{"name", "echo"}});
  });
  gateway.start();
  Outcome outcome = run(with_gateway({"deploy", "echo", temporary_file("ELF")}));
  EXPECT_EQ(outcome.exit_code, ok) << outcome.err;
}

TEST_F(Mettctl, DeployKeepsTheConfigurationHeaderAscii) {
  gateway.server.Post("/system/functions", [](httplib::Request const& request, httplib::Response& response) {
    std::string header = request.get_header_value("X-Function-Config");
    EXPECT_EQ(header, R"({"name":"f\u00e9"})");
    reply_json(response, 201, {{"name", json::parse(header)["name"]}});
  });
  gateway.start();
  Outcome outcome = run(with_gateway({"deploy", "f\xc3\xa9", temporary_file("ELF")}));
  EXPECT_EQ(outcome.exit_code, ok) << outcome.err;
  EXPECT_EQ(outcome.out, "f\xc3\xa9\n");
}

TEST_F(Mettctl, DeployRejectsBadValuesBeforeAnyRequest) {
  gateway.start();
  std::string elf = temporary_file("ELF");
  struct Case {
    std::vector<std::string> options;
    std::string message;
  };
  for (Case const& bad : std::vector<Case>{
           {{"--memory", "16X"}, "--memory: '16X' has an unknown unit 'X'"},
           {{"--memory", "0"}, "--memory must be greater than zero"},
           {{"--memory", "-1"}, "--memory"},
           {{"--timeout", "5"}, "--timeout: '5' has no unit"},
           {{"--timeout", "0s"}, "--timeout must be greater than zero"},
           {{"--timeout", "1.5ms"}, "finer than a millisecond"},
           {{"--max-output", "1.5M"}, "--max-output"},
           {{"--max-depth", "four"}, "--max-depth: 'four' is not a whole number"},
           {{"--max-depth", "4294967296"}, "larger than 4294967295"},
           {{"--cpus", "-1"}, "--cpus"},
           {{"--cpus", "64"}, "--cpus: '64' is not a CPU list (CPUs are numbers 0 to 63)"},
           {{"--cpus", "3-1"}, "--cpus: '3-1' is not a CPU list (a range runs from low to high)"},
       }) {
    std::vector<std::string> arguments{"deploy", "echo", elf};
    arguments.insert(arguments.end(), bad.options.begin(), bad.options.end());
    Outcome outcome = run(with_gateway(arguments));
    EXPECT_EQ(outcome.exit_code, usage) << bad.options[0] << " " << bad.options[1];
    EXPECT_TRUE(contains(outcome.err, bad.message)) << outcome.err;
  }
  EXPECT_EQ(gateway.requests, 0);
}

TEST_F(Mettctl, DeployMissingOrEmptyExecutableIsUsageError) {
  gateway.start();
  EXPECT_EQ(run(with_gateway({"deploy", "echo", "/nonexistent/echo.elf"})).exit_code, usage);
  EXPECT_EQ(run(with_gateway({"deploy", "echo", temporary_file("")})).exit_code, usage);
  EXPECT_EQ(run(with_gateway({"deploy", "echo"})).exit_code, usage);
  EXPECT_EQ(gateway.requests, 0);
}

TEST_F(Mettctl, DeployRejectedExecutableShowsTheElfStatus) {
  gateway.server.Post("/system/functions", [](httplib::Request const&, httplib::Response& response) {
    reply_json(response, 422, {{"error", "executable rejected"}, {"elf_status", 3}});
  });
  gateway.start();
  Outcome outcome = run(with_gateway({"deploy", "echo", temporary_file("not an elf")}));
  EXPECT_EQ(outcome.exit_code, platform);
  EXPECT_EQ(outcome.err, "mettctl: deploy echo: gateway answered 422: executable rejected (elf_status 3)\n");
  EXPECT_EQ(outcome.out, "");
}

TEST_F(Mettctl, DeployNameTakenIsPlatformError) {
  gateway.server.Post("/system/functions", [](httplib::Request const&, httplib::Response& response) {
    reply_json(response, 409, {{"error", "name taken"}});
  });
  gateway.start();
  Outcome outcome = run(with_gateway({"deploy", "echo", temporary_file("ELF")}));
  EXPECT_EQ(outcome.exit_code, platform);
  EXPECT_EQ(outcome.err, "mettctl: deploy echo: gateway answered 409: name taken\n");
}

TEST_F(Mettctl, DeployMalformedSuccessIsPlatformError) {
  for (std::string body : {"created", "", "{}", R"({"name": 1})", "[\"echo\"]"}) {
    FakeGateway peer;
    peer.server.Post("/system/functions", [&](httplib::Request const&, httplib::Response& response) {
      response.status = 201;
      response.set_content(body, "application/json");
    });
    peer.start();
    Outcome outcome = run({"--gateway", peer.url(), "--key", "k", "deploy", "echo", temporary_file("ELF")});
    EXPECT_EQ(outcome.exit_code, platform) << body;
    EXPECT_TRUE(contains(outcome.err, "malformed response")) << outcome.err;
  }
}

TEST_F(Mettctl, DeployWithWrongSuccessStatusIsPlatformError) {
  gateway.server.Post("/system/functions", [](httplib::Request const&, httplib::Response& response) {
    reply_json(response, 200, {{"name", "echo"}});
  });
  gateway.start();
  Outcome outcome = run(with_gateway({"deploy", "echo", temporary_file("ELF")}));
  EXPECT_EQ(outcome.exit_code, platform);
  EXPECT_TRUE(contains(outcome.err, "gateway answered 200")) << outcome.err;
}

// ---- ls -----------------------------------------------------------------------------------------

json const two_functions = json::parse(R"([
  {"name": "echo", "invocations": 12, "failures": 0, "memory": 16777216},
  {"name": "a-much-longer-name", "invocations": 3, "failures": 1}
])");

TEST_F(Mettctl, ListPrintsATable) {
  gateway.server.Get("/system/functions", [](httplib::Request const& request, httplib::Response& response) {
    EXPECT_EQ(request.get_header_value("Authorization"), "Bearer secret");
    reply_json(response, 200, two_functions);
  });
  gateway.start();
  Outcome outcome = run(with_gateway({"ls"}));
  EXPECT_EQ(outcome.exit_code, ok) << outcome.err;
  EXPECT_EQ(outcome.out,
            "NAME                INVOCATIONS  FAILURES\n"
            "echo                12           0\n"
            "a-much-longer-name  3            1\n");
}

TEST_F(Mettctl, ListEmptyPrintsTheHeading) {
  gateway.server.Get("/system/functions",
                     [](httplib::Request const&, httplib::Response& response) { reply_json(response, 200, json::array()); });
  gateway.start();
  Outcome outcome = run(with_gateway({"ls"}));
  EXPECT_EQ(outcome.exit_code, ok);
  EXPECT_EQ(outcome.out, "NAME  INVOCATIONS  FAILURES\n");
}

TEST_F(Mettctl, ListJsonBeforeOrAfterTheVerb) {
  gateway.server.Get("/system/functions",
                     [](httplib::Request const&, httplib::Response& response) { reply_json(response, 200, two_functions); });
  gateway.start();
  for (auto arguments : {with_gateway({"ls", "--json"}), with_gateway({"--json", "ls"})}) {
    Outcome outcome = run(arguments);
    EXPECT_EQ(outcome.exit_code, ok);
    EXPECT_EQ(json::parse(outcome.out), two_functions);
  }
}

TEST_F(Mettctl, ListMalformedBodiesArePlatformErrors) {
  for (std::string body : {"", "not json", "{}", "[1]", "[{\"name\": 1, \"invocations\": 0, \"failures\": 0}]",
                           R"([{"name": "a", "invocations": -1, "failures": 0}])",
                           R"([{"name": "a", "invocations": "3", "failures": 0}])",
                           R"([{"name": "a", "invocations": 1.5, "failures": 0}])",
                           R"([{"name": "a", "invocations": 3}])", R"([{"name": "a", "invo)"}) {
    FakeGateway peer;
    peer.server.Get("/system/functions", [&](httplib::Request const&, httplib::Response& response) {
      response.set_content(body, "application/json");
    });
    peer.start();
    Outcome outcome = run({"--gateway", peer.url(), "--key", "k", "ls"});
    EXPECT_EQ(outcome.exit_code, platform) << body;
    EXPECT_TRUE(contains(outcome.err, "ls: malformed response from the gateway")) << outcome.err;
    EXPECT_EQ(outcome.out, "");
  }
}

TEST_F(Mettctl, ListUnauthorizedIsPlatformError) {
  gateway.server.Get("/system/functions", [](httplib::Request const&, httplib::Response& response) {
    reply_json(response, 401, {{"error", "unknown key"}});
  });
  gateway.start();
  Outcome outcome = run(with_gateway({"ls"}));
  EXPECT_EQ(outcome.exit_code, platform);
  EXPECT_EQ(outcome.err, "mettctl: ls: gateway answered 401: unknown key\n");
}

// ---- describe -----------------------------------------------------------------------------------

json const echo_description = json::parse(R"({"name": "echo", "size": 5000, "memory": 16777216,
  "timeout_ms": 5000, "max_output": 1048576, "max_depth": 4, "invocations": 2, "failures": 1, "console": false})");

TEST_F(Mettctl, DescribePrintsFields) {
  gateway.server.Get("/system/functions/echo",
                     [](httplib::Request const&, httplib::Response& response) { reply_json(response, 200, echo_description); });
  gateway.start();
  Outcome outcome = run(with_gateway({"describe", "echo"}));
  EXPECT_EQ(outcome.exit_code, ok) << outcome.err;
  EXPECT_EQ(outcome.out,
            "name:        echo\n"
            "size:        5000\n"
            "memory:      16777216 (16M)\n"
            "timeout_ms:  5000\n"
            "max_output:  1048576 (1M)\n"
            "max_depth:   4\n"
            "invocations: 2\n"
            "failures:    1\n"
            "console:     false\n");
}

TEST_F(Mettctl, DescribeJson) {
  gateway.server.Get("/system/functions/echo",
                     [](httplib::Request const&, httplib::Response& response) { reply_json(response, 200, echo_description); });
  gateway.start();
  Outcome outcome = run(with_gateway({"describe", "echo", "--json"}));
  EXPECT_EQ(outcome.exit_code, ok);
  EXPECT_EQ(json::parse(outcome.out), echo_description);
}

TEST_F(Mettctl, DescribeMissingOrMistypedFieldIsPlatformError) {
  for (char const* field : {"name", "size", "memory", "timeout_ms", "max_output", "max_depth", "invocations", "failures"}) {
    for (bool mistype : {false, true}) {
      json body = echo_description;
      if (mistype) {
        body[field] = json::array();
      } else {
        body.erase(field);
      }
      FakeGateway peer;
      peer.server.Get("/system/functions/echo",
                      [&](httplib::Request const&, httplib::Response& response) { reply_json(response, 200, body); });
      peer.start();
      Outcome outcome = run({"--gateway", peer.url(), "--key", "k", "describe", "echo"});
      EXPECT_EQ(outcome.exit_code, platform) << field;
      EXPECT_TRUE(contains(outcome.err, std::string("\"") + field + "\"")) << outcome.err;
    }
  }
}

TEST_F(Mettctl, DescribeUnknownFunctionIsPlatformError) {
  gateway.server.Get("/system/functions/nope", [](httplib::Request const&, httplib::Response& response) {
    reply_json(response, 404, {{"error", "no such function"}});
  });
  gateway.start();
  Outcome outcome = run(with_gateway({"describe", "nope"}));
  EXPECT_EQ(outcome.exit_code, platform);
  EXPECT_EQ(outcome.err, "mettctl: describe nope: gateway answered 404: no such function\n");
}

// ---- rm, logs, metrics --------------------------------------------------------------------------

TEST_F(Mettctl, RemoveDeletesAndPrintsTheName) {
  gateway.server.Delete("/system/functions/echo", [](httplib::Request const& request, httplib::Response& response) {
    EXPECT_EQ(request.get_header_value("Authorization"), "Bearer secret");
    response.status = 200;
  });
  gateway.start();
  Outcome outcome = run(with_gateway({"rm", "echo"}));
  EXPECT_EQ(outcome.exit_code, ok) << outcome.err;
  EXPECT_EQ(outcome.out, "echo\n");
}

TEST_F(Mettctl, RemoveUnknownFunctionIsPlatformError) {
  gateway.server.Delete("/system/functions/nope", [](httplib::Request const&, httplib::Response& response) {
    reply_json(response, 404, {{"error", "no such function"}});
  });
  gateway.start();
  Outcome outcome = run(with_gateway({"rm", "nope"}));
  EXPECT_EQ(outcome.exit_code, platform);
  EXPECT_EQ(outcome.out, "");
}

TEST_F(Mettctl, LogsAsksByNameAndPrintsText) {
  std::string const lines =
      "{\"name\": \"f\", \"namespace\": \"\", \"instance\": \"7\", \"timestamp\": \"1970-01-01T00:00:01.000000Z\", "
      "\"text\": \"line 1\"}\n"
      "{\"name\": \"f\", \"namespace\": \"\", \"instance\": \"8\", \"timestamp\": \"1970-01-01T00:00:02.000000Z\", "
      "\"text\": \"line 2\"}\n";
  gateway.server.Get("/system/logs", [&](httplib::Request const& request, httplib::Response& response) {
    EXPECT_EQ(request.get_param_value("name"), "my fn&x");
    response.set_content(lines, "application/x-ndjson");
  });
  gateway.start();
  Outcome outcome = run(with_gateway({"logs", "my fn&x"}));
  EXPECT_EQ(outcome.exit_code, ok) << outcome.err;
  EXPECT_EQ(outcome.out, "1970-01-01T00:00:01.000000Z 7 line 1\n1970-01-01T00:00:02.000000Z 8 line 2\n");
  Outcome raw = run(with_gateway({"logs", "my fn&x", "--json"}));
  EXPECT_EQ(raw.exit_code, ok) << raw.err;
  EXPECT_EQ(raw.out, lines);
}

TEST_F(Mettctl, LogsFollowAsksSinceTheLastTimeAndPrintsOnlyNewLines) {
  int calls = 0;
  gateway.server.Get("/system/logs", [&](httplib::Request const& request, httplib::Response& response) {
    ++calls;
    std::string const first =
        "{\"name\": \"f\", \"namespace\": \"\", \"instance\": \"7\", \"timestamp\": \"1970-01-01T00:00:01.000000Z\", "
        "\"text\": \"old\"}\n";
    EXPECT_EQ(request.get_param_value("follow"), "true");
    if (calls == 1) {
      EXPECT_FALSE(request.has_param("since"));
      response.set_content(first, "application/x-ndjson");
    } else if (calls == 2) {
      EXPECT_EQ(request.get_param_value("since"), "1970-01-01T00:00:01.000000Z");
      // A chunked stream, as the gateway's follow=true sends it: a line cut across two chunks and
      // a keep-alive empty line.
      std::string const stream = first + "\n{\"name\": \"f\", \"namespace\": \"\", \"instance\": \"9\", \"timestamp\": "
                                         "\"1970-01-01T00:00:05.000000Z\", \"text\": \"new\"}\n";
      response.set_chunked_content_provider("application/x-ndjson", [stream](std::size_t, httplib::DataSink& sink) {
        std::size_t cut = stream.size() - 20;
        sink.write(stream.data(), cut);
        sink.write(stream.data() + cut, stream.size() - cut);
        sink.done();
        return true;
      });
    } else {
      reply_json(response, 404, {{"error", "no such function"}});  // Deleted: the follow ends.
    }
  });
  gateway.start();
  Outcome outcome = run(with_gateway({"logs", "f", "--follow"}));
  EXPECT_EQ(outcome.exit_code, platform);
  EXPECT_EQ(outcome.out, "1970-01-01T00:00:01.000000Z 7 old\n1970-01-01T00:00:05.000000Z 9 new\n");
  EXPECT_EQ(calls, 3);
}

TEST_F(Mettctl, LogsNotJsonLinesIsPlatformError) {
  gateway.server.Get("/system/logs", [](httplib::Request const&, httplib::Response& response) {
    response.set_content("line 1\n", "text/plain");
  });
  gateway.start();
  EXPECT_EQ(run(with_gateway({"logs", "f"})).exit_code, platform);
}

TEST_F(Mettctl, LogsUnknownFunctionIsPlatformError) {
  gateway.server.Get("/system/logs", [](httplib::Request const&, httplib::Response& response) {
    reply_json(response, 404, {{"error", "no such function"}});
  });
  gateway.start();
  EXPECT_EQ(run(with_gateway({"logs", "nope"})).exit_code, platform);
}

TEST_F(Mettctl, MetricsSendsTheKey) {
  std::string const text = "# TYPE metteagle_errors_total counter\nmetteagle_errors_total 0\n";
  gateway.server.Get("/metrics", [&](httplib::Request const& request, httplib::Response& response) {
    EXPECT_EQ(request.get_header_value("Authorization"), "Bearer operator-key-1");
    response.set_content(text, "text/plain; version=0.0.4");
  });
  gateway.start();
  Outcome outcome = run({"--gateway", gateway.url(), "--key", "operator-key-1", "metrics"});
  EXPECT_EQ(outcome.exit_code, ok) << outcome.err;
  EXPECT_EQ(outcome.out, text);
  // /metrics needs a key now (issue 14): an empty one is a usage error, and nothing is sent.
  Outcome empty = run({"--gateway", gateway.url(), "--key", "", "metrics"});
  EXPECT_EQ(empty.exit_code, usage);
  EXPECT_NE(empty.err.find("empty API key"), std::string::npos) << empty.err;
}

TEST_F(Mettctl, MetricsServerErrorIsPlatformError) {
  gateway.server.Get("/metrics", [](httplib::Request const&, httplib::Response& response) {
    response.status = 500;
    response.set_content("<html>oops</html>", "text/html");
  });
  gateway.start();
  Outcome outcome = run({"--gateway", gateway.url(), "metrics"});
  EXPECT_EQ(outcome.exit_code, platform);
  EXPECT_EQ(outcome.err,
            "mettctl: metrics: gateway answered 500 with \"<html>oops</html>\", not a JSON {\"error\": ...} body\n");
}

// ---- the connection -----------------------------------------------------------------------------

TEST_F(Mettctl, NoGatewayListeningIsPlatformError) {
  // A bound socket that never listens: connections to its port are refused at once.
  int socket = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  ASSERT_EQ(::bind(socket, reinterpret_cast<sockaddr*>(&address), length), 0);
  ASSERT_EQ(::getsockname(socket, reinterpret_cast<sockaddr*>(&address), &length), 0);
  std::string url = "http://127.0.0.1:" + std::to_string(ntohs(address.sin_port));
  Outcome outcome = run({"--gateway", url, "--key", "k", "ls"});
  ::close(socket);
  EXPECT_EQ(outcome.exit_code, platform);
  EXPECT_TRUE(contains(outcome.err, "GET " + url + "/system/functions: ")) << outcome.err;
}

TEST_F(Mettctl, AnswersThatAreNotHttpArePlatformErrors) {
  for (std::string answer : {"garbage\r\n\r\n", "", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort",
                             "HTTP/1.1 abc OK\r\n\r\n"}) {
    RawPeer peer(answer);
    Outcome outcome = run({"--gateway", peer.url(), "--key", "k", "invoke", "echo", "--data", "x"});
    EXPECT_EQ(outcome.exit_code, platform) << answer;
    EXPECT_EQ(outcome.out, "");
    EXPECT_TRUE(contains(outcome.err, "POST " + peer.url() + "/function/echo: ")) << outcome.err;
  }
}

TEST_F(Mettctl, SlowGatewayTimesOut) {
  gateway.server.Get("/system/functions", [](httplib::Request const&, httplib::Response& response) {
    std::this_thread::sleep_for(1500ms);
    reply_json(response, 200, json::array());
  });
  gateway.start();
  auto started = std::chrono::steady_clock::now();
  Outcome outcome = run(with_gateway({"--request-timeout", "200ms", "ls"}));
  EXPECT_EQ(outcome.exit_code, platform);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 1400ms);
}

// ---- the command line ---------------------------------------------------------------------------

TEST_F(Mettctl, EmptyKeyIsUsageError) {
  gateway.start();
  for (auto arguments : std::vector<std::vector<std::string>>{
           {"ls"}, {"invoke", "echo", "--data", ""}, {"describe", "echo"}, {"rm", "echo"}, {"logs", "echo"}}) {
    std::vector<std::string> all{"--gateway", gateway.url(), "--key", ""};
    all.insert(all.end(), arguments.begin(), arguments.end());
    Outcome outcome = run(all);
    EXPECT_EQ(outcome.exit_code, usage) << arguments[0];
    EXPECT_EQ(outcome.err, "mettctl: empty API key: pass --key KEY or set METTCTL_KEY\n");
  }
  EXPECT_EQ(gateway.requests, 0);
}

TEST_F(Mettctl, DefaultKeyIsTheGatewaysDevelopmentKey) {
  gateway.server.Get("/system/functions", [](httplib::Request const& request, httplib::Response& response) {
    EXPECT_EQ(request.get_header_value("Authorization"), "Bearer dev-key-alpha");
    reply_json(response, 200, json::array());
  });
  gateway.start();
  EXPECT_EQ(run({"--gateway", gateway.url(), "ls"}).exit_code, ok);
  EXPECT_EQ(gateway.requests, 1);
}

TEST_F(Mettctl, GatewayAndKeyFromTheEnvironment) {
  gateway.server.Get("/system/functions", [](httplib::Request const& request, httplib::Response& response) {
    EXPECT_EQ(request.get_header_value("Authorization"), "Bearer from-env");
    reply_json(response, 200, json::array());
  });
  gateway.start();
  ::setenv("METTCTL_GATEWAY", (gateway.url() + "/").c_str(), 1);
  ::setenv("METTCTL_KEY", "from-env", 1);
  Outcome outcome = run({"ls"});
  EXPECT_EQ(outcome.exit_code, ok) << outcome.err;
  EXPECT_EQ(gateway.requests, 1);
}

TEST_F(Mettctl, CommandLineKeyOverridesTheEnvironment) {
  gateway.server.Get("/system/functions", [](httplib::Request const& request, httplib::Response& response) {
    EXPECT_EQ(request.get_header_value("Authorization"), "Bearer secret");
    reply_json(response, 200, json::array());
  });
  gateway.start();
  ::setenv("METTCTL_KEY", "from-env", 1);
  EXPECT_EQ(run(with_gateway({"ls"})).exit_code, ok);
}

TEST_F(Mettctl, BadGatewayUrlsAreUsageErrors) {
  for (std::string url : {"", "127.0.0.1:8080", "ftp://127.0.0.1", "http://", "http://host:0", "http://host:99999",
                          "http://host:8080/path", "http://user@host", "http://host:80a", "http://ho st"}) {
    Outcome outcome = run({"--gateway", url, "--key", "k", "ls"});
    EXPECT_EQ(outcome.exit_code, usage) << url;
    EXPECT_TRUE(contains(outcome.err, "gateway URL") || contains(outcome.err, "port")) << outcome.err;
  }
}

TEST_F(Mettctl, BadKeysAndTimeoutsAreUsageErrors) {
  gateway.start();
  EXPECT_EQ(run(with_gateway({"--key", "two words", "ls"})).exit_code, usage);
  EXPECT_EQ(run(with_gateway({"--key", "line\r\nX-Evil: 1", "ls"})).exit_code, usage);
  EXPECT_EQ(run(with_gateway({"--request-timeout", "10", "ls"})).exit_code, usage);
  EXPECT_EQ(run(with_gateway({"--request-timeout", "0s", "ls"})).exit_code, usage);
  EXPECT_EQ(run(with_gateway({"invoke", "bad\nname", "--data", ""})).exit_code, usage);
  EXPECT_EQ(gateway.requests, 0);
}

TEST_F(Mettctl, ParseErrorsAreUsageErrors) {
  for (auto arguments : std::vector<std::vector<std::string>>{
           {}, {"frobnicate"}, {"ls", "extra"}, {"describe"}, {"invoke"}, {"--no-such-option", "ls"},
           {"deploy", "echo", "/bin/true", "--memory"}, {"invoke", "echo", "--data"}}) {
    Outcome outcome = run(arguments);
    EXPECT_EQ(outcome.exit_code, usage) << (arguments.empty() ? "(none)" : arguments[0]);
    EXPECT_FALSE(outcome.err.empty());
    EXPECT_EQ(outcome.out, "");
  }
}

TEST_F(Mettctl, HelpGoesToStdoutWithExitZero) {
  Outcome outcome = run({"--help"});
  EXPECT_EQ(outcome.exit_code, ok);
  EXPECT_TRUE(contains(outcome.out, "deploy")) << outcome.out;
  EXPECT_TRUE(contains(outcome.out, "--gateway")) << outcome.out;
  Outcome verb_help = run({"deploy", "--help"});
  EXPECT_EQ(verb_help.exit_code, ok);
  EXPECT_TRUE(contains(verb_help.out, "--memory")) << verb_help.out;
}

// ---- images ------------------------------------------------------------------------------------

TEST_F(Mettctl, DeployFromAnImageSendsImageEnvAndArgsWithoutABody) {
  gateway.server.Post("/system/functions", [](httplib::Request const& request, httplib::Response& response) {
    EXPECT_EQ(request.body, "");
    EXPECT_EQ(json::parse(request.get_header_value("X-Function-Config")),
              json({{"name", "bb"}, {"image", "example/busybox:1"}, {"env", {"A=1", "B=two"}}, {"args", {"-x", "y"}}}));
    reply_json(response, 201, {{"name", "bb"}, {"image", "example/busybox:1"}});
  });
  gateway.start();
  Outcome outcome = run(with_gateway({"deploy", "bb", "--image", "example/busybox:1", "--env", "A=1", "--env", "B=two",
                                      "--arg", "-x", "--arg", "y"}));
  EXPECT_EQ(outcome.exit_code, ok) << outcome.err;
  EXPECT_EQ(outcome.out, "bb\n");
}

TEST_F(Mettctl, DeployImageOptionsAreCheckedBeforeAnyRequest) {
  gateway.start();
  EXPECT_EQ(run(with_gateway({"deploy", "bb", "--env", "A=1", temporary_file("ELF")})).exit_code, usage);
  EXPECT_EQ(run(with_gateway({"deploy", "bb", "--image", "x:1", temporary_file("ELF")})).exit_code, usage);
  EXPECT_EQ(run(with_gateway({"deploy", "bb", "--image", "x:1", "--env", "NOEQUALS"})).exit_code, usage);
  EXPECT_EQ(run(with_gateway({"deploy", "bb", "--image", "x:1", "--env", "=v"})).exit_code, usage);
  EXPECT_EQ(gateway.requests, 0);
}

TEST_F(Mettctl, ImagePushStreamsTheFileAndPrintsNameAndDigest) {
  std::string archive(3 << 20, '\0');
  for (std::size_t index = 0; index < archive.size(); ++index) archive[index] = static_cast<char>(index * 7);
  gateway.server.Post("/system/images", [&](httplib::Request const& request, httplib::Response& response) {
    EXPECT_EQ(request.get_param_value("name"), "example/app:1");
    EXPECT_EQ(request.get_header_value("Authorization"), "Bearer secret");
    EXPECT_EQ(request.body, archive);
    reply_json(response, 201, {{"name", "example/app:1"}, {"digest", "sha256:ab"}, {"size", 4096}});
  });
  gateway.start();
  Outcome outcome = run(with_gateway({"image", "push", temporary_file(archive), "--name", "example/app:1"}));
  EXPECT_EQ(outcome.exit_code, ok) << outcome.err;
  EXPECT_EQ(outcome.out, "example/app:1 sha256:ab\n");
}

TEST_F(Mettctl, ImagePushRefusalIsPlatformErrorWithTheGatewaysMessage) {
  gateway.server.Post("/system/images", [](httplib::Request const&, httplib::Response& response) {
    reply_json(response, 422, {{"error", "layer sha256:1 digest mismatch"}, {"import_error", "digest_mismatch"}});
  });
  gateway.start();
  Outcome outcome = run(with_gateway({"image", "push", temporary_file("archive")}));
  EXPECT_EQ(outcome.exit_code, platform);
  EXPECT_TRUE(contains(outcome.err, "422")) << outcome.err;
  EXPECT_TRUE(contains(outcome.err, "layer sha256:1 digest mismatch")) << outcome.err;
  EXPECT_EQ(run(with_gateway({"image", "push", "/nonexistent.tar"})).exit_code, usage);
}

TEST_F(Mettctl, ImageListPrintsATableAndRemoveNeeds204) {
  gateway.server.Get("/system/images", [](httplib::Request const&, httplib::Response& response) {
    reply_json(response, 200,
               json::array({{{"name", "busybox:latest"}, {"digest", "sha256:ab"}, {"size", 4096}, {"created", "2024-01-02T03:04:05Z"}}}));
  });
  gateway.server.Delete(R"(/system/images/(.+))", [](httplib::Request const& request, httplib::Response& response) {
    if (request.matches[1] == "busybox:latest") {  // httplib decodes the percent-encoded path.
      response.status = 204;
    } else {
      reply_json(response, 409, {{"error", "the image is in use by a deployed function; remove the function first"}});
    }
  });
  gateway.start();
  Outcome listed = run(with_gateway({"image", "ls"}));
  EXPECT_EQ(listed.exit_code, ok) << listed.err;
  EXPECT_EQ(listed.out,
            "NAME            DIGEST     SIZE  CREATED\n"
            "busybox:latest  sha256:ab  4096  2024-01-02T03:04:05Z\n");
  Outcome removed = run(with_gateway({"image", "rm", "busybox:latest"}));
  EXPECT_EQ(removed.exit_code, ok) << removed.err;
  EXPECT_EQ(removed.out, "busybox:latest\n");
  Outcome in_use = run(with_gateway({"image", "rm", "used:1"}));
  EXPECT_EQ(in_use.exit_code, platform);
  EXPECT_TRUE(contains(in_use.err, "409")) << in_use.err;
}

}  // namespace
}  // namespace mettctl
