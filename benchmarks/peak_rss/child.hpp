#pragma once

// What a peak_rss child's contestants share: the result type (Blob), the task that makes one
// (make_result) and the consumer that reads them. child.cpp runs parmap's modes with these,
// tbb_pipeline.cpp oneTBB's pipeline.

#include <chrono>   // std::chrono::microseconds: sleeps
#include <cstddef>  // std::size_t
#include <cstdint>  // std::int64_t
#include <thread>   // std::this_thread::sleep_for
#include <vector>   // std::vector: the result's doubles, the durations

#include "peak_rss.hpp"
#include "support/live_count.hpp"  // live_count::LiveCount: results alive at once

namespace peak_rss {

// A task's result: `n` doubles, every page written. Move-only; its LiveCount counts the
// results alive at once.
struct Blob {
  std::vector<double> data;
  live_count::LiveCount counted;  // default: not counted (oneTBB default-constructs some)
};

inline Blob make_result(std::size_t i, std::int64_t sleep_us, std::size_t elements) {
  std::this_thread::sleep_for(std::chrono::microseconds(sleep_us));
  return Blob{std::vector<double>(elements, static_cast<double>(i)), live_count::LiveCount(true)};
}

// The consumer: reads every element (so a result is really used), then, if slow, sleeps.
struct Consumer {
  std::int64_t sleep_us = 0;
  std::size_t count = 0;
  std::size_t out_of_order = 0;  // results whose task index is not their position
  std::size_t torn = 0;          // results whose elements are not all their index
  double index_sum = 0;

  void operator()(const Blob& b) {
    double s = 0;
    for (const double x : b.data) s += x;
    const double index = b.data.front();
    if (s != index * static_cast<double>(b.data.size())) ++torn;
    if (static_cast<std::size_t>(index) != count) ++out_of_order;
    index_sum += index;
    ++count;
    if (sleep_us > 0) std::this_thread::sleep_for(std::chrono::microseconds(sleep_us));
  }
};

#ifdef PARMAP_HAVE_TBB
// tbb_pipeline.cpp: the configuration's tasks through tbb::parallel_pipeline, `in_order` or
// out-of-order sink, each result handed to `consume`.
void run_tbb(const Base& b, const Config& c, const std::vector<std::int64_t>& us, bool in_order,
             Consumer& consume);
#endif

}  // namespace peak_rss
