// StoreServer: decoding and answering the store's requests (store/protocol.hpp); every request is
// checked completely (length, handle and its owner, names, sizes, the lent buffer) before the
// volume or a kernel object is touched.
#include "server.hpp"

#include "layout/checksum.hpp"

namespace store {
namespace {

using namespace sys;

constexpr u64 LOAD_CHUNK = 1 << 20;
constexpr u64 PLAIN_MEMORY_MAX_PAGES = 65536;  // FactoryCreate's limit for an ordinary Memory.
// Openers may read and map the bytes executable (an image tree's program text), never write them.
constexpr u32 READ_ONLY = abi::rights_of(abi::MemoryRight::Read, abi::MemoryRight::Execute);

u64 pages_for(u64 bytes) { return bytes == 0 ? 1 : (bytes + PAGE_SIZE - 1) / PAGE_SIZE; }

// The name a STAT, DELETE or OPEN request names; false when the request is short or the name invalid.
bool requested_name(const Message& request, char (&name)[NAME_BYTES]) {
  NameRequest body;
  get(request, body);
  return carries<NameRequest>(request) && unpack_name(body.name, name);
}

}  // namespace

bool StoreServer::start() {
  staging_ = static_cast<u8*>(heap_.allocate(MAX_WRITE_BYTES));
  return staging_ != nullptr;
}

void StoreServer::serve(Endpoint endpoint, bool disk_ready) {
  u64 receive_slot = resources_.slots.allocate().value();  // Cannot fail: the allocator is fresh.
  set_receive_slots(receive_slot);
  Message request;
  Message reply;
  if (!endpoint.receive(request).ok()) return;
  for (;;) {
    u64 capability = request.received_capabilities > 0 ? receive_slot : 0;
    reply = Message::make(0);
    Status status = disk_ready ? dispatch(request, reply, capability) : STATUS_NO_DISK;
    if (request.received_capabilities > 0) {
      if (capability != 0) {
        (void)Capability(capability).remove();  // Not wanted by this request: the slot is reused.
      } else {
        // The request kept it: the next capability lands in a fresh slot.
        auto next = resources_.slots.allocate();
        receive_slot = next.ok() ? next.value() : abi::NULL_SELECTOR;
        set_receive_slots(receive_slot);
      }
    }
    if (receive_slot == abi::NULL_SELECTOR) {
      // Slots ran out earlier (capabilities were refused meanwhile); one may be free again.
      auto next = resources_.slots.allocate();
      receive_slot = next.ok() ? next.value() : abi::NULL_SELECTOR;
      set_receive_slots(receive_slot);
    }
    if (status != STATUS_OK) reply = Message::make(status);
    if (endpoint.reply_wait(reply, request).ok()) continue;
    // The caller may have vanished before its answer; that must not stop the server.
    if (!endpoint.receive(request).ok()) return;
  }
}

Status StoreServer::dispatch(const Message& request, Message& reply, u64& capability) {
  switch (request.label()) {
    case CREATE: return create(request, reply, capability);
    case WRITE: return write(request, reply);
    case COMMIT: return commit(request, reply);
    case ABORT: return abort(request);
    case LIST: return list(request, reply);
    case STAT: return stat(request, reply);
    case DELETE: return remove(request);
    case OPEN: return open(request, reply);
    case CLOSE: return close(request);
    case INFO: return info(reply);
    case IMPORT: return import_begin(request, reply, capability);
    case IMAGE_LIST: return image_list(request, reply);
    case IMAGE_DELETE: return image_delete(request);
    default: return STATUS_BAD_REQUEST;
  }
}

u64 StoreServer::find_handle(u64 badge, u64 id, Kind kind) const {
  for (u64 index = 0; index < handles_.size(); ++index)
    if (handles_[index].id == id && handles_[index].badge == badge && handles_[index].kind == kind) return index;
  return handles_.size();
}

u64 StoreServer::handles_of(u64 badge) const {
  u64 count = 0;
  for (u64 index = 0; index < handles_.size(); ++index) if (handles_[index].badge == badge) ++count;
  return count;
}

void StoreServer::drop_handle(u64 index) {
  if (handles_[index].kind == Kind::Import) {
    for (auto& session : imports_)
      if (session == handles_[index].import) session = nullptr;
    end_import(heap_, handles_[index].import);
  }
  if (handles_[index].kind == Kind::Write || handles_[index].kind == Kind::Import) {
    (void)Capability(handles_[index].buffer).remove();
    resources_.slots.free(handles_[index].buffer);
  }
  handles_.erase(index);
}

StoreServer::OpenBlob* StoreServer::find_blob(const char* name) const {
  for (u64 index = 0; index < blobs_.size(); ++index)
    if (compare_text(blobs_[index]->name, name) == 0) return blobs_[index];
  return nullptr;
}

StoreServer::OpenBlob* StoreServer::blob_by_id(u64 id) const {
  for (u64 index = 0; index < blobs_.size(); ++index)
    if (blobs_[index]->id == id) return blobs_[index];
  return nullptr;
}

Status StoreServer::create(const Message& request, Message& reply, u64& capability) {
  char name[NAME_BYTES];
  char digest[DIGEST_BYTES];
  CreateRequest body;
  get(request, body);
  if (!carries<CreateRequest>(request) || !unpack_name(body.name, name) || !unpack_digest(body.digest, digest) ||
      body.flags != 0)
    return STATUS_BAD_REQUEST;
  u64 size_hint = body.size_hint;
  if (size_hint != UNKNOWN_SIZE && size_hint > MAX_BLOB_BYTES) return STATUS_TOO_LARGE;
  if (capability == 0) return STATUS_BAD_BUFFER;
  auto identity = Capability(capability).identify();
  if (!identity.ok() || identity->type != ObjectType::Memory ||
      (identity->rights & abi::rights_of(abi::MemoryRight::Read)) == 0)
    return STATUS_BAD_BUFFER;
  if (handles_of(request.badge) >= MAX_HANDLES_PER_CLIENT) return STATUS_TOO_MANY_HANDLES;
  if (!handles_.reserve(handles_.size() + 1)) return STATUS_OUT_OF_MEMORY;
  Writer* writer = nullptr;
  if (Status status = volume_.begin(name, digest, size_hint, writer); status != STATUS_OK) return status;
  u64 id = next_id_++;
  (void)handles_.push_back(Handle{id, request.badge, Kind::Write, writer, capability, 0, nullptr});  // Reserved above.
  capability = 0;  // Kept with the handle.
  put(reply, STATUS_OK, HandleReply{id});
  return STATUS_OK;
}

Status StoreServer::write(const Message& request, Message& reply) {
  WriteRequest body;
  get(request, body);
  if (!carries<WriteRequest>(request)) return STATUS_BAD_REQUEST;
  if (u64 import = find_handle(request.badge, body.handle, Kind::Import); import != handles_.size())
    return import_write(import, body, reply);
  u64 index = find_handle(request.badge, body.handle, Kind::Write);
  if (index == handles_.size()) return STATUS_BAD_HANDLE;
  u64 offset = body.offset;
  u64 length = body.length;
  if (length == 0 || length > MAX_WRITE_BYTES || offset > ~u64{0} - length) return STATUS_BAD_REQUEST;
  // The kernel checks the range against the buffer; an unreadable range is the client's error and
  // leaves the handle as it was.
  if (!Memory(handles_[index].buffer).read(offset, staging_, length).ok()) return STATUS_BAD_BUFFER;
  Writer* writer = handles_[index].writer;
  if (Status status = volume_.append(writer, staging_, length); status != STATUS_OK) {
    drop_handle(index);  // The volume ended the writer and took back its space.
    return status;
  }
  put(reply, STATUS_OK, WriteReply{writer->bytes});
  return STATUS_OK;
}

Status StoreServer::commit(const Message& request, Message& reply) {
  HandleRequest body;
  get(request, body);
  if (!carries<HandleRequest>(request)) return STATUS_BAD_REQUEST;
  if (u64 import = find_handle(request.badge, body.handle, Kind::Import); import != handles_.size())
    return import_commit(import, reply);
  u64 index = find_handle(request.badge, body.handle, Kind::Write);
  if (index == handles_.size()) return STATUS_BAD_HANDLE;
  const Entry* entry = nullptr;
  Status status = volume_.commit(handles_[index].writer, &entry);
  drop_handle(index);  // Committed or not, the writer has ended.
  if (status != STATUS_OK) return status;
  put(reply, STATUS_OK, CommitReply{entry->size, entry->checksum});
  return STATUS_OK;
}

Status StoreServer::abort(const Message& request) {
  HandleRequest body;
  get(request, body);
  if (!carries<HandleRequest>(request)) return STATUS_BAD_REQUEST;
  if (u64 import = find_handle(request.badge, body.handle, Kind::Import); import != handles_.size()) {
    drop_handle(import);  // The session's spool and arena go with it.
    return STATUS_OK;
  }
  u64 index = find_handle(request.badge, body.handle, Kind::Write);
  if (index == handles_.size()) return STATUS_BAD_HANDLE;
  volume_.abort(handles_[index].writer);
  drop_handle(index);
  return STATUS_OK;
}

Status StoreServer::list(const Message& request, Message& reply) {
  ListRequest body;
  get(request, body);
  if (!carries<ListRequest>(request)) return STATUS_BAD_REQUEST;
  ListReply answer;
  answer.total = volume_.entry_count();
  answer.count = 0;
  u64 used = 0;
  for (u64 index = body.first; index < answer.total; ++index) {
    const char* name = volume_.entry_at(index).name;
    u64 length = text_length(name) + 1;
    if (used + length > sizeof answer.names) break;
    copy_bytes(answer.names + used, name, length);
    used += length;
    ++answer.count;
  }
  put(reply, STATUS_OK, answer, offsetof(ListReply, names) + used);
  return STATUS_OK;
}

Status StoreServer::stat(const Message& request, Message& reply) {
  char name[NAME_BYTES];
  if (!requested_name(request, name)) return STATUS_BAD_REQUEST;
  const Entry* entry = volume_.find(name);
  if (entry == nullptr) return STATUS_NOT_FOUND;
  OpenBlob* blob = find_blob(name);
  StatReply answer{};
  answer.size = entry->size;
  answer.checksum = entry->checksum;
  answer.openers = blob == nullptr ? 0 : blob->openers;
  answer.sequence = entry->sequence;
  copy_bytes(answer.digest, entry->digest, DIGEST_BYTES);
  put(reply, STATUS_OK, answer);
  return STATUS_OK;
}

Status StoreServer::remove(const Message& request) {
  char name[NAME_BYTES];
  if (!requested_name(request, name)) return STATUS_BAD_REQUEST;
  if (volume_.find(name) == nullptr) return STATUS_NOT_FOUND;
  if (find_blob(name) != nullptr) return STATUS_OPEN_ELSEWHERE;
  return volume_.remove(name);
}

Status StoreServer::load(const Entry& entry, u64 memory_slot, u64 pages, bool lazy) {
  Memory memory(memory_slot);
  if (!resources_.self.map(memory, 0, resources_.load_window, pages, memory_rights(true, true, false)).ok())
    return STATUS_OUT_OF_MEMORY;
  Status status = STATUS_OK;
  // Every page gets its frame now: an exhausted quota is an answer, not a fault of this thread.
  if (lazy && !memory.commit(0, pages).ok()) status = STATUS_OUT_OF_MEMORY;
  u32 checksum = crc32c_start();
  auto* target = reinterpret_cast<u8*>(resources_.load_window);
  for (u64 offset = 0; status == STATUS_OK && offset < entry.size; offset += LOAD_CHUNK) {
    u64 length = entry.size - offset < LOAD_CHUNK ? entry.size - offset : LOAD_CHUNK;
    status = volume_.read(entry, offset, target + offset, length);
    if (status == STATUS_OK) checksum = crc32c_update(checksum, target + offset, length);
  }
  if (status == STATUS_OK && entry.size % BLOCK_BYTES != 0)  // The disk's padding is not the client's business.
    fill_bytes(target + entry.size, 0, pages * PAGE_SIZE - entry.size);
  (void)resources_.self.unmap(resources_.load_window, pages);
  if (status == STATUS_OK && crc32c_finish(checksum) != entry.checksum) status = STATUS_CORRUPT;
  return status;
}

Status StoreServer::open(const Message& request, Message& reply) {
  char name[NAME_BYTES];
  if (!requested_name(request, name)) return STATUS_BAD_REQUEST;
  const Entry* entry = volume_.find(name);
  if (entry == nullptr) return STATUS_NOT_FOUND;
  if (handles_of(request.badge) >= MAX_HANDLES_PER_CLIENT) return STATUS_TOO_MANY_HANDLES;
  if (!handles_.reserve(handles_.size() + 1) || !blobs_.reserve(blobs_.size() + 1)) return STATUS_OUT_OF_MEMORY;
  OpenBlob* blob = find_blob(name);
  if (blob == nullptr) {
    auto* created = static_cast<OpenBlob*>(heap_.allocate(sizeof(OpenBlob)));
    auto slot = resources_.slots.allocate();
    if (created == nullptr || !slot.ok()) {
      if (created != nullptr) heap_.release(created, sizeof(OpenBlob));
      if (slot.ok()) resources_.slots.free(slot.value());
      return STATUS_OUT_OF_MEMORY;
    }
    u64 pages = pages_for(entry->size);
    // An ordinary Memory (up to 65,536 pages): openers may MemoryCopy from it (the Linux
    // personality copies an image file's pages up when a program writes them), which the kernel
    // refuses for lazy objects. Larger blobs come in a lazily committed one, committed whole.
    bool lazy = pages > PLAIN_MEMORY_MAX_PAGES;
    auto memory = lazy ? resources_.factory.create_lazy_memory(slot.value(), pages)
                       : resources_.factory.create_memory(slot.value(), pages);
    Status status = memory.ok() ? STATUS_OK : STATUS_OUT_OF_MEMORY;
    if (status == STATUS_OK) {
      status = load(*entry, slot.value(), pages, lazy);
      if (status != STATUS_OK) (void)Capability(slot.value()).remove();
    }
    if (status != STATUS_OK) {
      resources_.slots.free(slot.value());
      heap_.release(created, sizeof(OpenBlob));
      return status;
    }
    created->id = next_id_++;
    copy_bytes(created->name, entry->name, NAME_BYTES);
    created->memory = slot.value();
    created->openers = 0;
    (void)blobs_.push_back(created);  // Reserved above.
    blob = created;
  }
  ++blob->openers;
  u64 id = next_id_++;
  (void)handles_.push_back(Handle{id, request.badge, Kind::Read, nullptr, 0, blob->id, nullptr});  // Reserved above.
  put(reply, STATUS_OK, OpenReply{id, entry->size});
  reply.attach(Memory(blob->memory), READ_ONLY);
  return STATUS_OK;
}

Status StoreServer::close(const Message& request) {
  HandleRequest body;
  get(request, body);
  if (!carries<HandleRequest>(request)) return STATUS_BAD_REQUEST;
  u64 index = find_handle(request.badge, body.handle, Kind::Read);
  if (index == handles_.size()) return STATUS_BAD_HANDLE;
  OpenBlob* blob = blob_by_id(handles_[index].blob);
  drop_handle(index);
  if (blob == nullptr || --blob->openers > 0) return STATUS_OK;
  // The last opener: every capability derived from the store's goes (mappings with them), then the
  // Memory itself, and its pages return to the store's factory.
  Capability memory(blob->memory);
  (void)memory.revoke();
  (void)memory.remove();
  resources_.slots.free(blob->memory);
  for (u64 position = 0; position < blobs_.size(); ++position)
    if (blobs_[position] == blob) {
      blobs_.erase(position);
      break;
    }
  heap_.release(blob, sizeof(OpenBlob));
  return STATUS_OK;
}

Status StoreServer::info(Message& reply) {
  VolumeFigures figures = volume_.figures();
  StoreInfo answer{};
  answer.disk_bytes = figures.disk_bytes;
  answer.data_bytes = figures.data_bytes;
  answer.free_bytes = figures.free_bytes;
  answer.entries = figures.entries;
  answer.catalog_bytes = figures.catalog_bytes;
  answer.catalog_used_bytes = figures.catalog_used_bytes;
  answer.open_blobs = blobs_.size();
  answer.writes = figures.writers;
  answer.block_bytes = BLOCK_BYTES;
  answer.generation = volume_.superblock().generation;
  if (resources_.device != nullptr) {
    answer.device_requests = resources_.device->requests();
    answer.device_most_in_flight = resources_.device->most_in_flight();
  }
  put(reply, STATUS_OK, answer);
  return STATUS_OK;
}

}  // namespace store
