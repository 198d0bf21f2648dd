// StoreServer's image requests: IMPORT and the WRITE/COMMIT of an import handle, IMAGE_LIST and
// IMAGE_DELETE (store/protocol.hpp, docs/IMAGES.md "Images in the store"). Requests are checked
// whole before a session, a blob or a kernel object is touched.
#include "server.hpp"

namespace store {
namespace {

using namespace sys;

bool starts_with(const char* text, const char* prefix, u64& length) {
  length = 0;
  for (; prefix[length] != '\0'; ++length)
    if (text[length] != prefix[length]) return false;
  return true;
}

// "image+<tenant>+": the prefix of a tenant's records.
void tenant_prefix(u64 tenant, char (&prefix)[NAME_BYTES]) {
  image_record_name(tenant, "", prefix);
}

}  // namespace

bool StoreServer::blob_is_open(void* server, const char* name) {
  return static_cast<StoreServer*>(server)->find_blob(name) != nullptr;
}

void StoreServer::import_failed(const ImportOutcome& outcome, Message& reply) {
  // Words from 1: the error's snake_case name, then the sentence, each NUL-terminated.
  const char* name = "store_failed";
  switch (outcome.code) {
    case IMPORT_NO_NAME: name = "no_name"; break;
    case IMPORT_BAD_NAME: name = "bad_name"; break;
    case IMPORT_NO_SPACE: name = "no_space"; break;
    case IMPORT_IN_USE: name = "in_use"; break;
    default:
      if (outcome.status == STATUS_IMPORT_FAILED)
        name = imagefs::import_error_name(static_cast<imagefs::ImportError>(outcome.code));
      break;
  }
  Status status = outcome.status == STATUS_OK ? STATUS_IO_ERROR : outcome.status;
  reply = Message::make(status == STATUS_IMPORT_FAILED ? STATUS_IMPORT_FAILED : status);
  if (status != STATUS_IMPORT_FAILED) return;  // A store failure: its status says it.
  ImportFailure failure;
  failure.code = outcome.code;
  fill_bytes(failure.text, 0, IMPORT_MESSAGE_BYTES);
  u64 name_length = text_length(name);
  copy_bytes(failure.text, name, name_length);
  u64 length = text_length(outcome.message);
  if (name_length + 1 + length >= IMPORT_MESSAGE_BYTES) length = IMPORT_MESSAGE_BYTES - name_length - 2;
  copy_bytes(failure.text + name_length + 1, outcome.message, length);
  put(reply, STATUS_IMPORT_FAILED, failure, offsetof(ImportFailure, text) + name_length + 1 + length + 1);
}

Status StoreServer::import_begin(const Message& request, Message& reply, u64& capability) {
  ImportRequest body;
  get(request, body);
  if (!carries<ImportRequest>(request) || body.tenant > MAX_TENANT || body.flags != 0) return STATUS_BAD_REQUEST;
  // The reference: all zero (the archive's own name) or a valid one, stored normalised.
  char requested[NAME_BYTES] = {};
  const char* raw = body.reference;
  u64 length = 0;
  while (length < NAME_BYTES && raw[length] != '\0') ++length;
  for (u64 i = length; i < NAME_BYTES; ++i)
    if (raw[i] != '\0') return STATUS_BAD_REQUEST;
  if (length > 0 && !normalise_image_name(raw, length, requested)) return STATUS_BAD_REQUEST;
  if (capability == 0) return STATUS_BAD_BUFFER;
  auto identity = Capability(capability).identify();
  if (!identity.ok() || identity->type != ObjectType::Memory ||
      (identity->rights & abi::rights_of(abi::MemoryRight::Read)) == 0)
    return STATUS_BAD_BUFFER;
  if (handles_of(request.badge) >= MAX_HANDLES_PER_CLIENT) return STATUS_TOO_MANY_HANDLES;
  u64 window = MAX_IMPORTS;
  for (u64 i = 0; i < MAX_IMPORTS; ++i)
    if (imports_[i] == nullptr) {
      window = i;
      break;
    }
  if (window == MAX_IMPORTS) return STATUS_BUSY;
  if (!handles_.reserve(handles_.size() + 1)) return STATUS_OUT_OF_MEMORY;
  ImportSession* session =
      begin_import(volume_, heap_, ImportResources{resources_.factory, resources_.self, resources_.slots, resources_.nonce},
                   resources_.import_windows + window * IMPORT_WINDOW_BYTES, body.tenant, requested);
  if (session == nullptr) return STATUS_OUT_OF_MEMORY;
  imports_[window] = session;
  u64 id = next_id_++;
  (void)handles_.push_back(Handle{id, request.badge, Kind::Import, nullptr, capability, 0, session});  // Reserved above.
  capability = 0;  // Kept with the handle.
  put(reply, STATUS_OK, HandleReply{id});
  return STATUS_OK;
}

Status StoreServer::import_write(u64 index, const WriteRequest& request, Message& reply) {
  u64 offset = request.offset;
  u64 length = request.length;
  if (length == 0 || length > MAX_WRITE_BYTES || offset > ~u64{0} - length) return STATUS_BAD_REQUEST;
  if (!Memory(handles_[index].buffer).read(offset, staging_, length).ok()) return STATUS_BAD_BUFFER;
  ImportSession* session = handles_[index].import;
  if (feed_import(*session, staging_, length, outcome_) != STATUS_OK) {
    drop_handle(index);  // The first error ends the import; nothing of it is left.
    import_failed(outcome_, reply);
    return STATUS_OK;  // The reply is built (its label is the failure).
  }
  put(reply, STATUS_OK, WriteReply{session->bytes});
  return STATUS_OK;
}

Status StoreServer::import_commit(u64 index, Message& reply) {
  ImportSession* session = handles_[index].import;
  Status status = finish_import(volume_, *session, resources_.nonce, blob_is_open, this, outcome_);
  drop_handle(index);  // Imported or not, the session has ended.
  if (status != STATUS_OK) {
    import_failed(outcome_, reply);
    return STATUS_OK;
  }
  put(reply, STATUS_OK, outcome_.reply);
  return STATUS_OK;
}

Status StoreServer::image_list(const Message& request, Message& reply) {
  ImageListRequest body;
  get(request, body);
  if (!carries<ImageListRequest>(request) || body.tenant > MAX_TENANT) return STATUS_BAD_REQUEST;
  char prefix[NAME_BYTES];
  tenant_prefix(body.tenant, prefix);
  u64 wanted = body.index;
  ImageListReply answer{};
  for (u64 position = 0; position < volume_.entry_count(); ++position) {
    const Entry& entry = volume_.entry_at(position);
    u64 prefix_length = 0;
    if (!starts_with(entry.name, prefix, prefix_length)) continue;
    if (answer.total++ != wanted) continue;
    ImageRecord header{};
    if (!read_image_header(volume_, entry, header)) continue;  // Counted, shown without figures.
    answer.present = 1;
    answer.tree_bytes = header.tree_bytes;
    answer.sequence = entry.sequence;
    copy_bytes(answer.digest, header.digest, sizeof answer.digest);
    copy_bytes(answer.created, header.created, sizeof answer.created);
    copy_bytes(answer.name, entry.name + prefix_length, NAME_BYTES - prefix_length);
  }
  put(reply, STATUS_OK, answer);
  return STATUS_OK;
}

Status StoreServer::image_delete(const Message& request) {
  ImageRequest body;
  get(request, body);
  if (!carries<ImageRequest>(request) || body.tenant > MAX_TENANT) return STATUS_BAD_REQUEST;
  const char* raw = body.reference;
  u64 length = 0;
  while (length < NAME_BYTES && raw[length] != '\0') ++length;
  char reference[NAME_BYTES];
  if (!normalise_image_name(raw, length, reference)) return STATUS_BAD_REQUEST;
  char record_name[NAME_BYTES];
  image_record_name(body.tenant, reference, record_name);
  const Entry* record = volume_.find(record_name);
  if (record == nullptr) return STATUS_NOT_FOUND;
  ImageRecord header{};
  bool valid = read_image_header(volume_, *record, header);
  if (find_blob(record_name) != nullptr || (valid && find_blob(header.tree) != nullptr)) return STATUS_OPEN_ELSEWHERE;
  // The record first: a stop between the two leaves an unnamed tree, which the next mount deletes.
  if (Status status = volume_.remove(record_name); status != STATUS_OK) return status;
  if (valid) (void)volume_.remove(header.tree);
  return STATUS_OK;
}

}  // namespace store
