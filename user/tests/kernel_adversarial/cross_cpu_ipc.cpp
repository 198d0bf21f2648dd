// Cases for IPC between CPUs: a server pinned to CPU 1 answers a client on CPU 0 through many
// round trips of full 64-word messages, and capabilities cross with Grant only; CPU sets confine
// threads, and ThreadConfigure moves a thread to the CPU it names.
#include "../support/local_thread.hpp"

namespace kernel_adversarial {
namespace {

using namespace support;

constexpr u64 ROUND_TRIPS = 500;
constexpr u32 STOP = 0xff;

struct ServerSetup {
  u64 endpoint;
  u64 receive_slot;
};
ServerSetup server_setup;

// Answers each request with: the words summed (checksum), the server's CPU, how many
// capabilities arrived, and every word + 1 in words 3..63.
void checksum_server(u64) {
  Endpoint endpoint(server_setup.endpoint);
  set_receive_slots(server_setup.receive_slot);
  Message request;
  Message answer;
  if (!endpoint.receive(request, REPORT_TIMEOUT).ok()) return;
  while (request.label() != STOP) {
    u64 sum = 0;
    for (u64 index = 0; index < request.word_count(); ++index) sum += request.words[index] * (index + 1);
    answer = Message::make(2);
    for (u64 index = 3; index < abi::MESSAGE_WORDS; ++index) answer.words[index] = request.words[index] + 1;
    answer.words[0] = sum;
    answer.words[1] = thread_self().cpu;
    answer.words[2] = request.received_capabilities;
    answer.set_words(2, abi::MESSAGE_WORDS);
    (void)Capability(server_setup.receive_slot).remove();
    if (!endpoint.reply_wait(answer, request, REPORT_TIMEOUT).ok()) return;
  }
  (void)reply(Message::make(STOP));
  // Stay blocked (not running) until the case deletes this thread.
  (void)endpoint.receive(request);
}

void calls_between_cpus_keep_every_word(Case& test) {
  Environment& own = environment();
  REQUIRE(own.boot_info->cpu_count >= 2);
  ScopedSlot endpoint_slot(test), receive_slot(test), parking_slot(test);
  REQUIRE(endpoint_slot.valid() && receive_slot.valid() && parking_slot.valid());
  Endpoint endpoint = REQUIRE_OK(own.factory.create_endpoint(endpoint_slot.selector()));
  server_setup = {endpoint.selector(), receive_slot.selector()};
  // The client is this thread, pinned to CPU 0; the server goes to CPU 1.
  REQUIRE_OK(own.self_thread.configure(own.own_priority, 0, 0));
  EXPECT_EQ(thread_self().cpu, 0);
  LocalThread server;
  REQUIRE_OK(server.create(1));
  REQUIRE_OK(server.start(checksum_server, 0));
  u64 seed = 0x9e3779b97f4a7c15;
  Message request;
  Message answer;
  for (u64 round = 0; round < ROUND_TRIPS; ++round) {
    request = Message::make(1);
    u64 expected_sum = 0;
    for (u64 index = 0; index < abi::MESSAGE_WORDS; ++index) {
      seed ^= seed << 13;
      seed ^= seed >> 7;
      seed ^= seed << 17;
      request.words[index] = seed;
      expected_sum += seed * (index + 1);
    }
    request.set_words(1, abi::MESSAGE_WORDS);
    REQUIRE_OK(endpoint.call(request, answer, REPORT_TIMEOUT));
    EXPECT_EQ(answer.word_count(), abi::MESSAGE_WORDS);
    EXPECT_EQ(answer.words[0], expected_sum);
    EXPECT_EQ(answer.words[1], 1);
    EXPECT_EQ(answer.words[2], 0);
    bool echoed = true;
    for (u64 index = 3; index < abi::MESSAGE_WORDS; ++index) echoed = echoed && answer.words[index] == request.words[index] + 1;
    EXPECT(echoed);
    if (test.failed()) {
      test.fail(__FILE__, __LINE__, "in round %lu", round);
      break;
    }
  }
  // Capabilities across CPUs: with Grant one arrives, without Grant none.
  ScopedSlot no_grant(test);
  REQUIRE(no_grant.valid());
  REQUIRE_OK(endpoint.copy_to(no_grant.selector(), ENDPOINT_SEND));
  request = Message::make(1, {1});
  request.attach(Capability(CONSOLE), 0);
  REQUIRE_OK(endpoint.call(request, answer, REPORT_TIMEOUT));
  EXPECT_EQ(answer.words[2], 1);
  REQUIRE_OK(Endpoint(no_grant.selector()).call(request, answer, REPORT_TIMEOUT));
  EXPECT_EQ(answer.words[2], 0);
  EXPECT_OK(endpoint.call(Message::make(STOP), answer, REPORT_TIMEOUT));
  EXPECT_EQ(answer.label(), STOP);
  pause_for(1'000'000);  // Let the server block in its last receive before it is deleted.
}

// A thread of the own task on CPU 1 runs in user mode and makes system calls that read its
// memory (MemoryWrite from its stack) while this thread, on CPU 0, maps and unmaps pages of the
// same task: each unmap shoots down CPU 1's TLB. The shootdown must only flush it; the thread on
// CPU 1 keeps its address space (a switch to the kernel's tables made it fault in user mode or
// fail its system call with Fault, and a manager thread died that way once in CI).
struct Bystander {
  u64 memory;                 // Selector of a Memory object it writes into.
  volatile u64 rounds;        // Loop iterations done.
  volatile u64 stop;          // Set by the case.
  volatile u64 failed_error;  // The first error a MemoryWrite returned (0: none).
  volatile u64 done;
  u64 parking;                // An endpoint it waits on at the end, so it is not running when deleted.
};
Bystander bystander;

void bystander_entry(u64) {
  Memory memory(bystander.memory);
  while (bystander.stop == 0) {
    u64 value = bystander.rounds + 1;
    auto written = memory.write(0, &value, sizeof value);
    if (!written.ok() && bystander.failed_error == 0) bystander.failed_error = static_cast<u64>(written.error());
    bystander.rounds = value;
  }
  bystander.done = 1;
  Message message;
  (void)Endpoint(bystander.parking).receive(message);
}

void unmapping_leaves_the_tasks_threads_on_other_cpus_running(Case& test) {
  Environment& own = environment();
  REQUIRE(own.boot_info->cpu_count >= 2);
  constexpr u64 UNMAPS = 300;
  ScopedSlot target_slot(test), churn_slot(test), exceptions_slot(test);
  REQUIRE(target_slot.valid() && churn_slot.valid() && exceptions_slot.valid());
  Memory target = REQUIRE_OK(own.factory.create_memory(target_slot.selector(), 1));
  Memory churn = REQUIRE_OK(own.factory.create_memory(churn_slot.selector(), 1));
  Endpoint exceptions = REQUIRE_OK(own.factory.create_endpoint(exceptions_slot.selector()));
  REQUIRE_OK(own.self_thread.configure(own.own_priority, 0, 0));
  bystander = {target.selector(), 0, 0, 0, 0, exceptions.selector()};
  LocalThread thread;
  REQUIRE_OK(thread.create(1, exceptions.selector()));
  REQUIRE_OK(thread.start(bystander_entry, 0));
  while (bystander.rounds == 0) pause_for(100'000);
  for (u64 round = 0; round < UNMAPS; ++round) {
    REQUIRE_OK(own.self_task.map(churn, 0, SCRATCH_MAPPING_ADDRESS, 1, READ_WRITE));
    write_word(SCRATCH_MAPPING_ADDRESS, round);
    REQUIRE_OK(own.self_task.unmap(SCRATCH_MAPPING_ADDRESS, 1));
  }
  u64 rounds_after_unmaps = bystander.rounds;
  bystander.stop = 1;
  u64 waited = 0;
  while (bystander.done == 0 && waited < REPORT_TIMEOUT) {
    pause_for(1'000'000);
    waited += 1'000'000;
  }
  EXPECT_EQ(bystander.done, 1);
  EXPECT_EQ(bystander.failed_error, 0);
  EXPECT(rounds_after_unmaps > 0);
  Message report;
  EXPECT_ERROR(exceptions.receive(report, 0), Error::Timeout);  // It never faulted.
  u64 stored = 0;
  EXPECT_OK(target.read(0, &stored, sizeof stored));
  EXPECT(stored >= rounds_after_unmaps);
}

// A thread confined to CPU 0 (ThreadConfigure's CPU set) cannot leave it: not by moving itself
// to CPU 1, not by widening its own set, and not through a thread it creates (which inherits the
// set). This is what holds a function to its configured CPUs (docs/CONTAINERS.md).
struct Confinement {
  u64 self;            // The confined thread's own Thread selector.
  u64 priority;
  u64 child_slot;      // An empty slot for the thread it creates.
  Error move_self = Error::None, widen_self = Error::None, child_created = Error::None,
        move_child = Error::None, widen_child = Error::None, child_on_own_cpu = Error::None;
  volatile u64 done = 0;
  u64 parking;
};
Confinement confinement;
constexpr u64 CHILD_UTCB_ADDRESS = SCRATCH_MAPPING_ADDRESS + 0x200000;

void confined_entry(u64) {
  Confinement& c = confinement;
  Thread self(c.self);
  c.move_self = self.configure(c.priority, 1, abi::NULL_SELECTOR).error();
  c.widen_self = self.configure(c.priority, 0, abi::NULL_SELECTOR, 0b11).error();
  auto child = environment().factory.create_thread(c.child_slot, environment().self_task, CHILD_UTCB_ADDRESS);
  c.child_created = child.error();
  if (child.ok()) {
    c.move_child = child.value().configure(c.priority, 1, abi::NULL_SELECTOR).error();
    c.widen_child = child.value().configure(c.priority, 1, abi::NULL_SELECTOR, 0b10).error();
    c.child_on_own_cpu = child.value().configure(c.priority, 0, abi::NULL_SELECTOR).error();
    (void)child.value().remove();
  }
  c.done = 1;
  Message message;
  (void)Endpoint(c.parking).receive(message);
}

void a_thread_cannot_leave_its_cpu_set(Case& test) {
  Environment& own = environment();
  REQUIRE(own.boot_info->cpu_count >= 2);
  ScopedSlot child_slot(test), parking_slot(test);
  REQUIRE(child_slot.valid() && parking_slot.valid());
  Endpoint parking = REQUIRE_OK(own.factory.create_endpoint(parking_slot.selector()));
  LocalThread thread;
  REQUIRE_OK(thread.create(0));
  // The set must hold the CPU, and lie within the caller's own (all CPUs for the root task).
  EXPECT_ERROR(thread.thread().configure(own.own_priority, 1, abi::NULL_SELECTOR, 0b01), Error::InvalidArgument);
  EXPECT_ERROR(thread.thread().configure(own.own_priority, 0, abi::NULL_SELECTOR, 0), Error::None);
  REQUIRE_OK(thread.thread().configure(own.own_priority, 0, abi::NULL_SELECTOR, 0b01));
  confinement = Confinement{};
  confinement.self = thread.thread().selector();
  confinement.priority = own.own_priority;
  confinement.child_slot = child_slot.selector();
  confinement.parking = parking.selector();
  REQUIRE_OK(thread.start(confined_entry, 0));
  u64 waited = 0;
  while (confinement.done == 0 && waited < REPORT_TIMEOUT) {
    pause_for(1'000'000);
    waited += 1'000'000;
  }
  REQUIRE(confinement.done == 1);
  EXPECT_EQ(confinement.move_self, Error::InvalidArgument);
  EXPECT_EQ(confinement.widen_self, Error::InvalidArgument);
  EXPECT_EQ(confinement.child_created, Error::None);
  EXPECT_EQ(confinement.move_child, Error::InvalidArgument);
  EXPECT_EQ(confinement.widen_child, Error::InvalidArgument);
  EXPECT_EQ(confinement.child_on_own_cpu, Error::None);
}

// ThreadConfigure moves a thread where it actually runs, seen from the thread itself: a spinner
// keeps writing its own APIC id (CPUID leaf 1, EBX bits 31-24) into memory the case reads. The
// three ways a thread can be when it is moved: Ready on a run queue, running on the other CPU,
// and the running thread moving itself.
u64 own_apic_id() {
  u32 eax = 1, ebx, ecx = 0, edx;
  asm volatile("cpuid" : "+a"(eax), "=b"(ebx), "+c"(ecx), "=d"(edx));
  return ebx >> 24;
}

struct Spinner {
  volatile u64 apic_id = ~u64{0};  // The latest reading (~0: none yet).
  volatile u64 rounds = 0;
  volatile u64 stop = 0;
  volatile u64 done = 0;
  // Self-moving: when move_self is set the spinner configures itself (selector self) to CPU
  // move_to, then records the result and its first APIC id reading after the call.
  volatile u64 move_self = 0;
  u64 self = abi::NULL_SELECTOR;
  u64 priority = 0;
  u64 move_to = 0;
  volatile u64 moved_error = ~u64{0};
  volatile u64 apic_after_move = ~u64{0};
  u64 parking = abi::NULL_SELECTOR;  // It waits here at the end, so it is not running when deleted.
};
Spinner spinners[3];

void spinner_entry(u64 index) {
  Spinner& spinner = spinners[index];
  while (spinner.stop == 0) {
    if (spinner.move_self == 1) {
      spinner.move_self = 2;
      // The set shrinks to the new CPU alone, so the one it runs on now is no longer allowed.
      auto moved = Thread(spinner.self).configure(spinner.priority, spinner.move_to, abi::NULL_SELECTOR,
                                                  u64{1} << spinner.move_to);
      spinner.apic_after_move = own_apic_id();
      spinner.moved_error = static_cast<u64>(moved.error());
    }
    spinner.apic_id = own_apic_id();
    spinner.rounds = spinner.rounds + 1;
  }
  spinner.done = 1;
  Message message;
  (void)Endpoint(spinner.parking).receive(message);
}

// Waits (yielding, so same-priority threads here run) until condition() holds or `bound`
// nanoseconds passed; returns whether it held.
template <typename Condition>
bool wait_until(Condition condition, u64 bound = REPORT_TIMEOUT) {
  u64 start = thread_self().timestamp;
  while (!condition()) {
    if (elapsed_nanoseconds(start, thread_self().timestamp) > bound) return false;
    yield_thread();
  }
  return true;
}

// The APIC ids of CPU 0 (this thread, pinned there) and CPU 1 (a spinner created there), which
// must differ for the readings to mean anything.
struct ApicIds {
  u64 cpu0 = ~u64{0};
  u64 cpu1 = ~u64{0};
};

void stop_spinner(Case& test, Spinner& spinner) {
  spinner.stop = 1;
  EXPECT(wait_until([&] { return spinner.done == 1; }));
}

void configure_moves_a_ready_thread_to_its_new_cpu(Case& test) {
  Environment& own = environment();
  REQUIRE(own.boot_info->cpu_count >= 2 && own.own_priority >= 1);
  ScopedSlot parking_slot(test);
  REQUIRE(parking_slot.valid());
  Endpoint parking = REQUIRE_OK(own.factory.create_endpoint(parking_slot.selector()));
  REQUIRE_OK(own.self_thread.configure(own.own_priority, 0, 0));
  ApicIds ids;
  ids.cpu0 = own_apic_id();
  // CPU 1 is held by a spinner at our priority; the moved thread waits below it, Ready.
  Spinner& holder = spinners[0];
  Spinner& waiting = spinners[1];
  holder = Spinner{};
  waiting = Spinner{};
  holder.parking = waiting.parking = parking.selector();
  LocalThread holder_thread, waiting_thread;
  REQUIRE_OK(holder_thread.create(1));
  REQUIRE_OK(waiting_thread.create(1));
  REQUIRE_OK(waiting_thread.thread().configure(own.own_priority - 1, 1, abi::NULL_SELECTOR));
  REQUIRE_OK(holder_thread.start(spinner_entry, 0));
  REQUIRE(wait_until([&] { return holder.rounds > 0; }));
  ids.cpu1 = holder.apic_id;
  EXPECT(ids.cpu0 != ids.cpu1);
  REQUIRE_OK(waiting_thread.start(spinner_entry, 1));
  pause_for(SILENCE_TIMEOUT);
  EXPECT_EQ(waiting.rounds, 0);  // Ready, never run: the holder outranks it on CPU 1.
  REQUIRE_OK(waiting_thread.thread().configure(own.own_priority, 0, abi::NULL_SELECTOR));
  EXPECT(wait_until([&] { return waiting.rounds > 0; }));
  EXPECT_EQ(waiting.apic_id, ids.cpu0);
  stop_spinner(test, waiting);
  stop_spinner(test, holder);
}

void configure_moves_a_thread_running_on_another_cpu(Case& test) {
  Environment& own = environment();
  REQUIRE(own.boot_info->cpu_count >= 2);
  ScopedSlot parking_slot(test);
  REQUIRE(parking_slot.valid());
  Endpoint parking = REQUIRE_OK(own.factory.create_endpoint(parking_slot.selector()));
  REQUIRE_OK(own.self_thread.configure(own.own_priority, 0, 0));
  ApicIds ids;
  ids.cpu0 = own_apic_id();
  Spinner& running = spinners[0];
  running = Spinner{};
  running.parking = parking.selector();
  LocalThread thread;
  REQUIRE_OK(thread.create(1));
  REQUIRE_OK(thread.start(spinner_entry, 0));
  REQUIRE(wait_until([&] { return running.rounds > 0; }));
  ids.cpu1 = running.apic_id;
  EXPECT(ids.cpu0 != ids.cpu1);
  // Moved while it spins on CPU 1: within the bound it reports CPU 0's id (it shares CPU 0 with
  // this thread, which yields to it). The old kernel left it on CPU 1 for good.
  REQUIRE_OK(thread.thread().configure(own.own_priority, 0, abi::NULL_SELECTOR));
  EXPECT(wait_until([&] { return running.apic_id == ids.cpu0; }));
  EXPECT_EQ(running.apic_id, ids.cpu0);
  // And back again, this time by shrinking its CPU set to CPU 1 alone.
  REQUIRE_OK(thread.thread().configure(own.own_priority, 1, abi::NULL_SELECTOR, 0b10));
  EXPECT(wait_until([&] { return running.apic_id == ids.cpu1; }));
  EXPECT_EQ(running.apic_id, ids.cpu1);
  stop_spinner(test, running);
}

void a_thread_that_moves_itself_returns_on_its_new_cpu(Case& test) {
  Environment& own = environment();
  REQUIRE(own.boot_info->cpu_count >= 2);
  ScopedSlot parking_slot(test);
  REQUIRE(parking_slot.valid());
  Endpoint parking = REQUIRE_OK(own.factory.create_endpoint(parking_slot.selector()));
  REQUIRE_OK(own.self_thread.configure(own.own_priority, 0, 0));
  ApicIds ids;
  ids.cpu0 = own_apic_id();
  Spinner& mover = spinners[2];
  mover = Spinner{};
  mover.parking = parking.selector();
  LocalThread thread;
  REQUIRE_OK(thread.create(1));
  mover.self = thread.thread().selector();
  mover.priority = own.own_priority;
  mover.move_to = 0;
  REQUIRE_OK(thread.start(spinner_entry, 2));
  REQUIRE(wait_until([&] { return mover.rounds > 0; }));
  ids.cpu1 = mover.apic_id;
  EXPECT(ids.cpu0 != ids.cpu1);
  mover.move_self = 1;
  REQUIRE(wait_until([&] { return mover.moved_error != ~u64{0}; }));
  EXPECT_EQ(mover.moved_error, static_cast<u64>(Error::None));
  // The very first reading after the call returned: the move happened before it came back.
  EXPECT_EQ(mover.apic_after_move, ids.cpu0);
  u64 rounds = mover.rounds;
  EXPECT(wait_until([&] { return mover.rounds > rounds + 10; }));
  EXPECT_EQ(mover.apic_id, ids.cpu0);
  stop_spinner(test, mover);
}

// A call goes to a receiver on the caller's CPU while at most one other thread is ready there,
// and to one on another CPU once more are (take_receiver, kernel/core/ipc.cpp): two servers on one
// endpoint, one pinned to each CPU, answer with the CPU they run on.
struct CpuServers {
  u64 endpoint;
  u64 parking;  // Where each waits at the end, so it is not running when deleted.
  volatile u64 started;
};
CpuServers cpu_servers;

void cpu_server_entry(u64) {
  Endpoint endpoint(cpu_servers.endpoint);
  Message request;
  __atomic_add_fetch(&cpu_servers.started, 1, __ATOMIC_ACQ_REL);
  if (endpoint.receive(request, REPORT_TIMEOUT).ok()) {
    while (request.label() != STOP) {
      Message answer = Message::make(0, {thread_self().cpu});
      if (!endpoint.reply_wait(answer, request, REPORT_TIMEOUT).ok()) break;
    }
    if (request.label() == STOP) (void)reply(Message::make(STOP));
  }
  (void)Endpoint(cpu_servers.parking).receive(request);
}

void a_call_runs_on_the_callers_cpu_unless_it_has_other_work(Case& test) {
  Environment& own = environment();
  REQUIRE(own.boot_info->cpu_count >= 2);
  constexpr u64 CALLS = 20;
  ScopedSlot endpoint_slot(test), parking_slot(test);
  REQUIRE(endpoint_slot.valid() && parking_slot.valid());
  Endpoint endpoint = REQUIRE_OK(own.factory.create_endpoint(endpoint_slot.selector()));
  Endpoint parking = REQUIRE_OK(own.factory.create_endpoint(parking_slot.selector()));
  REQUIRE_OK(own.self_thread.configure(own.own_priority, 0, 0));
  cpu_servers = {endpoint.selector(), parking.selector(), 0};
  // The server on CPU 1 waits first, so the longest waiting receiver is the far one.
  LocalThread far, near;
  REQUIRE_OK(far.create(1));
  REQUIRE_OK(far.start(cpu_server_entry, 0));
  REQUIRE(wait_until([] { return cpu_servers.started == 1; }));
  pause_for(5'000'000);
  REQUIRE_OK(near.create(0));
  REQUIRE_OK(near.start(cpu_server_entry, 0));
  REQUIRE(wait_until([] { return cpu_servers.started == 2; }));
  pause_for(5'000'000);
  Message answer;
  u64 on_cpu0 = 0;
  for (u64 call = 0; call < CALLS; ++call) {
    REQUIRE_OK(endpoint.call(Message::make(1), answer, REPORT_TIMEOUT));
    on_cpu0 += answer.words[0] == 0 ? 1 : 0;
  }
  EXPECT_EQ(on_cpu0, CALLS);  // Nothing else ready here: every call stayed on CPU 0.
  // Two spinners ready beside this thread on CPU 0: the calls go to the server on CPU 1.
  LocalThread spinning[2];
  for (u64 index = 0; index < 2; ++index) {
    spinners[index] = Spinner{};
    spinners[index].parking = parking.selector();
    REQUIRE_OK(spinning[index].create(0));
    REQUIRE_OK(spinning[index].start(spinner_entry, index));
  }
  REQUIRE(wait_until([] { return spinners[0].rounds > 0 && spinners[1].rounds > 0; }));
  u64 on_cpu1 = 0;
  for (u64 call = 0; call < CALLS; ++call) {
    REQUIRE_OK(endpoint.call(Message::make(1), answer, REPORT_TIMEOUT));
    on_cpu1 += answer.words[0] == 1 ? 1 : 0;
  }
  EXPECT_EQ(on_cpu1, CALLS);
  stop_spinner(test, spinners[0]);
  stop_spinner(test, spinners[1]);
  for (u64 server = 0; server < 2; ++server) {
    EXPECT_OK(endpoint.call(Message::make(STOP), answer, REPORT_TIMEOUT));
    EXPECT_EQ(answer.label(), STOP);
  }
  pause_for(1'000'000);  // Let both reach their parking receive before they are deleted.
}

}  // namespace

extern const test::TestEntry CROSS_CPU_TESTS[] = {
    {"calls_between_cpus_keep_every_word", calls_between_cpus_keep_every_word},
    {"unmapping_leaves_the_tasks_threads_on_other_cpus_running", unmapping_leaves_the_tasks_threads_on_other_cpus_running},
    {"a_thread_cannot_leave_its_cpu_set", a_thread_cannot_leave_its_cpu_set},
    {"configure_moves_a_ready_thread_to_its_new_cpu", configure_moves_a_ready_thread_to_its_new_cpu},
    {"configure_moves_a_thread_running_on_another_cpu", configure_moves_a_thread_running_on_another_cpu},
    {"a_thread_that_moves_itself_returns_on_its_new_cpu", a_thread_that_moves_itself_returns_on_its_new_cpu},
    {"a_call_runs_on_the_callers_cpu_unless_it_has_other_work", a_call_runs_on_the_callers_cpu_unless_it_has_other_work},
};
extern const usize CROSS_CPU_TEST_COUNT = sizeof CROSS_CPU_TESTS / sizeof CROSS_CPU_TESTS[0];

}  // namespace kernel_adversarial
