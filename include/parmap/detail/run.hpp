#pragma once

#include <cstddef>      // std::size_t
#include <functional>   // std::invoke
#include <memory>       // std::unique_ptr, std::make_unique
#include <optional>     // std::optional: the input iterator, made on first read
#include <ranges>       // std::ranges::begin, end, iterator_t
#include <stop_token>   // std::stop_token
#include <type_traits>  // std::is_void_v, std::remove_cvref_t, std::invoke_result_t
#include <utility>      // std::move
#include <vector>       // std::vector: a batch's tasks and results

#include "run_core.hpp"

namespace parmap::detail {

// The task type a range yields: what the run copies or moves out of the input.
template <class View>
using task_t = std::remove_cvref_t<std::ranges::range_reference_t<View>>;

// What a task returns, decayed; tasks run once, as rvalues.
template <class Task>
using task_result_t = std::invoke_result_t<Task&&>;

// What the run stores for one task: its result, or its input index for a void task.
template <class Task>
using stored_result_t = std::conditional_t<std::is_void_v<task_result_t<Task>>, std::size_t,
                                           std::remove_cvref_t<task_result_t<Task>>>;

// A batch's results; what the consumer side sees, whatever the input type.
template <class R>
struct ResultSlot : SlotBase {
  std::vector<R> results;  // owner only (see SlotBase)
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
template <class View>
class Run final : public ResultSource<stored_result_t<task_t<View>>> {
  using Task = task_t<View>;
  using R = stored_result_t<Task>;

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

  std::size_t read_batch(SlotBase& base, std::size_t want) override {
    auto& slot = static_cast<Slot&>(base);
    // begin() is called lazily, by the first reader, so that an input whose begin() reads
    // or throws (a stream, say) does so under the same rules as every later read.
    if (!it_) it_.emplace(std::ranges::begin(input_));
    while (slot.tasks.size() < want && *it_ != std::ranges::end(input_)) {
      slot.tasks.emplace_back(**it_);
      ++*it_;
    }
    return slot.tasks.size();
  }

  void execute_batch(SlotBase& base, const std::stop_token& stop) override {
    auto& slot = static_cast<Slot&>(base);
    slot.results.reserve(slot.tasks.size());
    for (std::size_t k = 0; k < slot.tasks.size(); ++k) {
      // Cancellation is checked between tasks, so a long batch stops early too.
      if (stop.stop_requested()) break;
      if constexpr (std::is_void_v<task_result_t<Task>>) {
        std::invoke(std::move(slot.tasks[k]));
        slot.results.push_back(slot.first_index + k);
      } else {
        slot.results.emplace_back(std::invoke(std::move(slot.tasks[k])));
      }
    }
    // Tasks hold their arguments; drop them as soon as they have run.
    slot.tasks.clear();
  }

  void reset_slot(SlotBase& base) noexcept override {
    auto& slot = static_cast<Slot&>(base);
    slot.tasks.clear();
    slot.results.clear();
  }

  View input_;                                         // guarded by RunCore::input_mutex_
  std::optional<std::ranges::iterator_t<View>> it_;    // guarded by RunCore::input_mutex_
};

}  // namespace parmap::detail
