// Units: strict parsing of sizes, durations and counts (see units.hpp for the accepted forms).
#include "units.hpp"

#include <array>
#include <charconv>
#include <system_error>

namespace mettctl {
namespace {

struct Unit {
  std::string_view name;
  std::uint64_t multiplier;
};

constexpr std::array<Unit, 10> size_units{{
    {"", 1},
    {"K", 1ULL << 10}, {"k", 1ULL << 10}, {"KiB", 1ULL << 10},
    {"M", 1ULL << 20}, {"m", 1ULL << 20}, {"MiB", 1ULL << 20},
    {"G", 1ULL << 30}, {"g", 1ULL << 30}, {"GiB", 1ULL << 30},
}};

constexpr std::array<Unit, 4> duration_units{{
    {"ms", 1}, {"s", 1000}, {"m", 60 * 1000}, {"h", 60 * 60 * 1000},
}};

[[nodiscard]] bool is_digit(char character) { return character >= '0' && character <= '9'; }

[[nodiscard]] std::size_t count_leading_digits(std::string_view text) {
  std::size_t length = 0;
  while (length < text.size() && is_digit(text[length])) ++length;
  return length;
}

[[nodiscard]] std::string quoted(std::string_view text) { return "'" + std::string(text) + "'"; }

// Digits only (the caller has checked), so from_chars fails only on overflow.
[[nodiscard]] bool digits_to_integer(std::string_view digits, std::uint64_t& value) {
  auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  return error == std::errc{} && end == digits.data() + digits.size();
}

constexpr std::string_view size_form =
    "expected a whole number of bytes, optionally followed by K, M or G (1K = 1024 bytes), e.g. 16M";
constexpr std::string_view duration_form =
    "expected a number followed by ms, s, m or h, e.g. 500ms or 5s";

}  // namespace

Result<std::uint64_t> parse_size(std::string_view text) {
  std::size_t digit_count = count_leading_digits(text);
  if (digit_count == 0) return usage_failure(quoted(text) + " is not a size: " + std::string(size_form));
  std::string_view suffix = text.substr(digit_count);
  Unit const* unit = nullptr;
  for (Unit const& candidate : size_units) {
    if (candidate.name == suffix) unit = &candidate;
  }
  if (unit == nullptr) {
    return usage_failure(quoted(text) + " has an unknown unit " + quoted(suffix) + ": " + std::string(size_form));
  }
  std::uint64_t number = 0;
  std::uint64_t bytes = 0;
  if (!digits_to_integer(text.substr(0, digit_count), number) ||
      __builtin_mul_overflow(number, unit->multiplier, &bytes)) {
    return usage_failure(quoted(text) + " is too large a size");
  }
  return bytes;
}

Result<std::uint64_t> parse_duration_ms(std::string_view text) {
  std::size_t whole_length = count_leading_digits(text);
  if (whole_length == 0) return usage_failure(quoted(text) + " is not a duration: " + std::string(duration_form));
  std::string_view whole_digits = text.substr(0, whole_length);
  std::string_view rest = text.substr(whole_length);

  std::string_view fraction_digits;
  if (!rest.empty() && rest.front() == '.') {
    std::size_t fraction_length = count_leading_digits(rest.substr(1));
    if (fraction_length == 0) {
      return usage_failure(quoted(text) + " is not a duration: digits must follow the decimal point");
    }
    // Nine digits are more than any unit's milliseconds need; the bound keeps 10^n in range.
    if (fraction_length > 9) return usage_failure(quoted(text) + " has too many decimal places");
    fraction_digits = rest.substr(1, fraction_length);
    rest = rest.substr(1 + fraction_length);
  }

  if (rest.empty()) {
    return usage_failure(quoted(text) + " has no unit: " + std::string(duration_form));
  }
  Unit const* unit = nullptr;
  for (Unit const& candidate : duration_units) {
    if (candidate.name == rest) unit = &candidate;
  }
  if (unit == nullptr) {
    return usage_failure(quoted(text) + " has an unknown unit " + quoted(rest) + ": " + std::string(duration_form));
  }

  std::uint64_t whole = 0;
  std::uint64_t milliseconds = 0;
  if (!digits_to_integer(whole_digits, whole) || __builtin_mul_overflow(whole, unit->multiplier, &milliseconds)) {
    return usage_failure(quoted(text) + " is too long a duration");
  }
  if (!fraction_digits.empty()) {
    std::uint64_t fraction = 0;
    std::uint64_t denominator = 1;
    for (std::size_t index = 0; index < fraction_digits.size(); ++index) denominator *= 10;
    // At most nine digits: fraction < 10^9 and the multiplier is at most 3.6e6, so no overflow.
    (void)digits_to_integer(fraction_digits, fraction);
    std::uint64_t scaled = fraction * unit->multiplier;
    if (scaled % denominator != 0) {
      return usage_failure(quoted(text) + " is finer than a millisecond");
    }
    if (__builtin_add_overflow(milliseconds, scaled / denominator, &milliseconds)) {
      return usage_failure(quoted(text) + " is too long a duration");
    }
  }
  return milliseconds;
}

Result<std::uint64_t> parse_count(std::string_view text, std::uint64_t maximum) {
  std::size_t digit_count = count_leading_digits(text);
  if (digit_count == 0 || digit_count != text.size()) {
    return usage_failure(quoted(text) + " is not a whole number (digits only)");
  }
  std::uint64_t value = 0;
  if (!digits_to_integer(text, value) || value > maximum) {
    return usage_failure(quoted(text) + " is larger than " + std::to_string(maximum));
  }
  return value;
}

std::string format_size(std::uint64_t bytes) {
  constexpr std::array<Unit, 3> largest_first{{{"G", 1ULL << 30}, {"M", 1ULL << 20}, {"K", 1ULL << 10}}};
  for (Unit const& unit : largest_first) {
    if (bytes != 0 && bytes % unit.multiplier == 0) {
      return std::to_string(bytes / unit.multiplier) + std::string(unit.name);
    }
  }
  return std::to_string(bytes);
}

Result<std::uint64_t> parse_cpu_list(std::string_view text) {
  auto refuse = [&](std::string const& why) {
    return usage_failure("'" + std::string(text) + "' is not a CPU list (" + why + "): expected e.g. 0,2-3");
  };
  if (text.empty()) return refuse("it is empty");
  std::uint64_t mask = 0;
  std::size_t at = 0;
  while (at <= text.size()) {
    std::size_t comma = text.find(',', at);
    std::string_view item = text.substr(at, comma == std::string_view::npos ? std::string_view::npos : comma - at);
    if (item.empty()) return refuse("an empty item");
    std::size_t dash = item.find('-');
    std::string_view low_text = item.substr(0, dash);
    std::string_view high_text = dash == std::string_view::npos ? low_text : item.substr(dash + 1);
    Result<std::uint64_t> low = parse_count(low_text, 63);
    Result<std::uint64_t> high = parse_count(high_text, 63);
    if (!low.ok() || !high.ok()) return refuse("CPUs are numbers 0 to 63");
    if (low.value() > high.value()) return refuse("a range runs from low to high");
    for (std::uint64_t cpu = low.value(); cpu <= high.value(); ++cpu) {
      std::uint64_t bit = std::uint64_t{1} << cpu;
      if ((mask & bit) != 0) return refuse("CPU " + std::to_string(cpu) + " is named twice");
      mask |= bit;
    }
    if (comma == std::string_view::npos) break;
    at = comma + 1;
    if (at == text.size()) return refuse("an empty item");
  }
  return mask;
}

}  // namespace mettctl
