#pragma once

// Helpers for the reliability tests (stress, timeout, error policy, report, bad input):
// capturing what the library prints on stderr, and the message of an expected exception.
// (Counters, gates, wait_for_stop and thread_count live in test_support.hpp.)

#include <cstdio>              // std::FILE, std::tmpfile, std::fflush, std::fread
#include <exception>           // std::exception: thrown_message
#include <stdexcept>           // std::runtime_error: a capture that cannot be set up
#include <string>              // std::string
#include <unistd.h>            // dup, dup2, close: redirecting file descriptor 2

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

}  // namespace parmap_test
