// expect: makes one task only
// expect-first-error: makes one task only
// A delayed(f) holding a move-only f can give f away once, to one task: called as an lvalue
// (which would copy f into each task) it is refused with the ways out.
#include <parmap/parmap.hpp>

#include <memory>   // std::unique_ptr: what makes the function object move-only
#include <utility>  // std::move

struct Scale {
  std::unique_ptr<int> factor = std::make_unique<int>(3);
  int operator()(int x) const { return *factor * x; }
};

int main() {
  auto scaled = parmap::delayed(Scale{});
  auto task = scaled(2);
  return std::move(task)();
}
