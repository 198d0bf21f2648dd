// The setup every exception case shares: a child factory, a child task built from it with a copy
// of this program, an exception endpoint (the handler holds Receive, the faulting threads a
// badged Send copy) and a report endpoint the child's threads send to.
// Invariant: everything the fixture creates is charged to its child factory, and deleting that
// factory at the end must return the root factory's accounting to where it was.
#pragma once

#include "faulting_code.hpp"

namespace kernel_exceptions {

constexpr u64 HANDLER_BADGE = 0xe1;
constexpr u64 CHILD_FACTORY_QUOTA = 4 * 1024 * 1024;

// Page-fault error code bits (Intel SDM 4.7).
constexpr u64 PAGE_FAULT_PRESENT = 1;
constexpr u64 PAGE_FAULT_WRITE = 2;
constexpr u64 PAGE_FAULT_USER = 4;

constexpr u64 VECTOR_DIVIDE = 0;
constexpr u64 VECTOR_BREAKPOINT = 3;
constexpr u64 VECTOR_INVALID_OPCODE = 6;
constexpr u64 VECTOR_GENERAL_PROTECTION = 13;
constexpr u64 VECTOR_PAGE_FAULT = 14;

constexpr u32 label_of(abi::ExceptionKind kind) { return static_cast<u32>(kind); }
constexpr u32 label_of(abi::ExceptionReply action) { return static_cast<u32>(action); }

// Like REQUIRE_OK, for a function returning bool.
#define REQUIRE_SET_UP(expression)                                                                      \
  ({                                                                                                    \
    auto set_up_result_ = (expression);                                                                 \
    if (!set_up_result_.ok()) {                                                                         \
      test.fail(__FILE__, __LINE__, "%s failed with %s", #expression, error_name(set_up_result_.error())); \
      return false;                                                                                     \
    }                                                                                                   \
    ::test::value_of(set_up_result_);                                                                   \
  })

class Fixture {
 public:
  explicit Fixture(Case& test)
      : test_(test), factory_slot_(test), handler_slot_(test), badged_slot_(test), report_slot_(test) {}
  ~Fixture() {
    child.destroy();
    (void)Capability(factory_slot_.selector()).remove();
    (void)handler().remove();
    (void)Capability(badged_slot_.selector()).remove();
    (void)report().remove();
    // Destroying the child factory must give back exactly what creating it took.
    auto after = environment().factory.info();
    if (set_up_ && after.ok() && after->used_bytes != root_used_before_)
      test_.fail(__FILE__, __LINE__, "root factory used %#lx after the case, %#lx before", after->used_bytes,
                 root_used_before_);
  }

  // Creates everything; false (with the case failed) when anything is refused.
  bool set_up() {
    Case& test = test_;
    if (!factory_slot_.valid() || !handler_slot_.valid() || !badged_slot_.valid() || !report_slot_.valid()) return false;
    Environment& own = environment();
    auto before = own.factory.info();
    if (!before.ok()) return false;
    root_used_before_ = before->used_bytes;
    set_up_ = true;
    Factory child_factory = REQUIRE_SET_UP(own.factory.create_factory(factory_slot_.selector(), CHILD_FACTORY_QUOTA));
    REQUIRE_SET_UP(own.factory.create_endpoint(handler_slot_.selector()));
    REQUIRE_SET_UP(handler().copy_to(badged_slot_.selector(), ENDPOINT_SEND, HANDLER_BADGE));
    REQUIRE_SET_UP(own.factory.create_endpoint(report_slot_.selector()));
    REQUIRE_SET_UP(child.create(child_factory));
    REQUIRE_SET_UP(child.give(report(), CHILD_REPORT, ENDPOINT_SEND));
    return !test.failed();
  }

  Factory factory() const { return Factory(factory_slot_.selector()); }
  Endpoint handler() const { return Endpoint(handler_slot_.selector()); }
  u64 badged_handler() const { return badged_slot_.selector(); }
  Endpoint report() const { return Endpoint(report_slot_.selector()); }

  ChildTask child;

 private:

  Case& test_;
  ScopedSlot factory_slot_, handler_slot_, badged_slot_, report_slot_;
  bool set_up_ = false;
  u64 root_used_before_ = 0;
};

// Receives the next exception message on the fixture's handler endpoint and checks what every
// exception message carries: the label, five words, the badge, the vector and rip.
inline void expect_exception(Case& test, const Message& fault, abi::ExceptionKind kind, u64 vector, u64 rip) {
  EXPECT_EQ(fault.label(), label_of(kind));
  EXPECT_EQ(fault.word_count(), 5);
  EXPECT_EQ(fault.tag.capabilities(), 0);
  EXPECT_EQ(fault.badge, HANDLER_BADGE);
  EXPECT_EQ(fault.words[0], rip);
  EXPECT_EQ(fault.words[4], vector);
}

// rsp at the fault lies inside the stack of child thread `index`.
inline void expect_stack_pointer(Case& test, const Message& fault, const ChildTask& child, u64 index) {
  u64 top = child.stack_top(index);
  EXPECT(fault.words[3] <= top && fault.words[3] > top - ChildTask::STACK_PAGES_PER_THREAD * PAGE_SIZE);
}

inline u64 address_of(const char* label) { return reinterpret_cast<u64>(label); }

}  // namespace kernel_exceptions
