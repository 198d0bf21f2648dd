// EndpointRegistry: a short linear table; boot configurations name a handful of endpoints.
#include "endpoints.hpp"

namespace root {
namespace {
bool same_name(const char* left, const char* right) {
  while (*left != '\0' && *left == *right) {
    ++left;
    ++right;
  }
  return *left == *right;
}
}  // namespace

sys::Result<sys::Endpoint> EndpointRegistry::find_or_create(const char* name, sys::Factory factory,
                                                             sys::SlotAllocator& slots) {
  for (sys::usize index = 0; index < count_; ++index)
    if (same_name(entries_[index].name, name)) return entries_[index].endpoint;
  if (count_ == MAX_ENDPOINTS) return sys::Error::QuotaExceeded;
  sys::u64 slot = TRY(slots.allocate());
  auto created = factory.create_endpoint(slot);
  if (!created.ok()) {
    slots.free(slot);
    return created.error();
  }
  Entry& entry = entries_[count_++];
  sys::usize length = 0;
  for (; name[length] != '\0' && length < MAX_NAME_LENGTH; ++length) entry.name[length] = name[length];
  entry.name[length] = '\0';
  entry.endpoint = created.value();
  return entry.endpoint;
}

}  // namespace root
