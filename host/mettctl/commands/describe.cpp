// describe: GET /system/functions/{name}, printed as "field: value" lines in the documented order
// (then any further fields the gateway sends), or with --json as the validated JSON object.
#include <algorithm>
#include <array>
#include <iomanip>

#include "../units.hpp"
#include "commands.hpp"

namespace mettctl {
namespace {

// The documented numeric fields (docs/API.md), in print order after "name".
constexpr std::array<char const*, 7> numeric_fields{
    "size", "memory", "timeout_ms", "max_output", "max_depth", "invocations", "failures",
};

[[nodiscard]] std::optional<std::string> check_description(nlohmann::json const& description) {
  if (!description.is_object()) return "expected a JSON object";
  if (!description.contains("name") || !description["name"].is_string()) return "no string \"name\"";
  for (char const* field : numeric_fields) {
    if (!description.contains(field) || !description[field].is_number_unsigned()) {
      return std::string("no whole-number \"") + field + "\"";
    }
  }
  return std::nullopt;
}

[[nodiscard]] bool is_documented(std::string const& field) {
  return field == "name" || std::find_if(numeric_fields.begin(), numeric_fields.end(), [&](char const* known) {
                              return field == known;
                            }) != numeric_fields.end();
}

void print_description(nlohmann::json const& description, std::ostream& out) {
  std::size_t width = 0;
  for (auto const& item : description.items()) width = std::max(width, item.key().size());
  auto field_label = [&](std::string const& field) -> std::ostream& {
    return out << std::left << std::setw(static_cast<int>(width + 2)) << (field + ":");
  };

  field_label("name") << description["name"].get<std::string>() << '\n';
  for (char const* field : numeric_fields) {
    auto value = description[field].get<std::uint64_t>();
    field_label(field) << value;
    bool is_size = std::string_view(field) == "memory" || std::string_view(field) == "max_output" ||
                   std::string_view(field) == "size";
    if (is_size && format_size(value) != std::to_string(value)) out << " (" << format_size(value) << ")";
    out << '\n';
  }
  for (auto const& item : description.items()) {
    if (is_documented(item.key())) continue;
    field_label(item.key()) << (item.value().is_string() ? item.value().get<std::string>() : item.value().dump())
                            << '\n';
  }
}

}  // namespace

int run_describe(Gateway& gateway, std::string const& name, bool json_output, Io& io) {
  Result<std::string> checked_name = decode_function_name(name);
  if (!checked_name.ok()) return report(io, checked_name.failure());

  std::string const what = "describe " + name;
  Result<Response> response = gateway.get("/system/functions/" + encode_path_segment(name));
  if (!response.ok()) return report(io, response.failure());
  Response const& answer = response.value();
  if (answer.status != 200) return report(io, unexpected_status(answer, what));

  auto description = parse_json(answer.body);
  if (!description) return report(io, malformed_response(answer, what, "the body is not JSON"));
  if (auto problem = check_description(*description)) return report(io, malformed_response(answer, what, *problem));

  if (json_output) {
    io.out << description->dump(2) << '\n';
  } else {
    print_description(*description, io.out);
  }
  return to_int(ExitCode::Ok);
}

}  // namespace mettctl
