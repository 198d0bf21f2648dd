// store: the image store server. One task holds the virtio-blk disk (device memory, DMA memory, its
// interrupt), the Volume on it (layout/volume.hpp) and the IPC interface of store/protocol.hpp on
// the endpoint it was started with. A blank disk is formatted; a damaged one is never formatted
// over (the server then answers NO_DISK). docs/STORE.md describes all of it.
// Invariant: the disk is touched only from this task's one thread.
#include <new>

#include "heap.hpp"
#include "layout/volume.hpp"
#include "print.hpp"
#include "server.hpp"
#include "sys/sys.hpp"
#include "virtio_blk.hpp"

extern "C" [[noreturn]] void metteagle_exit_thread();

namespace {

using namespace sys;

// The store's address space: device registers and DMA buffers low, the heap at 4 GiB (1 GiB of
// lazily committed memory), and a window of MAX_BLOB_BYTES at 64 GiB to fill an opened blob.
constexpr u64 REGISTERS_ADDRESS = 0x50000000;
constexpr u64 QUEUE_ADDRESS = 0x51000000;
constexpr u64 DATA_ADDRESS = 0x52000000;
constexpr u64 HEAP_ADDRESS = u64{4} << 30;
constexpr u64 HEAP_BYTES = u64{1} << 30;
constexpr u64 LOAD_WINDOW = u64{64} << 30;
// Import arenas (import.hpp): MAX_IMPORTS windows of IMPORT_WINDOW_BYTES from 128 GiB.
constexpr u64 IMPORT_WINDOWS = u64{128} << 30;
constexpr u64 PLATFORM = abi::ROOT_PLATFORM;
constexpr u64 SLOT_LIMIT = 1024;  // Matches `slots=1024` in the boot configuration.

Console console(CONSOLE);
SlotAllocator slots(FIRST_FREE, SLOT_LIMIT);
store::Heap heap;
store::VirtioBlock device;
alignas(store::Volume) unsigned char volume_storage[sizeof(store::Volume)];
alignas(store::StoreServer) unsigned char server_storage[sizeof(store::StoreServer)];

u64 nonce() {
  // Epochs and volume ids need only differ from every earlier one on this disk: the TSC at the
  // moment, spread by a multiplicative hash, with a counter so two calls in one tick differ.
  static u64 calls = 0;
  return (__builtin_ia32_rdtsc() + (++calls << 40)) * 0x9e3779b97f4a7c15ull;
}

[[noreturn]] void fail(const char* step, u64 error) {
  printf(console, "store: %s failed: error %lu\n", step, error);
  metteagle_exit_thread();
}

}  // namespace

extern "C" void metteagle_main(u64 endpoint_count) {
  if (endpoint_count < 1) fail("finding the endpoint (start with endpoint=store:receive)", 0);
  Factory factory(OWN_FACTORY);
  Task self(SELF_TASK);
  if (auto started = heap.start(factory, self, slots, HEAP_ADDRESS, HEAP_BYTES); !started.ok())
    fail("creating the heap", static_cast<u64>(started.error()));
  auto* volume = new (volume_storage) store::Volume(device, heap, nonce);
  auto* server = new (server_storage)
      store::StoreServer(*volume, heap, store::ServerResources{factory, self, slots, LOAD_WINDOW, &device, IMPORT_WINDOWS, nonce});
  if (!server->start()) fail("allocating the staging buffer", store::STATUS_OUT_OF_MEMORY);

  bool ready = false;
  auto started = device.start(store::VirtioBlockResources{Platform(PLATFORM), factory, self, slots, REGISTERS_ADDRESS,
                                                          QUEUE_ADDRESS, DATA_ADDRESS});
  if (!started.ok()) {
    printf(console, "store: no usable virtio-blk disk (error %s); answering NO_DISK\n", error_name(started.error()));
  } else {
    printf(console, "store: virtio-blk at transport %lu of %lu, %lu bytes%s%s, %s\n", device.location().slot,
           device.location().transport_count, device.size(), device.read_only() ? ", read-only" : "",
           device.flush_supported() ? ", flush" : ", write-through",
           device.interrupts() ? "interrupts" : "polled (line not routable)");
    store::Status mounted = volume->mount();
    if (mounted == store::STATUS_NOT_FOUND) {
      printf(console, "store: blank disk, formatting\n");
      store::Status formatted = store::Volume::format(device, nonce);
      mounted = formatted == store::STATUS_OK ? volume->mount() : formatted;
    }
    if (mounted != store::STATUS_OK) {
      printf(console, "store: the disk cannot be used: %s; answering NO_DISK\n", store::status_name(mounted));
    } else {
      store::VolumeFigures figures = volume->figures();
      printf(console, "store: %lu entries, %lu of %lu data bytes free, catalog %lu of %lu bytes, generation %lu\n",
             figures.entries, figures.free_bytes, figures.data_bytes, figures.catalog_used_bytes, figures.catalog_bytes,
             volume->superblock().generation);
      ready = true;
      // What an import or image delete interrupted by a stop left behind (spool blobs, trees no
      // record names) goes now.
      if (u64 removed = store::clean_images(*volume, heap); removed > 0)
        printf(console, "store: removed %lu blobs an interrupted import or delete left\n", removed);
    }
  }
  printf(console, "store: serving on endpoint %lu\n", FIRST_ENDPOINT);
  server->serve(Endpoint(FIRST_ENDPOINT), ready);
  fail("receiving on the endpoint", 0);
}
