// Demand-zero Memory (see lazy_memory.cpp): creation, the page-fault path, decommit, destruction.
// Invariant: every function here runs under the kernel lock and does bounded work.
#pragma once

#include "object/lifetime.hpp"

namespace kernel {

// A lazy Memory of page_count pages (1 to LAZY_MAX_PAGES): the object and its leaf directory are
// charged now, each page when first touched.
[[nodiscard]] Result<Memory*> create_lazy_memory(Factory* factory, u64 page_count);
// The frame of page of a lazy object, 0 if it was never touched (or decommitted since).
u64 lazy_frame(const Memory& memory, u64 page);
// The first page of the next leaf after page's: callers skip untouched leaves with it.
u64 lazy_next_leaf(u64 page);
// A page fault of task at address (error_code as the CPU gave it) on a page of a lazy object it
// maps: gives the page a zeroed frame charged to the object's factory and maps it with the
// mapping's rights (Resolved). Otherwise the fault goes to the thread's exception handler as any
// other, marked when the quota or the machine refused the frame.
enum class DemandFault : u8 { NotDemandZero, Resolved, QuotaExceeded, OutOfMemory };
[[nodiscard]] DemandFault resolve_demand_fault(Task& task, u64 address, u64 error_code);
// Gives back the frames of pages [first_page, first_page + page_count) of a lazy object after
// unmapping them from every mapping with one shootdown; later touches see zero pages. Stops after
// UNMAP_MAX_PAGES page-table entries (over all mappings) and returns the page where the rest
// begins (the range's end when done).
[[nodiscard]] Result<u64> decommit_memory(Memory& memory, u64 first_page, u64 page_count);
// Gives the untouched pages of [first_page, first_page + page_count) of a lazy object their
// frames (charged), at most UNMAP_MAX_PAGES per call; stopped_at is where the rest (or, on
// QuotaExceeded/OutOfMemory, the first page without a frame) begins.
[[nodiscard]] metteagle::abi::Error commit_memory(Memory& memory, u64 first_page, u64 page_count, u64& stopped_at);
// Copies the touched pages of [first_page, first_page + page_count) of lazy `source` into the same
// pages of lazy `target`, giving the target's pages frames (charged to its factory) where they have
// none; untouched source pages are skipped. At most COPY_COMMITTED_MAX_PAGES copies and
// UNMAP_MAX_PAGES pages looked at per call; stopped_at as for commit_memory.
[[nodiscard]] metteagle::abi::Error copy_committed_memory(Memory& target, const Memory& source, u64 first_page,
                                                          u64 page_count, u64& stopped_at);
// Destruction's part: frees the touched frames and leaves in steps; false (work at step_work)
// when it must go on later.
[[nodiscard]] bool release_lazy_frames(Memory& memory, u64& work, u64 step_work);

// The object alone, charged to factory (factory.cpp), and its undoing before anything refers to it.
[[nodiscard]] Result<Memory*> create_memory_object(Factory* factory);
void abandon_memory_object(Memory* memory);

}  // namespace kernel
