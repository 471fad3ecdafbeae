#pragma once

// Helpers for the reliability tests (stress, timeout, error policy, report, bad input):
// capturing what the library prints on stderr, the message of an expected exception, and the
// stress tests' seeds, settings from the environment (PARMAP_STRESS_SEED, ...) and random
// choices (Dice).
// (Counters, gates, wait_for_stop and thread_count live in test_support.hpp.)

#include <unistd.h>  // dup, dup2, close: redirecting file descriptor 2

#include <cstdint>    // std::uint64_t: seeds
#include <cstdio>     // std::FILE, std::tmpfile, std::fflush, std::fread
#include <cstdlib>    // std::getenv, std::strtoull: settings from the environment
#include <exception>  // std::exception: thrown_message
#include <optional>   // std::optional: a setting not given
#include <random>     // std::mt19937_64, distributions: Dice
#include <stdexcept>  // std::runtime_error: a capture that cannot be set up
#include <string>     // std::string

namespace parmap_test {

// Redirects file descriptor 2 (stderr) into a temporary file for its lifetime; text() returns
// what was written so far. Captures what any thread writes with fprintf(stderr) or write(2),
// so only one capture may be alive at a time, and tests using it must not run concurrently
// with other writers to stderr (Catch2 runs test cases one after the other).
class StderrCapture {
 public:
  StderrCapture() : file_(std::tmpfile()) {
    if (file_ == nullptr) throw std::runtime_error("StderrCapture: tmpfile() failed");
    std::fflush(stderr);
    saved_ = ::dup(2);
    if (saved_ < 0 || ::dup2(::fileno(file_), 2) < 0) {
      std::fclose(file_);
      throw std::runtime_error("StderrCapture: cannot redirect fd 2");
    }
  }
  StderrCapture(const StderrCapture&) = delete;
  StderrCapture& operator=(const StderrCapture&) = delete;
  ~StderrCapture() {
    restore();
    std::fclose(file_);
  }

  // Everything written to stderr since the capture started. Stops the capture.
  std::string text() {
    restore();
    std::string out;
    std::rewind(file_);
    char buffer[4096];
    std::size_t n = 0;
    while ((n = std::fread(buffer, 1, sizeof buffer, file_)) > 0) out.append(buffer, n);
    return out;
  }

 private:
  void restore() {
    if (saved_ < 0) return;
    std::fflush(stderr);
    ::dup2(saved_, 2);
    ::close(saved_);
    saved_ = -1;
  }

  std::FILE* file_;
  int saved_ = -1;
};

// Runs f and returns the what() of the E it throws; "<no exception>" or "<other exception>"
// otherwise. For checks of the form "throws E whose message names X".
template <class E, class F>
std::string thrown_message(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  } catch (...) {
    return "<other exception>";
  }
  return "<no exception>";
}

// A 64-bit mixer (SplitMix64's output function): seeds from a base seed and an index, and
// reproducible per-value choices.
inline std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

// The environment variable `name` as a number (decimal, or 0x.. hexadecimal); nullopt when
// unset or empty.
inline std::optional<std::uint64_t> env_number(const char* name) {
  // NOLINTNEXTLINE(concurrency-mt-unsafe): nothing in the tests sets the environment.
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return std::nullopt;
  return std::strtoull(text, nullptr, 0);
}

// The stress tests' seeded random choices: the same seed makes the same choices, in order.
class Dice {
 public:
  explicit Dice(std::uint64_t seed) : rng_(seed) {}
  // An int in [lo, hi].
  int pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  // True with probability p.
  bool chance(double p) { return std::bernoulli_distribution(p)(rng_); }

 private:
  std::mt19937_64 rng_;
};

}  // namespace parmap_test
