#pragma once

#include <concepts>     // std::invocable
#include <functional>   // std::function (null check), std::invoke
#include <stdexcept>    // std::invalid_argument
#include <tuple>        // std::tuple, std::apply: the stored arguments
#include <type_traits>  // std::decay_t, std::is_pointer_v, std::is_member_pointer_v
#include <utility>      // std::forward, std::move

namespace parmap {
namespace detail {

template <class F>
struct is_std_function : std::false_type {};
template <class Sig>
struct is_std_function<std::function<Sig>> : std::true_type {};

// A function with its arguments bound: what delayed(f)(args...) returns. A nullary
// invocable. Called as an rvalue (as Parallel does, once per task) it moves the function and
// the arguments into the call, so move-only arguments work; called as an lvalue it passes
// them as lvalues and can be called again.
template <class F, class... Args>
class DelayedCall {
 public:
  template <class G, class... A>
  constexpr explicit DelayedCall(std::in_place_t /*tag*/, G&& f, A&&... args)
      : f_(std::forward<G>(f)), args_(std::forward<A>(args)...) {}

  constexpr decltype(auto) operator()() && {
    return std::apply(
        [this](Args&... a) -> decltype(auto) {
          return std::invoke(std::move(f_), std::move(a)...);
        },
        args_);
  }
  constexpr decltype(auto) operator()() & { return std::apply(f_, args_); }
  constexpr decltype(auto) operator()() const& { return std::apply(f_, args_); }

 private:
  F f_;
  std::tuple<Args...> args_;
};

// What delayed(f) returns: call it with the arguments to get the task.
template <class F>
class Delayed {
 public:
  constexpr explicit Delayed(F f) : f_(std::move(f)) {}

  template <class... A>
  constexpr DelayedCall<F, std::decay_t<A>...> operator()(A&&... args) const& {
    check_invocable<A...>();
    return DelayedCall<F, std::decay_t<A>...>(std::in_place, f_, std::forward<A>(args)...);
  }
  template <class... A>
  constexpr DelayedCall<F, std::decay_t<A>...> operator()(A&&... args) && {
    check_invocable<A...>();
    return DelayedCall<F, std::decay_t<A>...>(std::in_place, std::move(f_),
                                              std::forward<A>(args)...);
  }

 private:
  template <class... A>
  static constexpr void check_invocable() {
    static_assert(std::invocable<F&&, std::decay_t<A>&&...>,
                  "parmap::delayed(f)(args...): f cannot be called with these arguments "
                  "(the task calls f once, with the stored copies of the arguments as rvalues)");
  }

  F f_;
};

}  // namespace detail

// Binds a function and its arguments into a task, as joblib's delayed does:
//   parmap::delayed(f)(x) is a nullary invocable that returns f(x).
// Stores f and decayed copies of the arguments (as std::bind_front would). Throws
// std::invalid_argument when f is a null function pointer or an empty std::function.
// Non-blocking, thread-safe.
template <class F>
[[nodiscard]] constexpr detail::Delayed<std::decay_t<F>> delayed(F&& f) {
  using Fn = std::decay_t<F>;
  // A function (not a pointer) decays to a pointer that cannot be null: no check for it.
  if constexpr (!std::is_function_v<std::remove_reference_t<F>> &&
                (std::is_pointer_v<Fn> || std::is_member_pointer_v<Fn> ||
                 detail::is_std_function<Fn>::value)) {
    if (f == nullptr) throw std::invalid_argument("parmap::delayed: the function is null");
  }
  return detail::Delayed<Fn>(std::forward<F>(f));
}

}  // namespace parmap
