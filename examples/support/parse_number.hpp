#pragma once

// Command-line numbers, read whole: "12" is 12, "12x", "" and "1e999" are not numbers. Shared
// by the memory demo's options and benchmarks/peak_rss, so that the parsing of option values
// lives in one place.

#include <cerrno>        // errno, ERANGE: strtod's out-of-range report
#include <charconv>      // std::from_chars
#include <cmath>         // std::isinf: overflow, as strtod reports it
#include <cstdlib>       // std::strtof, std::strtod, std::strtold: the fallback below
#include <optional>      // std::optional: text that is not a number
#include <string>        // std::string: strtod needs a NUL-terminated copy
#include <string_view>   // std::string_view
#include <system_error>  // std::errc
#include <type_traits>   // std::is_floating_point_v, std::is_same_v
#include <version>       // __cpp_lib_to_chars

namespace cli {

namespace detail {

// from_chars for floating point, for standard libraries that lack it (libc++ before 20 has
// only the integer overloads: "call to deleted function 'from_chars'"). It accepts exactly what
// from_chars accepts: strtod also takes leading spaces, a '+' and hexadecimal "0x1p3", so those
// are refused first; then all of the text must be read and the value must be in range. strtod
// sets ERANGE for subnormal results too ("1e-310"), which from_chars accepts, so only ERANGE
// with an infinite or zero result (overflow, underflow to nothing) counts as out of range.
// Programs here never call setlocale, so the decimal point is '.' for both.
template <class T>
std::optional<T> parse_floating_point(std::string_view text) {
  if (text.empty() || text.front() == '+' || text.front() == ' ' ||
      (text.front() >= '\t' && text.front() <= '\r')) {
    return std::nullopt;
  }
  const std::string_view digits = text.front() == '-' ? text.substr(1) : text;
  if (digits.size() >= 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) {
    return std::nullopt;
  }
  const std::string copy(text);
  char* end = nullptr;
  errno = 0;
  T value{};
  if constexpr (std::is_same_v<T, float>) {
    value = std::strtof(copy.c_str(), &end);
  } else if constexpr (std::is_same_v<T, double>) {
    value = std::strtod(copy.c_str(), &end);
  } else {
    value = std::strtold(copy.c_str(), &end);
  }
  if (end != copy.c_str() + copy.size()) return std::nullopt;
  if (errno == ERANGE && (value == 0 || std::isinf(value))) return std::nullopt;
  return value;
}

}  // namespace detail

// `text` as a T (an integer or a floating-point type), or nullopt unless all of it is one.
template <class T>
std::optional<T> parse_number(std::string_view text) {
#if !defined(__cpp_lib_to_chars)
  // __cpp_lib_to_chars is defined only when from_chars handles floating point too.
  if constexpr (std::is_floating_point_v<T>) {
    return detail::parse_floating_point<T>(text);
  } else
#endif
  {
    T value{};
    const char* const end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (ec != std::errc{} || ptr != end) return std::nullopt;
    return value;
  }
}

}  // namespace cli
