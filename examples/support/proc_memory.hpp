#pragma once

// This process's memory as Linux reports it in /proc: the resident set size, the kernel's
// high-water mark of it (VmHWM), and resetting that mark; and glibc's mmap threshold pinned, so
// that those readings follow the live results. Shared by the memory demo, benchmarks/peak_rss
// and benchmarks/overhead. Elsewhere than Linux every reading is absent (nullopt / false).

#include <unistd.h>  // sysconf(_SC_PAGESIZE)

#if __has_include(<malloc.h>)
#include <malloc.h>  // mallopt, M_MMAP_THRESHOLD (glibc)
#endif

#include <cstdint>   // std::int64_t: byte counts
#include <cstdio>    // std::FILE, std::fopen, std::fscanf, std::fgets, std::sscanf
#include <cstring>   // std::strncmp: the VmHWM line
#include <optional>  // std::optional: readings /proc may not give

namespace proc_memory {

// The resident set size of this process, in bytes; nullopt without /proc. Thread-safe.
inline std::optional<std::int64_t> current_rss() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return std::nullopt;
  long long size = 0;
  long long resident = 0;
  const int n = std::fscanf(f, "%lld %lld", &size, &resident);
  std::fclose(f);
  if (n != 2) return std::nullopt;
  return static_cast<std::int64_t>(resident) * static_cast<std::int64_t>(sysconf(_SC_PAGESIZE));
}

// The kernel's high-water mark of the RSS (VmHWM), in bytes; nullopt without /proc.
inline std::optional<std::int64_t> peak_rss() {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return std::nullopt;
  char line[256];
  std::optional<std::int64_t> kb;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    long long v = 0;
    if (std::strncmp(line, "VmHWM:", 6) == 0 && std::sscanf(line + 6, "%lld", &v) == 1) {
      kb = static_cast<std::int64_t>(v);
      break;
    }
  }
  std::fclose(f);
  if (!kb) return std::nullopt;
  return *kb * 1024;
}

// Resets VmHWM to the current RSS (Linux >= 4.0: writing 5 to /proc/self/clear_refs).
// False where that is not allowed; VmHWM then still holds an earlier, larger peak.
inline bool reset_peak_rss() {
  std::FILE* f = std::fopen("/proc/self/clear_refs", "w");
  if (f == nullptr) return false;
  const bool ok = std::fputs("5", f) >= 0;
  return std::fclose(f) == 0 && ok;
}

// Pins glibc's mmap threshold at 1 MiB: every larger block is its own mmap and goes back to
// the kernel when freed, so the RSS follows the live results. Pinning also switches glibc's
// dynamic threshold off: without it, the first freed 16 MB result raises the threshold above
// 16 MB, later results come from malloc's heaps, and freed ones can stay resident there (the
// RSS then shows the allocator's habits). False where it cannot be done (not glibc). Call it
// before any other thread exists: mallopt is not meant to race with allocations.
inline bool pin_mmap_threshold() {
#if defined(M_MMAP_THRESHOLD)
  // NOLINTNEXTLINE(concurrency-mt-unsafe): called before any other thread exists.
  return mallopt(M_MMAP_THRESHOLD, 1 << 20) == 1;
#else
  return false;
#endif
}

}  // namespace proc_memory
