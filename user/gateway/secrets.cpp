// /system/secrets (docs/API.md, Secrets): a tenant's secrets in faas-provider's shapes, kept in the
// image store as blobs "secret+<tenant>+<name>+<sequence>" (records.hpp names), their values never
// held by the gateway beyond the request that sets or delivers them, never listed or logged. A
// deployment that names a secret the tenant does not have is refused with its name; one that names
// secrets gets their current values as read-only files (/var/openfaas/secrets/<name>, the manager's
// secret files), read when it is deployed or updated.
// Invariant: a secret's blob is committed (durable) before its create or update is answered, and
// the index shows exactly the secrets whose current blob exists; a tenant reaches only its own.
#include "api.hpp"
#include "imagefs/import/json.hpp"

namespace gateway {
namespace {

using imagefs::JsonMember;
using imagefs::JsonType;

constexpr const char SECRET_KIND[] = "secret";
constexpr usize MAX_SECRETS_PER_TENANT = 64;
constexpr u64 MAX_SECRET_BYTES = manager::MAX_SECRET_FILE_BYTES;

// One request's secret: its name and, for create and update, its value.
struct SecretRequest {
  char name[SECRET_NAME_BYTES] = {};
  char value[MAX_SECRET_BYTES + 1] = {};  // One more: json_string NUL-terminates.
  usize value_bytes = 0;
};

// {"name": ..., "value": ...} or {"name": ..., "rawValue": <base64>}; `needs_value` false for a
// delete. An error text, or nullptr.
const char* parse_secret(const Payload& body, bool needs_value, SecretRequest& secret) {
  imagefs::JsonParse parsed = imagefs::json_parse(reinterpret_cast<const char*>(body.bytes), body.length, 4);
  if (body.length == 0 || parsed.error != imagefs::JsonError::None) return "the body is not valid JSON";
  if (parsed.root.type != JsonType::Object) return "the body must be a JSON object";
  JsonMember name = imagefs::json_member(parsed.root, "name");
  u64 length = 0;
  if (!name.found || name.duplicate || name.value.type != JsonType::String) return "name is required (a string)";
  if (!imagefs::json_string(name.value, secret.name, sizeof secret.name, length))
    return "a secret name must be 1 to 63 characters (a DNS label)";
  if (const char* problem = secret_name_problem(Slice{secret.name, static_cast<usize>(length)})) return problem;
  if (!needs_value) return nullptr;
  JsonMember value = imagefs::json_member(parsed.root, "value");
  JsonMember raw = imagefs::json_member(parsed.root, "rawValue");
  bool has_value = value.found && value.value.type != JsonType::Null;
  bool has_raw = raw.found && raw.value.type != JsonType::Null;
  if (has_value == has_raw) return "exactly one of value (a string) and rawValue (base64) is required";
  if ((has_value && (value.duplicate || value.value.type != JsonType::String)) ||
      (has_raw && (raw.duplicate || raw.value.type != JsonType::String)))
    return "value must be a string and rawValue a base64 string";
  if (has_value) {
    u64 bytes = 0;
    if (!imagefs::json_string(value.value, secret.value, sizeof secret.value, bytes))
      return "a secret's value is at most 4096 bytes";
    secret.value_bytes = static_cast<usize>(bytes);
  } else {
    char encoded[MAX_SECRET_BYTES * 4 / 3 + 8];
    u64 bytes = 0;
    if (!imagefs::json_string(raw.value, encoded, sizeof encoded, bytes)) return "a secret's value is at most 4096 bytes";
    if (!decode_base64(Slice{encoded, static_cast<usize>(bytes)}, secret.value, MAX_SECRET_BYTES, secret.value_bytes))
      return "rawValue must be standard base64 (with padding) of at most 4096 bytes";
  }
  return nullptr;
}

}  // namespace

bool Gateway::secret_files(u32 tenant, const FunctionDeployment& deployment, char* out, usize capacity, u64& bytes,
                           Response& response) {
  bytes = 0;
  for (usize i = 0; i < deployment.secret_count; ++i) {
    const char* name = deployment.secrets[i];
    u64 sequence = 0;
    char blob[store::NAME_BYTES];
    if (records_ == nullptr || !shared_.secrets.find(tenant, name, sequence)) {
      Buffer text(storage_.text, storage_.text_capacity);
      text.append("{\"error\": \"no such secret: ");
      text.append(name);
      text.append(" (POST /system/secrets creates it)\", \"secret\": ");
      text.append_json_string(name);
      text.append("}\n");
      finish_json(response, 400, text);
      return false;
    }
    // The entry: the name, its NUL, the value's length (4 bytes, little-endian), the value.
    u64 handle = 0;
    u64 size = 0;
    usize name_length = text_length(name);
    bool read = record_name(SECRET_KIND, tenant, name, sequence, blob) && records_->open(blob, handle, size);
    if (read) {
      u32 length = static_cast<u32>(size);
      read = size <= MAX_SECRET_BYTES && bytes + name_length + 5 + size <= capacity;
      if (read) {
        __builtin_memcpy(out + bytes, name, name_length + 1);
        __builtin_memcpy(out + bytes + name_length + 1, &length, 4);
        read = size == 0 || records_->read(handle, 0, out + bytes + name_length + 5, size);
      }
      records_->close(handle);
    }
    if (!read) {
      error(response, 503, "the image store could not read a secret the deployment names");
      return false;
    }
    bytes += name_length + 5 + size;
  }
  return true;
}

void Gateway::secrets(u32 tenant, const RequestHead& head, const Payload& body, Response& response) {
  if (records_ == nullptr) return error(response, 503, "secrets need the image store, and this gateway has none");
  if (head.method.equals("GET") || head.method.equals("HEAD")) {
    char names[MAX_SECRETS_PER_TENANT][RECORD_FUNCTION_NAME_BYTES];
    usize count = shared_.secrets.names_of(tenant, names, MAX_SECRETS_PER_TENANT);
    Buffer text(storage_.text, storage_.text_capacity);
    text.append("[");
    for (usize i = 0; i < count; ++i) {
      text.append(i == 0 ? "{\"name\": " : ", {\"name\": ");
      text.append_json_string(names[i]);
      text.append("}");
    }
    text.append("]\n");
    return finish_json(response, 200, text);
  }
  bool create = head.method.equals("POST");
  bool update = head.method.equals("PUT");
  static_assert(sizeof(SecretRequest) < 8192);  // On the worker's 64 KiB stack.
  SecretRequest secret;
  if (const char* problem = parse_secret(body, create || update, secret)) return error(response, 400, problem);
  u64 current = 0;
  bool exists = shared_.secrets.find(tenant, secret.name, current);
  char blob[store::NAME_BYTES];
  if (!create && !update) {
    if (!exists) return error(response, 404, "no such secret");
    if (!record_name(SECRET_KIND, tenant, secret.name, current, blob) || !records_->remove(blob))
      return error(response, 503, "the image store could not remove the secret");
    shared_.secrets.erase(tenant, secret.name);
    response.status = 204;
    response.body = "";
    response.body_length = 0;
    return;
  }
  if (create && exists) return error(response, 409, "a secret of that name exists (PUT /system/secrets updates it)");
  if (update && !exists) return error(response, 404, "no such secret (POST /system/secrets creates it)");
  if (create && shared_.secrets.count_of(tenant) >= MAX_SECRETS_PER_TENANT)
    return error(response, 507, "the tenant has as many secrets as it may have (64); delete one first");
  u64 sequence = shared_.secrets.next_sequence();
  RecordPiece piece{reinterpret_cast<const u8*>(secret.value), secret.value_bytes, 0, 0};
  if (!record_name(SECRET_KIND, tenant, secret.name, sequence, blob) || !records_->put(blob, &piece, 1))
    return error(response, 503, "the image store could not keep the secret");
  // The new value is durable; the old one goes (a stop in between leaves both: the boot keeps the newer).
  char old_blob[store::NAME_BYTES];
  if (update && record_name(SECRET_KIND, tenant, secret.name, current, old_blob)) (void)records_->remove(old_blob);
  if (!shared_.secrets.set(tenant, secret.name, sequence)) {
    (void)records_->remove(blob);
    return error(response, 507, "the gateway's index of secrets is full");
  }
  Buffer text(storage_.text, storage_.text_capacity);
  text.append("{\"name\": ");
  text.append_json_string(secret.name);
  text.append("}\n");
  finish_json(response, create ? 201 : 200, text);
}

void Gateway::restore_secrets(void (*report)(const char* line)) {
  // The newer of two blobs of a secret (a stop during an update) wins; the older goes.
  bool listed = walk_records(
      *records_, SECRET_KIND,
      [&](u32 tenant, const char* name, u64 sequence) {
        shared_.secrets.observe(sequence);
        u64 known = 0;
        if (!shared_.secrets.find(tenant, name, known) || known < sequence) (void)shared_.secrets.set(tenant, name, sequence);
      },
      [&](u32 tenant, const char* name, u64 sequence) {
        u64 known = 0;
        return shared_.secrets.find(tenant, name, known) && known != sequence;
      });
  if (!listed) report("gateway: the image store did not list its secrets");
}

}  // namespace gateway
