#pragma once

// The textbook thread pool, a contestant of the overhead benchmark: the pool itself and the
// contestant that submits one task at a time and gets each future in order.

#include <condition_variable>  // std::condition_variable: the workers' wait
#include <cstddef>             // std::size_t
#include <cstdint>             // std::int64_t, std::uint64_t: task inputs, results, checksums
#include <deque>               // std::deque: the queue
#include <functional>          // std::function: the jobs
#include <future>              // std::future, std::packaged_task: a result per task
#include <memory>              // std::make_shared, std::shared_ptr
#include <mutex>               // std::mutex: the queue
#include <thread>              // std::thread: the workers
#include <utility>             // std::move
#include <vector>              // std::vector: workers, futures

#include "harness.hpp"  // Checksum, Contestant

namespace parmap_bench {

// What many projects write by hand: one mutex, one condition variable, a queue of
// std::function, and a std::packaged_task + std::future per task. It is the baseline a user
// switching to parmap comes from.
//
// Thread safety: submit() may be called from any thread. The destructor runs the jobs left in
// the queue, then joins the threads; no submit() may race with it.
class TextbookPool {
 public:
  explicit TextbookPool(std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) threads_.emplace_back([this] { work(); });
  }
  TextbookPool(const TextbookPool&) = delete;
  TextbookPool& operator=(const TextbookPool&) = delete;
  ~TextbookPool() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& t : threads_) t.join();
  }

  template <class F>
  auto submit(F f) -> std::future<decltype(f())> {
    auto task = std::make_shared<std::packaged_task<decltype(f())()>>(std::move(f));
    auto result = task->get_future();
    {
      std::lock_guard lock(mutex_);
      jobs_.emplace_back([task] { (*task)(); });
    }
    wake_.notify_one();
    return result;
  }

 private:
  void work() {
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [&] { return stop_ || !jobs_.empty(); });
        if (jobs_.empty()) return;  // stop_ and nothing left
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      job();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;            // predicate: stop_ || !jobs_.empty()
  std::deque<std::function<void()>> jobs_;  // guarded by mutex_
  bool stop_ = false;                       // guarded by mutex_
  std::vector<std::thread> threads_;        // constructor and destructor only
};

// `pool` running each task as a std::packaged_task, the futures read in input order;
// measured against parmap's list.
template <class F>
Contestant textbook_pool_contestant(const std::shared_ptr<TextbookPool>& pool, F f,
                                    std::size_t tasks = 0) {
  return {"textbook pool, future per task", true,
          [f, pool](std::size_t count) {
            std::vector<std::future<std::int64_t>> futures;
            futures.reserve(count);
            for (std::size_t i = 0; i < count; ++i) {
              futures.push_back(pool->submit([f, i] { return f(static_cast<std::int64_t>(i)); }));
            }
            Checksum sum(true);
            for (auto& result : futures) sum.add(result.get());
            return sum.value();
          },
          tasks, "parmap list"};
}

}  // namespace parmap_bench
