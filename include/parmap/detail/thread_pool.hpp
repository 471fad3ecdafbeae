#pragma once

#include <condition_variable>  // std::condition_variable: idle workers wait for a job or the end
#include <cstddef>             // std::size_t
#include <cstdio>              // std::snprintf: the error message
#include <deque>               // std::deque: the job queue
#include <mutex>               // std::mutex, std::unique_lock
#include <system_error>        // std::system_error: what std::thread throws
#include <thread>              // std::thread
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
//
// The workers are std::threads stopped by a flag under the job queue's mutex, not
// std::jthreads stopped by a std::stop_token: waiting on a condition_variable_any with a stop
// token instantiates a stop callback and the _any wait machinery in every translation unit
// that makes a pool, for nothing the flag does not do as well (one mutex, one predicate).
class ThreadPool {
 public:
  // Starts `n` threads. Throws std::system_error (with a message saying how many threads
  // were asked for) when the system refuses to create one; threads already started are
  // stopped and joined first, so nothing leaks.
  explicit ThreadPool(std::size_t n) {
    threads_.reserve(n);
    try {
      for (std::size_t i = 0; i < n; ++i) {
        threads_.emplace_back([this] { work(); });
      }
    } catch (const std::system_error& e) {
      const std::size_t started = threads_.size();
      stop_all();
      char message[96];
      std::snprintf(message, sizeof message, "parmap: could not start worker thread %zu of %zu",
                    started + 1, n);
      throw std::system_error(e.code(), message);
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
  void work() {
    // Everything a pool thread runs counts as inside a task, reading a lazy input included:
    // a Parallel called from here runs inline instead of starting threads of its own.
    ++this_thread_context.depth;
    for (;;) {
      Job job;
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
        if (jobs_.empty()) return;  // stopping, and nothing left to run
        job = jobs_.front();
        jobs_.pop_front();
      }
      job.run(job.arg);
    }
  }

  void stop_all() noexcept {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

  std::mutex mutex_;
  std::condition_variable wake_;      // predicate: stopping_ || !jobs_.empty()
  std::deque<Job> jobs_;              // guarded by mutex_
  bool stopping_ = false;             // set once, by stop_all; guarded by mutex_
  std::vector<std::thread> threads_;  // written by the constructor and destructor only
};

}  // namespace parmap::detail
