// Compile-time benchmark: the cost of including parmap, with no call.
#include <parmap/parmap.hpp>

int main() { return 0; }
