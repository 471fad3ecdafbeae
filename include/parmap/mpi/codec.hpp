#pragma once

#include <algorithm>    // std::min
#include <array>        // std::array: a built-in codec
#include <concepts>     // std::same_as, std::convertible_to
#include <cstddef>      // std::size_t, std::byte
#include <cstdint>      // std::uint64_t: lengths on the wire
#include <cstring>      // std::memcpy
#include <functional>   // std::reference_wrapper: not sent as bytes
#include <optional>     // std::optional: a built-in codec
#include <span>         // std::span: the bytes a Reader starts with
#include <stdexcept>    // std::runtime_error: CodecError
#include <string>       // std::basic_string: a built-in codec
#include <string_view>  // std::basic_string_view: not sent as bytes
#include <tuple>        // std::tuple: a built-in codec
#include <type_traits>  // std::is_trivially_copyable_v, std::is_pointer_v
#include <utility>      // std::pair, std::index_sequence
#include <vector>       // std::vector: the Writer's buffer, a built-in codec

// How arguments and results cross between processes in parmap's MPI backend: a Writer that
// appends bytes to a reused buffer, a Reader that takes them back (from one buffer, or part
// by part as they arrive), and parmap::mpi::codec<T>, the customisation point. Standard
// library only: this header needs no MPI and is tested without it.
namespace parmap::mpi {

// A message that does not hold what its reader expects (too short, or a length that does not
// fit). Never the sign of a user error on a single binary: both ends run the same codec.
class CodecError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Appends bytes to a buffer it does not own. The buffer keeps its capacity between messages
// (the caller clears it), so a steady stream of messages allocates nothing. Not thread-safe.
class Writer {
 public:
  explicit Writer(std::vector<std::byte>& buffer) noexcept : buffer_(&buffer) {}

  void write_bytes(const void* data, std::size_t n) {
    if (n == 0) return;
    // insert, not resize + memcpy: the new bytes are written once, not zeroed first.
    const auto* bytes = static_cast<const std::byte*>(data);
    buffer_->insert(buffer_->end(), bytes, bytes + n);
  }
  // A trivially copyable value, as its bytes.
  template <class T>
  void write(const T& value) {
    static_assert(std::is_trivially_copyable_v<T>);
    write_bytes(&value, sizeof value);
  }
  [[nodiscard]] std::size_t size() const noexcept { return buffer_->size(); }

 private:
  std::vector<std::byte>* buffer_;
};

// Takes bytes back in the order a Writer wrote them. It starts with the bytes given to it;
// a subclass may supply more as they arrive (refill), so that a large message is never held
// twice (parmap/mpi.hpp receives a big field straight into the result's memory). Throws
// CodecError when the message ends early. Not thread-safe.
class Reader {
 public:
  explicit Reader(std::span<const std::byte> bytes) noexcept
      : pos_(bytes.data()), end_(bytes.data() + bytes.size()) {}
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;
  virtual ~Reader() = default;

  void read_bytes(void* data, std::size_t n) {
    auto* out = static_cast<std::byte*>(data);
    for (;;) {
      const auto take = std::min(n, static_cast<std::size_t>(end_ - pos_));
      if (take > 0) std::memcpy(out, pos_, take);
      pos_ += take;
      out += take;
      n -= take;
      if (n == 0) return;
      const std::size_t direct = refill(out, n);
      out += direct;
      n -= direct;
      if (n == 0) return;
    }
  }
  template <class T>
  [[nodiscard]] T read() {
    static_assert(std::is_trivially_copyable_v<T>);
    T value;
    read_bytes(&value, sizeof value);
    return value;
  }
  // A length written as std::uint64_t, checked against what this process can hold.
  [[nodiscard]] std::size_t read_length() {
    const auto n = read<std::uint64_t>();
    if (n > static_cast<std::uint64_t>(SIZE_MAX / 2)) throw CodecError("parmap::mpi: bad length");
    return static_cast<std::size_t>(n);
  }

 protected:
  // The current bytes are used up and `wanted` more are asked for, to go to `dst`. Either
  // writes some of them straight to dst and returns how many, or calls set_bytes with the
  // next bytes and returns 0. The default has nothing more: the message ended early.
  virtual std::size_t refill(std::byte* /*dst*/, std::size_t /*wanted*/) {
    throw CodecError("parmap::mpi: a message ended before its reader expected");
  }
  void set_bytes(std::span<const std::byte> bytes) noexcept {
    pos_ = bytes.data();
    end_ = bytes.data() + bytes.size();
  }

 private:
  const std::byte* pos_;
  const std::byte* end_;
};

// The customisation point: how a T crosses between processes. A specialisation has
//   static void encode(Writer&, const T&);
//   static T decode(Reader&);
// Built in: trivially copyable types (not pointers, nor string_view, span or
// reference_wrapper, which hold addresses), std::basic_string of them, and
// std::vector, std::array, std::pair, std::tuple and std::optional of types with a codec.
// <parmap/mpi/cereal.hpp> adds every other type cereal can serialise. A type with none is a
// compile-time error where it is used (parmap::mpi::delayed, the task's result).
template <class T>
struct codec {
  static constexpr bool unsupported = true;
};

// Whether T has a codec: built in, from cereal, or a user's specialisation.
template <class T>
concept encodable = requires(Writer& w, Reader& r, const T& value) {
  codec<T>::encode(w, value);
  { codec<T>::decode(r) } -> std::same_as<T>;
};

template <class T>
void encode(Writer& w, const T& value) {
  codec<T>::encode(w, value);
}
template <class T>
[[nodiscard]] T decode(Reader& r) {
  return codec<T>::decode(r);
}

namespace detail {

template <class T, template <class...> class Template>
inline constexpr bool is_specialization_v = false;
template <template <class...> class Template, class... Args>
inline constexpr bool is_specialization_v<Template<Args...>, Template> = true;
template <class T>
inline constexpr bool is_span_v = false;
template <class T, std::size_t N>
inline constexpr bool is_span_v<std::span<T, N>> = true;

// Standard types that are trivially copyable but hold an address: their bytes mean nothing in
// another process. (A type of yours that holds a pointer needs a codec of its own.)
template <class T>
concept holds_address = std::is_pointer_v<T> || std::is_member_pointer_v<T> ||
                        is_specialization_v<T, std::basic_string_view> || is_span_v<T> ||
                        is_specialization_v<T, std::reference_wrapper>;

template <class T>
concept plain_bytes =
    std::is_trivially_copyable_v<T> && !holds_address<T> && !std::is_reference_v<T>;
template <class T>
inline constexpr bool is_std_array_v = false;
template <class T, std::size_t N>
inline constexpr bool is_std_array_v<std::array<T, N>> = true;

// The types whose codec is built in (whether or not their elements have one): an add-on such
// as the cereal header must not claim them.
template <class T>
concept builtin_codec =
    plain_bytes<T> || is_specialization_v<T, std::basic_string> ||
    is_specialization_v<T, std::vector> || is_std_array_v<T> || is_specialization_v<T, std::pair> ||
    is_specialization_v<T, std::tuple> || is_specialization_v<T, std::optional>;

// Elements copied as one block of bytes (std::vector<bool> has no contiguous elements).
template <class T>
concept bulk_elements = plain_bytes<T> && !std::same_as<T, bool>;

}  // namespace detail

template <class T>
  requires detail::plain_bytes<T>
struct codec<T> {
  static void encode(Writer& w, const T& value) { w.write(value); }
  static T decode(Reader& r) { return r.read<T>(); }
};

template <class C, class Traits, class Alloc>
  requires detail::plain_bytes<C>
struct codec<std::basic_string<C, Traits, Alloc>> {
  using S = std::basic_string<C, Traits, Alloc>;
  static void encode(Writer& w, const S& s) {
    w.write(static_cast<std::uint64_t>(s.size()));
    w.write_bytes(s.data(), s.size() * sizeof(C));
  }
  static S decode(Reader& r) {
    S s(r.read_length(), C{});
    r.read_bytes(s.data(), s.size() * sizeof(C));
    return s;
  }
};

template <class T, class Alloc>
  requires encodable<T>
struct codec<std::vector<T, Alloc>> {
  using V = std::vector<T, Alloc>;
  static void encode(Writer& w, const V& v) {
    w.write(static_cast<std::uint64_t>(v.size()));
    if constexpr (detail::bulk_elements<T>) {
      w.write_bytes(v.data(), v.size() * sizeof(T));
    } else {
      for (const T& x : v) codec<T>::encode(w, x);
    }
  }
  static V decode(Reader& r) {
    const std::size_t n = r.read_length();
    V v;
    if constexpr (detail::bulk_elements<T>) {
      v.resize(n);  // one allocation, then the bytes straight into it
      r.read_bytes(v.data(), n * sizeof(T));
    } else {
      v.reserve(n);
      for (std::size_t i = 0; i < n; ++i) v.push_back(codec<T>::decode(r));
    }
    return v;
  }
};

template <class T, std::size_t N>
  requires encodable<T> && (!detail::plain_bytes<std::array<T, N>>)
struct codec<std::array<T, N>> {
  static void encode(Writer& w, const std::array<T, N>& a) {
    for (const T& x : a) codec<T>::encode(w, x);
  }
  static std::array<T, N> decode(Reader& r) {
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
      // Braced initialisation evaluates its elements in order.
      return std::array<T, N>{((void)I, codec<T>::decode(r))...};
    }(std::make_index_sequence<N>());
  }
};

template <class A, class B>
  requires encodable<A> && encodable<B> && (!detail::plain_bytes<std::pair<A, B>>)
struct codec<std::pair<A, B>> {
  static void encode(Writer& w, const std::pair<A, B>& p) {
    codec<A>::encode(w, p.first);
    codec<B>::encode(w, p.second);
  }
  static std::pair<A, B> decode(Reader& r) {
    A a = codec<A>::decode(r);
    return {std::move(a), codec<B>::decode(r)};
  }
};

template <class... Ts>
  requires(encodable<Ts> && ...) && (!detail::plain_bytes<std::tuple<Ts...>>)
struct codec<std::tuple<Ts...>> {
  static void encode(Writer& w, const std::tuple<Ts...>& t) {
    std::apply([&](const Ts&... xs) { (codec<Ts>::encode(w, xs), ...); }, t);
  }
  static std::tuple<Ts...> decode(Reader& r) {
    // Braced initialisation evaluates its elements in order.
    return std::tuple<Ts...>{codec<Ts>::decode(r)...};
  }
};

template <class T>
  requires encodable<T> && (!detail::plain_bytes<std::optional<T>>)
struct codec<std::optional<T>> {
  static void encode(Writer& w, const std::optional<T>& o) {
    w.write(static_cast<unsigned char>(o.has_value()));
    if (o) codec<T>::encode(w, *o);
  }
  static std::optional<T> decode(Reader& r) {
    if (r.read<unsigned char>() == 0) return std::nullopt;
    return codec<T>::decode(r);
  }
};

}  // namespace parmap::mpi
