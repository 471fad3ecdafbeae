// Options::verbose: which progress lines appear. A line when the count of finished tasks
// reaches or passes each power of two (1, 2, 4, 8, ...), showing the count at that moment, at
// most one line per report; and exactly one final line, marked " finished", when the run
// reaches its end, with no line before it showing the same known total. Checked on the
// reporter itself, fed the counts a run reports (how often a run reports is the engine's
// business), and on whole runs. (The lines' format is checked in report_test.cpp.)

#include "support/catch.hpp"
#include "support/stress_support.hpp"
#include "support/test_support.hpp"

#include <parmap/parmap.hpp>

#include <chrono>    // std::chrono: the watchdog's limit
#include <cstddef>   // std::size_t
#include <cstdio>    // std::sscanf: reading the count out of a line
#include <optional>  // std::optional: the total, when known
#include <ranges>    // std::views::iota, transform, filter
#include <sstream>   // std::istringstream: splitting captured lines
#include <string>    // std::string
#include <utility>   // std::move
#include <vector>    // std::vector

using namespace std::chrono_literals;

namespace {

// One verbose line, read back.
struct Line {
  int count = 0;          // tasks done when it was printed
  bool finished = false;  // the final line
};

// Reads the verbose lines out of captured stderr. (sscanf, not std::regex: GCC 12 warns about
// its own <regex> at -O1, as the sanitizer builds compile.)
std::vector<Line> parse(const std::string& printed) {
  std::vector<Line> lines;
  std::istringstream in(printed);
  for (std::string text; std::getline(in, text);) {
    INFO("line: " << text);
    int n_jobs = 0;
    int count = 0;
    REQUIRE(std::sscanf(text.c_str(), "[Parallel(n_jobs=%d)]: Done %d", &n_jobs, &count) == 2);
    const std::string finished = " finished";
    const bool is_final =
        text.size() >= finished.size() &&
        text.compare(text.size() - finished.size(), finished.size(), finished) == 0;
    lines.push_back({count, is_final});
  }
  return lines;
}

// The lines a reporter prints for these reports (counts of tasks done, in the order a run
// would make them) and a finish() at `finished`.
std::vector<Line> lines_reported(int verbose, std::optional<std::size_t> total,
                                 const std::vector<std::size_t>& reports, std::size_t finished) {
  std::string printed;
  {
    parmap_test::StderrCapture capture;
    parmap::detail::ProgressReporter reporter(nullptr, verbose, 2, total);
    for (const std::size_t completed : reports) reporter.report(completed);
    reporter.finish(finished);
    printed = capture.text();
  }
  return parse(printed);
}

// The lines printed by a list call over n quick tasks (a sized input unless `sized` is
// false).
std::vector<Line> lines_printed(int n, parmap::Options options, bool sized = true) {
  auto task = [](int i) { return parmap::delayed([](int k) { return k; })(i); };
  std::string printed;
  {
    parmap_test::StderrCapture capture;
    parmap::Parallel parallel(std::move(options));
    if (sized) {
      CHECK(parallel(std::views::iota(0, n) | std::views::transform(task)).size() ==
            static_cast<std::size_t>(n));
    } else {
      CHECK(parallel(std::views::iota(0, n) | std::views::filter([](int) { return true; }) |
                     std::views::transform(task))
                .size() == static_cast<std::size_t>(n));
    }
    printed = capture.text();
  }
  return parse(printed);
}

std::vector<int> counts(const std::vector<Line>& lines) {
  std::vector<int> out;
  for (const Line& l : lines) out.push_back(l.count);
  return out;
}

// The largest power of two not above n (n >= 1).
int power_below(int n) {
  int p = 1;
  while (p * 2 <= n) p *= 2;
  return p;
}

// What every verbose = 1 run must print: counts going up, each periodic line past a power of
// two the previous one was not, and one final line, last, with the total.
void check_lines(const std::vector<Line>& lines, int total) {
  INFO("counts printed: " << Catch::Detail::stringify(counts(lines)));
  REQUIRE_FALSE(lines.empty());
  CHECK(lines.back().finished);
  CHECK(lines.back().count == total);
  int previous = 0;
  for (std::size_t i = 0; i + 1 < lines.size(); ++i) {
    CHECK_FALSE(lines[i].finished);
    CHECK(lines[i].count < total);  // the final line alone says the total
    CHECK(lines[i].count > previous);
    if (previous > 0) CHECK(power_below(lines[i].count) > power_below(previous));
    previous = lines[i].count;
  }
}

}  // namespace

// --- The reporter, fed the counts a run would report ------------------------------------------

TEST_CASE("a report that reaches the known total prints no line: the finished line says it once",
          "[verbose][progress]") {
  // Batches of 5 done one after the other: the second takes the count past 8 to 10, the
  // total. The old reporter printed "Done 10 out of 10" for it, and again as the finished line.
  const auto lines = lines_reported(1, 10, {5, 10}, 10);
  CHECK(counts(lines) == std::vector<int>{5, 10});
  check_lines(lines, 10);
  // 16 is both a power of two and the total.
  const auto to16 = lines_reported(1, 16, {4, 8, 12, 16}, 16);
  CHECK(counts(to16) == std::vector<int>{4, 8, 16});
  check_lines(to16, 16);
}

TEST_CASE("verbose lines show the count reached, one line per power of two passed",
          "[verbose][progress]") {
  // 3 passes 1 and 2 (one line, not two), 6 passes 4, 7 passes none, 9 passes 8, 12 and 15
  // none, 18 passes 16, 20 is the end.
  const auto lines = lines_reported(1, 20, {3, 6, 7, 9, 12, 15, 18, 20}, 20);
  CHECK(counts(lines) == std::vector<int>{3, 6, 9, 18, 20});
  check_lines(lines, 20);
}

TEST_CASE("verbose = 10 prints every report and the total once", "[verbose][progress]") {
  const auto lines = lines_reported(10, 10, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 10);
  CHECK(counts(lines) == std::vector<int>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
  REQUIRE(lines.size() == 10);
  CHECK(lines.back().finished);
}

TEST_CASE("a report that arrives after the finished line prints nothing", "[verbose][progress]") {
  std::string printed;
  {
    parmap_test::StderrCapture capture;
    parmap::detail::ProgressReporter reporter(nullptr, 1, 2, 10);
    reporter.report(5);
    reporter.finish(10);
    reporter.report(10);  // a worker's report, later than the consumer's finish
    printed = capture.text();
  }
  CHECK(counts(parse(printed)) == std::vector<int>{5, 10});
}

TEST_CASE("without a known total the finished line may repeat the last count",
          "[verbose][progress]") {
  // An unsized input: a periodic line cannot know it is the last, so the finished line may
  // repeat its count; it is still the one line marked finished, and the last.
  const auto lines = lines_reported(1, std::nullopt, {5, 10}, 10);
  CHECK(counts(lines) == std::vector<int>{5, 10, 10});
  REQUIRE(lines.size() == 3);
  CHECK_FALSE(lines[0].finished);
  CHECK_FALSE(lines[1].finished);
  CHECK(lines[2].finished);
}

// --- Whole runs ------------------------------------------------------------------------------

TEST_CASE("verbose = 1 prints at 1, 2, 4, 8 tasks and one finished line", "[verbose][progress]") {
  parmap_test::Watchdog watchdog("verbose: inline", 60s);
  // Inline (n_jobs = 1) every task is reported on its own.
  const auto lines = lines_printed(10, {.n_jobs = 1, .verbose = 1});
  CHECK(counts(lines) == std::vector<int>{1, 2, 4, 8, 10});
  check_lines(lines, 10);
}

TEST_CASE("with workers, verbose prints one line per power of two passed and one finished line",
          "[verbose][progress]") {
  parmap_test::Watchdog watchdog("verbose: workers", 60s);
  const int n_jobs = GENERATE(2, 3);
  const int n = GENERATE(10, 100, 1000);
  const int batch = GENERATE(0, 1, 5);  // 0: automatic
  CAPTURE(n_jobs, n, batch);
  parmap::Options options{.n_jobs = n_jobs, .verbose = 1};
  if (batch > 0) options.batch_size = batch;
  check_lines(lines_printed(n, options), n);
}

TEST_CASE("with workers and an input of unknown size, one finished line comes last",
          "[verbose][progress]") {
  parmap_test::Watchdog watchdog("verbose: workers, unsized", 60s);
  const auto lines = lines_printed(100, {.n_jobs = 2, .verbose = 1}, false);
  REQUIRE_FALSE(lines.empty());
  CHECK(lines.back().finished);
  CHECK(lines.back().count == 100);
  for (std::size_t i = 0; i + 1 < lines.size(); ++i) CHECK_FALSE(lines[i].finished);
}
