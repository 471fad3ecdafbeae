// parmap::mpi::Parallel under mpiexec (2, 3 and 5 ranks): every mode, order, the window on
// rank 0, errors with their details, collect, early stop and reuse, timeouts, the codec over
// the wire (multi-part messages, a cereal type), nesting on the serving ranks.
#include <algorithm>  // std::sort, std::max
#include <atomic>     // std::atomic: live results on rank 0
#include <chrono>     // std::chrono: slow tasks, timeouts
#include <cstddef>    // std::size_t
#include <optional>   // std::optional: an argument type
#include <ranges>     // std::views
#include <stdexcept>  // std::invalid_argument
#include <string>     // std::string
#include <thread>     // std::this_thread::sleep_for
#include <tuple>      // std::tuple
#include <unistd.h>   // getpid: which process ran a task
#include <vector>     // std::vector

#include <parmap/parmap.hpp>

#include "../support/catch.hpp"
#include "mpi_support.hpp"
#if PARMAP_MPI_TEST_CEREAL
#include <cereal/types/string.hpp>  // cereal: std::string members
#include <cereal/types/vector.hpp>  // cereal: std::vector members
#include <parmap/mpi/cereal.hpp>
#endif

namespace {

using parmap::mpi::delayed;
using parmap::mpi::Parallel;
using parmap::mpi::Session;
namespace return_as = parmap::return_as;
namespace on_error = parmap::on_error;

Session& session() { return *parmap_mpi_test::session; }

int square(int x) { return x * x; }
long long pid_of(int /*x*/) { return static_cast<long long>(getpid()); }

auto squares(int n) {
  return std::views::iota(0, n) | std::views::transform([](int i) { return delayed<square>(i); });
}

}  // namespace

TEST_CASE("a list call returns every result in input order", "[mpi]") {
  const auto batch = GENERATE(0, 1, 7);
  parmap::Options options;
  if (batch > 0) options.batch_size = batch;
  Parallel parallel(session(), options);
  const std::vector<int> results = parallel(squares(3000));
  REQUIRE(results.size() == 3000);
  for (int i = 0; i < 3000; ++i) REQUIRE(results[static_cast<std::size_t>(i)] == i * i);
  const parmap::RunReport report = parallel.last_report();
  CHECK(report.completed == 3000);
}

TEST_CASE("tasks run on the serving ranks, not on rank 0", "[mpi]") {
  Parallel parallel(session(), {.batch_size = 1});
  auto tasks = std::views::iota(0, 64) | std::views::transform([](int i) { return delayed<pid_of>(i); });
  const std::vector<long long> pids = parallel(tasks);
  std::vector<long long> distinct = pids;
  std::sort(distinct.begin(), distinct.end());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  CHECK(std::find(pids.begin(), pids.end(), static_cast<long long>(getpid())) == pids.end());
  CHECK(distinct.size() <= static_cast<std::size_t>(session().size() - 1));
  CHECK(parallel.n_jobs() == static_cast<std::size_t>(2 * (session().size() - 1)));
}

TEST_CASE("a generator yields results in input order, with their indices", "[mpi]") {
  Parallel parallel(session(), {.pre_dispatch = 3}, return_as::generator);
  std::size_t next = 0;
  for (auto&& [index, value] : parallel(squares(500)).indexed()) {
    REQUIRE(index == next);
    REQUIRE(value == static_cast<int>(index * index));
    ++next;
  }
  CHECK(next == 500);
}

TEST_CASE("an unordered generator yields every result once", "[mpi]") {
  Parallel parallel(session(), {.batch_size = 3}, return_as::generator_unordered);
  std::vector<std::size_t> seen;
  for (auto&& [index, value] : parallel(squares(400)).indexed()) {
    REQUIRE(value == static_cast<int>(index * index));
    seen.push_back(index);
  }
  std::sort(seen.begin(), seen.end());
  std::vector<std::size_t> all(400);
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = i;
  CHECK(seen == all);
}

namespace {
std::atomic<int> void_calls{0};  // counted on the rank that runs the task
void touch(int /*x*/) { void_calls.fetch_add(1); }
}  // namespace

TEST_CASE("void tasks: list returns nothing, unordered yields their indices", "[mpi]") {
  auto tasks = std::views::iota(0, 50) | std::views::transform([](int i) { return delayed<touch>(i); });
  Parallel list(session());
  list(tasks);
  CHECK(list.last_report().completed == 50);
  CHECK(void_calls.load() == 0);  // they ran elsewhere
  Parallel unordered(session(), {}, return_as::generator_unordered);
  std::vector<std::size_t> indices;
  for (std::size_t i : unordered(tasks)) indices.push_back(i);
  std::sort(indices.begin(), indices.end());
  REQUIRE(indices.size() == 50);
  CHECK(indices.front() == 0);
  CHECK(indices.back() == 49);
}

namespace {
using Record = std::tuple<std::string, std::vector<double>, std::optional<int>, std::pair<int, char>>;

Record describe(std::string name, std::vector<double> values, std::optional<int> extra) {
  std::vector<double> doubled;
  for (double v : values) doubled.push_back(2 * v);
  return {name + "!", doubled, extra ? std::optional<int>(*extra + 1) : std::nullopt,
          {static_cast<int>(values.size()), 'x'}};
}

// About 1 MB: the reply crosses in many parts and is received straight into the vector.
std::vector<double> big(int n) { return std::vector<double>(131072, static_cast<double>(n)); }
}  // namespace

TEST_CASE("strings, vectors, optionals, pairs and tuples cross both ways", "[mpi]") {
  Parallel parallel(session());
  std::vector<parmap::mpi::RemoteCall<describe, std::string, std::vector<double>, std::optional<int>>>
      tasks;
  for (int i = 0; i < 20; ++i) {
    tasks.push_back(delayed<describe>(std::string(static_cast<std::size_t>(i) * 1000, 'a'),
                                      std::vector<double>(static_cast<std::size_t>(i), 1.5),
                                      i % 2 == 0 ? std::optional<int>(i) : std::nullopt));
  }
  const std::vector<Record> results = parallel(tasks);
  for (int i = 0; i < 20; ++i) {
    const Record& r = results[static_cast<std::size_t>(i)];
    CHECK(std::get<0>(r) == std::string(static_cast<std::size_t>(i) * 1000, 'a') + "!");
    CHECK(std::get<1>(r) == std::vector<double>(static_cast<std::size_t>(i), 3.0));
    CHECK(std::get<2>(r) == (i % 2 == 0 ? std::optional<int>(i + 1) : std::nullopt));
    CHECK(std::get<3>(r) == std::pair<int, char>(i, 'x'));
  }
}

TEST_CASE("large results arrive whole", "[mpi]") {
  Parallel parallel(session(), {.pre_dispatch = 2}, return_as::generator);
  auto tasks = std::views::iota(0, 12) | std::views::transform([](int i) { return delayed<big>(i); });
  int i = 0;
  for (auto&& v : parallel(tasks)) {
    REQUIRE(v.size() == 131072);
    CHECK(v.front() == i);
    CHECK(v.back() == i);
    ++i;
  }
  CHECK(i == 12);
}

namespace {
// A result that counts its live copies on rank 0 (where results are decoded), through its
// codec, the one place rank 0 makes one.
std::atomic<int> live{0};
std::atomic<int> peak{0};
struct Counted {
  int value = 0;
  explicit Counted(int v) : value(v) {
    const int now = live.fetch_add(1) + 1;
    int seen = peak.load();
    while (now > seen && !peak.compare_exchange_weak(seen, now)) {
    }
  }
  Counted(Counted&& other) noexcept : Counted(other.value) {}
  Counted(const Counted&) = delete;
  Counted& operator=(const Counted&) = delete;
  Counted& operator=(Counted&&) = delete;
  ~Counted() { live.fetch_sub(1); }
};
int counted_value(int x) { return x; }  // what the serving rank computes
}  // namespace

template <>
struct parmap::mpi::codec<Counted> {
  static void encode(Writer& w, const Counted& c) { w.write(c.value); }
  static Counted decode(Reader& r) { return Counted(r.read<int>()); }
};

namespace {
Counted make_counted(int x) { return Counted(counted_value(x)); }
}  // namespace

TEST_CASE("the window bounds the results alive on rank 0, however slow the consumer", "[mpi]") {
  const std::size_t window = GENERATE(1, 2, 5);
  live = 0;
  peak = 0;
  Parallel parallel(session(), {.pre_dispatch = static_cast<int>(window), .batch_size = 1},
                    return_as::generator);
  auto tasks = std::views::iota(0, 60) | std::views::transform([](int i) {
                 return delayed<make_counted>(i);
               });
  int expected = 0;
  for (auto&& c : parallel(tasks)) {
    REQUIRE(c.value == expected++);
    CHECK(live.load() <= static_cast<int>(window));
    std::this_thread::sleep_for(std::chrono::milliseconds(1));  // a slow consumer
  }
  CHECK(expected == 60);
  CHECK(peak.load() <= static_cast<int>(window));
  CHECK(live.load() == 0);
}

namespace {
int fail_at_13(int x) {
  if (x == 13) throw std::invalid_argument("thirteen is unlucky");
  return x;
}
int throw_int(int x) {
  if (x == 2) throw 42;
  return x;
}
auto failing(int n) {
  return std::views::iota(0, n) | std::views::transform([](int i) { return delayed<fail_at_13>(i); });
}
}  // namespace

TEST_CASE("a task's exception reaches rank 0 with its index, rank, host, type and message",
          "[mpi]") {
  Parallel parallel(session(), {.batch_size = 4});
  try {
    (void)parallel(failing(40));
    FAIL("no exception");
  } catch (const parmap::mpi::RemoteError& e) {
    CHECK(e.index() == 13);
    CHECK(e.rank() >= 1);
    CHECK(e.rank() < session().size());
    CHECK_FALSE(e.host().empty());
    CHECK(e.type_name() == "std::invalid_argument");
    CHECK(e.message() == "thirteen is unlucky");
    CHECK_THAT(std::string(e.what()), Catch::Matchers::ContainsSubstring("task 13 threw std::invalid_argument on rank"));
  }
  // The same Parallel works after a failure.
  const std::vector<int> again = parallel(squares(30));
  CHECK(again[29] == 29 * 29);
}

TEST_CASE("a generator yields results in order until a failure, then throws it", "[mpi]") {
  Parallel parallel(session(), {.batch_size = 1}, return_as::generator);
  int seen = 0;
  CHECK_THROWS_AS(
      [&] {
        for (int v : parallel(failing(40))) {
          CHECK(v == seen);
          ++seen;
        }
      }(),
      parmap::mpi::RemoteError);
  // As with parmap::Parallel: the failure is thrown once it is known, so the results before it
  // that had not been taken yet are dropped.
  CHECK(seen <= 13);
}

TEST_CASE("collect gives each task's outcome, errors included", "[mpi]") {
  Parallel parallel(session(), {.batch_size = 5}, return_as::list, on_error::collect);
  const auto outcomes = parallel(failing(30));
  REQUIRE(outcomes.size() == 30);
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    CHECK(outcomes[i].index() == i);
    CHECK(outcomes[i].has_value() == (i != 13));
  }
  CHECK_THROWS_AS(std::rethrow_exception(outcomes[13].error()), parmap::mpi::RemoteError);

  auto ints = std::views::iota(0, 5) | std::views::transform([](int i) { return delayed<throw_int>(i); });
  const auto others = parallel(ints);
  try {
    std::rethrow_exception(others[2].error());
  } catch (const parmap::mpi::RemoteError& e) {
    CHECK(e.type_name() == "int");
    CHECK(e.message().empty());
  }
}

namespace {
// A result whose codec refuses one value: the serving rank cannot send its reply.
struct Fragile {
  int value;
};
Fragile fragile(int x) { return Fragile{x}; }
}  // namespace

template <>
struct parmap::mpi::codec<Fragile> {
  static void encode(Writer& w, const Fragile& f) {
    if (f.value == 3) throw std::runtime_error("cannot encode 3");
    w.write(f.value);
  }
  static Fragile decode(Reader& r) { return Fragile{r.read<int>()}; }
};

TEST_CASE("a request the serving rank cannot answer fails the call with what went wrong",
          "[mpi]") {
  Parallel parallel(session(), {.batch_size = 1});
  auto tasks = std::views::iota(0, 8) | std::views::transform([](int i) { return delayed<fragile>(i); });
  try {
    (void)parallel(tasks);
    FAIL("no exception");
  } catch (const parmap::mpi::RemoteError& e) {
    CHECK(e.index() == 3);
    CHECK(e.type_name() == "std::runtime_error");
    CHECK(e.message() == "cannot encode 3");
  }
  CHECK(parallel(squares(10))[9] == 81);  // and the session goes on
}

namespace {
int slow_square(int x) {
  for (int i = 0; i < 20 && !parmap::this_task::stop_requested(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return x * x;
}
}  // namespace

TEST_CASE("destroying a range early cancels the rest, and the next call works", "[mpi]") {
  Parallel parallel(session(), {.batch_size = 2}, return_as::generator);
  auto tasks = std::views::iota(0, 2000) | std::views::transform([](int i) { return delayed<slow_square>(i); });
  {
    int taken = 0;
    for (int v : parallel(tasks)) {
      CHECK(v == taken * taken);
      if (++taken == 5) break;
    }
  }
  const parmap::RunReport report = parallel.last_report();
  CHECK(report.consumed == 5);
  CHECK_FALSE(report.finished);
  // No task ran beyond the window: pre_dispatch batches of 2 past the 5 consumed.
  CHECK(report.completed <= 5 + 2 * parallel.pre_dispatch());
  int next = 0;
  for (int v : parallel(squares(100))) {
    CHECK(v == next * next);
    ++next;
  }
  CHECK(next == 100);
}

namespace {
int sleepy(int x) {
  if (x == 3) {
    // Long, but it listens to its stop token: the serving rank's timeout asks it to stop.
    for (int i = 0; i < 5000 && !parmap::this_task::stop_requested(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  return x;
}
}  // namespace

TEST_CASE("timeouts are enforced on the serving rank and come back as TimeoutError", "[mpi]") {
  using namespace std::chrono_literals;
  auto tasks = std::views::iota(0, 8) | std::views::transform([](int i) { return delayed<sleepy>(i); });
  Parallel collecting(session(), {.batch_size = 1, .timeout = 50ms}, return_as::list, on_error::collect);
  const auto outcomes = collecting(tasks);
  for (std::size_t i = 0; i < outcomes.size(); ++i) CHECK(outcomes[i].has_value() == (i != 3));
  try {
    std::rethrow_exception(outcomes[3].error());
  } catch (const parmap::TimeoutError& e) {
    CHECK(e.index() == 3);
    CHECK(e.limit() == 50ms);
  }
  Parallel raising(session(), {.batch_size = 1, .timeout = 50ms});
  CHECK_THROWS_AS(raising(tasks), parmap::TimeoutError);
}

namespace {
int nested_sum(int n) {
  // parmap inside a remote task: runs on the serving rank.
  const std::vector<int> parts = parmap::Parallel(2)(
      std::views::iota(0, n) | std::views::transform([](int i) { return parmap::delayed([](int v) { return v; })(i); }));
  int sum = 0;
  for (int p : parts) sum += p;
  return sum;
}
}  // namespace

TEST_CASE("a remote task may use parmap on its own rank", "[mpi]") {
  Parallel parallel(session());
  auto tasks = std::views::iota(1, 20) | std::views::transform([](int n) { return delayed<nested_sum>(n); });
  const std::vector<int> sums = parallel(tasks);
  for (int n = 1; n < 20; ++n) CHECK(sums[static_cast<std::size_t>(n - 1)] == n * (n - 1) / 2);
}

TEST_CASE("a progress callback sees every task and the end, as in parmap::Parallel", "[mpi]") {
  std::size_t last = 0;
  bool done = false;
  Parallel parallel(session(), {.progress = [&](const parmap::Progress& p) {
                                  last = p.completed;
                                  done = done || p.done;
                                }});
  (void)parallel(squares(300));
  CHECK(last == 300);
  CHECK(done);
}

TEST_CASE("options the ranks decide are refused", "[mpi]") {
  CHECK_THROWS_AS(Parallel(session(), {.n_jobs = 3}), std::invalid_argument);
  CHECK_THROWS_AS(Parallel(session(), {.pre_dispatch = 0}), std::invalid_argument);
  CHECK_THROWS_AS(session().serve(), std::logic_error);
}

#if PARMAP_MPI_TEST_CEREAL
namespace {
struct Particle {
  std::string name;
  std::vector<double> position;
  template <class Archive>
  void serialize(Archive& archive) {
    archive(name, position);
  }
};
Particle moved(Particle p, double dx) {
  for (double& x : p.position) x += dx;
  p.name += "'";
  return p;
}
}  // namespace

TEST_CASE("a user type crosses through cereal", "[mpi]") {
  Parallel parallel(session(), {}, return_as::generator);
  std::vector<parmap::mpi::RemoteCall<moved, Particle, double>> tasks;
  for (int i = 0; i < 10; ++i) tasks.push_back(delayed<moved>(Particle{"p" + std::to_string(i), {1.0, 2.0, 3.0}}, 0.5 * i));
  int i = 0;
  for (Particle p : parallel(tasks)) {
    CHECK(p.name == "p" + std::to_string(i) + "'");
    CHECK(p.position == std::vector<double>{1.0 + 0.5 * i, 2.0 + 0.5 * i, 3.0 + 0.5 * i});
    ++i;
  }
  CHECK(i == 10);
}
#endif
