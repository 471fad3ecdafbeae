// overhead's allocations section: heap allocations per task of each parmap mode, counted by
// replacing every form of the global operator new for this program. The replacement lives in
// this file, but, like any replacement of operator new, it serves the whole program.

#include <atomic>   // std::atomic: the allocation counter and its switch
#include <cstddef>  // std::size_t
#include <cstdint>  // std::uint64_t
#include <cstdio>   // std::printf
#include <cstdlib>  // std::malloc, std::aligned_alloc, std::free
#include <new>      // std::bad_alloc, std::align_val_t, std::nothrow_t
#include <parmap/parmap.hpp>
#include <stdexcept>  // std::runtime_error: checksum mismatches
#include <string>     // std::string
#include <vector>     // std::vector

#include "overhead/overhead.hpp"
#include "support/harness.hpp"  // parmap_bench: parmap_contestant, checksums, JSON

// Every form of the global operator new is replaced by one that counts, so the allocations
// section sees what parmap (and the standard library under it) allocates per task. Counting
// is switched on only inside that section: elsewhere the cost is one relaxed load of a cache
// line nobody writes, not a contended increment per allocation that would slow the
// allocation-heavy contestants (the textbook pool) in the timed sections.
namespace counting {
std::atomic<bool> enabled{false};
std::atomic<std::uint64_t> allocations{0};

// Relaxed: the counter is read by the thread that switched counting off after the run it
// measured has ended, and every Parallel call, TBB and OpenMP construct returns only after
// its threads' work happened-before the return (mutexes / joins); no other ordering is needed.
inline void count() noexcept {
  if (enabled.load(std::memory_order_relaxed)) allocations.fetch_add(1, std::memory_order_relaxed);
}

inline void* allocate(std::size_t size) noexcept {
  count();
  return std::malloc(size == 0 ? 1 : size);
}

inline void* allocate(std::size_t size, std::align_val_t align) noexcept {
  count();
  const auto alignment = static_cast<std::size_t>(align);
  // aligned_alloc wants a size that is a multiple of the alignment.
  const std::size_t rounded = (size + alignment - 1) / alignment * alignment;
  return std::aligned_alloc(alignment, rounded == 0 ? alignment : rounded);
}

template <class... A>
void* allocate_or_throw(A... args) {
  if (void* p = allocate(args...)) return p;
  throw std::bad_alloc();
}

// Allocations counted while the scope lives.
class Scope {
 public:
  Scope() noexcept {
    allocations.store(0, std::memory_order_relaxed);
    enabled.store(true, std::memory_order_relaxed);
  }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;
  ~Scope() { enabled.store(false, std::memory_order_relaxed); }
  [[nodiscard]] std::uint64_t count() const noexcept {
    return allocations.load(std::memory_order_relaxed);
  }
};
}  // namespace counting

void* operator new(std::size_t size) { return counting::allocate_or_throw(size); }
void* operator new[](std::size_t size) { return counting::allocate_or_throw(size); }
void* operator new(std::size_t size, std::align_val_t align) {
  return counting::allocate_or_throw(size, align);
}
void* operator new[](std::size_t size, std::align_val_t align) {
  return counting::allocate_or_throw(size, align);
}
void* operator new(std::size_t size, const std::nothrow_t& /*tag*/) noexcept {
  return counting::allocate(size);
}
void* operator new[](std::size_t size, const std::nothrow_t& /*tag*/) noexcept {
  return counting::allocate(size);
}
void* operator new(std::size_t size, std::align_val_t align,
                   const std::nothrow_t& /*tag*/) noexcept {
  return counting::allocate(size, align);
}
void* operator new[](std::size_t size, std::align_val_t align,
                     const std::nothrow_t& /*tag*/) noexcept {
  return counting::allocate(size, align);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t /*size*/) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t /*size*/) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t /*align*/) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t /*align*/) noexcept { std::free(p); }
void operator delete(void* p, std::size_t /*size*/, std::align_val_t /*align*/) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t /*size*/, std::align_val_t /*align*/) noexcept {
  std::free(p);
}
void operator delete(void* p, const std::nothrow_t& /*tag*/) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t& /*tag*/) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t /*align*/, const std::nothrow_t& /*tag*/) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::align_val_t /*align*/,
                       const std::nothrow_t& /*tag*/) noexcept {
  std::free(p);
}

namespace overhead {

namespace {

using namespace parmap_bench;

template <class F>
void count_modes(std::vector<AllocationRow>& rows, const std::string& workload, F f,
                 std::size_t large_n, std::size_t jobs) {
  const int n_jobs = static_cast<int>(jobs);
  const std::size_t small_n = large_n / 10;
  auto add = [&](const Contestant& c) {
    // Counting covers the call and the consumption of its results, nothing else: the
    // Parallel and its threads exist before (warm-up), the check runs after.
    auto counted = [&](std::size_t count) {
      std::uint64_t sum = 0;
      std::uint64_t allocations = 0;
      {
        const counting::Scope scope;
        sum = c.run(count);
        allocations = scope.count();
      }
      if (sum != expected_checksum(f, count, c.ordered)) {
        throw std::runtime_error(c.name + ": wrong checksum (allocations, " + workload + ")");
      }
      return allocations;
    };
    c.run(small_n);  // warm-up
    const std::uint64_t small_allocs = counted(small_n);
    const std::uint64_t large_allocs = counted(large_n);
    rows.push_back({workload, c.name, small_n, large_n, small_allocs, large_allocs});
  };
  namespace ra = parmap::return_as;
  for (const bool automatic : {true, false}) {
    const parmap::Options options = automatic ? parmap::Options{.n_jobs = n_jobs}
                                              : parmap::Options{.n_jobs = n_jobs, .batch_size = 1};
    const std::string suffix = automatic ? "" : ", batch_size=1";
    add(parmap_contestant("parmap list" + suffix, ra::list, options, f, large_n));
    add(parmap_contestant("parmap generator" + suffix, ra::generator, options, f, large_n));
    add(parmap_contestant("parmap generator_unordered" + suffix, ra::generator_unordered, options,
                          f, large_n));
  }
}

}  // namespace

void count_allocations(std::vector<AllocationRow>& rows, const std::string& workload, Square f,
                       std::size_t large_n, std::size_t jobs) {
  count_modes(rows, workload, f, large_n, jobs);
}

void count_allocations(std::vector<AllocationRow>& rows, const std::string& workload, Spin f,
                       std::size_t large_n, std::size_t jobs) {
  count_modes(rows, workload, f, large_n, jobs);
}

void print_allocations(const std::vector<AllocationRow>& rows) {
  std::printf("\n## Heap allocations per task (global operator new, all forms)\n\n");
  std::printf(
      "steady state = (allocations(N) - allocations(N/10)) / (N - N/10): per-call costs "
      "cancel.\n\n");
  std::printf(
      "| workload | mode | N | allocations at N | per task overall | per task, steady state |\n");
  std::printf("|---|---|---:|---:|---:|---:|\n");
  for (const AllocationRow& r : rows) {
    std::printf("| %s | %s | %zu | %llu | %.4f | %.4f |\n", r.workload.c_str(), r.mode.c_str(),
                r.large_n, static_cast<unsigned long long>(r.large_allocs), r.per_task_overall(),
                r.steady_per_task());
  }
}

std::string allocations_json(const std::vector<AllocationRow>& rows) {
  std::vector<std::string> items;
  for (const AllocationRow& r : rows) {
    items.push_back(json_object({{"workload", json_string(r.workload)},
                                 {"mode", json_string(r.mode)},
                                 {"small_n", std::to_string(r.small_n)},
                                 {"large_n", std::to_string(r.large_n)},
                                 {"small_allocations", std::to_string(r.small_allocs)},
                                 {"large_allocations", std::to_string(r.large_allocs)},
                                 {"per_task_overall", json_number(r.per_task_overall())},
                                 {"per_task_steady", json_number(r.steady_per_task())}}));
  }
  return json_array(items);
}

}  // namespace overhead
