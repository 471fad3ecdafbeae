#pragma once

// The deprecated MPI C++ bindings, which Debian's mpi.h pulls in otherwise, warn under -Wextra
// (-Wcast-function-type). parmap uses the C API only.
#ifndef OMPI_SKIP_MPICXX
#define OMPI_SKIP_MPICXX 1
#endif
#ifndef MPICH_SKIP_MPICXX
#define MPICH_SKIP_MPICXX 1
#endif
#include <mpi.h>

#include <algorithm>  // std::min
#include <chrono>     // std::chrono::microseconds: back-off sleeps
#include <climits>    // INT_MAX: MPI counts are int
#include <cstddef>    // std::size_t, std::byte
#include <cstdint>    // std::uint64_t
#include <cstring>    // std::memcpy
#include <span>       // std::span
#include <thread>     // std::this_thread::yield, sleep_for
#include <vector>     // std::vector: reused buffers

#include "../codec.hpp"

namespace parmap::mpi::detail {

// How bytes move between rank 0 and a serving rank. A message is one Writer buffer, sent as
// parts: the first at most first_part_bytes (it starts with a MessageHead), the others at
// most the head's part size, which is under 2 GiB (MPI counts are int). A PartReader takes
// a message part by part and receives a large field straight into the object decoding it,
// so a large result is held once on rank 0, not twice. Parts of one message share a tag and
// MPI keeps messages between two ranks with one tag in order.
//
// Tags: each lane (a rank-0 runner's channel to one serving rank) has its own tag, used by
// its requests and its replies; two more carry cancellations and the end of the session.
inline constexpr int tag_shutdown = 1;
inline constexpr int tag_cancel = 2;
inline constexpr int first_lane_tag = 16;

struct MessageHead {
  std::uint64_t total = 0;  // bytes in the message, this head included
  std::uint64_t part = 0;   // bytes per part after the first
};
inline constexpr std::size_t first_part_bytes = std::size_t{64} << 10;

// Waits politely: yields a few times, then sleeps for doubling intervals up to `cap`. A rank
// blocked in MPI_Recv busy-polls its core, and with more ranks than cores (a laptop, CI) the
// rank it waits for would then get no time to answer.
class Backoff {
 public:
  explicit Backoff(std::chrono::microseconds cap) noexcept : cap_(cap) {}
  void pause() {
    if (yields_ < 16) {
      ++yields_;
      std::this_thread::yield();
      return;
    }
    std::this_thread::sleep_for(sleep_);
    sleep_ = std::min(sleep_ * 2, cap_);
  }

 private:
  std::chrono::microseconds cap_;
  int yields_ = 0;
  std::chrono::microseconds sleep_{10};
};

inline void wait(MPI_Request& request, Backoff backoff) {
  for (;;) {
    int done = 0;
    MPI_Test(&request, &done, MPI_STATUS_IGNORE);
    if (done != 0) return;
    backoff.pause();
  }
}

inline void send_part(MPI_Comm comm, int dest, int tag, const std::byte* data, std::size_t n) {
  MPI_Request request = MPI_REQUEST_NULL;
  MPI_Isend(data, static_cast<int>(n), MPI_BYTE, dest, tag, comm, &request);
  wait(request, Backoff(std::chrono::microseconds(200)));
}

inline void receive_part(MPI_Comm comm, int source, int tag, std::byte* data, std::size_t n) {
  MPI_Request request = MPI_REQUEST_NULL;
  MPI_Irecv(data, static_cast<int>(n), MPI_BYTE, source, tag, comm, &request);
  wait(request, Backoff(std::chrono::microseconds(200)));
}

// Starts a message in a reused buffer: clears it and leaves room for the head.
inline Writer begin_message(std::vector<std::byte>& buffer) {
  buffer.clear();
  Writer w(buffer);
  w.write(MessageHead{});
  return w;
}

// Sends a message made by begin_message and a Writer, in parts of at most `part` bytes.
inline void send_message(MPI_Comm comm, int dest, int tag, std::vector<std::byte>& buffer,
                         std::size_t part) {
  part = std::clamp<std::size_t>(part, 1, INT_MAX);
  const MessageHead head{buffer.size(), part};
  std::memcpy(buffer.data(), &head, sizeof head);
  const std::byte* at = buffer.data();
  std::size_t left = buffer.size();
  std::size_t n = std::min({left, first_part_bytes, std::max(part, sizeof head)});
  while (left > 0) {
    send_part(comm, dest, tag, at, n);
    at += n;
    left -= n;
    n = std::min(left, part);
  }
}

// Reads one message whose first part was matched by a probe. Owns nothing but its position:
// `buffer` (reused across messages) holds the current part. Call drain() before the next
// message on the same tag if decoding stopped early.
class PartReader final : public Reader {
 public:
  PartReader(MPI_Comm comm, int source, int tag, std::vector<std::byte>& buffer, MPI_Message& msg,
             int count)
      : Reader({}), comm_(comm), source_(source), tag_(tag), buffer_(&buffer) {
    const auto n = static_cast<std::size_t>(count);
    if (buffer.size() < n) buffer.resize(n);
    MPI_Mrecv(buffer.data(), count, MPI_BYTE, &msg, MPI_STATUS_IGNORE);
    MessageHead head;
    if (n < sizeof head) throw CodecError("parmap::mpi: a message without its head");
    std::memcpy(&head, buffer.data(), sizeof head);
    if (head.total < n || head.part == 0) throw CodecError("parmap::mpi: a malformed message head");
    remaining_ = static_cast<std::size_t>(head.total) - n;
    part_ = static_cast<std::size_t>(head.part);
    set_bytes(std::span<const std::byte>(buffer.data() + sizeof head, n - sizeof head));
  }

  // Receives and drops the parts not read yet.
  void drain() {
    while (remaining_ > 0) (void)next_part_into_buffer();
  }

 protected:
  std::size_t refill(std::byte* dst, std::size_t wanted) override {
    if (remaining_ == 0) return Reader::refill(dst, wanted);  // the message ended early
    const std::size_t n = std::min(part_, remaining_);
    if (wanted >= n) {  // the whole part belongs to dst: receive it there
      receive_part(comm_, source_, tag_, dst, n);
      remaining_ -= n;
      return n;
    }
    set_bytes(next_part_into_buffer());
    return 0;
  }

 private:
  std::span<const std::byte> next_part_into_buffer() {
    const std::size_t n = std::min(part_, remaining_);
    if (buffer_->size() < n) buffer_->resize(n);
    receive_part(comm_, source_, tag_, buffer_->data(), n);
    remaining_ -= n;
    return {buffer_->data(), n};
  }

  MPI_Comm comm_;
  int source_;
  int tag_;
  std::vector<std::byte>* buffer_;
  std::size_t remaining_ = 0;  // bytes of the message not received yet
  std::size_t part_ = 1;
};

}  // namespace parmap::mpi::detail
