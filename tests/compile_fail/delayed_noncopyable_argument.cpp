// expect: an argument cannot be copied
// expect-first-error: an argument cannot be copied
// expect-first-error: std::move(x)
// delayed(f)(args...) stores a copy of each argument: an lvalue that cannot be copied is
// refused where the task is made.
#include <parmap/parmap.hpp>

#include <memory>  // std::unique_ptr: a move-only argument

int deref(std::unique_ptr<int> p) { return *p; }

int main() {
  auto p = std::make_unique<int>(7);
  auto task = parmap::delayed(deref)(p);
  return std::move(task)();
}
