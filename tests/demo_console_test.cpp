// The memory demo's console (examples/support/progress_console.hpp): its progress lines never
// show more results summed than tasks done, although parmap's progress callback, which counts
// the tasks done, can report a batch after the consumer has already summed its results.

#include "support/catch.hpp"
#include "support/test_support.hpp"

#include <parmap/parmap.hpp>

#include <chrono>   // std::chrono: the watchdog's limit
#include <cstddef>  // std::size_t
#include <cstdio>   // std::FILE, std::tmpfile, std::fread, std::sscanf: the output
#include <ranges>   // std::views::iota, transform
#include <sstream>  // std::istringstream: splitting the output into lines
#include <string>   // std::string
#include <vector>   // std::vector

#include "../examples/support/progress_console.hpp"

using namespace std::chrono_literals;

namespace {

// A status line read back: "  [tag]   3/12 done,   3 summed,   0.0 s, RSS    +0 MB".
struct Status {
  int done = 0;
  int total = 0;
  int summed = 0;
};

// Lines mode, no dots, the lines into a temporary file that lines() reads back.
class ConsoleOutput {
 public:
  ConsoleOutput() : file_(std::tmpfile()) { REQUIRE(file_ != nullptr); }
  ConsoleOutput(const ConsoleOutput&) = delete;
  ConsoleOutput& operator=(const ConsoleOutput&) = delete;
  ~ConsoleOutput() { std::fclose(file_); }

  [[nodiscard]] std::FILE* file() const { return file_; }

  std::vector<Status> lines() {
    std::string text;
    std::rewind(file_);
    char buffer[1024];
    std::size_t n = 0;
    while ((n = std::fread(buffer, 1, sizeof buffer, file_)) > 0) text.append(buffer, n);
    std::vector<Status> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
      INFO("line: " << line);
      Status st;
      REQUIRE(std::sscanf(line.c_str(), "  [%*[^]]] %d/%d done, %d summed,", &st.done, &st.total,
                          &st.summed) == 3);
      out.push_back(st);
    }
    return out;
  }

 private:
  std::FILE* file_;
};

}  // namespace

TEST_CASE("the demo console never shows more results summed than tasks done", "[demo]") {
  ConsoleOutput output;
  demo_console::Console console(false, nullptr, output.file());
  console.begin_run("run", 12);
  // The consumer sums four results before the callback reports the third task done.
  for (int i = 0; i < 4; ++i) console.dot();
  console.tasks_done(3, false);
  for (int i = 4; i < 12; ++i) console.dot();
  console.tasks_done(12, true);
  console.end_run();

  const std::vector<Status> lines = output.lines();
  REQUIRE_FALSE(lines.empty());
  for (const Status& s : lines) {
    CAPTURE(s.done, s.summed);
    CHECK(s.done >= s.summed);
    CHECK(s.total == 12);
  }
  CHECK(lines.back().done == 12);
  CHECK(lines.back().summed == 12);
}

TEST_CASE("the demo console prints one line however many quarters a count passes", "[demo]") {
  ConsoleOutput output;
  demo_console::Console console(false, nullptr, output.file());
  console.begin_run("run", 12);
  console.tasks_done(7, false);  // passes the first and second quarters at once
  console.tasks_done(12, true);  // the third and fourth
  const std::vector<Status> lines = output.lines();
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].done == 7);
  CHECK(lines[1].done == 12);
}

TEST_CASE("the demo console's counts agree during a real run", "[demo]") {
  parmap_test::Watchdog watchdog("demo console: real run", 60s);
  ConsoleOutput output;
  demo_console::Console console(false, nullptr, output.file());
  constexpr int n = 40;
  console.begin_run("run", n);
  auto tasks = std::views::iota(0, n) | std::views::transform([](int i) {
                 return parmap::delayed([](int k) { return k; })(i);
               });
  int summed = 0;
  parmap::Parallel parallel({.n_jobs = 2, .batch_size = 1, .progress = console.progress_callback()},
                            parmap::return_as::generator);
  for (const int v : parallel(tasks)) {
    summed += v >= 0 ? 1 : 0;
    console.dot();
  }
  console.end_run();
  CHECK(summed == n);
  const std::vector<Status> lines = output.lines();
  REQUIRE_FALSE(lines.empty());
  for (const Status& s : lines) {
    CAPTURE(s.done, s.summed);
    CHECK(s.done >= s.summed);
  }
  CHECK(lines.back().done == n);
}
