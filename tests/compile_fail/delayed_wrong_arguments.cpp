// expect: f cannot be called with these arguments
// expect-first-error: f cannot be called with these arguments
// delayed(f)(args...) checks the arguments when the task is made, not when it runs.
#include <parmap/parmap.hpp>

#include <string>  // std::string: an argument f does not take

int square(int x) { return x * x; }

int main() {
  auto task = parmap::delayed(square)(std::string("seven"));
  return task();
}
