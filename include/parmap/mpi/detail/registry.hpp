#pragma once

#include <cstddef>   // std::size_t
#include <cstdint>   // std::uint64_t: function ids
#include <cstdlib>   // std::free: the demangler's buffer
#include <map>       // std::map: the registry, ordered so every rank hashes it alike
#include <memory>    // std::unique_ptr: the demangler's buffer
#include <string>    // std::string: type names
#include <typeinfo>  // std::type_info: names of functions' call types and of exceptions
#if __has_include(<cxxabi.h>)
#include <cxxabi.h>  // abi::__cxa_demangle, abi::__cxa_current_exception_type
#define PARMAP_MPI_HAVE_CXXABI 1
#endif

namespace parmap::mpi::detail {

struct ServeState;
struct RequestHead;
class ReplyWriter;

// How a serving rank runs the tasks of one request for a function: decodes their arguments
// from `in`, runs them, and writes their outcomes; returns how many it answered.
using Handler = std::uint32_t (*)(ServeState&, Reader& in, Writer& out, const RequestHead&);

// 64-bit FNV-1a: ids from names, and the registry's fingerprint.
inline std::uint64_t fnv1a(const char* text, std::uint64_t hash = 14695981039346656037ULL) {
  for (; *text != '\0'; ++text) {
    hash ^= static_cast<unsigned char>(*text);
    hash *= 1099511628211ULL;
  }
  return hash;
}

inline std::string demangle(const char* name) {
#ifdef PARMAP_MPI_HAVE_CXXABI
  int status = 0;
  const std::unique_ptr<char, void (*)(void*)> readable(
      abi::__cxa_demangle(name, nullptr, nullptr, &status), std::free);
  if (status == 0 && readable) return readable.get();
#endif
  return name;
}

// The functions a process can run for others, by id. Filled before main by the
// Registration of each function that a delayed<F>(args...) names anywhere in the program, so
// every rank of one binary holds the same entries, whatever the order of static
// initialisation. The id is a hash of the call type's mangled name (the function and its
// argument types), the same in every process of the binary and never an address.
// Thread safety: written only during static initialisation, read-only after.
class Registry {
 public:
  struct Entry {
    const char* name;  // the call type's mangled name
    Handler handler;
  };

  std::uint64_t add(const char* name, Handler handler) {
    const std::uint64_t id = fnv1a(name);
    auto [it, inserted] = entries_.try_emplace(id, Entry{name, handler});
    // Another name under the same hash, or the same name with another handler: two functions
    // of internal linkage (static, or in an anonymous namespace) of the same name and type in
    // two files, which the mangled name cannot tell apart.
    if (!inserted && (std::string(it->second.name) != name || it->second.handler != handler)) {
      collision_ = true;
    }
    return id;
  }
  [[nodiscard]] const Entry* find(std::uint64_t id) const {
    const auto it = entries_.find(id);
    return it == entries_.end() ? nullptr : &it->second;
  }
  // A hash of every entry's name, in id order: ranks of one binary agree on it.
  [[nodiscard]] std::uint64_t fingerprint() const {
    std::uint64_t hash = fnv1a("parmap-mpi-1");
    for (const auto& [id, entry] : entries_) hash = fnv1a(entry.name, hash);
    return hash;
  }
  [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }
  [[nodiscard]] bool collision() const noexcept { return collision_; }

 private:
  std::map<std::uint64_t, Entry> entries_;
  bool collision_ = false;
};

inline Registry& registry() {
  static Registry instance;  // made on first use: safe from any static initialiser
  return instance;
}

}  // namespace parmap::mpi::detail
