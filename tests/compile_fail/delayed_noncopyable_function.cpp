// expect: f cannot be copied into the task
// expect-first-error: f cannot be copied into the task
// expect-first-error: std::ref(f)
// delayed(f) stores a copy of f: an lvalue f that cannot be copied is refused where delayed is
// called, with the two ways out (std::move(f), std::ref(f)).
#include <parmap/parmap.hpp>

#include <memory>  // std::unique_ptr: what makes the function object move-only
#include <ranges>  // std::views::transform
#include <vector>  // std::vector: the input

struct Scale {
  std::unique_ptr<int> factor = std::make_unique<int>(3);
  int operator()(int x) const { return *factor * x; }
};

int main() {
  Scale scale;
  std::vector<int> xs{1, 2, 3};
  auto tasks = xs | std::views::transform([&scale](int x) { return parmap::delayed(scale)(x); });
  auto results = parmap::Parallel(2)(tasks);
  return static_cast<int>(results.size());
}
