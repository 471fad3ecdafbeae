// mpi_bench: what a task costs through parmap::mpi (tiny tasks, 1 MiB results), next to raw
// MPI point-to-point moving the same bytes in the same mpiexec run.
//
//   mpiexec -n 4 build-mpi-bench/benchmarks/mpi_bench [--tasks N] [--mb-results M] [--runs R]
//                                                     [--round-trips K]
//   bash benchmarks/mpi/run.sh    # builds, runs this and mpi4py_bench.py on as many ranks
//
// Sections, in this order; every rank is started with the same options:
//   raw    before the serving ranks enter serve(), on MPI_COMM_WORLD with a tag of our own:
//          K round trips of one int (rank 0 to each serving rank in turn, the reply back),
//          then M messages of 1 MiB (each serving rank MPI_Sends its share, rank 0
//          MPI_Recvs them from MPI_ANY_SOURCE into one reused buffer).
//   tiny   N tasks square(i) through parmap::mpi::Parallel, list mode, automatic batching.
//   1 MiB  M tasks returning std::vector<double>(131072, i), list mode and
//          generator_unordered (each result consumed and dropped); rank 0's bytes/s. Beside
//          them, rank 0 allocating M fresh MiB at once: the memory a list must touch anyway.
// Each figure is the median of R runs after one untimed warm-up run. The raw runs all come
// first: once a rank is in serve() it takes part in nothing else. Every run's results are
// checked; a wrong one ends the program with exit code 1. A markdown table goes to stdout,
// then `key=value` lines for run.sh.

#include <cstddef>    // std::size_t
#include <cstdint>    // std::int64_t: square's result
#include <cstdio>     // std::printf, std::fprintf: the report
#include <cstdlib>    // std::strtol: the options
#include <exception>  // std::exception: reported by main
#include <parmap/mpi.hpp>
#include <ranges>     // std::views::iota, std::views::transform: the task ranges
#include <stdexcept>  // std::runtime_error: a wrong parmap result
#include <string>     // std::string: options, the table's labels
#include <vector>     // std::vector: results, timings, the raw buffers

#include "support/harness.hpp"  // parmap_bench: Clock, seconds_since, median, load_average

namespace {

using parmap_bench::Clock;
using parmap_bench::median;
using parmap_bench::seconds_since;

constexpr std::size_t doubles_per_mib = (std::size_t{1} << 20) / sizeof(double);
constexpr double mib = 1 << 20;
constexpr int raw_tag = 7;  // on MPI_COMM_WORLD; parmap talks on a duplicate of its own

struct Config {
  int tasks = 200'000;
  int mb_results = 300;
  int runs = 5;
  int round_trips = 3'000;
};

// The tasks. Plain functions: parmap::mpi::delayed<f> names them on every rank. square
// returns 64 bits so that i * i cannot overflow for i up to 2^31 - 1.
std::int64_t square(int x) { return std::int64_t{x} * x; }
std::vector<double> mebibyte(int i) {
  return std::vector<double>(doubles_per_mib, static_cast<double>(i));
}

// N tasks F(i), i in [0, n), a lazy view.
template <auto F>
auto tasks(int n) {
  return std::views::iota(0, n) |
         std::views::transform([](int i) { return parmap::mpi::delayed<F>(i); });
}

// Every rank parses the same argv; only rank 0 says what is wrong. False on a bad option.
bool parse(int argc, char** argv, bool root, Config& c) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    int* field = arg == "--tasks"         ? &c.tasks
                 : arg == "--mb-results"  ? &c.mb_results
                 : arg == "--runs"        ? &c.runs
                 : arg == "--round-trips" ? &c.round_trips
                                          : nullptr;
    char* end = nullptr;
    const long value = field != nullptr && i + 1 < argc ? std::strtol(argv[++i], &end, 10) : 0;
    if (field == nullptr || end == nullptr || *end != '\0' || value < 1 || value > 100'000'000) {
      if (root) {
        std::fprintf(stderr,
                     "usage: mpiexec -n RANKS %s [--tasks N] [--mb-results M] [--runs R] "
                     "[--round-trips K]\n  (whole numbers >= 1; RANKS >= 2)\n",
                     argv[0]);
      }
      return false;
    }
    *field = static_cast<int>(value);
  }
  return true;
}

// The messages serving rank `rank` takes of `total` dealt round-robin over size - 1 ranks.
int share(int total, int rank, int size) {
  return total / (size - 1) + (rank - 1 < total % (size - 1) ? 1 : 0);
}

// A wrong raw result: the other ranks are in a blocking call or a barrier, so an exception
// would leave them hanging; MPI_Abort ends them all.
void abort_all(const char* what) {
  std::fprintf(stderr, "mpi_bench: wrong results: %s\n", what);
  MPI_Abort(MPI_COMM_WORLD, 1);
}

// Raw round trips: rank 0 sends an int to ranks 1, 2, ... in turn and waits for each reply.
// Rank 0 returns microseconds per round trip; the others return 0.
double raw_round_trips(int rank, int size, int count) {
  MPI_Barrier(MPI_COMM_WORLD);
  const auto start = Clock::now();
  if (rank == 0) {
    for (int i = 0; i < count; ++i) {
      const int dest = 1 + i % (size - 1);
      int reply = 0;
      MPI_Send(&i, 1, MPI_INT, dest, raw_tag, MPI_COMM_WORLD);
      MPI_Recv(&reply, 1, MPI_INT, dest, raw_tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      if (reply != i) abort_all("raw round trip: a wrong reply");
    }
  } else {
    for (int k = share(count, rank, size); k > 0; --k) {
      int value = 0;
      MPI_Recv(&value, 1, MPI_INT, 0, raw_tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      MPI_Send(&value, 1, MPI_INT, 0, raw_tag, MPI_COMM_WORLD);
    }
  }
  const double us = seconds_since(start) * 1e6 / count;
  MPI_Barrier(MPI_COMM_WORLD);
  return rank == 0 ? us : 0;
}

// Raw bandwidth: the serving ranks send `count` messages of 1 MiB between them, rank 0
// receives them in whatever order they come. Rank 0 returns bytes per second; the others 0.
double raw_bandwidth(int rank, int size, int count) {
  std::vector<double> buffer(doubles_per_mib, rank);
  const int n = static_cast<int>(doubles_per_mib);
  MPI_Barrier(MPI_COMM_WORLD);
  const auto start = Clock::now();
  if (rank == 0) {
    for (int k = 0; k < count; ++k) {
      MPI_Recv(buffer.data(), n, MPI_DOUBLE, MPI_ANY_SOURCE, raw_tag, MPI_COMM_WORLD,
               MPI_STATUS_IGNORE);
    }
  } else {
    for (int k = share(count, rank, size); k > 0; --k) {
      MPI_Send(buffer.data(), n, MPI_DOUBLE, 0, raw_tag, MPI_COMM_WORLD);
    }
  }
  const double bytes_per_s = count * mib / seconds_since(start);
  MPI_Barrier(MPI_COMM_WORLD);
  if (rank == 0 && (buffer.front() < 1 || buffer.back() != buffer.front())) {
    abort_all("raw bandwidth: the buffer holds no serving rank's message");
  }
  return rank == 0 ? bytes_per_s : 0;
}

// One warm-up run of `run`, then `runs` timed ones: the median of `after(seconds)`, which
// runs outside the clock (checks, freeing results) after every run, the warm-up's too.
template <class Run, class After>
double median_of(int runs, Run&& run, After&& after) {
  std::vector<double> figures;
  for (int r = -1; r < runs; ++r) {
    const auto start = Clock::now();
    run();
    const double figure = after(seconds_since(start));
    if (r >= 0) figures.push_back(figure);
  }
  return median(figures);
}

void check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("wrong results: ") + what);
}

}  // namespace

int main(int argc, char** argv) try {
  parmap::mpi::Session session(argc, argv);  // every rank: MPI_Init_thread, same-binary check
  const int rank = session.rank();
  const int size = session.size();
  Config c;
  if (!parse(argc, argv, rank == 0, c)) return 2;
  if (size < 2) {
    std::fprintf(stderr, "mpi_bench: needs at least 2 ranks (mpiexec -n 4 ...)\n");
    return 2;
  }

  // Raw MPI, on every rank, before the serving ranks leave for serve().
  std::vector<double> raw_us, raw_bytes_per_s;
  (void)raw_round_trips(rank, size, c.round_trips / 10 + 1);  // warm-up: connections made
  (void)raw_bandwidth(rank, size, size - 1);
  for (int r = 0; r < c.runs; ++r) raw_us.push_back(raw_round_trips(rank, size, c.round_trips));
  for (int r = 0; r < c.runs; ++r)
    raw_bytes_per_s.push_back(raw_bandwidth(rank, size, c.mb_results));
  if (!session.is_root()) return session.serve();

  const double load_before = parmap_bench::load_average();
  const double round_trip_us = median(raw_us);
  const double raw = median(raw_bytes_per_s);

  // Tiny tasks: the sum of squares of 0..N-1 checks every run.
  parmap::mpi::Parallel list(session);
  const auto n = static_cast<std::int64_t>(c.tasks);
  const std::int64_t sum_of_squares = (n - 1) * n * (2 * n - 1) / 6;
  const double tiny_s = median_of(
      c.runs,
      [&] {
        const std::vector<std::int64_t> results = list(tasks<square>(c.tasks));
        std::int64_t sum = 0;
        for (std::int64_t v : results) sum += v;
        check(sum == sum_of_squares && results.size() == static_cast<std::size_t>(n), "tiny");
      },
      [](double seconds) { return seconds; });

  // 1 MiB results: rank 0's received bytes per second, the check outside the clock for lists.
  const double bytes = c.mb_results * mib;
  std::vector<std::vector<double>> kept;
  const double list_bps = median_of(
      c.runs, [&] { kept = list(tasks<mebibyte>(c.mb_results)); },
      [&](double seconds) {
        check(kept.size() == static_cast<std::size_t>(c.mb_results), "1 MiB list count");
        for (std::size_t i = 0; i < kept.size(); ++i) {
          const auto value = static_cast<double>(i);
          check(kept[i].front() == value && kept[i].back() == value, "1 MiB list");
        }
        kept = {};  // freed here, not on the next run's clock
        return bytes / seconds;
      });

  // What a list of M results costs rank 0 before any byte arrives: M fresh MiB allocated and
  // zeroed (as the codec's resize does), all held at once. Where first touches of memory are
  // slow (a VM), this bounds the list's figure; the unordered run reuses freed memory.
  auto fresh = [&] {
    for (int i = 0; i < c.mb_results; ++i) kept.emplace_back(doubles_per_mib);
  };
  const double fresh_bps = median_of(c.runs, fresh, [&](double seconds) {
    kept = {};
    return bytes / seconds;
  });

  parmap::mpi::Parallel unordered(session, {}, parmap::return_as::generator_unordered);
  const double expected_sum = 0.5 * c.mb_results * (c.mb_results - 1.0);
  const double unordered_bps = median_of(
      c.runs,
      [&] {
        double sum = 0;
        for (const std::vector<double>& v : unordered(tasks<mebibyte>(c.mb_results))) {
          sum += v.back();
        }
        check(sum == expected_sum, "1 MiB unordered");
      },
      [&](double seconds) { return bytes / seconds; });
  const double load_after = parmap_bench::load_average();

  // The table, then the same figures as key=value lines for run.sh.
  struct Figure {
    const char* key;
    std::string label;
    double value;
    const char* format;
  };
  const std::string m = std::to_string(c.mb_results);
  const Figure figures[] = {
      {"tiny_ns_per_task",
       "tiny tasks (" + std::to_string(c.tasks) + " x square), list: ns per task",
       tiny_s * 1e9 / c.tasks, "%.0f"},
      {"tiny_tasks_per_s", "tiny tasks: tasks per second", c.tasks / tiny_s, "%.0f"},
      {"raw_round_trip_us", "raw MPI round trip of one int, rank 0 to a serving rank: us",
       round_trip_us, "%.1f"},
      {"list_gb_s", m + " results of 1 MiB, parmap list: GB/s", list_bps / 1e9, "%.2f"},
      {"unordered_gb_s", "1 MiB results, parmap generator_unordered: GB/s", unordered_bps / 1e9,
       "%.2f"},
      {"raw_gb_s", m + " messages of 1 MiB, raw MPI_Send/MPI_Recv: GB/s", raw / 1e9, "%.2f"},
      {"fresh_gb_s", "rank 0 allocating and zeroing " + m + " MiB, held at once: GB/s",
       fresh_bps / 1e9, "%.2f"},
      {"list_over_raw", "parmap list / raw", list_bps / raw, "%.2f"},
      {"unordered_over_raw", "parmap unordered / raw", unordered_bps / raw, "%.2f"},
  };
  std::printf("# parmap::mpi: %d ranks (%d serving, %d thread(s) each), medians of %d runs\n\n",
              size, size - 1, session.threads_per_rank(), c.runs);
  std::printf("load average (1 min): %.2f before the parmap runs, %.2f after\n\n", load_before,
              load_after);
  std::printf("| measure | value |\n|---|---:|\n");
  for (const Figure& f : figures) {
    std::printf("| %s | %s |\n", f.label.c_str(), parmap_bench::fmt(f.format, f.value).c_str());
  }
  std::printf("\nranks=%d\n", size);
  for (const Figure& f : figures) std::printf("%s=%.6g\n", f.key, f.value);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "mpi_bench: %s\n", e.what());
  return 1;
}
