#pragma once

#include <atomic>              // std::atomic: ranks waited on, for the dying-rank message
#include <chrono>              // std::chrono::nanoseconds: timeouts on the wire
#include <condition_variable>  // std::condition_variable: a free lane
#include <cstddef>             // std::size_t, std::byte
#include <cstdint>             // fixed-width fields of the heads
#include <exception>           // std::exception_ptr, std::rethrow_exception
#include <functional>          // std::invoke
#include <memory>              // std::unique_ptr: lanes, immovable
#include <mutex>               // std::mutex: the lane list
#include <optional>            // std::optional: the timeout, the serving rank's Parallel
#include <ranges>              // std::views::iota, transform: a request's tasks
#include <stop_token>          // std::stop_token: the run's, polled while a reply is awaited
#include <string>              // std::string: hosts, type names, messages
#include <tuple>               // std::tuple, std::apply: a call's arguments
#include <type_traits>         // std::decay_t, std::invoke_result_t
#include <typeinfo>            // typeid: a call type's name, an exception's type
#include <utility>             // std::move
#include <vector>              // std::vector: lanes, buffers, cancellations

#include "../../outcome.hpp"  // Outcome, TimeoutError
#include "../../parallel.hpp"  // the serving rank's local Parallel
#include "../codec.hpp"
#include "../remote_error.hpp"
#include "registry.hpp"
#include "wire.hpp"

namespace parmap::mpi {

template <auto F, class... Args>
class RemoteCall;

namespace detail {

// --- The heads of requests and replies (after the MessageHead) ------------------------------
struct RequestHead {
  std::uint64_t seq = 0;          // per lane, from 1
  std::uint64_t function = 0;     // Registry id
  std::uint64_t first_index = 0;  // input index of the first task
  std::uint32_t lane = 0;
  std::uint32_t count = 0;       // tasks in the request
  std::int64_t timeout_ns = 0;   // per task; 0: none
};
struct ReplyHead {
  std::uint64_t seq = 0;
  std::uint32_t done = 0;    // outcomes that follow, for tasks 0..done-1 of the request
  std::uint32_t failed = 0;  // 1: the request could not run; a type and a message follow
  std::int64_t work_ns = 0;  // how long the serving rank took: decoding, running, encoding
};
struct CancelNote {
  std::uint64_t seq = 0;
  std::uint32_t lane = 0;
};
enum OutcomeKind : unsigned char { outcome_value = 0, outcome_error = 1, outcome_timeout = 2 };

// Rank 0's channel to one serving rank: one request in flight at a time, with its own tag and
// reused buffers. A rank gets `depth` lanes, so that its next request is already there when
// it finishes one. Touched only by the runner that holds it (Lanes).
struct Lane {
  int rank = 0;
  int tag = 0;
  std::uint32_t index = 0;
  std::uint64_t seq = 0;
  std::vector<std::byte> out;  // requests
  std::vector<std::byte> in;   // reply parts
};

// Ranks rank 0 is waiting on, for the message it prints if the launcher ends the job (a dead
// rank): counts per rank, lock-free, read from a signal handler.
inline constexpr int tracked_ranks = 64;
inline std::atomic<int> waiting_on[tracked_ranks] = {};

// Counts one awaited reply in waiting_on[rank] from construction until release() or the end
// of its scope, whichever comes first, so a throw cannot leave a rank counted.
class WaitingOn {
 public:
  explicit WaitingOn(int rank) noexcept : rank_(rank < tracked_ranks ? rank : -1) {
    if (rank_ >= 0) waiting_on[rank_].fetch_add(1, std::memory_order_relaxed);
  }
  WaitingOn(const WaitingOn&) = delete;
  WaitingOn& operator=(const WaitingOn&) = delete;
  ~WaitingOn() { release(); }
  void release() noexcept {
    if (rank_ >= 0) waiting_on[rank_].fetch_sub(1, std::memory_order_relaxed);
    rank_ = -1;
  }

 private:
  int rank_;
};

// The lanes of rank 0, lent to runners one at a time. Thread-safe.
class Lanes {
 public:
  Lanes() = default;
  Lanes(const Lanes&) = delete;  // runners hold lanes by address
  Lanes& operator=(const Lanes&) = delete;

  // Lane i serves rank 1 + i % (size - 1): the first size - 1 lanes cover every rank once,
  // and a runner takes the lowest free lane, so work spreads over ranks before it deepens.
  void make(int size, int depth) {
    const int serving = size - 1;
    for (int i = 0; i < serving * depth; ++i) {
      auto lane = std::make_unique<Lane>();
      lane->rank = 1 + i % serving;
      lane->tag = first_lane_tag + i;
      lane->index = static_cast<std::uint32_t>(i);
      lanes_.push_back(std::move(lane));
      busy_.push_back(false);
    }
  }
  [[nodiscard]] std::size_t count() const noexcept { return lanes_.size(); }

  // Blocks until a lane is free: a run has no more runners than lanes, so one run alone never
  // waits; two Parallels running at once may, for one request and its reply.
  Lane& acquire() {
    std::unique_lock lock(mutex_);
    for (;;) {
      for (std::size_t i = 0; i < lanes_.size(); ++i) {
        if (!busy_[i]) {
          busy_[i] = true;
          return *lanes_[i];
        }
      }
      free_cv_.wait(lock);
    }
  }
  void release(Lane& lane) noexcept {
    {
      std::lock_guard lock(mutex_);
      busy_[lane.index] = false;
    }
    free_cv_.notify_one();
  }

 private:
  std::mutex mutex_;
  std::condition_variable free_cv_;             // predicate: a lane is not busy
  std::vector<std::unique_ptr<Lane>> lanes_;    // fixed after make()
  std::vector<bool> busy_;                      // guarded by mutex_
};

class LaneLease {
 public:
  explicit LaneLease(Lanes& lanes) : lanes_(&lanes), lane_(&lanes.acquire()) {}
  LaneLease(const LaneLease&) = delete;
  LaneLease& operator=(const LaneLease&) = delete;
  ~LaneLease() { lanes_->release(*lane_); }
  Lane& operator*() const noexcept { return *lane_; }

 private:
  Lanes* lanes_;
  Lane* lane_;
};

// What every rank knows of the session. Written by Session's constructor, read-only after,
// except `lanes` (thread-safe by itself).
struct SessionState {
  MPI_Comm comm = MPI_COMM_NULL;  // parmap's own duplicate of MPI_COMM_WORLD
  int rank = 0;
  int size = 1;
  std::vector<std::string> hosts;  // by rank
  std::size_t part_bytes = std::size_t{4} << 20;
  int threads = 1;  // threads a serving rank runs tasks on
  Lanes lanes;      // rank 0 only
};

// --- Errors on the wire ---------------------------------------------------------------------
inline std::string current_exception_type() {
#ifdef PARMAP_MPI_HAVE_CXXABI
  if (const std::type_info* type = abi::__cxa_current_exception_type()) {
    return demangle(type->name());
  }
#endif
  return "an exception of unknown type";
}

inline void write_error(Writer& out, const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const TimeoutError& timeout) {
    out.write(outcome_timeout);
    out.write(static_cast<std::int64_t>(timeout.limit().count()));
  } catch (const std::exception& e) {
    out.write(outcome_error);
    encode(out, demangle(typeid(e).name()));
    encode(out, std::string(e.what()));
  } catch (...) {
    out.write(outcome_error);
    encode(out, current_exception_type());
    encode(out, std::string());
  }
}

inline std::exception_ptr read_error(Reader& in, unsigned char kind, std::size_t index, int rank,
                                     const std::string& host) {
  if (kind == outcome_timeout) {
    return std::make_exception_ptr(
        TimeoutError(index, std::chrono::nanoseconds(in.read<std::int64_t>())));
  }
  if (kind != outcome_error) throw CodecError("parmap::mpi: a reply with an unknown outcome");
  std::string type = decode<std::string>(in);
  std::string message = decode<std::string>(in);
  return std::make_exception_ptr(RemoteError(index, rank, host, std::move(type), std::move(message)));
}

// --- The serving side -----------------------------------------------------------------------

// A serving rank's state between requests. Serving thread only.
struct ServeState {
  using LocalParallel = parmap::Parallel<return_as::generator_t, on_error::collect_t>;

  SessionState* session = nullptr;
  std::vector<std::byte> in, out, note;
  std::vector<std::uint64_t> cancelled;  // by lane: the highest request seq cancelled
  RequestHead current;                   // the request being served
  std::optional<LocalParallel> local;    // kept between requests: its threads stay
  std::optional<std::chrono::nanoseconds> local_timeout;

  // The local Parallel, with the request's timeout.
  LocalParallel& parallel(std::int64_t timeout_ns) {
    std::optional<std::chrono::nanoseconds> timeout;
    if (timeout_ns > 0) timeout = std::chrono::nanoseconds(timeout_ns);
    if (!local || timeout != local_timeout) {
      local.reset();  // one pool at a time
      local.emplace(Options{.n_jobs = session->threads, .timeout = timeout});
      local_timeout = timeout;
    }
    return *local;
  }

  // Notes that rank 0 cancelled request `note.seq` of lane `note.lane` (and so every earlier
  // one of that lane).
  void record_cancel(const CancelNote& note) {
    if (note.lane >= cancelled.size()) cancelled.resize(note.lane + 1, 0);
    cancelled[note.lane] = std::max(cancelled[note.lane], note.seq);
  }

  // Takes the cancellations rank 0 has sent; true if the current request is among them.
  bool cancel_requested() {
    for (;;) {
      int flag = 0;
      MPI_Status status;
      MPI_Iprobe(0, tag_cancel, session->comm, &flag, &status);
      if (flag == 0) break;
      CancelNote note;
      MPI_Recv(&note, sizeof note, MPI_BYTE, 0, tag_cancel, session->comm, MPI_STATUS_IGNORE);
      record_cancel(note);
    }
    return current.lane < cancelled.size() && cancelled[current.lane] >= current.seq;
  }
};

// How often a serving rank looks for a cancellation while it runs a request's tasks: a
// cancelled request runs on for at most this long after its current task.
inline constexpr std::chrono::microseconds cancel_check_interval{100};

template <class T>
void write_outcome(Writer& out, const Outcome<T>& outcome) {
  if (!outcome.has_value()) {
    write_error(out, outcome.error());
    return;
  }
  out.write(outcome_value);
  if constexpr (!std::is_void_v<T>) encode(out, outcome.value());
}

// Runs one request's calls of F on the serving rank's local Parallel (collecting, so each
// task's exception is its outcome), writing each outcome as it arrives, in input order.
// Checks for a cancellation after each.
template <auto F, class... Args>
std::uint32_t serve_call(ServeState& state, Reader& in, Writer& out, const RequestHead& head) {
  using Call = RemoteCall<F, Args...>;
  std::vector<Call> calls;
  calls.reserve(head.count);
  for (std::uint32_t i = 0; i < head.count; ++i) calls.emplace_back(decode<std::tuple<Args...>>(in));
  auto tasks = std::views::iota(std::size_t{0}, calls.size()) |
               std::views::transform([&calls](std::size_t i) { return std::move(calls[i]); });
  std::uint32_t done = 0;
  // A probe for a cancellation costs about a microsecond: look at most every
  // cancel_check_interval, not after every tiny task.
  auto last_check = std::chrono::steady_clock::now();
  for (auto&& outcome : state.parallel(head.timeout_ns)(tasks)) {
    write_outcome(out, outcome);
    ++done;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_check >= cancel_check_interval) {
      last_check = now;
      if (state.cancel_requested()) break;
    }
  }
  return done;
}

// Registers serve_call<F, Args...> on every rank of the binary, before main: a delayed<F>(args)
// anywhere in the program instantiates it. The id is the call type's name, hashed.
template <auto F, class... Args>
struct Registration {
  static inline const std::uint64_t id =
      registry().add(typeid(RemoteCall<F, Args...>).name(), &serve_call<F, Args...>);
};

// --- The coordinating side: a batch that runs on another rank -------------------------------

// RunCore's second way to run a claimed block (see detail::LocalBlocks): the block's tasks go
// to a serving rank as one request on a lane, and their outcomes come back as one reply,
// constructed into the batch's result storage and published one by one as they are decoded.
// The window, order, failure and stop stay the run's. While the reply is awaited, a stop
// (a failure elsewhere, or the range destroyed) sends a cancellation: the serving rank stops
// after its current task (within cancel_check_interval) and replies with what it has.
// Thread-safe: runners call it at once, each on a lane of its own.
template <class Task, bool Collect>
class RemoteBlocks {
 public:
  RemoteBlocks(SessionState& session, std::optional<std::chrono::nanoseconds> timeout) noexcept
      : session_(&session), timeout_ns_(timeout ? timeout->count() : 0) {}

  template <class RunT, class Slot>
  std::size_t run_block(RunT& run, Slot& slot, std::size_t begin, std::size_t end,
                        const std::stop_token& stop, std::exception_ptr& error,
                        std::chrono::nanoseconds& work) noexcept {
    if (stop.stop_requested()) return 0;
    std::size_t k = begin;  // the next task to answer
    try {
      LaneLease lease(session_->lanes);
      Lane& lane = *lease;
      const int rank = lane.rank;
      RequestHead head{++lane.seq, Task::id(), slot.first_index + begin, lane.index,
                       static_cast<std::uint32_t>(end - begin), timeout_ns_};
      {
        Writer w = begin_message(lane.out);
        w.write(head);
        for (std::size_t j = begin; j < end; ++j) {
          run.peek_task(slot, j, [&w](const Task& task) { encode(w, task.args()); });
        }
      }
      WaitingOn waiting(rank);
      send_message(session_->comm, rank, lane.tag, lane.out, session_->part_bytes);
      MPI_Message msg = MPI_MESSAGE_NULL;
      MPI_Status status;
      bool cancel_sent = false;
      for (Backoff backoff(std::chrono::microseconds(200));;) {
        int flag = 0;
        MPI_Improbe(rank, lane.tag, session_->comm, &flag, &msg, &status);
        if (flag != 0) break;
        if (!cancel_sent && stop.stop_requested()) {
          const CancelNote note{head.seq, lane.index};
          send_part(session_->comm, rank, tag_cancel, reinterpret_cast<const std::byte*>(&note),
                    sizeof note);
          cancel_sent = true;
        }
        backoff.pause();
      }
      waiting.release();
      int count = 0;
      MPI_Get_count(&status, MPI_BYTE, &count);
      PartReader in(session_->comm, rank, lane.tag, lane.in, msg, count);
      try {
        read_reply<RunT>(slot, begin, end, head.seq, in, rank, error, work, k);
      } catch (...) {
        in.drain();  // the lane's next reply must start at a message's start
        throw;
      }
      in.drain();
    } catch (...) {
      error = std::current_exception();
    }
    // Under run_tasks_published's contract a failed task counts as run: free it here.
    if (error && k < end) RunT::free_task(slot, k);
    return k - begin;
  }

 private:
  using R = parmap::detail::stored_result_t<Task, Collect>;
  using Plain = parmap::detail::plain_result_t<Task>;

  // Constructs and publishes the reply's results, moving `k` past each one published (also
  // when a later one throws: run_block frees exactly the first task not published).
  template <class RunT, class Slot>
  void read_reply(Slot& slot, std::size_t begin, std::size_t end, std::uint64_t seq,
                  PartReader& in, int rank, std::exception_ptr& error,
                  std::chrono::nanoseconds& work, std::size_t& k) {
    const auto reply = in.read<ReplyHead>();
    if (reply.seq != seq) throw CodecError("parmap::mpi: a reply to another request on this lane");
    work += std::chrono::nanoseconds(reply.work_ns);
    const std::string& host = session_->hosts[static_cast<std::size_t>(rank)];
    if (reply.failed != 0) {
      error = read_error(in, in.read<unsigned char>(), slot.first_index + k, rank, host);
      return;
    }
    const std::size_t done = std::min<std::size_t>(reply.done, end - begin);
    for (; k < begin + done; ++k) {
      const std::size_t index = slot.first_index + k;
      R* where = RunT::result_at(slot, k);
      const auto kind = in.read<unsigned char>();
      if (kind == outcome_value) {
        if constexpr (Collect && std::is_void_v<Plain>) {
          ::new (static_cast<void*>(where)) R(index);
        } else if constexpr (Collect) {
          ::new (static_cast<void*>(where)) R(index, decode<Plain>(in));
        } else if constexpr (std::is_void_v<Plain>) {
          ::new (static_cast<void*>(where)) R(index);
        } else {
          ::new (static_cast<void*>(where)) R(decode<Plain>(in));
        }
      } else {
        std::exception_ptr failure = read_error(in, kind, index, rank, host);
        if constexpr (Collect) {
          ::new (static_cast<void*>(where)) R(index, std::move(failure));
        } else {
          error = std::move(failure);
          return;
        }
      }
      RunT::free_task(slot, k);
      RunT::publish(slot, k);
    }
  }

  SessionState* session_;
  std::int64_t timeout_ns_;
};

}  // namespace detail
}  // namespace parmap::mpi
