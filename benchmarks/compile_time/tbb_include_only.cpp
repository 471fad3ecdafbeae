// Compile-time benchmark: the cost of including oneTBB's parallel_for, with no call.
#include <tbb/parallel_for.h>

int main() { return 0; }
