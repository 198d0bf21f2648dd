// TenantSlots and TenantSlices (tenants.hpp).
#include "tenants.hpp"

namespace gateway {

bool TenantSlots::add(u32 tenant) {
  if (tenant == 0 || tenant > MAX_SUB_TENANT || by_tenant_[tenant] != 0 || count_ == MAX_TENANT_SLOTS) return false;
  tenants_[count_] = tenant;
  by_tenant_[tenant] = static_cast<u16>(++count_);
  return true;
}

bool TenantSlots::configure(const ApiKey* keys, usize key_count) {
  for (usize slot = 1; slot < count_; ++slot) by_tenant_[tenants_[slot]] = 0;
  count_ = 1;
  for (usize index = 0; index < key_count; ++index) {
    if (!add(keys[index].sub_tenant)) {
      (void)configure(keys, 0);
      return false;
    }
  }
  return true;
}

bool TenantSlots::configure(const u32* tenants, usize tenant_count) {
  for (usize slot = 1; slot < count_; ++slot) by_tenant_[tenants_[slot]] = 0;
  count_ = 1;
  for (usize index = 0; index < tenant_count; ++index) {
    if (!add(tenants[index])) {
      (void)configure(tenants, 0);
      return false;
    }
  }
  return true;
}

void TenantSlices::configure(SliceMemory* memory, const TenantSlots* slots, usize slice_bytes) {
  memory_ = memory;
  slots_ = slots;
  slice_pages_ = (slice_bytes + PAGE_BYTES - 1) / PAGE_BYTES;
  for (u32& pages : backed_pages_) pages = 0;
}

u8* TenantSlices::reach(u32 tenant, usize bytes) {
  if (memory_ == nullptr || slots_ == nullptr) return nullptr;
  u32 slot = slots_->slot_of(tenant);
  if (slot == TenantSlots::NONE || bytes > slice_bytes()) return nullptr;
  usize pages = (bytes + PAGE_BYTES - 1) / PAGE_BYTES;
  usize first = slot * slice_pages_;
  if (pages > backed_pages_[slot]) {
    if (!memory_->back(tenant, first + backed_pages_[slot], pages - backed_pages_[slot])) return nullptr;
    backed_pages_[slot] = static_cast<u32>(pages);
  }
  return memory_->base() + first * PAGE_BYTES;
}

const u8* TenantSlices::find(u32 tenant, usize bytes) const {
  if (memory_ == nullptr || slots_ == nullptr) return nullptr;
  u32 slot = slots_->slot_of(tenant);
  if (slot == TenantSlots::NONE || bytes > backed_pages_[slot] * PAGE_BYTES || backed_pages_[slot] == 0) return nullptr;
  return memory_->base() + slot * slice_pages_ * PAGE_BYTES;
}

usize TenantSlices::backed_bytes(u32 tenant) const {
  u32 slot = slots_ == nullptr ? TenantSlots::NONE : slots_->slot_of(tenant);
  return slot == TenantSlots::NONE ? 0 : backed_pages_[slot] * PAGE_BYTES;
}

}  // namespace gateway
