// Persistence of deployed functions (docs/API.md, Persistence): each successful deploy writes the
// function's record (records.hpp) to the image store before it is answered, a delete removes it
// before the manager forgets the function, and the boot replays every record through the same
// deploy paths a client's request takes, so a restored function is what was answered before.
#include "api.hpp"

namespace gateway {
namespace {

constexpr const char FUNCTION_KIND[] = "function";

// The records the boot found (one boot at a time, before any worker runs).
struct FoundRecord {
  u32 tenant;
  u64 sequence;
  char name[RECORD_FUNCTION_NAME_BYTES];
};
constexpr usize MAX_FOUND = RecordIndex::CAPACITY;
FoundRecord found_records[MAX_FOUND];

bool same_text(const char* left, const char* right) {
  for (usize i = 0;; ++i) {
    if (left[i] != right[i]) return false;
    if (left[i] == '\0') return true;
  }
}

// "gateway: <what> <tenant>/<name>: <why>" into `line`.
void describe_problem(char (&line)[256], const char* what, u32 tenant, const char* name, const char* why) {
  Buffer text(line, sizeof line - 1);
  text.append("gateway: ");
  text.append(what);
  text.append(" ");
  text.append_unsigned(tenant);
  text.append("/");
  text.append(name);
  text.append(": ");
  text.append(why);
  line[text.overflowed() ? sizeof line - 1 : text.size()] = '\0';
}

}  // namespace

bool Gateway::save_record(u32 tenant, bool console, const char* name, Slice config, const Payload* executable,
                          const char* base, Slice layer, const char*& why) {
  RecordHeader header{};
  header.magic = RECORD_MAGIC;
  header.version = RECORD_VERSION;
  header.flags = console ? RECORD_KEY_CONSOLE : 0;
  RecordPiece pieces[5];
  usize count = 1;
  pieces[0].bytes = reinterpret_cast<const u8*>(&header);
  pieces[0].length = sizeof header;
  if (config.size > MAX_RECORD_CONFIG_BYTES || layer.size > MAX_RECORD_LAYER_BYTES) {
    why = "the deployment is too large to keep";
    return false;
  }
  if (config.size > 0) {
    header.config_bytes = config.size;
    pieces[count++] = RecordPiece{reinterpret_cast<const u8*>(config.data), config.size, 0, 0};
    if (executable != nullptr && executable->length > 0) {
      header.executable_bytes = executable->length;
      pieces[count++] = RecordPiece{executable->bytes, executable->length, 0, 0};
    }
  }
  // A function that took another's executable keeps that one's record whole (its executable and
  // the layers that configured it), so it outlives the other.
  u64 base_handle = 0;
  u64 base_sequence = 0;
  char base_record[store::NAME_BYTES];
  if (base != nullptr && base[0] != '\0' && shared_.records.find(tenant, base, base_sequence) &&
      record_name(FUNCTION_KIND, tenant, base, base_sequence, base_record)) {
    u64 size = 0;
    RecordHeader source{};
    if (!records_->open(base_record, base_handle, size)) {
      why = "the record of the function named by image could not be read";
      return false;
    }
    if (!records_->read(base_handle, 0, &source, sizeof source) || !record_header_valid(source, size) ||
        source.layer_count + (layer.size > 0 ? 1 : 0) > MAX_RECORD_LAYERS) {
      records_->close(base_handle);
      why = source.layer_count >= MAX_RECORD_LAYERS
                ? "the function has been updated from others too many times to keep (delete it and deploy it anew)"
                : "the record of the function named by image is damaged";
      return false;
    }
    header.config_bytes = source.config_bytes;
    header.executable_bytes = source.executable_bytes;
    header.layer_count = source.layer_count;
    for (u64 i = 0; i < source.layer_count; ++i) header.layer_bytes[i] = source.layer_bytes[i];
    pieces[count++] = RecordPiece{nullptr, record_parts_bytes(source), base_handle, sizeof source};
  }
  if (layer.size > 0) {
    header.layer_bytes[header.layer_count++] = layer.size;
    pieces[count++] = RecordPiece{reinterpret_cast<const u8*>(layer.data), layer.size, 0, 0};
  }
  u64 sequence = shared_.records.next_sequence();
  char record[store::NAME_BYTES];
  bool written = record_name(FUNCTION_KIND, tenant, name, sequence, record) && records_->put(record, pieces, count);
  if (base_handle != 0) records_->close(base_handle);
  if (!written) {
    why = "the image store could not write it";
    return false;
  }
  // The new record is durable; the one it replaces goes (a stop before that leaves both, and the
  // next boot keeps the newer). A record the index cannot hold could not be deleted later: it is
  // not kept at all.
  u64 previous = 0;
  char previous_record[store::NAME_BYTES];
  bool replaces = shared_.records.find(tenant, name, previous) &&
                  record_name(FUNCTION_KIND, tenant, name, previous, previous_record);
  if (!shared_.records.set(tenant, name, sequence)) {
    (void)records_->remove(record);
    why = "the gateway's index of kept functions is full (4096)";
    return false;
  }
  if (replaces) (void)records_->remove(previous_record);
  return true;
}

void Gateway::keep_deploy(u32 tenant, bool console, const char* name, Slice config, const Payload* executable,
                          const char* base, Slice layer, bool replace, Response& response) {
  if (records_ == nullptr || restoring_) return;
  const char* why = nullptr;
  if (save_record(tenant, console, name, config, executable, base, layer, why)) return;
  if (replace) {
    char message[256];
    describe_problem(message, "the update runs but was not kept; the previous version comes back at a restart:",
                     tenant, name, why);
    return error(response, 503, message + 9);  // Without "gateway: ".
  }
  // A function that would vanish at the next restart is not deployed at all.
  (void)backend_.call(tenant, manager::REMOVE, name_request(name));
  shared_.metrics.forget(tenant, name);
  shared_.catalog.forget(tenant, name);
  shared_.logs.forget(tenant, name);
  char message[256];
  describe_problem(message, "not deployed, since it could not be kept in the image store:", tenant, name, why);
  error(response, 503, message + 9);
}

bool Gateway::forget_record(u32 tenant, const char* name) {
  if (records_ == nullptr) return true;
  u64 sequence = 0;
  char record[store::NAME_BYTES];
  if (!shared_.records.find(tenant, name, sequence) || !record_name(FUNCTION_KIND, tenant, name, sequence, record))
    return true;  // Never kept (deployed without a store, or its record did not fit the index).
  if (!records_->remove(record)) return false;
  shared_.records.erase(tenant, name);
  return true;
}

bool Gateway::restore_one(const char* record, u32 tenant, const char* name, u64 sequence,
                          void (*report)(const char* line)) {
  char line[256];
  u64 handle = 0;
  u64 size = 0;
  if (!records_->open(record, handle, size)) {
    describe_problem(line, "cannot read the record of", tenant, name, "the image store refused to open it");
    report(line);
    return false;
  }
  const u8* bytes = records_->map(handle, size);
  RecordHeader header{};
  if (bytes == nullptr || size < sizeof header) {
    records_->close(handle);
    describe_problem(line, "cannot read the record of", tenant, name, "it could not be mapped, or it is too short");
    report(line);
    return false;
  }
  __builtin_memcpy(&header, bytes, sizeof header);
  if (!record_header_valid(header, size)) {
    records_->close(handle);
    describe_problem(line, "cannot restore", tenant, name, "its record is damaged (kept in the store as it is)");
    report(line);
    return false;
  }
  ApiKey key{"", tenant, DEFAULT_CONCURRENCY_LIMIT, (header.flags & RECORD_KEY_CONSOLE) != 0};
  Response response;
  const u8* part = bytes + sizeof header;
  bool restored = true;
  if (header.config_bytes > 0) {
    Slice config{reinterpret_cast<const char*>(part), static_cast<usize>(header.config_bytes)};
    Payload executable;
    executable.bytes = part + header.config_bytes;
    executable.length = header.executable_bytes;
    deploy_native(key, config, executable, response, name);
    restored = response.status == 201;
    part += header.config_bytes + header.executable_bytes;
  }
  for (u64 i = 0; restored && i < header.layer_count; ++i) {
    Payload layer;
    layer.bytes = part;
    layer.length = header.layer_bytes[i];
    bool first = header.config_bytes == 0 && i == 0;
    // The first layer of a function from a store image resolves `image` as it did; every later
    // one updates the function in place, keeping its executable.
    faas_deploy(key, layer, response, !first, name, !first);
    restored = response.status == 202;
    part += header.layer_bytes[i];
  }
  records_->close(handle);
  if (!restored) {
    char why[160];
    Buffer text(why, sizeof why - 1);
    text.append_unsigned(response.status);
    text.append(" ");
    text.append(response.body, response.body_length > 120 ? 120 : response.body_length);
    usize end = text.overflowed() ? sizeof why - 1 : text.size();
    while (end > 0 && (why[end - 1] == '\n' || why[end - 1] == '\r')) --end;
    why[end] = '\0';
    describe_problem(line, "cannot restore", tenant, name, why);
    report(line);
    // Undo a partial restore (a native part deployed, a later layer refused): a function is back
    // as it was, or not at all. Its record stays for the operator to see.
    (void)backend_.call(tenant, manager::REMOVE, name_request(name));
    shared_.metrics.forget(tenant, name);  // Its room in the tables goes back with it.
    shared_.catalog.forget(tenant, name);
    return false;
  }
  if (!shared_.records.set(tenant, name, sequence)) {
    describe_problem(line, "restored, but not indexed (the index is full)", tenant, name, "a delete will not remove it");
    report(line);
  }
  return true;
}

usize Gateway::restore_functions(void (*report)(const char* line)) {
  if (records_ == nullptr) return 0;
  restore_secrets(report);  // First: a deployment's secrets are checked against them.
  char line[256];
  usize found = 0;
  // Every record of the store, the newest of each function kept; the older ones go.
  bool listed = walk_records(
      *records_, FUNCTION_KIND,
      [&](u32 tenant, const char* name, u64 sequence) {
        shared_.records.observe(sequence);
        usize at = 0;
        while (at < found && !(found_records[at].tenant == tenant && same_text(found_records[at].name, name))) ++at;
        if (at < found) {
          if (sequence > found_records[at].sequence) found_records[at].sequence = sequence;
        } else if (found == MAX_FOUND) {
          describe_problem(line, "not restored", tenant, name, "more records than the gateway's index holds");
          report(line);
        } else {
          found_records[found] = FoundRecord{tenant, sequence, {}};
          __builtin_memcpy(found_records[found].name, name, RECORD_FUNCTION_NAME_BYTES);
          ++found;
        }
      },
      [&](u32 tenant, const char* name, u64 sequence) {
        for (usize at = 0; at < found; ++at)
          if (found_records[at].tenant == tenant && same_text(found_records[at].name, name))
            return found_records[at].sequence != sequence;
        return false;
      });
  if (!listed) {
    report("gateway: the image store did not list its records; no function was restored");
    return 0;
  }
  restoring_ = true;
  usize restored = 0;
  for (usize at = 0; at < found; ++at) {
    char record[store::NAME_BYTES];
    const FoundRecord& entry = found_records[at];
    if (!record_name(FUNCTION_KIND, entry.tenant, entry.name, entry.sequence, record)) continue;
    if (restore_one(record, entry.tenant, entry.name, entry.sequence, report)) ++restored;
  }
  restoring_ = false;
  return restored;
}

}  // namespace gateway
