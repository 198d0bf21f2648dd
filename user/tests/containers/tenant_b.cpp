// container_tenant_b: a second tenant (another badge on the manager endpoint). When the test client
// says on `sync` that it deployed a function, this tenant tries to use that function by name and
// reports what the manager answered; all of it must be NOT_FOUND or invisible.
// Invariant: it prints only comment lines ("# ..."), so the test client's transcript stays exact.
#include "client.hpp"
#include "print.hpp"

using namespace containers;

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
  ManagerClient client(Endpoint(MANAGER_ENDPOINT), factory, Task(SELF_TASK), slots);
  Endpoint sync(SYNC_ENDPOINT);
  Message request;
  while (sync.receive(request).ok()) {
    // The answer waits in the Reply object while this tenant calls the manager itself.
    if (invoke(abi::Syscall::IpcSaveReply, reply_slot) != Error::None) continue;
    char name[manager::NAME_BYTES];
    u64 statuses[4] = {manager::STATUS_BAD_REQUEST, manager::STATUS_BAD_REQUEST, manager::STATUS_BAD_REQUEST, 0};
    if (request.label() == SYNC_SECRET_DEPLOYED && manager::unpack_name(request.words, name)) {
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
    }
    SyscallRegisters registers{abi::MessageTag::make(0, 4).raw, statuses[0], statuses[1], statuses[2], statuses[3], 0};
    (void)invoke(abi::Syscall::IpcReplyWith, reply_slot, registers);
  }
  exit_thread();
}
