#pragma once

// Command-line numbers, read whole: "12" is 12, "12x", "" and "1e999" are not numbers. Shared
// by the memory demo's options and benchmarks/peak_rss, so that the parsing of option values
// lives in one place.

#include <charconv>      // std::from_chars
#include <optional>      // std::optional: text that is not a number
#include <string_view>   // std::string_view
#include <system_error>  // std::errc

namespace cli {

// `text` as a T (an integer or a floating-point type), or nullopt unless all of it is one.
template <class T>
std::optional<T> parse_number(std::string_view text) {
  T value{};
  const char* const end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc{} || ptr != end) return std::nullopt;
  return value;
}

}  // namespace cli
