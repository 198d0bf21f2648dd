// ls: GET /system/functions, printed as a table (or, with --json, as the validated JSON array).
#include <algorithm>
#include <iomanip>
#include <vector>

#include "commands.hpp"

namespace mettctl {
namespace {

struct Row {
  std::string name;
  std::string invocations;
  std::string failures;
};

// Each entry must carry the documented fields with the documented types.
[[nodiscard]] std::optional<std::string> check_entries(nlohmann::json const& list) {
  if (!list.is_array()) return "expected a JSON array";
  for (std::size_t index = 0; index < list.size(); ++index) {
    nlohmann::json const& entry = list[index];
    std::string where = "entry " + std::to_string(index);
    if (!entry.is_object()) return where + " is not an object";
    if (!entry.contains("name") || !entry["name"].is_string()) return where + " has no string \"name\"";
    for (char const* field : {"invocations", "failures"}) {
      if (!entry.contains(field) || !entry[field].is_number_unsigned()) {
        return where + " has no whole-number \"" + field + "\"";
      }
    }
  }
  return std::nullopt;
}

void print_table(std::vector<Row> const& rows, std::ostream& out) {
  Row const heading{"NAME", "INVOCATIONS", "FAILURES"};
  std::size_t name_width = heading.name.size();
  std::size_t invocations_width = heading.invocations.size();
  for (Row const& row : rows) {
    name_width = std::max(name_width, row.name.size());
    invocations_width = std::max(invocations_width, row.invocations.size());
  }
  auto print_row = [&](Row const& row) {
    out << std::left << std::setw(static_cast<int>(name_width)) << row.name << "  "
        << std::setw(static_cast<int>(invocations_width)) << row.invocations << "  " << row.failures << '\n';
  };
  print_row(heading);
  for (Row const& row : rows) print_row(row);
}

}  // namespace

int run_list(Gateway& gateway, bool json_output, Io& io) {
  std::string const what = "ls";
  Result<Response> response = gateway.get("/system/functions");
  if (!response.ok()) return report(io, response.failure());
  Response const& answer = response.value();
  if (answer.status != 200) return report(io, unexpected_status(answer, what));

  auto list = parse_json(answer.body);
  if (!list) return report(io, malformed_response(answer, what, "the body is not JSON"));
  if (auto problem = check_entries(*list)) return report(io, malformed_response(answer, what, *problem));

  if (json_output) {
    io.out << list->dump(2) << '\n';
    return to_int(ExitCode::Ok);
  }
  std::vector<Row> rows;
  for (nlohmann::json const& entry : *list) {
    rows.push_back(Row{entry["name"].get<std::string>(), entry["invocations"].dump(), entry["failures"].dump()});
  }
  print_table(rows, io.out);
  return to_int(ExitCode::Ok);
}

}  // namespace mettctl
