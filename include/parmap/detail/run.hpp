#pragma once

#include <cstddef>      // std::size_t
#include <functional>   // std::invoke
#include <memory>       // std::unique_ptr, std::make_unique
#include <optional>     // std::optional: the input iterator, made on first read
#include <ranges>       // std::ranges::begin, end, iterator_t
#include <type_traits>  // std::is_void_v, std::remove_cvref_t, std::invoke_result_t
#include <utility>      // std::move
#include <vector>       // std::vector: a batch's tasks and results

#include "../outcome.hpp"
#include "run_core.hpp"

namespace parmap::detail {

// The task type a range yields: what the run copies or moves out of the input.
template <class View>
using task_t = std::remove_cvref_t<std::ranges::range_reference_t<View>>;

// What a task returns, decayed; tasks run once, as rvalues.
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

// A bool result in a box: std::vector<bool> packs bits and hands out proxies, and the
// consumer needs a real bool to bind a bool&& to.
struct BoolCell {
  BoolCell(bool v) noexcept : value(v) {}  // NOLINT(google-explicit-constructor): as a bool
  bool value;
};

// A batch's results; what the consumer side sees, whatever the input type.
template <class R>
struct ResultSlot : SlotBase {
  std::vector<std::conditional_t<std::is_same_v<R, bool>, BoolCell, R>> results;  // owner only

  // Result i of the batch, as the object the consumer moves from.
  R& result(std::size_t i) noexcept {
    if constexpr (std::is_same_v<R, bool>) {
      return results[i].value;
    } else {
      return results[i];
    }
  }
};

// The consumer's typed view of a run.
template <class R>
class ResultSource : public RunCore {
 public:
  using RunCore::RunCore;

  ResultSlot<R>* next() { return static_cast<ResultSlot<R>*>(next_ready()); }
};

// A run over one input view: reads tasks from it into batches and runs them into results.
// Thread safety is RunCore's; this class only fills in the typed storage.
template <class View, bool Collect>
class Run final : public ResultSource<stored_result_t<task_t<View>, Collect>> {
  using Task = task_t<View>;
  using R = stored_result_t<Task, Collect>;
  static constexpr bool returns_void = std::is_void_v<plain_result_t<Task>>;

  struct Slot : ResultSlot<R> {
    std::vector<Task> tasks;  // owner only
  };

 public:
  Run(View input, const RunConfig& config, std::shared_ptr<Engine> engine)
      : ResultSource<R>(config, std::move(engine)), input_(std::move(input)) {}

  Run(const Run&) = delete;
  Run& operator=(const Run&) = delete;

  ~Run() override { this->shutdown(); }

 private:
  std::unique_ptr<SlotBase> make_slot() override { return std::make_unique<Slot>(); }

  void read_batch(SlotBase& base, std::size_t want) override {
    auto& slot = static_cast<Slot&>(base);
    // begin() is called lazily, by the first reader, so that an input whose begin() reads
    // or throws (a stream, say) does so under the same rules as every later read.
    if (!it_) it_.emplace(std::ranges::begin(input_));
    while (slot.size < want && *it_ != std::ranges::end(input_)) {
      slot.tasks.emplace_back(**it_);
      slot.size = slot.tasks.size();
      ++*it_;
    }
  }

  void run_task(SlotBase& base, std::size_t k) override { run_one(static_cast<Slot&>(base), k); }

  // The whole batch in one typed loop: no virtual call per task.
  std::size_t run_tasks(SlotBase& base, const std::stop_token& stop,
                        std::exception_ptr& error) noexcept override {
    auto& slot = static_cast<Slot&>(base);
    std::size_t k = 0;
    for (; k < slot.size && !stop.stop_requested(); ++k) {
      try {
        run_one(slot, k);
      } catch (...) {
        error = std::current_exception();
        return k + 1;
      }
    }
    return k;
  }

  void run_one(Slot& slot, std::size_t k) {
    if (k == 0) slot.results.reserve(slot.size);
    const std::size_t index = slot.first_index + k;
    if constexpr (Collect) {
      try {
        if constexpr (returns_void) {
          std::invoke(std::move(slot.tasks[k]));
          slot.results.emplace_back(index);
        } else {
          slot.results.emplace_back(index, std::invoke(std::move(slot.tasks[k])));
        }
      } catch (...) {
        slot.results.emplace_back(index, std::current_exception());
      }
    } else if constexpr (returns_void) {
      std::invoke(std::move(slot.tasks[k]));
      slot.results.push_back(index);
    } else {
      slot.results.emplace_back(std::invoke(std::move(slot.tasks[k])));
    }
  }

  void replace_with_error(SlotBase& base, std::size_t k, std::exception_ptr error) override {
    if constexpr (Collect) {
      auto& slot = static_cast<Slot&>(base);
      slot.results.back() = R(slot.first_index + k, std::move(error));
    }
  }

  void drop_tasks(SlotBase& base) noexcept override { static_cast<Slot&>(base).tasks.clear(); }

  void reset_slot(SlotBase& base) noexcept override {
    auto& slot = static_cast<Slot&>(base);
    slot.tasks.clear();
    slot.results.clear();
  }

  View input_;                                       // guarded by RunCore::input_mutex_
  std::optional<std::ranges::iterator_t<View>> it_;  // guarded by RunCore::input_mutex_
};

}  // namespace parmap::detail
