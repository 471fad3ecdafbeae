// expect: f cannot be called with these arguments
// expect-first-error: f cannot be called with these arguments
// Too many arguments are refused the same way.
#include <parmap/parmap.hpp>

int square(int x) { return x * x; }

int main() {
  auto task = parmap::delayed(square)(1, 2);
  return task();
}
