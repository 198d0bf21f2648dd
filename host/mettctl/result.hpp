// Result: a value or a Failure carrying the exit code mettctl ends with. Invariant: exactly one of
// the two is present, and the exit codes are the documented ones (docs/METTCTL.md).
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace mettctl {

// The exit codes, in docker's spirit: the function's own failure is told apart from a failure of
// the command line and from a failure of the platform (gateway, network, response).
enum class ExitCode : int {
  Ok = 0,
  FunctionFailed = 1,  // invoke: the function crashed, failed, ran out of memory or timed out
  Usage = 2,           // the command line is wrong: option, value, missing key, unreadable file
  Platform = 125,      // cannot connect, the gateway refused, or its response is malformed
};

[[nodiscard]] constexpr int to_int(ExitCode code) { return static_cast<int>(code); }

struct Failure {
  ExitCode exit_code;
  std::string message;
};

[[nodiscard]] inline Failure usage_failure(std::string message) {
  return Failure{ExitCode::Usage, std::move(message)};
}

[[nodiscard]] inline Failure platform_failure(std::string message) {
  return Failure{ExitCode::Platform, std::move(message)};
}

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}
  Result(Failure failure) : state_(std::in_place_index<1>, std::move(failure)) {}

  [[nodiscard]] bool ok() const { return state_.index() == 0; }
  // Callers check ok() first; std::get then cannot throw.
  [[nodiscard]] T& value() { return std::get<0>(state_); }
  [[nodiscard]] T const& value() const { return std::get<0>(state_); }
  [[nodiscard]] Failure const& failure() const { return std::get<1>(state_); }

 private:
  std::variant<T, Failure> state_;
};

}  // namespace mettctl
