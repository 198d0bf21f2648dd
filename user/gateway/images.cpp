// The gateway's image routes (docs/API.md, Images): POST /system/images streams an archive to the
// image store piece by piece (RequestPolicy::stream_piece), GET lists the tenant's images,
// DELETE /system/images/{name} removes one, and a deploy naming "image" becomes DEPLOY_IMAGE.
// Each request's image store state lives in its connection's ImageStream.
#include "api.hpp"
#include "lib/elf.hpp"
#include "store/image.hpp"

#include "sys/string.hpp"

namespace gateway {
namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// A reference from a path or query (percent-encoding decoded, "+" kept), normalised; false when
// it is not a valid one.
bool reference_of(Slice text, char (&out)[store::NAME_BYTES]) {
  char decoded[store::NAME_BYTES];
  usize length = 0;
  for (usize i = 0; i < text.size; ++i) {
    char c = text.data[i];
    if (c == '%') {
      int high = i + 2 < text.size ? hex_digit(text.data[i + 1]) : -1;
      int low = i + 2 < text.size ? hex_digit(text.data[i + 2]) : -1;
      if (high < 0 || low < 0) return false;
      c = static_cast<char>(high * 16 + low);
      i += 2;
    }
    if (length + 1 >= sizeof decoded) return false;
    decoded[length++] = c;
  }
  return store::normalise_image_name(decoded, length, out);
}

void add_retry_after(Response& response) {
  Buffer line(response.extra_headers + response.extra_length, sizeof response.extra_headers - response.extra_length);
  line.append("Retry-After: 1\r\n");
  if (!line.overflowed()) response.extra_length += line.size();
}

constexpr const char* BAD_REFERENCE =
    "bad image name: 1-100 characters of [A-Za-z0-9._/:@-] starting with a letter or digit (NAME:TAG; \":latest\" when "
    "no tag)";

// The HTTP status of a refused archive, by the importer's (or the store's) error name.
u32 import_status(const char* name) {
  auto is = [name](const char* candidate) {
    for (usize i = 0;; ++i) {
      if (name[i] != candidate[i]) return false;
      if (name[i] == '\0') return true;
    }
  };
  if (is("archive_too_large") || is("limit_exceeded") || is("tree_failed") || is("no_space")) return 413;
  if (is("in_use")) return 409;
  if (is("digest_mismatch") || is("size_mismatch") || is("missing_blob") || is("no_matching_image") ||
      is("ambiguous_image") || is("unknown_media_type") || is("unsupported_media_type") || is("unsupported_digest"))
    return 422;
  return 400;
}

}  // namespace

void Gateway::store_error(Response& response, const StoreReply& reply) {
  if (!reply.delivered) return error(response, 503, "the image store did not answer");
  switch (reply.status) {
    case store::STATUS_NO_DISK: return error(response, 503, "the image store has no usable disk");
    case store::STATUS_BUSY:
      error(response, 503, "the image store is importing as many images as it can at once; retry later");
      add_retry_after(response);
      return;
    case store::STATUS_OUT_OF_MEMORY: return error(response, 503, "the image store has no memory for this now; retry later");
    case store::STATUS_TOO_MANY_HANDLES: return error(response, 503, "the gateway holds as many store handles as it may; retry later");
    case store::STATUS_NO_SPACE: return error(response, 413, "the image does not fit the store's free space");
    case store::STATUS_CATALOG_FULL: return error(response, 507, "the image store's catalog is full");
    case store::STATUS_IO_ERROR: return error(response, 503, "the image store's disk failed");
    default: {
      char message[96];
      Buffer text(message, sizeof message - 1);
      text.append("the image store refused the request: ");
      text.append(store::status_name(reply.status));
      message[text.overflowed() ? 0 : text.size()] = '\0';
      return error(response, 500, message);
    }
  }
}

// IMPORT_FAILED: {"error": <the importer's sentence>, "import_error": <its name>}.
void Gateway::import_error(Response& response, const StoreReply& reply) {
  if (!reply.delivered || reply.status != store::STATUS_IMPORT_FAILED) return store_error(response, reply);
  auto failure = reply.body<store::ImportFailure>();
  char text[store::IMPORT_MESSAGE_BYTES + 1] = {};
  memcpy(text, failure.text, store::IMPORT_MESSAGE_BYTES);
  u64 bytes = sys::bytes_from(reply.word_count, offsetof(store::ImportFailure, text));
  const char* name = text;
  usize name_length = text_length(name);
  const char* message = name_length + 1 < bytes ? text + name_length + 1 : "";
  Buffer body(storage_.text, storage_.text_capacity);
  body.append("{\"error\": ");
  body.append_json_string(message);
  body.append(", \"import_error\": ");
  body.append_json_string(name);
  body.append("}\n");
  finish_json(response, import_status(name), body);
}

void Gateway::abandon_stream(ImageStream& stream) {
  if (stream.handle != 0 && images_ != nullptr) images_->abort(stream.handle);
  stream = ImageStream{};
}

void Gateway::push_image(u32 tenant, const RequestHead& head, const Payload& body, Response& response,
                         OutputWindow* window) {
  ImageStream* stream = body.stream;
  if (images_ == nullptr || stream == nullptr) return error(response, 503, "no image store on this system");
  // A failure ends the import at once and the connection with it: the rest of the archive is not read.
  auto refuse = [&](auto&& answer) {
    abandon_stream(*stream);
    answer();
    response.close = true;
  };
  if (body.offset == 0) {
    abandon_stream(*stream);
    char reference[store::NAME_BYTES] = {};
    Slice name = query_parameter(head.query, "name");
    if (name.data != nullptr && !reference_of(name, reference)) return refuse([&] { error(response, 400, BAD_REFERENCE); });
    if (body.length == 0 && !body.partial)
      return error(response, 400, "the body must hold an image archive (OCI layout or docker-archive, plain or gzip)");
    u64 buffer = 0;
    if (window == nullptr || window->staging(IMAGE_PIECE_BYTES, buffer) == nullptr)
      return refuse([&] { error(response, 503, "no memory for the upload now; retry later"); });
    StoreReply started = images_->import(tenant, reference, buffer);
    if (!started.delivered || started.status != store::STATUS_OK) return refuse([&] { store_error(response, started); });
    stream->handle = started.body<store::HandleReply>().handle;
  }
  if (stream->handle == 0) return refuse([&] { error(response, 400, "image upload out of order"); });
  if (body.length > 0) {
    u64 buffer = 0;
    u8* staging = window->staging(IMAGE_PIECE_BYTES, buffer);
    if (staging == nullptr || body.length > IMAGE_PIECE_BYTES)
      return refuse([&] { error(response, 503, "no memory for the upload now; retry later"); });
    memcpy(staging, body.bytes, body.length);
    StoreReply written = images_->write(stream->handle, body.length);
    if (!written.delivered || written.status != store::STATUS_OK) {
      if (written.status == store::STATUS_IMPORT_FAILED) stream->handle = 0;  // The store ended it.
      return refuse([&] { import_error(response, written); });
    }
    stream->bytes += body.length;
  }
  if (body.partial) {
    response.more = true;
    return;
  }
  StoreReply committed = images_->commit(stream->handle);
  stream->handle = 0;  // Committed or refused, the import has ended.
  if (!committed.delivered || committed.status != store::STATUS_OK) return refuse([&] { import_error(response, committed); });
  auto reply = committed.body<store::ImportReply>();
  reply.name[sizeof reply.name - 1] = '\0';
  reply.digest[sizeof reply.digest - 1] = '\0';
  Buffer text(storage_.text, storage_.text_capacity);
  text.append("{\"name\": ");
  text.append_json_string(reply.name);
  text.append(", \"digest\": ");
  text.append_json_string(reply.digest);
  text.append(", \"size\": ");
  text.append_unsigned(reply.tree_bytes);
  text.append("}\n");
  finish_json(response, 201, text);
}

void Gateway::list_images(u32 tenant, Response& response) {
  if (images_ == nullptr) return error(response, 503, "no image store on this system");
  Buffer text(storage_.text, storage_.text_capacity);
  text.append("[");
  u64 total = 1;
  u64 shown = 0;
  for (u64 index = 0; index < total; ++index) {
    StoreReply listed = images_->list(tenant, index);
    if (!listed.delivered || listed.status != store::STATUS_OK) return store_error(response, listed);
    auto entry = listed.body<store::ImageListReply>();
    total = entry.total;
    if (entry.present == 0) continue;
    entry.name[sizeof entry.name - 1] = '\0';
    entry.digest[sizeof entry.digest - 1] = '\0';
    entry.created[sizeof entry.created - 1] = '\0';
    if (shown++ > 0) text.append(", ");
    text.append("{\"name\": ");
    text.append_json_string(entry.name);
    text.append(", \"digest\": ");
    text.append_json_string(entry.digest);
    text.append(", \"size\": ");
    text.append_unsigned(entry.tree_bytes);
    text.append(", \"created\": ");
    text.append_json_string(entry.created);
    text.append("}");
  }
  text.append("]\n");
  finish_json(response, 200, text);
}

void Gateway::remove_image(u32 tenant, Slice name, Response& response) {
  if (images_ == nullptr) return error(response, 503, "no image store on this system");
  char reference[store::NAME_BYTES];
  if (!reference_of(name, reference)) return error(response, 404, "no such image");
  StoreReply removed = images_->remove(tenant, reference);
  if (removed.delivered && removed.status == store::STATUS_OK) {
    response.status = 204;
    response.body = "";
    response.body_length = 0;
    return;
  }
  if (removed.delivered && removed.status == store::STATUS_NOT_FOUND) return error(response, 404, "no such image");
  if (removed.delivered && removed.status == store::STATUS_OPEN_ELSEWHERE)
    return error(response, 409, "the image is in use by a deployed function; remove the function first");
  store_error(response, removed);
}

void Gateway::deploy_image(u32 tenant, const char* name, const char* image, bool has_arguments,
                           const DeployStrings& strings, const manager::FunctionConfig& config, Response& response,
                           bool replace) {
  char reference[store::NAME_BYTES];
  if (!reference_of(Slice::of(image), reference)) return error(response, 400, BAD_REFERENCE);
  if (strings.argument_bytes + strings.environment_bytes > manager::MAX_STRINGS_BYTES)
    return error(response, 400, "the arguments and environment take more than 65536 bytes (64 KiB) together: the "
                                "limit of a function's arguments and environment");
  manager::DeployImageRequest request{};
  manager::pack_name(name, request.name);
  static_assert(sizeof reference == sizeof request.reference);
  memcpy(request.reference, reference, sizeof reference);
  request.config = config;
  request.config.flags |= manager::FUNCTION_FLAG_LINUX | manager::FUNCTION_FLAG_IMAGE;
  request.flags = (has_arguments ? manager::DEPLOY_IMAGE_ARGUMENTS : 0) | (replace ? manager::DEPLOY_IMAGE_REPLACE : 0);
  request.argument_bytes = strings.argument_bytes;
  request.environment_bytes = strings.environment_bytes;
  request.secret_bytes = strings.secret_bytes;
  ManagerReply reply = send_with_strings(tenant, manager::DEPLOY_IMAGE, &request, request.strings,
                                         sizeof request.strings, strings);
  if (reply.delivered && reply.status == manager::STATUS_OK) {
    if (!replace) shared_.metrics.open(tenant, name);  // A new function starts with fresh figures; an updated one keeps its own.
    Buffer text(storage_.text, storage_.text_capacity);
    text.append("{\"name\": ");
    text.append_json_string(name);
    text.append(", \"image\": ");
    text.append_json_string(reference);
    text.append("}\n");
    return finish_json(response, 201, text);
  }
  if (reply.delivered && reply.status == manager::STATUS_NOT_FOUND && replace)
    return error(response, 404, "no such function (PUT updates a deployed function)");
  if (reply.delivered && reply.status == manager::STATUS_NO_SUCH_IMAGE) {
    if (reply.detail() != 0) return error(response, 503, "the image store failed to open the image");
    Buffer text(storage_.text, storage_.text_capacity);
    text.append("{\"error\": \"no such image in the image store\", \"image\": ");
    text.append_json_string(reference);
    text.append("}\n");
    return finish_json(response, 422, text);
  }
  if (reply.delivered && reply.status == manager::STATUS_BAD_EXECUTABLE) {
    Buffer text(storage_.text, storage_.text_capacity);
    // Which part of the image's configuration its tree does not hold (lib/elf.hpp's numbers).
    const char* problem = reply.detail() == static_cast<u64>(klib::ElfStatus::NoWorkingDirectory)
                              ? "the image's WorkingDir is no directory of the image"
                          : reply.detail() == static_cast<u64>(klib::ElfStatus::UnknownUser)
                              ? "the image's User names no user or group of the image's /etc/passwd or /etc/group"
                              : "the image's command names no program in the image";
    text.append("{\"error\": \"");
    text.append(problem);
    text.append("\", \"elf_status\": ");
    text.append_unsigned(reply.detail());
    text.append("}\n");
    return finish_json(response, 422, text);
  }
  auto refusal = reply.body<manager::ImageRefusal>();
  if (reply.delivered && reply.status == manager::STATUS_BAD_REQUEST && reply.word_count >= 2 &&
      refusal.argument_limit == manager::MAX_STORED_STRINGS_BYTES) {
    Buffer text(storage_.text, storage_.text_capacity);
    text.append("{\"error\": \"the command line and environment (the image's with the deployment's) exceed 131072 "
                "bytes (128 KiB) or 2048 strings, the limit of what a function keeps\", \"needed\": ");
    text.append_unsigned(refusal.detail);
    text.append("}\n");
    return finish_json(response, 400, text);
  }
  if (reply.delivered && reply.status == manager::STATUS_BAD_REQUEST)
    return error(response, 400, "configuration rejected by the manager (limits: docs/CONTAINERS.md)");
  manager_error(response, reply);
}

}  // namespace gateway
