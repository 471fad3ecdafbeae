# What the standard library in use needs from parmap's users, found by compiling against it.
#
# libc++ before 20 ships std::stop_token (what parmap::this_task hands to tasks) and std::jthread
# only behind clang's -fexperimental-library; without it, <stop_token> declares nothing ("no type
# named 'stop_token' in namespace 'std'"). parmap_stdlib_flags(<var>) sets <var> to the flags a
# translation unit including parmap needs (empty for libstdc++, MSVC's STL and libc++ 20+).
# CMAKE_CXX_FLAGS take part in the check, so -stdlib=libc++ there is seen.

include_guard(GLOBAL)
include(CheckCXXSourceCompiles)
include(CMakePushCheckState)

function(parmap_stdlib_flags out_var)
  cmake_push_check_state(RESET)
  set(CMAKE_REQUIRED_FLAGS "${CMAKE_CXX20_STANDARD_COMPILE_OPTION}")
  set(CMAKE_REQUIRED_QUIET ON)
  # _LIBCPP_VERSION is MMmmpp since libc++ 16 (190107) and MMmpp before (15000): below 200000
  # in both forms.
  check_cxx_source_compiles([[
#include <version>
#if !defined(_LIBCPP_VERSION) || _LIBCPP_VERSION >= 200000
#error not libc++ before 20
#endif
int main() { return 0; }
]] PARMAP_LIBCXX_BEFORE_20)
  cmake_pop_check_state()
  if(PARMAP_LIBCXX_BEFORE_20)
    message(STATUS "parmap: libc++ before 20; std::stop_token needs -fexperimental-library")
    set(${out_var} -fexperimental-library PARENT_SCOPE)
  else()
    set(${out_var} "" PARENT_SCOPE)
  endif()
endfunction()
