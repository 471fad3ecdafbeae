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
// them as lvalues and can be called again. Each call operator exists only where f can be
// called that way, so std::invocable<DelayedCall<...>> is false, not a hard error, for a
// task f cannot run (the return types are deduced for the same reason: spelled out, they
// would be errors as soon as the class is instantiated).
template <class F, class... Args>
class DelayedCall {
 public:
  template <class G, class... A>
  constexpr explicit DelayedCall(std::in_place_t /*tag*/, G&& f, A&&... args)
      : f_(std::forward<G>(f)), args_(std::forward<A>(args)...) {}

  constexpr decltype(auto) operator()() && requires std::invocable<F&&, Args&&...> {
    return std::apply(
        [this](Args&... a) -> decltype(auto) {
          return std::invoke(std::move(f_), std::move(a)...);
        },
        args_);
  }
  constexpr decltype(auto) operator()() & requires std::invocable<F&, Args&...> {
    return std::apply(f_, args_);
  }
  constexpr decltype(auto) operator()() const& requires std::invocable<const F&, const Args&...> {
    return std::apply(f_, args_);
  }

 private:
  F f_;
  std::tuple<Args...> args_;
};

// Whether T (cv and references ignored) is a task made by delayed(f)(args...).
template <class T>
struct is_delayed_call : std::false_type {};
template <class F, class... Args>
struct is_delayed_call<DelayedCall<F, Args...>> : std::true_type {};
template <class T>
inline constexpr bool is_delayed_call_v = is_delayed_call<std::remove_cvref_t<T>>::value;

// Checks delayed(f)(args...) where it is written: Delayed::operator() names this class in its
// return type, so the checks run as the call is compiled. A static_assert in the operator's
// body would come too late: GCC instantiates function bodies at the end of the translation
// unit, after the errors of any code that used the task (a Parallel call's "each element ...
// must be a task callable with no arguments" among them), so the message that says what is
// wrong came last, 140 lines down. F is the stored function, A the arguments as passed.
// Instantiated once for both call operators (they share F and A), so each message shows once.
template <class F, class... A>
struct checked_delayed_call {
  static constexpr bool args_storable = (std::is_constructible_v<std::decay_t<A>, A&&> && ...);
  static_assert(args_storable,
                "parmap::delayed(f)(args...): the task stores a copy of each argument, and an "
                "argument cannot be copied; pass it as std::move(x), or as std::ref(x) to "
                "store a reference (x must then outlive the task)");
  static_assert(!args_storable || std::invocable<F&&, std::decay_t<A>&&...>,
                "parmap::delayed(f)(args...): f cannot be called with these arguments (the task "
                "calls f once, with the stored copies of the arguments as rvalues; a parameter "
                "taken by non-const reference needs std::ref(x), which passes x itself)");
  using type = DelayedCall<F, std::decay_t<A>...>;
};

// Checks delayed(f) where it is written, as checked_delayed_call does for the arguments: f
// reaches the task as `From` (F& for an lvalue f).
template <class F, class From>
struct checked_delayed_function {
  static_assert(std::is_constructible_v<F, From>,
                "parmap::delayed(f): f cannot be copied into the task; pass std::move(f), or "
                "std::ref(f) to share f by reference (f must then outlive the task and be safe "
                "to call from several threads)");
  using type = F;
};

// What delayed(f) returns: call it with the arguments to get the task.
template <class F>
class Delayed {
 public:
  constexpr explicit Delayed(F f) : f_(std::move(f)) {}

  // An lvalue Delayed copies f into each task, so it can make many.
  template <class... A>
  constexpr typename checked_delayed_call<F, A...>::type operator()(A&&... args) const& {
    // Here, not in the return type: overload resolution reads this overload's return type
    // for an rvalue Delayed too, which needs no copy.
    static_assert(std::copy_constructible<F>,
                  "parmap::delayed(f)(args...): this delayed(f) holds an f that cannot be "
                  "copied, so it makes one task only: call it as an rvalue, "
                  "std::move(d)(args...), or make it from std::ref(f)");
    return DelayedCall<F, std::decay_t<A>...>(std::in_place, f_, std::forward<A>(args)...);
  }
  // An rvalue Delayed moves f into the task: delayed(std::move(f))(x) for a move-only f.
  template <class... A>
  constexpr typename checked_delayed_call<F, A...>::type operator()(A&&... args) && {
    return DelayedCall<F, std::decay_t<A>...>(std::in_place, std::move(f_),
                                              std::forward<A>(args)...);
  }

 private:
  F f_;
};

}  // namespace detail

// Binds a function and its arguments into a task, as joblib's delayed does:
//   parmap::delayed(f)(x) is a nullary invocable that returns f(x).
// Stores f and decayed copies of the arguments (as std::bind_front would): wrap an argument
// in std::ref(x) to pass x itself, to a parameter taken by non-const reference say. Throws
// std::invalid_argument when f is a null function pointer or an empty std::function.
// Non-blocking, thread-safe.
template <class F>
[[nodiscard]] constexpr detail::Delayed<
    typename detail::checked_delayed_function<std::decay_t<F>, F&&>::type>
delayed(F&& f) {
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
