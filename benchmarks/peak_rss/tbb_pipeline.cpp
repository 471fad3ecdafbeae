// peak_rss's oneTBB rows: tbb::parallel_pipeline(max_number_of_live_tokens = window) in a
// task_arena of n_jobs threads: input (serial_in_order) -> task (parallel) -> sink
// (serial_in_order or serial_out_of_order). The sink runs on those n_jobs threads, where
// parmap's consumer has a thread of its own: with a slow consumer TBB computes with one
// thread fewer. Compiled to nothing in a build without oneTBB.

#ifdef PARMAP_HAVE_TBB

#include <oneapi/tbb/parallel_pipeline.h>  // tbb::parallel_pipeline, tbb::make_filter
#include <oneapi/tbb/task_arena.h>         // tbb::task_arena: n_jobs threads

#include <cstddef>  // std::size_t
#include <cstdint>  // std::int64_t
#include <vector>   // std::vector: the durations

#include "child.hpp"

namespace peak_rss {

// Under ThreadSanitizer these rows report data races on `next` and on the consumer: false
// positives, since TBB orders its serial filters with atomics inside libtbb.so, which is not
// instrumented. The parmap rows are clean there.
void run_tbb(const Base& b, const Config& c, const std::vector<std::int64_t>& us, bool in_order,
             Consumer& consume) {
  const std::size_t tokens = c.window == 0 ? b.tasks : c.window;
  tbb::task_arena arena(b.n_jobs);
  arena.execute([&] {
    std::size_t next = 0;
    tbb::parallel_pipeline(
        tokens, tbb::make_filter<void, std::size_t>(tbb::filter_mode::serial_in_order,
                                                    [&](tbb::flow_control& fc) -> std::size_t {
                                                      if (next == b.tasks) {
                                                        fc.stop();
                                                        return 0;
                                                      }
                                                      return next++;
                                                    }) &
                    tbb::make_filter<std::size_t, Blob>(
                        tbb::filter_mode::parallel,
                        [&](std::size_t i) { return make_result(i, us[i], b.elements()); }) &
                    tbb::make_filter<Blob, void>(in_order ? tbb::filter_mode::serial_in_order
                                                          : tbb::filter_mode::serial_out_of_order,
                                                 [&](Blob r) { consume(r); }));
  });
}

}  // namespace peak_rss

#endif  // PARMAP_HAVE_TBB
