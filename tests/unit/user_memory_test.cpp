// UserSpan and UserPointer on the host: copies stay below USER_SPACE_END without wrapping or
// overflowing, a fault in the copy becomes InvalidArgument, and only the checked copy touches memory.
#include "core/user_memory.hpp"

#include <gtest/gtest.h>

#include <cstring>

namespace {
// The fake checked_copy: copies for real (host addresses are lower-half user addresses), except
// that any byte inside [fault_start, fault_end) faults, as an unmapped user page would.
klib::u64 fault_start = 0, fault_end = 0;
int copies = 0;
}  // namespace

extern "C" klib::u64 checked_copy(void* destination, const void* source, klib::u64 length) {
  ++copies;
  auto from = reinterpret_cast<klib::u64>(source), to = reinterpret_cast<klib::u64>(destination);
  for (klib::u64 index = 0; index < length; ++index) {
    bool faults = (from + index >= fault_start && from + index < fault_end) ||
                  (to + index >= fault_start && to + index < fault_end);
    if (faults) return length - index;
    static_cast<char*>(destination)[index] = static_cast<const char*>(source)[index];
  }
  return 0;
}

namespace {

using kernel::UserPointer;
using kernel::UserSpan;
using klib::u64;
using metteagle::abi::Error;
using metteagle::abi::USER_SPACE_END;

u64 address_of(const void* pointer) { return reinterpret_cast<u64>(pointer); }

class UserMemory : public ::testing::Test {
 protected:
  void SetUp() override { fault_start = fault_end = 0, copies = 0; }
};

TEST_F(UserMemory, CopyInReadsExactlyTheSpan) {
  const char source[] = "hello, kernel";
  char destination[sizeof source] = {};
  UserSpan<const char> span(address_of(source), 5);
  ASSERT_TRUE(span.copy_in(destination).ok());
  EXPECT_EQ(std::string(destination), "hello");
  EXPECT_EQ(copies, 1);
}

TEST_F(UserMemory, CopyOutWritesExactlyTheSpan) {
  u64 words[3] = {1, 2, 3};
  const u64 replacement[2] = {7, 8};
  ASSERT_TRUE(UserSpan<u64>(address_of(&words[1]), 2).copy_out(replacement).ok());
  EXPECT_EQ(words[0], 1u);
  EXPECT_EQ(words[1], 7u);
  EXPECT_EQ(words[2], 8u);
}

TEST_F(UserMemory, RangesOutsideUserSpaceFailBeforeAnyCopy) {
  char buffer[16];
  EXPECT_EQ(UserSpan<const char>(USER_SPACE_END, 1).copy_in(buffer).error(), Error::InvalidArgument);
  EXPECT_EQ(UserSpan<const char>(USER_SPACE_END - 8, 9).copy_in(buffer).error(), Error::InvalidArgument);
  EXPECT_EQ(UserSpan<char>(~u64{0} - 3, 8).copy_out(buffer).error(), Error::InvalidArgument);  // Wraps.
  // count * sizeof(u64) overflows 64 bits: refused, not truncated to a small copy.
  u64 words[2];
  EXPECT_EQ(UserSpan<const u64>(0x1000, (u64{1} << 61) + 1).copy_in(words).error(), Error::InvalidArgument);
  EXPECT_EQ(copies, 0);
  // The last byte below USER_SPACE_END is still user space (the copy itself decides about the page).
  EXPECT_TRUE(UserSpan<const char>(USER_SPACE_END - 1, 1).in_user_space());
  EXPECT_TRUE(UserSpan<const char>(0x1000, 0).in_user_space());
}

TEST_F(UserMemory, AFaultInTheCopyIsAnError) {
  char source[64] = {};
  char destination[64];
  fault_start = address_of(source) + 40;
  fault_end = fault_start + 1;
  EXPECT_TRUE(UserSpan<const char>(address_of(source), 40).copy_in(destination).ok());
  EXPECT_EQ(UserSpan<const char>(address_of(source), 41).copy_in(destination).error(), Error::InvalidArgument);
  EXPECT_EQ(UserSpan<char>(address_of(source), 64).copy_out(destination).error(), Error::InvalidArgument);
}

TEST_F(UserMemory, SubspansAdvanceByElements) {
  const u64 words[4] = {10, 11, 12, 13};
  UserSpan<const u64> span(address_of(words), 4);
  UserSpan<const u64> tail = span.subspan(2, 2);
  EXPECT_EQ(tail.address(), address_of(&words[2]));
  u64 read[2];
  ASSERT_TRUE(tail.copy_in(read).ok());
  EXPECT_EQ(read[0], 12u);
  EXPECT_EQ(read[1], 13u);
}

TEST_F(UserMemory, PointersCopyOneValueInTheirDirection) {
  u64 value = 0;
  ASSERT_TRUE(UserPointer<u64>(address_of(&value)).copy_out(u64{42}).ok());
  u64 read = 0;
  ASSERT_TRUE(UserPointer<const u64>(address_of(&value)).copy_in(read).ok());
  EXPECT_EQ(read, 42u);
}

// The direction is part of the type: a span the kernel reads has no copy_out, and the reverse.
template <typename Span>
concept CanCopyIn = requires(Span span, char* out) { span.copy_in(out); };
template <typename Span>
concept CanCopyOut = requires(Span span, const char* in) { span.copy_out(in); };
static_assert(CanCopyIn<UserSpan<const char>> && !CanCopyOut<UserSpan<const char>>);
static_assert(CanCopyOut<UserSpan<char>> && !CanCopyIn<UserSpan<char>>);

}  // namespace
