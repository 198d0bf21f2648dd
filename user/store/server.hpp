// StoreServer: the image store's IPC interface (store/protocol.hpp) over a mounted Volume. It keeps
// the handles of every client (by badge), the write buffers clients lend it, and one Memory per
// open blob, loaded from disk once and shared by all of that blob's openers.
// Invariants: a handle belongs to exactly one badge and is found only with it; an open blob's
// Memory exists exactly while its opener count is positive, and when it drops to zero the Memory is
// revoked (every opener's capability with it) and destroyed; a committed entry with an open blob
// cannot be deleted.
#pragma once

#include "heap.hpp"
#include "import.hpp"
#include "layout/volume.hpp"
#include "store/protocol.hpp"
#include "sys/sys.hpp"
#include "virtio_blk.hpp"

namespace store {

struct ServerResources {
  sys::Factory factory;
  sys::Task self;
  sys::SlotAllocator& slots;
  u64 load_window;  // Virtual address with MAX_BLOB_BYTES of free space, to fill a blob's Memory.
  const VirtioBlock* device;  // For INFO's figures; null when there is no disk.
  u64 import_windows;  // Virtual address of MAX_IMPORTS windows of IMPORT_WINDOW_BYTES each, for import arenas.
  u64 (*nonce)();
};

constexpr u64 IMPORT_WINDOW_BYTES = u64{8} << 30;

class StoreServer {
 public:
  StoreServer(Volume& volume, Heap& heap, const ServerResources& resources)
      : volume_(volume), heap_(heap), resources_(resources), handles_(heap), blobs_(heap) {}

  [[nodiscard]] bool start();  // Allocates the staging buffer.
  // Serves the endpoint until receiving fails; `disk_ready` false answers NO_DISK to everything.
  void serve(sys::Endpoint endpoint, bool disk_ready);

 private:
  enum class Kind : u8 { Write, Read, Import };
  struct Handle {
    u64 id;
    u64 badge;
    Kind kind;
    Writer* writer;       // Write handles.
    u64 buffer;           // Write handles: the selector of the client's buffer (Memory, Read).
    u64 blob;             // Read handles: the index in blobs_ is unstable, so the blob's id.
    ImportSession* import;  // Import handles (its window is imports_'s index).
  };
  struct OpenBlob {
    u64 id;
    char name[NAME_BYTES];
    u64 memory;           // Selector of the Memory holding the bytes.
    u64 openers;
  };

  Status dispatch(const sys::Message& request, sys::Message& reply, u64& received_capability);
  Status create(const sys::Message& request, sys::Message& reply, u64& received_capability);
  Status write(const sys::Message& request, sys::Message& reply);
  Status commit(const sys::Message& request, sys::Message& reply);
  Status abort(const sys::Message& request);
  Status list(const sys::Message& request, sys::Message& reply);
  Status stat(const sys::Message& request, sys::Message& reply);
  Status remove(const sys::Message& request);
  Status open(const sys::Message& request, sys::Message& reply);
  Status close(const sys::Message& request);
  Status info(sys::Message& reply);
  // Images (import.hpp): IMPORT and the WRITE, COMMIT and ABORT of an import handle, IMAGE_LIST,
  // IMAGE_DELETE.
  Status import_begin(const sys::Message& request, sys::Message& reply, u64& received_capability);
  Status import_write(u64 index, const WriteRequest& request, sys::Message& reply);
  Status import_commit(u64 index, sys::Message& reply);
  Status image_list(const sys::Message& request, sys::Message& reply);
  Status image_delete(const sys::Message& request);
  static bool blob_is_open(void* server, const char* name);
  void import_failed(const ImportOutcome& outcome, sys::Message& reply);

  u64 find_handle(u64 badge, u64 id, Kind kind) const;  // handles_.size() when none.
  u64 handles_of(u64 badge) const;
  void drop_handle(u64 index);
  OpenBlob* find_blob(const char* name) const;
  OpenBlob* blob_by_id(u64 id) const;
  Status load(const Entry& entry, u64 memory_slot, u64 pages, bool lazy);

  Volume& volume_;
  Heap& heap_;
  ServerResources resources_;
  Vector<Handle> handles_;
  Vector<OpenBlob*> blobs_;
  u64 next_id_ = 1;
  u8* staging_ = nullptr;  // MAX_WRITE_BYTES: a WRITE's bytes on their way from the client to the disk.
  ImportSession* imports_[MAX_IMPORTS] = {};
  ImportOutcome outcome_{};  // The last import's outcome (large; one thread serves).
};

}  // namespace store
