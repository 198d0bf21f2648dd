// image push/ls/rm: POST /system/images with the archive streamed from the file, GET
// /system/images as a table (or the validated JSON with --json), DELETE /system/images/{name}.
#include <algorithm>
#include <fstream>
#include <iomanip>
#include <vector>

#include "commands.hpp"

namespace mettctl {
namespace {

// Each entry must carry the documented fields with the documented types.
[[nodiscard]] std::optional<std::string> check_images(nlohmann::json const& list) {
  if (!list.is_array()) return "expected a JSON array";
  for (std::size_t index = 0; index < list.size(); ++index) {
    nlohmann::json const& entry = list[index];
    std::string where = "entry " + std::to_string(index);
    if (!entry.is_object()) return where + " is not an object";
    for (char const* field : {"name", "digest", "created"})
      if (!entry.contains(field) || !entry[field].is_string()) return where + " has no string \"" + field + "\"";
    if (!entry.contains("size") || !entry["size"].is_number_unsigned()) return where + " has no whole-number \"size\"";
  }
  return std::nullopt;
}

[[nodiscard]] Result<std::string> decode_image_name(std::string const& name) {
  if (name.empty()) return usage_failure("the image name is empty");
  for (char character : name) {
    auto byte = static_cast<unsigned char>(character);
    if (byte < 0x21 || byte > 0x7e) return usage_failure("the image name '" + name + "' holds a space or a non-printable byte");
  }
  return name;
}

}  // namespace

int run_image_push(Gateway& gateway, ImagePushOptions const& options, Io& io) {
  std::string path = "/system/images";
  if (options.name) {
    Result<std::string> name = decode_image_name(*options.name);
    if (!name.ok()) return report(io, name.failure());
    path += "?name=" + encode_path_segment(name.value());
  }
  std::ifstream file(options.file, std::ios::binary);
  if (!file) return report(io, usage_failure("cannot read the archive '" + options.file + "'"));
  file.seekg(0, std::ios::end);
  auto size = static_cast<std::uint64_t>(file.tellg());
  file.seekg(0);
  if (size == 0) return report(io, usage_failure("the archive '" + options.file + "' is empty"));
  std::string const what = "image push " + options.file;
  // The archive is sent as it is read (1 MiB at a time), never held whole.
  Result<Response> response = gateway.post_stream(path, size, file);
  if (!response.ok()) return report(io, response.failure());
  Response const& answer = response.value();
  if (answer.status != 201) return report(io, unexpected_status(answer, what));
  auto json = parse_json(answer.body);
  if (!json || !json->is_object() || !json->contains("name") || !json->at("name").is_string() ||
      !json->contains("digest") || !json->at("digest").is_string())
    return report(io, malformed_response(answer, what, "expected {\"name\": \"...\", \"digest\": \"...\"}"));
  io.out << json->at("name").get<std::string>() << ' ' << json->at("digest").get<std::string>() << '\n';
  return to_int(ExitCode::Ok);
}

int run_image_list(Gateway& gateway, bool json_output, Io& io) {
  std::string const what = "image ls";
  Result<Response> response = gateway.get("/system/images");
  if (!response.ok()) return report(io, response.failure());
  Response const& answer = response.value();
  if (answer.status != 200) return report(io, unexpected_status(answer, what));
  auto list = parse_json(answer.body);
  if (!list) return report(io, malformed_response(answer, what, "the body is not JSON"));
  if (auto problem = check_images(*list)) return report(io, malformed_response(answer, what, *problem));
  if (json_output) {
    io.out << list->dump(2) << '\n';
    return to_int(ExitCode::Ok);
  }
  std::vector<std::vector<std::string>> rows{{"NAME", "DIGEST", "SIZE", "CREATED"}};
  for (nlohmann::json const& entry : *list)
    rows.push_back({entry["name"].get<std::string>(), entry["digest"].get<std::string>(), entry["size"].dump(),
                    entry["created"].get<std::string>()});
  std::vector<std::size_t> widths(4, 0);
  for (auto const& row : rows)
    for (std::size_t column = 0; column < 4; ++column) widths[column] = std::max(widths[column], row[column].size());
  for (auto const& row : rows) {
    for (std::size_t column = 0; column < 3; ++column)
      io.out << std::left << std::setw(static_cast<int>(widths[column])) << row[column] << "  ";
    io.out << row[3] << '\n';
  }
  return to_int(ExitCode::Ok);
}

int run_image_remove(Gateway& gateway, std::string const& name, Io& io) {
  Result<std::string> checked = decode_image_name(name);
  if (!checked.ok()) return report(io, checked.failure());
  Result<Response> response = gateway.remove("/system/images/" + encode_path_segment(name));
  if (!response.ok()) return report(io, response.failure());
  if (response.value().status != 204) return report(io, unexpected_status(response.value(), "image rm " + name));
  io.out << name << '\n';
  return to_int(ExitCode::Ok);
}

}  // namespace mettctl
