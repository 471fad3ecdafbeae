#pragma once

#include <chrono>       // std::chrono::nanoseconds: a remote block's task time
#include <cstddef>      // std::size_t
#include <exception>    // std::exception_ptr: what a task threw
#include <functional>   // std::invoke
#include <iterator>     // std::iter_difference_t
#include <memory>       // std::unique_ptr, std::make_unique, std::allocator, std::destroy_at
#include <new>          // placement new: results and tasks made in place
#include <optional>     // std::optional: the input iterator, made on first read
#include <ranges>       // std::ranges::begin, end, iterator_t, random_access_range
#include <stop_token>   // std::stop_token: the run's, checked before each task
#include <type_traits>  // std::is_void_v, std::remove_cvref_t, std::invoke_result_t
#include <utility>      // std::move, std::as_const

#include "../outcome.hpp"
#include "engine.hpp"
#include "run_config.hpp"
#include "run_core.hpp"
// RunCore's member definitions, by seam (see run_core.hpp).
#include "run_core_claim.hpp"
#include "run_core_consumer.hpp"
#include "run_core_lifetime.hpp"
#include "run_core_tasks.hpp"
#include "run_core_window.hpp"

namespace parmap::detail {

// The task type a range yields: what the run copies or moves out of the input.
template <class View>
using task_t = std::remove_cvref_t<std::ranges::range_reference_t<View>>;

// What a task returns; tasks run once, as rvalues.
template <class Task>
using task_result_t = std::invoke_result_t<Task&&>;

// A task's result type with references and cv dropped (void stays void).
template <class Task>
using plain_result_t = std::remove_cvref_t<task_result_t<Task>>;

// What the run stores for one task. Raising: its result, or its input index for a void
// task. Collecting: its Outcome.
template <class Task, bool Collect>
using stored_result_t = std::conditional_t<
    Collect, Outcome<plain_result_t<Task>>,
    std::conditional_t<std::is_void_v<plain_result_t<Task>>, std::size_t, plain_result_t<Task>>>;

// Inputs whose tasks any thread may read in place, by index, without the input lock: sized
// random-access ranges (a std::vector of tasks, iota | transform, ...). Reading a batch of
// them only takes an index range.
template <class View>
concept indexable_input = std::ranges::random_access_range<View> && std::ranges::sized_range<View>;

// The consumer's typed view of a run.
template <class R>
class ResultSource : public RunCore {
 public:
  using RunCore::RunCore;

  // The result named by an item from next(): the consumer may move from it until pop().
  static R& result(const Item& item) noexcept {
    return static_cast<ResultSlot<R>*>(item.slot)->result(item.pos);
  }
  // Destroys that result and counts it taken. Never blocks on tasks.
  void pop(const Item& item) {
    std::destroy_at(&result(item));
    taken(item);
  }
};

// How a Run runs a claimed block of tasks. LocalBlocks, the default: on the thread that
// claimed them, one after the other. Another way (the MPI backend's, parmap/mpi.hpp) is a
// class with
//   template <class Run, class Slot>
//   std::size_t run_block(Run&, Slot&, std::size_t begin, std::size_t end,
//                         const std::stop_token&, std::exception_ptr& error,
//                         std::chrono::nanoseconds& work) noexcept;
// under run_tasks_published's contract (RunCore): it reads tasks with Run::peek_task,
// constructs results at Run::result_at, publishes them with Run::publish, and frees each task
// it ran, or that failed, with Run::free_task. Everything else (the window, order, splitting,
// failure, stop, progress) stays the run's. Such a run sets RunConfig::remote.
struct LocalBlocks {};

// A run over one input view: reads tasks from it into batches and runs them into results.
// Thread safety is RunCore's; this class only fills in the typed storage.
template <class View, bool Collect, class Exec = LocalBlocks>
class Run final : public ResultSource<stored_result_t<task_t<View>, Collect>> {
  friend Exec;

  using Task = task_t<View>;
  using R = stored_result_t<Task, Collect>;
  using Core = ResultSource<R>;
  static constexpr bool returns_void = std::is_void_v<plain_result_t<Task>>;
  static constexpr bool in_place = indexable_input<View>;

  // Single-pass inputs: the batch holds the tasks read for it, constructed by the reader
  // and destroyed by the chunk's runner once run (or at the end, never run).
  using StoredTasks = RawArray<Task>;
  struct NoTasks {};
  struct Slot : ResultSlot<R> {
    [[no_unique_address]] std::conditional_t<in_place, NoTasks, StoredTasks> stored;
  };

 public:
  Run(View input, const RunConfig& config, std::shared_ptr<Engine> engine, Exec exec = {})
      : Core(config, std::move(engine)), input_(std::move(input)), exec_(std::move(exec)) {}

  Run(const Run&) = delete;
  Run& operator=(const Run&) = delete;

  ~Run() override {
    this->shutdown();
    this->free_leftovers();
  }

 private:
  std::unique_ptr<SlotBase> make_slot() override { return std::make_unique<Slot>(); }

  void read_batch(SlotBase& base, std::size_t first, std::size_t want, std::size_t& read) override {
    auto& slot = static_cast<Slot&>(base);
    // begin() is called lazily, by the first reader, so that an input whose begin() reads
    // or throws (a stream, say) does so under the same rules as every later read.
    if (!it_) it_.emplace(std::ranges::begin(input_));
    if constexpr (in_place) {
      const auto total = static_cast<std::size_t>(std::ranges::size(input_));
      read = first < total ? std::min(want, total - first) : 0;
      slot.results.reserve(read);
    } else {
      slot.stored.reserve(want);
      slot.results.reserve(want);
      while (read < want && *it_ != std::ranges::end(input_)) {
        ::new (static_cast<void*>(slot.stored.data() + read)) Task(**it_);
        ++read;
        ++*it_;
      }
    }
  }

  // For another Exec: calls f with task k (const), read in place or stored, without freeing
  // it; free_task frees a stored one; result_at is where result k is constructed.
  template <class F>
  void peek_task(Slot& slot, std::size_t k, F&& f) {
    if constexpr (in_place) {
      InPlaceRef ref = in_place_task(slot, k);
      std::forward<F>(f)(std::as_const(ref));
    } else {
      std::forward<F>(f)(std::as_const(slot.stored.data()[k]));
    }
  }
  // Task k of a batch read in place: the input's element at its index (a reference, or a
  // value for a view that makes its elements).
  using InPlaceRef = std::ranges::range_reference_t<View>;
  InPlaceRef in_place_task(const Slot& slot, std::size_t k) {
    const std::size_t index = slot.first_index + k;
    return (*it_)[static_cast<std::iter_difference_t<std::ranges::iterator_t<View>>>(index)];
  }
  static void free_task(Slot& slot, std::size_t k) noexcept {
    if constexpr (!in_place) std::destroy_at(slot.stored.data() + k);
  }
  static R* result_at(Slot& slot, std::size_t k) noexcept { return slot.results.data() + k; }

  // Runs task k of the batch into its result's storage; the task (stored) is freed after,
  // whatever happens.
  void construct(Slot& slot, std::size_t k) {
    const std::size_t index = slot.first_index + k;
    R* where = slot.results.data() + k;
    if constexpr (in_place) {
      InPlaceRef ref = in_place_task(slot, k);
      if constexpr (std::is_lvalue_reference_v<InPlaceRef>) {
        Task task(ref);  // the input is not consumed: run a copy, as an rvalue
        construct_from(where, index, std::move(task));
      } else {
        construct_from(where, index, std::move(ref));
      }
    } else {
      Task& task = slot.stored.data()[k];
      struct Free {
        Task* t;
        ~Free() { std::destroy_at(t); }
      } free_task{&task};
      construct_from(where, index, std::move(task));
    }
  }

  // The result of `task`, made in place: no move for a result returned by value.
  static void construct_from(R* where, std::size_t index, Task&& task) {
    if constexpr (Collect) {
      try {
        if constexpr (returns_void) {
          std::invoke(std::move(task));
          ::new (static_cast<void*>(where)) R(index);
        } else {
          ::new (static_cast<void*>(where)) R(index, std::invoke(std::move(task)));
        }
      } catch (...) {
        ::new (static_cast<void*>(where)) R(index, std::current_exception());
      }
    } else if constexpr (returns_void) {
      std::invoke(std::move(task));
      ::new (static_cast<void*>(where)) R(index);
    } else {
      ::new (static_cast<void*>(where)) R(std::invoke(std::move(task)));
    }
  }

  std::size_t run_tasks_published(SlotBase& base, std::size_t begin, std::size_t end,
                                  const std::stop_token& stop, std::exception_ptr& error,
                                  [[maybe_unused]] std::chrono::nanoseconds& work) noexcept override {
    auto& slot = static_cast<Slot&>(base);
    if constexpr (!std::is_same_v<Exec, LocalBlocks>) {
      return exec_.run_block(*this, slot, begin, end, stop, error, work);
    }
    std::size_t k = begin;
    try {
      for (; k < end && !stop.stop_requested(); ++k) {
        construct(slot, k);
        task_returned();
        this->publish(slot, k);
      }
    } catch (...) {
      task_returned();
      error = std::current_exception();
    }
    return k - begin;
  }

  void run_task(SlotBase& base, std::size_t k) override { construct(static_cast<Slot&>(base), k); }

  void replace_with_error(SlotBase& base, std::size_t k, std::exception_ptr error) override {
    if constexpr (Collect) {
      auto& slot = static_cast<Slot&>(base);
      R* where = slot.results.data() + k;
      std::destroy_at(where);
      ::new (static_cast<void*>(where)) R(slot.first_index + k, std::move(error));
    }
  }

  void drop_tasks(SlotBase& base, std::size_t begin, std::size_t end) noexcept override {
    if constexpr (!in_place) {
      auto& slot = static_cast<Slot&>(base);
      for (std::size_t k = begin; k < end; ++k) std::destroy_at(slot.stored.data() + k);
    }
  }

  void destroy_result(SlotBase& base, std::size_t k) noexcept override {
    std::destroy_at(static_cast<Slot&>(base).results.data() + k);
  }

  View input_;  // read under RunCore::input_mutex_ (single-pass) or in place (indexable)
  [[no_unique_address]] Exec exec_;  // thread-safe by itself: runners call it at once
  // Made by the first reader under input_mutex_; for indexable inputs, read-only after and
  // shared by every runner (published to them with the batch, under RunCore::mutex_).
  std::optional<std::ranges::iterator_t<View>> it_;
};

}  // namespace parmap::detail
