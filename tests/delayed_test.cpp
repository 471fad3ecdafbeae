// parmap::delayed(f)(args...): stores f and decayed copies of the arguments, is a nullary
// invocable, works with every kind of callable, rejects null ones, and can be called
// repeatedly as an lvalue.

#include "support/catch.hpp"
#include "support/test_support.hpp"

#include <parmap/parmap.hpp>

#include <cstring>      // std::strlen: an array argument decays to a pointer
#include <functional>   // std::function: an empty one is rejected; std::ref
#include <memory>       // std::unique_ptr: a move-only argument
#include <ranges>       // std::views::iota, transform
#include <stdexcept>    // std::invalid_argument
#include <string>       // std::string: an argument copied at binding time
#include <type_traits>  // std::is_invocable_v
#include <utility>      // std::move
#include <vector>       // std::vector: results

namespace {

std::string shout(const std::string& s) { return s + "!"; }
int add(int a, int b) { return a + b; }

struct Account {
  int balance = 0;
  [[nodiscard]] int with_interest(int percent) const { return balance + balance * percent / 100; }
  int deposit(int amount) { return balance += amount; }
};

}  // namespace

TEST_CASE("delayed stores copies of its arguments taken when the task is made", "[delayed]") {
  parmap_test::Watchdog watchdog("delayed stores copies of its arguments taken when the task is made");
  std::string word = "hello";
  auto task = parmap::delayed(shout)(word);
  word = "changed";
  word.clear();
  CHECK(task() == "hello!");

  // A const& parameter sees the stored copy, not the variable the task was made from.
  int n = 5;
  const int& ref = n;
  auto by_ref_param = parmap::delayed([](const int& v) { return v * 10; })(ref);
  n = 6;
  CHECK(by_ref_param() == 50);

  auto array_arg = parmap::delayed([](const char* s) { return std::strlen(s); })("four");
  CHECK(array_arg() == 4);

  // The function object is copied too.
  int calls = 0;
  auto counting = [calls]() mutable { return ++calls; };
  auto task2 = parmap::delayed(counting)();
  CHECK(task2() == 1);
  CHECK(counting() == 1);  // the original's state is untouched by the task's call
}

TEST_CASE("delayed accepts move-only arguments", "[delayed]") {
  parmap_test::Watchdog watchdog("delayed accepts move-only arguments");
  auto task = parmap::delayed([](std::unique_ptr<int> p) { return *p * 2; })(std::make_unique<int>(21));
  CHECK(std::move(task)() == 42);

  // Through a Parallel call, in every mode.
  auto tasks = std::views::iota(0, 20) | std::views::transform([](int i) {
                 return parmap::delayed([](std::unique_ptr<int> p, int k) { return *p + k; })(
                     std::make_unique<int>(i), i);
               });
  std::vector<int> expected;
  for (int i = 0; i < 20; ++i) expected.push_back(2 * i);
  const int n_jobs = GENERATE(1, 2);
  CHECK(parmap::Parallel({.n_jobs = n_jobs})(tasks) == expected);
  std::vector<int> got;
  for (int r : parmap::Parallel({.n_jobs = n_jobs}, parmap::return_as::generator)(tasks)) {
    got.push_back(r);
  }
  CHECK(got == expected);
}

TEST_CASE("delayed works with lambdas and function pointers and member function pointers",
          "[delayed]") {
  parmap_test::Watchdog watchdog("delayed works with lambdas and function pointers and member function pointers");
  CHECK(parmap::delayed([](int a, int b) { return a * b; })(6, 7)() == 42);
  CHECK(parmap::delayed(add)(2, 3)() == 5);
  CHECK(parmap::delayed(&add)(2, 3)() == 5);
  int (*fp)(int, int) = &add;
  CHECK(parmap::delayed(fp)(4, 5)() == 9);

  const Account account{200};
  CHECK(parmap::delayed(&Account::with_interest)(account, 10)() == 220);
  CHECK(parmap::delayed(&Account::with_interest)(&account, 50)() == 300);
  // The object is stored by copy: depositing changes the task's copy, not `mine`.
  Account mine{10};
  auto deposit = parmap::delayed(&Account::deposit)(mine, 5);
  CHECK(deposit() == 15);
  CHECK(deposit() == 20);
  CHECK(mine.balance == 10);
  // A pointer argument reaches the object itself.
  auto deposit_into_mine = parmap::delayed(&Account::deposit)(&mine, 5);
  CHECK(deposit_into_mine() == 15);
  CHECK(mine.balance == 15);

  CHECK(parmap::delayed(std::function<int(int)>([](int v) { return -v; }))(8)() == -8);

  // All of them run as tasks.
  auto tasks = std::views::iota(0, 10) | std::views::transform([](int i) {
                 return parmap::delayed(&Account::with_interest)(Account{i * 100}, 10);
               });
  std::vector<int> expected;
  for (int i = 0; i < 10; ++i) expected.push_back(i * 110);
  CHECK(parmap::Parallel({.n_jobs = 2})(tasks) == expected);
}

TEST_CASE("delayed rejects a null function pointer and an empty std::function", "[delayed]") {
  parmap_test::Watchdog watchdog("delayed rejects a null function pointer and an empty std::function");
  int (*null_function)(int, int) = nullptr;
  REQUIRE_THROWS_AS(parmap::delayed(null_function), std::invalid_argument);
  REQUIRE_THROWS_AS(parmap::delayed(std::function<int()>{}), std::invalid_argument);
  int (Account::*null_member)(int) = nullptr;
  REQUIRE_THROWS_AS(parmap::delayed(null_member), std::invalid_argument);

  try {
    (void)parmap::delayed(null_function);
  } catch (const std::invalid_argument& e) {
    const std::string message = e.what();
    INFO("message: " << message);
    CHECK(message.find("null") != std::string::npos);
    CHECK(message.find("delayed") != std::string::npos);
  }
}

TEST_CASE("a task can be called repeatedly as an lvalue", "[delayed]") {
  parmap_test::Watchdog watchdog("a task can be called repeatedly as an lvalue");
  auto task = parmap::delayed(shout)(std::string("again"));
  static_assert(std::is_invocable_v<decltype(task)&>);
  static_assert(std::is_invocable_v<const decltype(task)&>);
  CHECK(task() == "again!");
  CHECK(task() == "again!");
  const auto& const_task = task;
  CHECK(const_task() == "again!");

  // An lvalue container of such tasks runs twice with the same results.
  std::vector<decltype(parmap::delayed(add)(1, 2))> tasks;
  for (int i = 0; i < 12; ++i) tasks.push_back(parmap::delayed(add)(i, i));
  parmap::Parallel parallel({.n_jobs = 2});
  const std::vector<int> first = parallel(tasks);
  const std::vector<int> second = parallel(tasks);
  CHECK(first == second);
  CHECK(first.at(11) == 22);
  for (auto& t : tasks) CHECK(t() % 2 == 0);
}

TEST_CASE("std::ref passes an argument itself, to a parameter taken by non-const reference",
          "[delayed]") {
  parmap_test::Watchdog watchdog("std::ref passes an argument itself");
  int counter = 1;
  auto task = parmap::delayed([](int& x) { return ++x; })(std::ref(counter));
  CHECK(std::move(task)() == 2);
  CHECK(counter == 2);

  // A move-only function object: moved into delayed, or shared through std::ref.
  auto scale = [factor = std::make_unique<int>(3)](int x) { return *factor * x; };
  CHECK(parmap::delayed(std::ref(scale))(2)() == 6);
  CHECK(parmap::delayed(std::move(scale))(5)() == 15);
}

TEST_CASE("a task f cannot run is not invocable, rather than a hard error", "[delayed]") {
  // What lets a Parallel call stay quiet about such a task: delayed has already said why,
  // where the task was made (tests/compile_fail/delayed_*.cpp check that message).
  using Bad = parmap::detail::DelayedCall<int (*)(int&), int>;
  static_assert(!std::is_invocable_v<Bad&&>);
  static_assert(std::is_invocable_v<Bad&>);  // an lvalue task passes its stored int as int&
  static_assert(!std::is_invocable_v<const Bad&>);
  static_assert(parmap::detail::is_delayed_call_v<Bad>);
  static_assert(parmap::detail::is_delayed_call_v<const Bad&>);
  static_assert(!parmap::detail::is_delayed_call_v<int (*)()>);
  SUCCEED("checked at compile time");
}
