#pragma once

#include <cstddef>           // std::size_t
#include <initializer_list>  // std::initializer_list: concat's pieces
#include <stdexcept>         // std::runtime_error
#include <string>            // std::string, std::to_string
#include <string_view>       // std::string_view: concat's pieces
#include <utility>           // std::move

namespace parmap::mpi {
namespace detail {

// Joins pieces of a message. (Not "text" + std::string&&: GCC 12 warns about that expression
// with a false -Wrestrict at -O2, GCC bug 105329.)
inline std::string concat(std::initializer_list<std::string_view> pieces) {
  std::string out;
  for (std::string_view piece : pieces) out.append(piece);
  return out;
}

}  // namespace detail

// A task's exception, from the rank that ran it: exception objects cannot cross processes, so
// rank 0 gets this instead, naming the task's input index, the rank and host, the type the
// task threw and its what(). (A timeout comes back as parmap::TimeoutError itself.)
//   what(): "parmap::mpi: task 17 threw std::invalid_argument on rank 2 (node1): bad x"
class RemoteError : public std::runtime_error {
 public:
  RemoteError(std::size_t index, int rank, std::string host, std::string type, std::string message)
      : std::runtime_error(detail::concat({"parmap::mpi: task ", std::to_string(index), " threw ",
                                           type, " on rank ", std::to_string(rank), " (", host,
                                           "): ", message})),
        index_(index),
        rank_(rank),
        host_(std::move(host)),
        type_(std::move(type)),
        message_(std::move(message)) {}

  [[nodiscard]] std::size_t index() const noexcept { return index_; }
  [[nodiscard]] int rank() const noexcept { return rank_; }
  [[nodiscard]] const std::string& host() const noexcept { return host_; }
  // The thrown type's name, demangled where the compiler allows ("std::invalid_argument").
  [[nodiscard]] const std::string& type_name() const noexcept { return type_; }
  // The thrown exception's what() ("" for a type that is not a std::exception).
  [[nodiscard]] const std::string& message() const noexcept { return message_; }

 private:
  std::size_t index_;
  int rank_;
  std::string host_;
  std::string type_;
  std::string message_;
};

}  // namespace parmap::mpi
