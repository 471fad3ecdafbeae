#pragma once

// The library's version; CMake reads these three lines to version the package.
#define PARMAP_VERSION_MAJOR 0
#define PARMAP_VERSION_MINOR 1
#define PARMAP_VERSION_PATCH 0
