#pragma once

// parmap over MPI ranks: the same Parallel, its tasks run by other processes. Optional: this
// header needs MPI (link the parmap::mpi CMake target); <parmap/parmap.hpp> does not.
//
//   int main(int argc, char** argv) {
//     parmap::mpi::Session session(argc, argv);
//     if (!session.is_root()) return session.serve();  // ranks 1..n-1 run tasks until rank 0 ends
//     parmap::mpi::Parallel<parmap::return_as::generator_t> parallel(session, {.pre_dispatch = 4});
//     for (double r : parallel(xs | std::views::transform([](int x) {
//            return parmap::mpi::delayed<simulate>(x);   // simulate: a function, named at compile time
//          })))
//       use(r);
//   }
//
// Run it with `mpiexec -n 4 ./app`. See docs/mpi.md for the design and the guarantees.

#include <algorithm>    // std::max
#include <atomic>       // std::atomic: the dying-rank handler's state
#include <chrono>       // std::chrono::milliseconds: batch targets
#include <concepts>     // std::same_as
#include <csignal>      // std::signal, SIGTERM: the message when the launcher ends the job
#include <cstddef>      // std::size_t
#include <cstdint>      // std::uint64_t
#include <cstring>      // std::strlen
#include <functional>   // std::invoke
#include <memory>       // std::unique_ptr, std::make_unique, std::make_shared
#include <optional>     // std::optional: the input's size
#include <ranges>       // std::ranges::input_range, sized_range
#include <stdexcept>    // std::logic_error, std::invalid_argument, std::runtime_error
#include <string>       // std::string: hosts, messages
#include <thread>       // std::thread::hardware_concurrency
#include <tuple>        // std::tuple, std::apply
#include <type_traits>  // std::decay_t
#include <unistd.h>     // write: async-signal-safe output from the handler
#include <utility>      // std::forward, std::move
#include <vector>       // std::vector

#include "mpi/codec.hpp"
#include "mpi/detail/registry.hpp"
#include "mpi/detail/remote.hpp"
#include "mpi/detail/wire.hpp"
#include "mpi/remote_error.hpp"
#include "parallel.hpp"

namespace parmap::mpi {

// A task for an MPI Parallel: F with its arguments, made by parmap::mpi::delayed<F>(args...).
// F is a function (or a captureless lambda) named at compile time, so that another process
// of the same binary can find it by id (detail::Registration), never by address. The
// arguments are stored decayed and cross the wire through parmap::mpi::codec.
// Invoked as an rvalue it calls F with the arguments moved, like parmap::delayed.
template <auto F, class... Args>
class RemoteCall {
 public:
  using Result = std::invoke_result_t<decltype(F), Args&&...>;
  static_assert((encodable<Args> && ...),
                "parmap::mpi::delayed<f>(args...): an argument type has no codec. Specialise "
                "parmap::mpi::codec<T> (static void encode(Writer&, const T&), static T "
                "decode(Reader&)), or include <parmap/mpi/cereal.hpp> for a type cereal can "
                "serialise");
  static_assert(std::is_void_v<Result> || encodable<std::remove_cvref_t<Result>>,
                "parmap::mpi::delayed<f>(args...): f's result type has no codec. Specialise "
                "parmap::mpi::codec<T> (static void encode(Writer&, const T&), static T "
                "decode(Reader&)), or include <parmap/mpi/cereal.hpp> for a type cereal can "
                "serialise");

  explicit RemoteCall(std::tuple<Args...> args) : args_(std::move(args)) {}

  decltype(auto) operator()() && {
    return std::apply([](Args&... a) -> decltype(auto) { return std::invoke(F, std::move(a)...); },
                      args_);
  }
  [[nodiscard]] const std::tuple<Args...>& args() const& noexcept { return args_; }
  // The id every rank of this binary knows F's calls by.
  static std::uint64_t id() noexcept { return detail::Registration<F, Args...>::id; }

 private:
  std::tuple<Args...> args_;
};

// parmap::mpi::delayed<f>(args...): a task that runs f(args...) on whichever rank takes it.
template <auto F, class... A>
  requires std::invocable<decltype(F), std::decay_t<A>&&...>
RemoteCall<F, std::decay_t<A>...> delayed(A&&... args) {
  return RemoteCall<F, std::decay_t<A>...>(std::tuple<std::decay_t<A>...>(std::forward<A>(args)...));
}

namespace detail {
template <class T>
inline constexpr bool is_remote_call_v = false;
template <auto F, class... Args>
inline constexpr bool is_remote_call_v<RemoteCall<F, Args...>> = true;

// Rank 0's SIGTERM handler: the launcher ends every rank when one dies (Open MPI here has no
// fault tolerance), and rank 0 would otherwise vanish without a word of its own. Says which
// ranks it was waiting on, then dies of the signal. Async-signal-safe: write() and atomics.
// Best effort: Open MPI follows its SIGTERM with a SIGKILL soon after when a rank has died,
// and now and then (about 1 run in 30 here) rank 0 is killed before the handler runs.
inline void append(char*& at, const char* text) {
  for (; *text != '\0'; ++text) *at++ = *text;
}
inline void on_terminate(int signal_number) {
  char message[512];
  char* at = message;
  append(at,
         "parmap::mpi: rank 0 was ended by the MPI launcher (SIGTERM) while waiting for "
         "ranks [");
  for (int r = 0; r < tracked_ranks && at < message + 400; ++r) {
    if (waiting_on[r].load(std::memory_order_relaxed) <= 0) continue;
    char digits[12];
    int n = 0;
    for (int v = r; v > 0 || n == 0; v /= 10) digits[n++] = static_cast<char>('0' + v % 10);
    *at++ = ' ';
    while (n > 0) *at++ = digits[--n];
  }
  append(at,
         " ]: a rank died or was killed, and without MPI fault tolerance the whole job ends. "
         "The launcher's message names the rank.\n");
  (void)!::write(2, message, static_cast<std::size_t>(at - message));
  std::signal(signal_number, SIG_DFL);
  std::raise(signal_number);
}
}  // namespace detail

// What a session is made with. Every rank must pass the same.
struct SessionOptions {
  // Threads each serving rank runs its tasks on (a local parmap::Parallel); 0: the host's
  // hardware threads divided among the ranks on that host, at least 1.
  int threads_per_rank = 0;
  // Requests rank 0 keeps in flight to each serving rank: 2 lets a rank find its next request
  // waiting when it finishes one.
  int in_flight_per_rank = 2;
  // Bytes per message part after the first (at most INT_MAX: MPI counts are int).
  std::size_t part_bytes = std::size_t{4} << 20;
};

// Thrown by Session when the ranks cannot work together (different binaries, no thread
// support), on every rank.
class SessionError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The MPI side of a program: every rank makes one, first thing in main, with the same options.
// Rank 0 runs the program and its Parallel calls; the other ranks call serve(), which runs
// tasks for rank 0 until rank 0's Session is destroyed.
// Construction initialises MPI (MPI_THREAD_MULTIPLE) unless the program already did, and
// checks, with every rank, that all run the same binary: the same set of functions named by
// delayed<F> (else SessionError on every rank, after MPI_Finalize). Destruction (rank 0)
// ends the serving ranks, then finalises MPI if the session initialised it.
// One Session per process; it must outlive every Parallel and result range made with it.
// Not thread-safe itself; rank 0 may run one call per Parallel at a time, as with
// parmap::Parallel.
class Session {
 public:
  Session(int& argc, char**& argv, SessionOptions options = {}) {
    int initialised = 0;
    MPI_Initialized(&initialised);
    int provided = 0;
    if (initialised == 0) {
      MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
      owns_mpi_ = true;
    } else {
      MPI_Query_thread(&provided);
    }
    if (provided < MPI_THREAD_MULTIPLE) {
      fail("parmap::mpi: the MPI library does not provide MPI_THREAD_MULTIPLE, which rank 0's "
           "runners need (one thread per lane)");
    }
    MPI_Comm_dup(MPI_COMM_WORLD, &state_.comm);
    MPI_Comm_rank(state_.comm, &state_.rank);
    MPI_Comm_size(state_.comm, &state_.size);
    state_.part_bytes = options.part_bytes;
    if (options.in_flight_per_rank < 1 || options.threads_per_rank < 0) {
      fail("parmap::mpi: SessionOptions: in_flight_per_rank must be >= 1 and threads_per_rank "
           ">= 0");
    }
    gather_hosts();
    check_same_binary();
    state_.threads = options.threads_per_rank > 0 ? options.threads_per_rank : local_share();
    check_tags(options.in_flight_per_rank);
    if (is_root()) {
      state_.lanes.make(state_.size, options.in_flight_per_rank);
      std::signal(SIGTERM, detail::on_terminate);
    }
  }
  Session(const Session&) = delete;  // runners hold its state by address
  Session& operator=(const Session&) = delete;

  ~Session() {
    if (is_root()) {
      for (int r = 1; r < state_.size; ++r) {
        detail::send_part(state_.comm, r, detail::tag_shutdown, nullptr, 0);
      }
      std::signal(SIGTERM, SIG_DFL);
    }
    MPI_Comm_free(&state_.comm);
    if (owns_mpi_) MPI_Finalize();
  }

  [[nodiscard]] int rank() const noexcept { return state_.rank; }
  [[nodiscard]] int size() const noexcept { return state_.size; }
  [[nodiscard]] bool is_root() const noexcept { return state_.rank == 0; }
  // Threads each serving rank runs tasks on.
  [[nodiscard]] int threads_per_rank() const noexcept { return state_.threads; }

  // Ranks other than 0: runs rank 0's requests until rank 0's Session ends; returns 0, for
  // main to return. Blocks. Rank 0: throws std::logic_error.
  int serve() {
    if (is_root()) throw std::logic_error("parmap::mpi: rank 0 runs the program; it cannot serve");
    detail::ServeState state;
    state.session = &state_;
    for (detail::Backoff idle(std::chrono::microseconds(1000));;) {
      int flag = 0;
      MPI_Message msg = MPI_MESSAGE_NULL;
      MPI_Status status;
      MPI_Improbe(0, MPI_ANY_TAG, state_.comm, &flag, &msg, &status);
      if (flag == 0) {
        idle.pause();
        continue;
      }
      idle = detail::Backoff(std::chrono::microseconds(1000));
      if (status.MPI_TAG == detail::tag_shutdown) {
        MPI_Mrecv(nullptr, 0, MPI_BYTE, &msg, MPI_STATUS_IGNORE);
        return 0;
      }
      if (status.MPI_TAG == detail::tag_cancel) {
        // A cancellation that arrived between requests: for one still queued, or one done.
        detail::CancelNote note;
        MPI_Mrecv(&note, sizeof note, MPI_BYTE, &msg, MPI_STATUS_IGNORE);
        state.record_cancel(note);
        continue;
      }
      serve_request(state, msg, status);
    }
  }

  // Internal: what Parallel and the serving loop share.
  detail::SessionState& state() noexcept { return state_; }

 private:
  [[noreturn]] void fail(const std::string& message) {
    if (owns_mpi_) MPI_Finalize();
    throw SessionError(message);
  }

  void gather_hosts() {
    char name[MPI_MAX_PROCESSOR_NAME] = {};
    int length = 0;
    MPI_Get_processor_name(name, &length);
    std::vector<char> all(static_cast<std::size_t>(MPI_MAX_PROCESSOR_NAME) *
                          static_cast<std::size_t>(state_.size));
    MPI_Allgather(name, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, all.data(), MPI_MAX_PROCESSOR_NAME,
                  MPI_CHAR, state_.comm);
    for (int r = 0; r < state_.size; ++r) {
      const char* host = all.data() + static_cast<std::ptrdiff_t>(r) * MPI_MAX_PROCESSOR_NAME;
      state_.hosts.emplace_back(host, strnlen(host, MPI_MAX_PROCESSOR_NAME));
    }
  }

  // Every rank hashes the functions it can run; they must agree, or a request could reach a
  // rank that would run another function under the same id, or none.
  void check_same_binary() {
    const detail::Registry& reg = detail::registry();
    std::uint64_t mine[2] = {reg.fingerprint(), reg.collision() ? 1ULL : 0ULL};
    std::vector<std::uint64_t> all(2 * static_cast<std::size_t>(state_.size));
    MPI_Allgather(mine, 2, MPI_UINT64_T, all.data(), 2, MPI_UINT64_T, state_.comm);
    std::string differ;
    bool collision = false;
    for (int r = 0; r < state_.size; ++r) {
      if (all[2 * static_cast<std::size_t>(r)] != all[0]) {
        differ += ' ';
        differ += std::to_string(r);
      }
      collision = collision || all[2 * static_cast<std::size_t>(r) + 1] != 0;
    }
    if (!differ.empty()) {
      MPI_Comm_free(&state_.comm);
      fail(detail::concat({"parmap::mpi: ranks [", differ,
                           " ] do not run the same program as rank 0 (they know a different set "
                           "of functions named by parmap::mpi::delayed<f>); start every rank "
                           "from the same binary"}));
    }
    if (collision) {
      MPI_Comm_free(&state_.comm);
      fail("parmap::mpi: two functions named by parmap::mpi::delayed<f> get the same id: "
           "functions of the same name and type with internal linkage (static, or in an "
           "anonymous namespace) in two files? Give them different names or external linkage");
    }
  }

  // Each lane has a tag of its own; MPI promises tags up to 32767 only.
  void check_tags(int depth) {
    void* value = nullptr;
    int found = 0;
    MPI_Comm_get_attr(state_.comm, MPI_TAG_UB, &value, &found);
    const long long tag_ub = found != 0 ? *static_cast<int*>(value) : 32767;
    const long long highest =
        detail::first_lane_tag + static_cast<long long>(state_.size - 1) * depth;
    if (highest > tag_ub) {
      MPI_Comm_free(&state_.comm);
      fail(detail::concat({"parmap::mpi: ", std::to_string(state_.size), " ranks with ",
                           std::to_string(depth), " requests in flight each need tags up to ",
                           std::to_string(highest), ", over this MPI's limit of ",
                           std::to_string(tag_ub), "; lower SessionOptions::in_flight_per_rank"}));
    }
  }

  // The host's hardware threads divided among the ranks on that host.
  [[nodiscard]] int local_share() const {
    MPI_Comm local = MPI_COMM_NULL;
    MPI_Comm_split_type(state_.comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local);
    int local_size = 1;
    MPI_Comm_size(local, &local_size);
    MPI_Comm_free(&local);
    const int hw = static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
    return std::max(1, hw / std::max(1, local_size));
  }

  void serve_request(detail::ServeState& state, MPI_Message& msg, const MPI_Status& status) {
    int count = 0;
    MPI_Get_count(&status, MPI_BYTE, &count);
    const int tag = status.MPI_TAG;
    detail::PartReader in(state_.comm, 0, tag, state.in, msg, count);
    const auto head = in.read<detail::RequestHead>();
    state.current = head;
    Writer out = detail::begin_message(state.out);
    const auto start = std::chrono::steady_clock::now();
    detail::ReplyHead reply{head.seq, 0, 0, 0};
    const std::size_t reply_at = out.size();
    out.write(reply);
    if (state.cancel_requested()) {
      in.drain();  // cancelled before it started: answer none of its tasks
    } else if (const detail::Registry::Entry* entry = detail::registry().find(head.function)) {
      try {
        reply.done = entry->handler(state, in, out, head);
        in.drain();
      } catch (...) {  // decoding the arguments, or the local run itself, failed
        in.drain();
        state.out.resize(reply_at + sizeof reply);
        reply.failed = 1;
        detail::write_error(out, std::current_exception());
      }
    } else {
      in.drain();
      reply.failed = 1;
      out.write(detail::outcome_error);
      encode(out, std::string("parmap::mpi::SessionError"));
      encode(out, detail::concat({"no function with id ", std::to_string(head.function), " on rank ",
                                  std::to_string(state_.rank),
                                  "; do all ranks run the same binary?"}));
    }
    reply.work_ns = std::chrono::nanoseconds(std::chrono::steady_clock::now() - start).count();
    std::memcpy(state.out.data() + reply_at, &reply, sizeof reply);
    detail::send_message(state_.comm, 0, tag, state.out, state_.part_bytes);
  }

  detail::SessionState state_;
  bool owns_mpi_ = false;
};

// parmap::Parallel over the ranks of a Session: the same modes, error policies, options (but
// n_jobs, which the session's ranks decide) and guarantees. Tasks must be made by
// parmap::mpi::delayed<F>(args...). Call it on rank 0.
// Each serving rank gets SessionOptions::in_flight_per_rank lanes; n_jobs() is the number of
// lanes, and pre_dispatch (the window, in batches) defaults to 2 * n_jobs(). The window
// counts batches on rank 0 from the moment they are read until the consumer has taken their
// last result, including while they run on another rank and while their results travel back:
// results alive on rank 0 never exceed window x batch size. A session needs two ranks or
// more.
template <class Mode = return_as::list_t, class OnError = on_error::raise_t>
class Parallel {
  static constexpr bool collect = std::same_as<OnError, on_error::collect_t>;

 public:
  // Throws std::invalid_argument for a bad option, or for n_jobs set (the ranks decide it);
  // std::logic_error in a session of one rank, where no rank would serve the tasks.
  explicit Parallel(Session& session, Options options = {}, Mode /*mode*/ = Mode{},
                    OnError /*policy*/ = OnError{})
      : session_(&session.state()), settings_(checked(std::move(options)), lanes(session.state())) {}

  Parallel(Parallel&&) noexcept = default;
  Parallel& operator=(Parallel&&) noexcept = default;

  // As parmap::Parallel::operator(): blocks until every result is in (list), or returns a
  // range. Throws std::logic_error on a rank other than 0.
  template <class In>
  auto operator()(In&& input) {
    static_assert(std::ranges::input_range<In>,
                  "parmap::mpi::Parallel: the argument must be an input range of tasks");
    using Task = parmap::detail::task_t<In>;
    static_assert(detail::is_remote_call_v<Task>,
                  "parmap::mpi::Parallel: each task must be made by parmap::mpi::delayed<f>(args...), "
                  "which names f so that other ranks can find it");
    std::optional<std::size_t> total;
    if constexpr (std::ranges::sized_range<In>)
      total = static_cast<std::size_t>(std::ranges::size(input));
    return parmap::detail::deliver<Mode, collect, typename Task::Result>(
        start(std::forward<In>(input), total), total);
  }

  [[nodiscard]] std::size_t n_jobs() const noexcept { return settings_.n_jobs; }
  [[nodiscard]] std::size_t pre_dispatch() const noexcept { return settings_.window; }
  [[nodiscard]] RunReport last_report() const {
    std::lock_guard lock(engine_->report_mutex);
    return engine_->last_report;
  }

 private:
  static std::size_t lanes(detail::SessionState& state) {
    if (state.rank == 0 && state.size < 2) {
      throw std::logic_error(
          "parmap::mpi::Parallel: the session has one rank, so no rank would serve the tasks; "
          "start the program with mpiexec -n 2 or more (or use parmap::Parallel)");
    }
    return std::max<std::size_t>(state.lanes.count(), 1);
  }

  static Options checked(Options options) {
    if (options.n_jobs != Options{}.n_jobs) {
      throw std::invalid_argument(
          "parmap::mpi::Parallel: n_jobs is decided by the ranks (mpiexec -n) and "
          "SessionOptions; leave it unset");
    }
    return options;
  }

  template <class In>
  auto start(In&& input, std::optional<std::size_t> total) {
    using View = parmap::detail::input_view_t<In>;
    using Task = parmap::detail::task_t<View>;
    using R = parmap::detail::stored_result_t<Task, collect>;
    if (session_->rank != 0) {
      throw std::logic_error("parmap::mpi::Parallel: call it on rank 0; the other ranks serve()");
    }
    parmap::detail::claim_engine(engine_.get());
    parmap::detail::RunConfig config = settings_.config<Mode, collect>(total);
    config.batch = settings_.batch_size;
    config.workers = settings_.n_jobs;
    // The serving ranks apply the timeout. Rank 0 aims at chunks (one message each) long
    // enough that a message's round trip is a small share of one.
    config.remote = true;
    config.timeout.reset();
    config.targets = {std::chrono::milliseconds(2), std::chrono::milliseconds(2), config.workers};
    using Exec = detail::RemoteBlocks<Task, collect>;
    std::unique_ptr<parmap::detail::ResultSource<R>> run;
    try {
      if (!engine_->pool) engine_->pool = std::make_unique<parmap::detail::ThreadPool>(config.workers);
      run = std::make_unique<parmap::detail::Run<View, collect, Exec>>(
          View(std::forward<In>(input)), config, engine_, Exec(*session_, settings_.timeout));
    } catch (...) {
      engine_->busy.store(false, std::memory_order_release);
      throw;
    }
    run->start();
    return ResultRange<R>(std::move(run));
  }

  detail::SessionState* session_;
  std::shared_ptr<parmap::detail::Engine> engine_ = std::make_shared<parmap::detail::Engine>();
  parmap::detail::CallSettings settings_;
};

}  // namespace parmap::mpi
