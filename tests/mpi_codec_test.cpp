// parmap::mpi's codec (parmap/mpi/codec.hpp, standard library only, so tested without MPI):
// every built-in type round-trips, a user specialisation is used, a Reader that gets its bytes
// in parts sees the same values, and a short message is an error, not a bad read.
#include <algorithm>  // std::copy_n, std::min
#include <array>     // std::array
#include <cstddef>   // std::byte, std::size_t
#include <functional>  // std::reference_wrapper: has no codec
#include <optional>  // std::optional
#include <span>      // std::span
#include <string>    // std::string, std::u16string
#include <string_view>  // std::string_view: has no codec
#include <tuple>     // std::tuple
#include <utility>   // std::pair
#include <vector>    // std::vector

#include <parmap/mpi/codec.hpp>

#include "support/catch.hpp"

namespace {

using parmap::mpi::decode;
using parmap::mpi::encode;
using parmap::mpi::Reader;
using parmap::mpi::Writer;

template <class T>
T round_trip(const T& value) {
  std::vector<std::byte> buffer;
  Writer w(buffer);
  encode(w, value);
  Reader r(buffer);
  T back = decode<T>(r);
  CHECK_THROWS_AS(r.read<char>(), parmap::mpi::CodecError);  // nothing left over
  return back;
}

struct Point {
  double x, y;
  bool operator==(const Point&) const = default;
};

// Not trivially copyable: needs the user's codec.
struct Name {
  std::string text;
  bool operator==(const Name&) const = default;
};

// A Reader whose bytes arrive `part` at a time, as PartReader's do: a field may straddle
// parts, and a large one may be copied straight to its destination.
class PartedReader final : public Reader {
 public:
  PartedReader(std::span<const std::byte> all, std::size_t part)
      : Reader(all.first(std::min(part, all.size()))), all_(all), at_(std::min(part, all.size())),
        part_(part) {}
  std::size_t direct = 0;  // bytes handed straight to a destination

 protected:
  std::size_t refill(std::byte* dst, std::size_t wanted) override {
    if (at_ == all_.size()) return Reader::refill(dst, wanted);
    const std::size_t n = std::min(part_, all_.size() - at_);
    if (wanted >= n) {
      std::copy_n(all_.data() + at_, n, dst);
      at_ += n;
      direct += n;
      return n;
    }
    set_bytes(all_.subspan(at_, n));
    at_ += n;
    return 0;
  }

 private:
  std::span<const std::byte> all_;
  std::size_t at_;
  std::size_t part_;
};

}  // namespace

template <>
struct parmap::mpi::codec<Name> {
  static void encode(Writer& w, const Name& n) { parmap::mpi::encode(w, n.text); }
  static Name decode(Reader& r) { return Name{parmap::mpi::decode<std::string>(r)}; }
};

TEST_CASE("built-in codecs round-trip", "[mpi_codec]") {
  CHECK(round_trip(42) == 42);
  CHECK(round_trip(Point{1.5, -2}) == Point{1.5, -2});
  CHECK(round_trip(std::string("hello, ranks")) == "hello, ranks");
  CHECK(round_trip(std::string()).empty());
  CHECK(round_trip(std::u16string(u"wide")) == u"wide");
  CHECK(round_trip(std::vector<double>{1, 2, 3}) == std::vector<double>{1, 2, 3});
  CHECK(round_trip(std::vector<bool>{true, false, true}) == std::vector<bool>{true, false, true});
  CHECK(round_trip(std::vector<std::string>{"a", "", "ccc"}) ==
        std::vector<std::string>{"a", "", "ccc"});
  CHECK(round_trip(std::array<std::string, 2>{"x", "y"}) == std::array<std::string, 2>{"x", "y"});
  CHECK(round_trip(std::pair<std::string, int>("k", 7)) == std::pair<std::string, int>("k", 7));
  using Mixed = std::tuple<int, std::string, std::optional<std::vector<int>>>;
  CHECK(round_trip(Mixed(1, "two", std::vector<int>{3})) == Mixed(1, "two", std::vector<int>{3}));
  CHECK(round_trip(Mixed(1, "two", std::nullopt)) == Mixed(1, "two", std::nullopt));
  CHECK(round_trip(std::optional<std::string>()) == std::nullopt);
}

TEST_CASE("a user's codec specialisation is used, also inside containers", "[mpi_codec]") {
  CHECK(round_trip(Name{"parmap"}) == Name{"parmap"});
  CHECK(round_trip(std::vector<Name>{{"a"}, {"b"}}) == std::vector<Name>{{"a"}, {"b"}});
}

TEST_CASE("which types have a codec is known at compile time", "[mpi_codec]") {
  STATIC_REQUIRE(parmap::mpi::encodable<int>);
  STATIC_REQUIRE(parmap::mpi::encodable<std::vector<std::tuple<int, std::string>>>);
  STATIC_REQUIRE(parmap::mpi::encodable<Name>);
  STATIC_REQUIRE_FALSE(parmap::mpi::encodable<int*>);  // an address means nothing elsewhere
  STATIC_REQUIRE_FALSE(parmap::mpi::encodable<std::vector<int*>>);
  // Trivially copyable, but what they hold is an address in this process.
  STATIC_REQUIRE_FALSE(parmap::mpi::encodable<std::string_view>);
  STATIC_REQUIRE_FALSE(parmap::mpi::encodable<std::span<const double>>);
  STATIC_REQUIRE_FALSE(parmap::mpi::encodable<std::reference_wrapper<int>>);
  struct Opaque {
    std::vector<int> hidden;
  };
  STATIC_REQUIRE_FALSE(parmap::mpi::encodable<Opaque>);
}

TEST_CASE("a reader fed in parts reads the same values, large fields straight through",
          "[mpi_codec]") {
  const auto part = GENERATE(std::size_t{1}, std::size_t{7}, std::size_t{64}, std::size_t{4096});
  std::vector<std::byte> buffer;
  Writer w(buffer);
  const std::vector<double> big(5000, 0.25);
  const std::vector<std::string> words{"alpha", "beta", std::string(300, 'g')};
  encode(w, big);
  encode(w, words);
  encode(w, 99);
  PartedReader r(buffer, part);
  CHECK(decode<std::vector<double>>(r) == big);
  CHECK(decode<std::vector<std::string>>(r) == words);
  CHECK(decode<int>(r) == 99);
  if (part == 4096) CHECK(r.direct >= 4096);  // most of `big` never went through a buffer
}

TEST_CASE("a message shorter than its reader expects is a CodecError", "[mpi_codec]") {
  std::vector<std::byte> buffer;
  Writer w(buffer);
  encode(w, std::string("truncated"));
  buffer.erase(buffer.end() - 3, buffer.end());  // cut the last 3 bytes
  Reader r(buffer);
  CHECK_THROWS_AS(decode<std::string>(r), parmap::mpi::CodecError);
}

TEST_CASE("a Writer reuses its buffer's capacity", "[mpi_codec]") {
  std::vector<std::byte> buffer;
  {
    Writer w(buffer);
    encode(w, std::vector<int>(1000, 1));
  }
  const std::size_t capacity = buffer.capacity();
  const std::byte* data = buffer.data();
  buffer.clear();
  Writer w(buffer);
  encode(w, std::vector<int>(900, 2));
  CHECK(buffer.capacity() == capacity);
  CHECK(buffer.data() == data);  // no new allocation for a message that fits
}
