#pragma once

#include <condition_variable>  // std::condition_variable_any: waits that also wake on stop
#include <cstddef>             // std::size_t
#include <deque>               // std::deque: the job queue
#include <mutex>               // std::mutex, std::unique_lock
#include <stdexcept>           // std::runtime_error
#include <stop_token>          // std::stop_token: the worker's exit signal
#include <string>              // std::string: error messages
#include <system_error>        // std::system_error: what std::thread throws
#include <thread>              // std::jthread
#include <utility>             // std::move
#include <vector>              // std::vector: the workers

#include "task_context.hpp"

namespace parmap::detail {

// A job is a plain function pointer and its argument: no allocation to submit one.
struct Job {
  void (*run)(void* arg) noexcept = nullptr;
  void* arg = nullptr;
};

// A fixed set of worker threads that run submitted jobs in FIFO order.
//
// Thread safety: submit() and size() may be called from any thread, including from a job.
// Callers guarantee: a job's `arg` stays valid until the job has run; the pool is destroyed
// only when no job is queued or will be submitted (a Run keeps its pool alive and waits for
// its own jobs before it goes away). Jobs must not throw (Job::run is noexcept).
// Guarantees: every submitted job runs exactly once, on one of the pool's threads.
// Destruction: stops the workers after the jobs already running return; blocks until joined.
class ThreadPool {
 public:
  // Starts `n` threads. Throws std::system_error (with a message saying how many threads
  // were asked for) when the system refuses to create one; threads already started are
  // stopped and joined first, so nothing leaks.
  explicit ThreadPool(std::size_t n) {
    threads_.reserve(n);
    try {
      for (std::size_t i = 0; i < n; ++i) {
        threads_.emplace_back([this](std::stop_token stop) { work(stop); });
      }
    } catch (const std::system_error& e) {
      const std::size_t started = threads_.size();
      stop_all();
      throw std::system_error(e.code(), "parmap: could not start worker thread " +
                                            std::to_string(started + 1) + " of " +
                                            std::to_string(n));
    }
  }

  ThreadPool(const ThreadPool&) = delete;  // workers hold `this`
  ThreadPool& operator=(const ThreadPool&) = delete;

  ~ThreadPool() { stop_all(); }

  // Queues a job; never blocks on running jobs. Thread-safe.
  void submit(Job job) {
    {
      std::lock_guard lock(mutex_);
      jobs_.push_back(job);
    }
    // Notifying after unlocking lets the woken worker take the mutex at once.
    wake_.notify_one();
  }

  [[nodiscard]] std::size_t size() const noexcept { return threads_.size(); }

 private:
  void work(const std::stop_token& stop) {
    // Everything a pool thread runs counts as inside a task, reading a lazy input included:
    // a Parallel called from here runs inline instead of starting threads of its own.
    ++this_thread_context.depth;
    for (;;) {
      Job job;
      {
        std::unique_lock lock(mutex_);
        if (!wake_.wait(lock, stop, [&] { return !jobs_.empty(); })) return;  // stop requested
        job = jobs_.front();
        jobs_.pop_front();
      }
      job.run(job.arg);
    }
  }

  void stop_all() noexcept {
    for (auto& t : threads_) t.request_stop();
    threads_.clear();  // each std::jthread joins in its destructor
  }

  std::mutex mutex_;
  std::condition_variable_any wake_;   // predicate: !jobs_.empty() (or stop requested)
  std::deque<Job> jobs_;               // guarded by mutex_
  std::vector<std::jthread> threads_;  // written by the constructor and destructor only
};

}  // namespace parmap::detail
