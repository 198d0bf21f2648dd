// TenantSlots and TenantSlices (tenants.hpp).
#include "tenants.hpp"

#include "sys/spin_lock.hpp"

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
  for (std::atomic<u32>& state : states_) state.store(0, std::memory_order_relaxed);
}

bool TenantSlices::prepare(u32 tenant, usize bytes) {
  if (memory_ == nullptr || slots_ == nullptr) return false;
  u32 slot = slots_->slot_of(tenant);
  if (slot == TenantSlots::NONE || bytes > slice_bytes()) return false;
  u32 pages = static_cast<u32>((bytes + PAGE_BYTES - 1) / PAGE_BYTES);
  std::atomic<u32>& state = states_[slot];
  for (;;) {
    u32 seen = state.load(std::memory_order_acquire);
    if ((seen & ~BACKING) >= pages) return true;
    if ((seen & BACKING) != 0) {
      // Another thread backs this slice now (a system call): wait for it, then look again.
      sys::give_way();
      continue;
    }
    if (!state.compare_exchange_weak(seen, seen | BACKING, std::memory_order_acquire)) continue;
    // This thread alone backs the slot now; `seen` is what is backed.
    bool backed = memory_->back(tenant, slot * slice_pages_ + seen, pages - seen);
    state.store(backed ? pages : seen, std::memory_order_release);  // Published once backed.
    return backed;
  }
}

u32 TenantSlices::backed_pages(u32 slot) const {
  return slot == TenantSlots::NONE ? 0 : states_[slot].load(std::memory_order_acquire) & ~BACKING;
}

u8* TenantSlices::find(u32 tenant, usize bytes) {
  if (memory_ == nullptr || slots_ == nullptr) return nullptr;
  u32 slot = slots_->slot_of(tenant);
  u32 backed = backed_pages(slot);
  if (backed == 0 || bytes > backed * PAGE_BYTES) return nullptr;
  return memory_->base() + slot * slice_pages_ * PAGE_BYTES;
}

const u8* TenantSlices::find(u32 tenant, usize bytes) const { return const_cast<TenantSlices*>(this)->find(tenant, bytes); }

usize TenantSlices::backed_bytes(u32 tenant) const {
  return slots_ == nullptr ? 0 : backed_pages(slots_->slot_of(tenant)) * PAGE_BYTES;
}

}  // namespace gateway
