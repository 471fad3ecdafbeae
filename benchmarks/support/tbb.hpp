#pragma once

// The oneTBB contestants of the overhead and handoff benchmarks: what a oneTBB user writes for
// a parallel map into an array (parallel_for) and for a bounded stream (parallel_pipeline).
// Each returns the checksum of its results (support/harness.hpp); the *_contestant functions
// make them contestants. Only in a build that found
// oneTBB (PARMAP_HAVE_TBB).

#if PARMAP_HAVE_TBB

#include <oneapi/tbb/blocked_range.h>      // tbb::blocked_range
#include <oneapi/tbb/parallel_for.h>       // tbb::parallel_for
#include <oneapi/tbb/parallel_pipeline.h>  // tbb::parallel_pipeline, tbb::make_filter

#include <cstddef>  // std::size_t
#include <cstdint>  // std::int64_t, std::uint64_t: task inputs, results, checksums
#include <string>   // std::string: contestants' names
#include <utility>  // std::move
#include <vector>   // std::vector: parallel_for's output

#include "harness.hpp"  // Checksum, checksum, Contestant

namespace parmap_bench {

// What a oneTBB user writes for a parallel map into an array: split the index range
// (auto_partitioner, the default), write in place, read the array afterwards.
template <class F>
std::uint64_t tbb_parallel_for(F f, std::size_t count) {
  std::vector<std::int64_t> out(count);
  tbb::parallel_for(
      tbb::blocked_range<std::size_t>(0, count),
      [&](const tbb::blocked_range<std::size_t>& r) {
        for (std::size_t i = r.begin(); i != r.end(); ++i) out[i] = f(static_cast<std::int64_t>(i));
      },
      tbb::auto_partitioner());
  return checksum(out, true);
}

// What a oneTBB user writes for a bounded stream: a serial input stage, a parallel stage
// running the task, a serial sink consuming each result, at most `tokens` items in flight.
template <class F>
std::uint64_t tbb_pipeline(F f, std::size_t count, std::size_t tokens, tbb::filter_mode sink) {
  std::int64_t next = 0;
  const auto end = static_cast<std::int64_t>(count);
  Checksum sum(sink == tbb::filter_mode::serial_in_order);
  auto input = [&](tbb::flow_control& control) -> std::int64_t {
    if (next == end) {
      control.stop();
      return 0;
    }
    return next++;
  };
  tbb::parallel_pipeline(
      tokens, tbb::make_filter<void, std::int64_t>(tbb::filter_mode::serial_in_order, input) &
                  tbb::make_filter<std::int64_t, std::int64_t>(tbb::filter_mode::parallel, f) &
                  tbb::make_filter<std::int64_t, void>(sink, [&](std::int64_t r) { sum.add(r); }));
  return sum.value();
}

// oneTBB parallel_for as a contestant, measured against parmap's list.
template <class F>
Contestant tbb_parallel_for_contestant(F f, std::size_t tasks = 0) {
  return {"oneTBB parallel_for", true,
          [f](std::size_t count) { return tbb_parallel_for(f, count); }, tasks, "parmap list"};
}

// oneTBB parallel_pipeline with `tokens` live items and a serial sink, in order or not, as a
// contestant, measured against parmap's generator of the same order.
template <class F>
Contestant tbb_pipeline_contestant(F f, std::size_t tokens, tbb::filter_mode sink,
                                   std::size_t tasks = 0) {
  const bool ordered = sink == tbb::filter_mode::serial_in_order;
  std::string name = std::string("oneTBB pipeline, ") + (ordered ? "in-order" : "out-of-order") +
                     " sink, " + std::to_string(tokens) + " tokens";
  return {std::move(name), ordered,
          [f, tokens, sink](std::size_t count) { return tbb_pipeline(f, count, tokens, sink); },
          tasks, ordered ? "parmap generator" : "parmap generator_unordered"};
}

}  // namespace parmap_bench

#endif  // PARMAP_HAVE_TBB
