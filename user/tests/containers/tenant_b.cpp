// container_tenant_b: a second tenant (another badge on the manager endpoint). When the test client
// says on `sync` that it deployed a function, this tenant tries to use that function by name and
// reports what the manager answered; all of it must be NOT_FOUND or invisible. On request it also
// deploys, invokes (timed) and removes its own `echo`, so the test client can check that this
// tenant keeps being served while the first one exhausts its own share or attacks the manager.
// Invariant: it prints only comment lines ("# ..."), so the test client's transcript stays exact.
#include "client.hpp"
#include "print.hpp"

using namespace containers;

#include "sys/string.hpp"

namespace {

struct FunctionImage {
  const char* name;
  const u8* bytes;
  u64 size;
};
extern "C" const FunctionImage function_images[];
extern "C" const u64 function_image_count;

const FunctionImage* echo_image() {
  for (u64 index = 0; index < function_image_count; ++index)
    if (strlen(function_images[index].name) == 4 && memcmp(function_images[index].name, "echo", 4) == 0)
      return &function_images[index];
  return nullptr;
}

u64 read_tsc() {
  u32 low, high;
  asm volatile("rdtsc" : "=a"(low), "=d"(high));
  return (u64{high} << 32) | low;
}

}  // namespace

extern "C" void metteagle_main(u64 endpoint_count) {
  Console console(CONSOLE);
  static SlotAllocator slots(FIRST_FREE, 256);
  if (endpoint_count < 2) {
    printf(console, "# tenant_b: needs endpoints manager and sync, got %lu\n", endpoint_count);
    exit_thread();
  }
  Factory factory(OWN_FACTORY);
  u64 reply_slot = slots.allocate().value();  // The space is empty at start: the slot exists.
  if (!factory.create(ObjectType::Reply, reply_slot).ok()) {
    printf(console, "# tenant_b: cannot create a Reply object\n");
    exit_thread();
  }
  u64 tsc_hertz = thread_self().tsc_hertz;
  ManagerClient client(Endpoint(MANAGER_ENDPOINT), factory, Task(SELF_TASK), slots);
  Endpoint sync(SYNC_ENDPOINT);
  Message request;
  while (sync.receive(request).ok()) {
    // The answer waits in the Reply object while this tenant calls the manager itself.
    if (!save_reply(reply_slot).ok()) continue;
    char name[manager::NAME_BYTES];
    u64 statuses[4] = {manager::STATUS_BAD_REQUEST, manager::STATUS_BAD_REQUEST, manager::STATUS_BAD_REQUEST, 0};
    manager::NameRequest named;
    get(request, named);
    if (request.label() == SYNC_SECRET_DEPLOYED && manager::unpack_name(named.name, name)) {
      const char input[] = "let me in";
      statuses[0] = client.invoke(name, input, sizeof input - 1).status;
      statuses[1] = client.describe(name).status;
      statuses[2] = client.remove(name).status;
      u64 total = 0;
      Status list_status = manager::STATUS_OK;
      bool listed = client.listed(name, total, list_status);
      statuses[3] = (total & 0xffffffff) | (u64{listed} << 32) | (u64{list_status} << 40);
      printf(console, "# tenant_b: %s -> invoke %s, describe %s, remove %s, listed %d of %lu\n", name,
             status_name(statuses[0]), status_name(statuses[1]), status_name(statuses[2]), listed ? 1 : 0, total);
    } else if (request.label() == SYNC_DEPLOY_ECHO) {
      const FunctionImage* image = echo_image();
      Reply deployed = image == nullptr ? Reply() : client.deploy("echo", image->bytes, image->size, manager::DEFAULT_CONFIG);
      statuses[0] = deployed.status;
      printf(console, "# tenant_b: deploy echo: %s\n", status_name(deployed.status));
    } else if (request.label() == SYNC_REMOVE_ECHO) {
      statuses[0] = client.remove("echo").status;
    } else if (request.label() == SYNC_TIMED_ECHO) {
      u64 started = read_tsc();
      Reply echoed = client.invoke("echo", SYNC_ECHO_INPUT);
      u64 ticks = read_tsc() - started;
      u64 length = strlen(SYNC_ECHO_INPUT);
      statuses[0] = echoed.status;
      statuses[1] = echoed.result().output_size == length && memcmp(echoed.inline_output(), SYNC_ECHO_INPUT, length) == 0;
      statuses[2] = tsc_hertz == 0 ? 0 : ticks / tsc_hertz * 1'000'000'000 + ticks % tsc_hertz * 1'000'000'000 / tsc_hertz;
      printf(console, "# tenant_b: echo %s in %lu us\n", status_name(echoed.status), statuses[2] / 1000);
    }
    (void)reply_with(reply_slot, message_of(0, SyncAnswer{statuses[0], statuses[1], statuses[2], statuses[3]}));
  }
  exit_thread();
}
