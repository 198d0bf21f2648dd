// kernel_adversarial: every rights mask of every object type, IPC across CPUs, a mapping flood, a
// capability flood, the largest Memory creations, thread interrupts (and their storm), a large lazy
// Memory shared by live tasks as their factory goes, and hostile
// arguments including a seeded syscall fuzzer; runs as the root task.
#include "../support/environment.hpp"

namespace kernel_adversarial {
extern const test::TestEntry RIGHTS_MASK_TESTS[];
extern const sys::usize RIGHTS_MASK_TEST_COUNT;
extern const test::TestEntry CROSS_CPU_TESTS[];
extern const sys::usize CROSS_CPU_TEST_COUNT;
extern const test::TestEntry MAPPING_FLOOD_TESTS[];
extern const sys::usize MAPPING_FLOOD_TEST_COUNT;
extern const test::TestEntry LONG_CREATION_TESTS[];
extern const sys::usize LONG_CREATION_TEST_COUNT;
extern const test::TestEntry HOSTILE_TESTS[];
extern const sys::usize HOSTILE_TEST_COUNT;
extern const test::TestEntry CAPABILITY_FLOOD_TESTS[];
extern const sys::usize CAPABILITY_FLOOD_TEST_COUNT;
extern const test::TestEntry THREAD_INTERRUPT_TESTS[];
extern const sys::usize THREAD_INTERRUPT_TEST_COUNT;
extern const test::TestEntry LAZY_TEARDOWN_TESTS[];
extern const sys::usize LAZY_TEARDOWN_TEST_COUNT;
}  // namespace kernel_adversarial

extern "C" void metteagle_main(sys::u64 argument) {
  using namespace kernel_adversarial;
  // The fuzzer goes last: it fills slots of the own space that later cases could want.
  support::run_program("kernel_adversarial", argument,
                       {{RIGHTS_MASK_TESTS, RIGHTS_MASK_TEST_COUNT},
                        {CROSS_CPU_TESTS, CROSS_CPU_TEST_COUNT},
                        {MAPPING_FLOOD_TESTS, MAPPING_FLOOD_TEST_COUNT},
                        {CAPABILITY_FLOOD_TESTS, CAPABILITY_FLOOD_TEST_COUNT},
                        {LONG_CREATION_TESTS, LONG_CREATION_TEST_COUNT},
                        {THREAD_INTERRUPT_TESTS, THREAD_INTERRUPT_TEST_COUNT},
                        {LAZY_TEARDOWN_TESTS, LAZY_TEARDOWN_TEST_COUNT},
                        {HOSTILE_TESTS, HOSTILE_TEST_COUNT}});
}
