#pragma once

// Opt-in: parmap::mpi::codec for every type cereal can serialise (a serialize() member or
// free function, or save/load pairs), through cereal's binary archive. Needs cereal's headers
// (Debian: libcereal-dev); include the cereal headers for the standard types your type holds
// (<cereal/types/string.hpp>, ...) as cereal asks. Types with a built-in codec keep it.
// Include this header in every translation unit that sends such a type, so that all of them
// agree on its codec.

#include <cereal/archives/binary.hpp>  // cereal::BinaryOutputArchive, BinaryInputArchive
#include <concepts>                    // std::default_initializable
#include <ios>                         // std::streamsize
#include <istream>                     // std::istream: cereal reads from one
#include <ostream>                     // std::ostream: cereal writes to one
#include <streambuf>                   // std::streambuf: adapters over Writer and Reader

#include "codec.hpp"

namespace parmap::mpi {
namespace detail {

// A stream buffer that appends to a Writer: cereal writes straight into the message.
class WriterStreamBuf final : public std::streambuf {
 public:
  explicit WriterStreamBuf(Writer& w) noexcept : w_(&w) {}

 protected:
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    w_->write_bytes(s, static_cast<std::size_t>(n));
    return n;
  }
  int_type overflow(int_type c) override {
    if (traits_type::eq_int_type(c, traits_type::eof())) return traits_type::not_eof(c);
    const char ch = traits_type::to_char_type(c);
    w_->write_bytes(&ch, 1);
    return c;
  }

 private:
  Writer* w_;
};

// A stream buffer that takes bytes from a Reader, exactly as many as cereal asks for (no
// read-ahead: the next field of the message is not cereal's).
class ReaderStreamBuf final : public std::streambuf {
 public:
  explicit ReaderStreamBuf(Reader& r) noexcept : r_(&r) {}

 protected:
  std::streamsize xsgetn(char* s, std::streamsize n) override {
    r_->read_bytes(s, static_cast<std::size_t>(n));
    return n;
  }
  int_type uflow() override {
    char ch = 0;
    r_->read_bytes(&ch, 1);
    return traits_type::to_int_type(ch);
  }
  int_type underflow() override { return traits_type::eof(); }  // nothing buffered to peek at

 private:
  Reader* r_;
};

template <class T>
concept cereal_serializable =
    cereal::traits::is_output_serializable<T, cereal::BinaryOutputArchive>::value &&
    cereal::traits::is_input_serializable<T, cereal::BinaryInputArchive>::value &&
    std::default_initializable<T>;

}  // namespace detail

template <class T>
  requires(!detail::builtin_codec<T>) && detail::cereal_serializable<T>
struct codec<T> {
  static void encode(Writer& w, const T& value) {
    detail::WriterStreamBuf buffer(w);
    std::ostream stream(&buffer);
    cereal::BinaryOutputArchive archive(stream);
    archive(value);
  }
  static T decode(Reader& r) {
    detail::ReaderStreamBuf buffer(r);
    std::istream stream(&buffer);
    cereal::BinaryInputArchive archive(stream);
    T value;
    archive(value);
    return value;
  }
};

}  // namespace parmap::mpi
