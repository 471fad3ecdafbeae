// Options: validation (every bad option throws std::invalid_argument naming it), n_jobs
// resolution, pre_dispatch's default and parmap::all, fixed batch sizes, and class template
// argument deduction of Parallel.

#include "support/catch.hpp"
#include "support/test_support.hpp"

#include <parmap/parmap.hpp>

#include <algorithm>    // std::max, std::sort
#include <cstddef>      // std::size_t
#include <limits>       // std::numeric_limits: the "all" window, extreme n_jobs
#include <ranges>       // std::views::iota, transform
#include <stdexcept>    // std::invalid_argument
#include <string>       // std::string: error messages
#include <thread>       // std::thread::hardware_concurrency
#include <type_traits>  // std::is_same_v
#include <vector>       // std::vector: results

namespace {

int twice(int i) { return 2 * i; }

auto twice_tasks(int n) {
  return std::views::iota(0, n) |
         std::views::transform([](int i) { return parmap::delayed(twice)(i); });
}

std::vector<int> twices(int n) {
  std::vector<int> out;
  for (int i = 0; i < n; ++i) out.push_back(twice(i));
  return out;
}

int hardware_threads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

// The message of the std::invalid_argument that constructing a Parallel with `options`
// throws, or "" when it throws none.
template <class Mode = parmap::return_as::list_t>
std::string invalid_argument_message(const parmap::Options& options, Mode mode = Mode{}) {
  try {
    parmap::Parallel<Mode> parallel(options, mode);
    (void)parallel;
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("every bad option throws std::invalid_argument naming the option", "[options]") {
  parmap_test::Watchdog watchdog("every bad option throws std::invalid_argument naming the option");
  struct Case {
    const char* option;
    parmap::Options options;
  };
  const std::vector<Case> cases = {
      {"n_jobs", {.n_jobs = 0}},
      {"pre_dispatch", {.n_jobs = 2, .pre_dispatch = 0}},
      {"pre_dispatch", {.n_jobs = 2, .pre_dispatch = -1}},
      {"pre_dispatch", {.n_jobs = 2, .pre_dispatch = -7}},
      {"pre_dispatch", {.n_jobs = 2, .pre_dispatch = std::numeric_limits<long long>::min()}},
      {"batch_size", {.n_jobs = 2, .batch_size = 0}},
      {"batch_size", {.n_jobs = 2, .batch_size = -1}},
      {"batch_size", {.n_jobs = 1, .batch_size = -20}},
  };
  for (const Case& c : cases) {
    INFO("bad " << c.option);
    for (const std::string& message :
         {invalid_argument_message(c.options),
          invalid_argument_message(c.options, parmap::return_as::generator),
          invalid_argument_message(c.options, parmap::return_as::generator_unordered)}) {
      INFO("message: " << message);
      CHECK(message.find(c.option) != std::string::npos);
    }
  }
  SECTION("the n_jobs shorthand is checked too") {
    REQUIRE_THROWS_AS(parmap::Parallel(0), std::invalid_argument);
  }
  SECTION("good options throw nothing") {
    CHECK(invalid_argument_message({.n_jobs = 3, .pre_dispatch = 1, .batch_size = 1}).empty());
    CHECK(invalid_argument_message({.n_jobs = -1, .pre_dispatch = parmap::all,
                                    .batch_size = parmap::automatic})
              .empty());
  }
}

TEST_CASE("negative n_jobs counts back from the number of CPUs to at least one", "[options]") {
  parmap_test::Watchdog watchdog("negative n_jobs counts back from the number of CPUs to at least one");
  const auto cpus = static_cast<std::size_t>(hardware_threads());
  CHECK(parmap::Parallel({.n_jobs = -1}).n_jobs() == cpus);
  CHECK(parmap::Parallel().n_jobs() == cpus);  // the default is all CPUs
  CHECK(parmap::Parallel({.n_jobs = -2}).n_jobs() == std::max<std::size_t>(1, cpus - 1));
  CHECK(parmap::Parallel({.n_jobs = -1000}).n_jobs() == 1);
  CHECK(parmap::Parallel({.n_jobs = std::numeric_limits<int>::min()}).n_jobs() == 1);
  CHECK(parmap::Parallel({.n_jobs = 3}).n_jobs() == 3);
  CHECK(parmap::Parallel(5).n_jobs() == 5);

  // A resolved count runs like the explicit one.
  CHECK(parmap::Parallel({.n_jobs = -1000})(twice_tasks(20)) == twices(20));
  CHECK(parmap::Parallel({.n_jobs = -2})(twice_tasks(20)) == twices(20));
}

TEST_CASE("pre_dispatch defaults to twice n_jobs", "[options]") {
  parmap_test::Watchdog watchdog("pre_dispatch defaults to twice n_jobs");
  CHECK(parmap::Parallel({.n_jobs = 1}).pre_dispatch() == 2);
  CHECK(parmap::Parallel({.n_jobs = 3}).pre_dispatch() == 6);
  CHECK(parmap::Parallel({.n_jobs = -1}).pre_dispatch() ==
        2 * static_cast<std::size_t>(hardware_threads()));
  CHECK(parmap::Parallel({.n_jobs = 3, .pre_dispatch = 5}).pre_dispatch() == 5);

  // And it is what the run uses: with nothing consumed, exactly 2 * n_jobs tasks start.
  const int n_jobs = 2;
  parmap_test::Counter started;
  parmap_test::Counter finished;
  auto tasks = std::views::iota(0, 50) | std::views::transform([&](int i) {
                 return parmap::delayed([&](int k) {
                   started.add();
                   finished.add();
                   return k;
                 })(i);
               });
  auto results = parmap::Parallel({.n_jobs = n_jobs, .batch_size = 1},
                                  parmap::return_as::generator)(tasks);
  CHECK(finished.wait_for_at_least(2 * n_jobs));
  CHECK(started.value() == 2 * n_jobs);
}

TEST_CASE("pre_dispatch = parmap::all lifts the window", "[options]") {
  parmap_test::Watchdog watchdog("pre_dispatch = parmap::all lifts the window");
  CHECK(parmap::Parallel({.n_jobs = 2, .pre_dispatch = parmap::all}).pre_dispatch() ==
        std::numeric_limits<std::size_t>::max());
  // With nothing consumed, every task still runs.
  const int n = 60;
  parmap_test::Counter finished;
  auto tasks = std::views::iota(0, n) | std::views::transform([&finished](int i) {
                 return parmap::delayed([&finished](int k) {
                   finished.add();
                   return twice(k);
                 })(i);
               });
  SECTION("ordered") {
    auto results = parmap::Parallel({.n_jobs = 2, .pre_dispatch = parmap::all, .batch_size = 1},
                                    parmap::return_as::generator)(tasks);
    CHECK(finished.wait_for_at_least(n));
    std::vector<int> got;
    for (int r : results) got.push_back(r);
    CHECK(got == twices(n));
  }
  SECTION("unordered") {
    auto results = parmap::Parallel({.n_jobs = 2, .pre_dispatch = parmap::all, .batch_size = 1},
                                    parmap::return_as::generator_unordered)(tasks);
    CHECK(finished.wait_for_at_least(n));
    std::vector<int> got;
    for (int r : results) got.push_back(r);
    std::sort(got.begin(), got.end());
    CHECK(got == twices(n));
  }
  SECTION("list") {
    CHECK(parmap::Parallel({.n_jobs = 2, .pre_dispatch = parmap::all})(tasks) == twices(n));
  }
}

TEST_CASE("a fixed batch_size works in every mode", "[options]") {
  parmap_test::Watchdog watchdog("a fixed batch_size works in every mode");
  const int n = 31;  // not a multiple of the batch size
  const int n_jobs = GENERATE(1, 2, 3);
  const parmap::Options options{.n_jobs = n_jobs, .batch_size = 3};
  INFO("n_jobs " << n_jobs);

  SECTION("list") { CHECK(parmap::Parallel(options)(twice_tasks(n)) == twices(n)); }
  SECTION("ordered") {
    std::vector<int> got;
    for (int r : parmap::Parallel(options, parmap::return_as::generator)(twice_tasks(n))) {
      got.push_back(r);
    }
    CHECK(got == twices(n));
  }
  SECTION("unordered, indexed") {
    std::vector<int> got(n, -1);
    for (auto r : parmap::Parallel(options, parmap::return_as::generator_unordered)(twice_tasks(n))
                      .indexed()) {
      REQUIRE(r.index < static_cast<std::size_t>(n));
      got[r.index] = r.value;
    }
    CHECK(got == twices(n));
  }
}

TEST_CASE("the window counts batches: one batch of three starts at pre_dispatch = 1",
          "[options]") {
  parmap_test::Watchdog watchdog(
      "the window counts batches: one batch of three starts at pre_dispatch = 1");
  parmap_test::Counter started;
  auto tasks = std::views::iota(0, 30) | std::views::transform([&started](int i) {
                 return parmap::delayed([&started](int k) {
                   started.add();
                   return k;
                 })(i);
               });
  auto results = parmap::Parallel({.n_jobs = 2, .pre_dispatch = 1, .batch_size = 3},
                                  parmap::return_as::generator)(tasks);
  CHECK(started.wait_for_at_least(3));
  // The batch holds the only window place; its three results are unconsumed.
  auto it = results.begin();
  REQUIRE(it != results.end());
  CHECK(*it == 0);
  CHECK(started.value() == 3);
}

TEST_CASE("Parallel's template arguments are deduced from its constructor arguments",
          "[options]") {
  parmap_test::Watchdog watchdog("Parallel's template arguments are deduced from its constructor arguments");
  auto tasks = twice_tasks(6);
  const parmap::Options opts{.n_jobs = 2, .pre_dispatch = 4};

  auto list = parmap::Parallel({.n_jobs = 2});
  static_assert(std::is_same_v<decltype(list), parmap::Parallel<parmap::return_as::list_t>>);
  static_assert(std::is_same_v<decltype(list(tasks)), std::vector<int>>);

  auto ordered = parmap::Parallel(opts, parmap::return_as::generator);
  static_assert(std::is_same_v<decltype(ordered), parmap::Parallel<parmap::return_as::generator_t>>);
  static_assert(std::is_same_v<decltype(ordered(tasks)), parmap::ResultRange<int>>);

  auto unordered = parmap::Parallel({.n_jobs = 2, .pre_dispatch = 4},
                                    parmap::return_as::generator_unordered);
  static_assert(std::is_same_v<decltype(unordered),
                               parmap::Parallel<parmap::return_as::generator_unordered_t>>);
  static_assert(std::is_same_v<decltype(unordered(tasks)), parmap::ResultRange<int>>);

  auto shorthand = parmap::Parallel(2);
  static_assert(std::is_same_v<decltype(shorthand), parmap::Parallel<parmap::return_as::list_t>>);
  static_assert(std::is_same_v<decltype(shorthand(tasks)), std::vector<int>>);
  auto shorthand_generator = parmap::Parallel(2, parmap::return_as::generator);
  static_assert(std::is_same_v<decltype(shorthand_generator(tasks)), parmap::ResultRange<int>>);

  auto explicit_list = parmap::Parallel(opts, parmap::return_as::list);
  static_assert(std::is_same_v<decltype(explicit_list(tasks)), std::vector<int>>);

  // And they run.
  CHECK(list(tasks) == twices(6));
  CHECK(shorthand(tasks) == twices(6));
  CHECK(explicit_list(tasks) == twices(6));
  std::vector<int> got;
  for (int r : ordered(tasks)) got.push_back(r);
  CHECK(got == twices(6));
  got.clear();
  for (int r : shorthand_generator(tasks)) got.push_back(r);
  CHECK(got == twices(6));
  got.clear();
  for (int r : unordered(tasks)) got.push_back(r);
  std::sort(got.begin(), got.end());
  CHECK(got == twices(6));
}
