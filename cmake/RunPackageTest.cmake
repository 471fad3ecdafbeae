# Runs one packaging test (see tests/CMakeLists.txt): cmake -DMODE=... -P RunPackageTest.cmake
#
# MODE find_package:     install PARMAP_BINARY_DIR to a scratch prefix, then build the consumer
#                        with find_package(parmap CONFIG REQUIRED) finding it there.
# MODE build_tree:       the same consumer, finding parmap through the build tree's export.
# MODE add_subdirectory: build a consumer that add_subdirectory()s PARMAP_SOURCE_DIR.
# MODE fetch_content:    build a consumer that FetchContent_Declare()s PARMAP_SOURCE_DIR as its
#                        GIT_REPOSITORY, at the commit checked out there (a source tree that is
#                        not a git checkout skips the test).
# MODE pkg_config:       install as for find_package, then compile the consumer's main.cpp with
#                        CXX and `pkg-config --cflags --libs parmap`, no CMake.
# Each mode then runs the consumer, which checks a small parmap run and returns 0. CXX_FLAGS
# (the parent build's CMAKE_CXX_FLAGS, e.g. -stdlib=libc++) go to every consumer build.
# A skipped test prints "package test skipped:", which the test's SKIP_REGULAR_EXPRESSION
# matches (cmake -P cannot choose its exit code before CMake 3.29).

foreach(_var IN ITEMS MODE CONSUMER_SOURCE_DIR WORK_DIR PARMAP_SOURCE_DIR PARMAP_BINARY_DIR
                      GENERATOR CXX)
  if(NOT DEFINED ${_var} OR "${${_var}}" STREQUAL "")
    message(FATAL_ERROR "RunPackageTest.cmake: ${_var} is not set")
  endif()
endforeach()
if(NOT CONFIG)
  set(CONFIG Debug)
endif()

function(run_step)
  string(REPLACE ";" " " _shown "${ARGN}")
  message(STATUS "package.${MODE}: ${_shown}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE _result)
  if(NOT _result EQUAL 0)
    message(FATAL_ERROR "package.${MODE}: step failed (${_result}): ${_shown}")
  endif()
endfunction()

# A fresh directory every run: a header left in the prefix by an earlier install would hide a
# header that the install rules no longer copy, and a stale consumer cache would hide a broken
# configure.
file(REMOVE_RECURSE "${WORK_DIR}")
set(_prefix "${WORK_DIR}/prefix")
set(_build "${WORK_DIR}/build")

set(_configure_args
  -S "${CONSUMER_SOURCE_DIR}" -B "${_build}"
  -G "${GENERATOR}"
  "-DCMAKE_CXX_COMPILER=${CXX}"
  "-DCMAKE_BUILD_TYPE=${CONFIG}"
  # Only the parmap under test may be found: not one in the user package registry, nor one that
  # an earlier `make install` left in /usr/local.
  -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
  -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF)
if(MAKE_PROGRAM)
  list(APPEND _configure_args "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}")
endif()

if(CXX_FLAGS)
  list(APPEND _configure_args "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}")
endif()

if(MODE STREQUAL "find_package" OR MODE STREQUAL "pkg_config")
  run_step("${CMAKE_COMMAND}" --install "${PARMAP_BINARY_DIR}" --prefix "${_prefix}"
           --config "${CONFIG}")
endif()

if(MODE STREQUAL "pkg_config")
  if(NOT PKG_CONFIG)
    message("package test skipped: pkg-config is not installed (apt-get install pkg-config)")
    return()
  endif()
  # Only the parmap.pc just installed: PKG_CONFIG_LIBDIR replaces the default search path, so a
  # parmap.pc elsewhere on the system cannot answer instead.
  file(GLOB_RECURSE _pc_files "${_prefix}/*/parmap.pc")
  if(NOT _pc_files)
    message(FATAL_ERROR "package.${MODE}: no parmap.pc under ${_prefix}")
  endif()
  list(GET _pc_files 0 _pc_file)
  get_filename_component(_pc_dir "${_pc_file}" DIRECTORY)
  set(ENV{PKG_CONFIG_LIBDIR} "${_pc_dir}")
  set(ENV{PKG_CONFIG_PATH} "")
  execute_process(COMMAND "${PKG_CONFIG}" --cflags --libs parmap
    OUTPUT_VARIABLE _pc_flags OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE _result)
  if(NOT _result EQUAL 0)
    message(FATAL_ERROR "package.${MODE}: pkg-config --cflags --libs parmap failed (${_result})")
  endif()
  message(STATUS "package.${MODE}: pkg-config --cflags --libs parmap: ${_pc_flags}")
  execute_process(COMMAND "${PKG_CONFIG}" --atleast-version=0.1 parmap RESULT_VARIABLE _result)
  if(NOT _result EQUAL 0)
    message(FATAL_ERROR "package.${MODE}: pkg-config says parmap is older than 0.1")
  endif()
  # The README's command: g++ -std=c++20 app.cpp $(pkg-config --cflags --libs parmap).
  separate_arguments(_pc_flags UNIX_COMMAND "${_pc_flags}")
  separate_arguments(_cxx_flags UNIX_COMMAND "${CXX_FLAGS}")
  file(MAKE_DIRECTORY "${_build}")
  run_step("${CXX}" ${_cxx_flags} -std=c++20 "${CONSUMER_SOURCE_DIR}/main.cpp" ${_pc_flags}
           -o "${_build}/parmap_consumer")
  run_step("${_build}/parmap_consumer")
  return()
endif()

if(MODE STREQUAL "find_package")
  # The exported target must carry only what a user needs: an include dir, C++20 and Threads.
  # Warnings or -fsanitize here would be forced on every consumer's build.
  file(GLOB_RECURSE _targets_files "${_prefix}/*/parmapTargets.cmake")
  if(NOT _targets_files)
    message(FATAL_ERROR "package.${MODE}: no parmapTargets.cmake under ${_prefix}")
  endif()
  foreach(_file IN LISTS _targets_files)
    file(READ "${_file}" _content)
    if(_content MATCHES "-fsanitize|-W[a-z]|parmap_dev_options")
      message(FATAL_ERROR "package.${MODE}: developer flags leak into ${_file}")
    endif()
  endforeach()
  list(APPEND _configure_args "-DCMAKE_PREFIX_PATH=${_prefix}")
  set(_expected_dir "${_prefix}")
elseif(MODE STREQUAL "build_tree")
  list(APPEND _configure_args "-Dparmap_DIR=${PARMAP_BINARY_DIR}")
  set(_expected_dir "${PARMAP_BINARY_DIR}")
elseif(MODE STREQUAL "add_subdirectory")
  list(APPEND _configure_args "-DPARMAP_SOURCE_DIR=${PARMAP_SOURCE_DIR}")
elseif(MODE STREQUAL "fetch_content")
  # The commit checked out in the source tree: CI runs on a fresh clone, so that is the code
  # under test. (In a working copy, uncommitted changes are not part of what gets fetched.)
  find_program(_git git)
  if(_git)
    execute_process(COMMAND "${_git}" -C "${PARMAP_SOURCE_DIR}" rev-parse --verify HEAD
      OUTPUT_VARIABLE _head OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET
      RESULT_VARIABLE _result)
  endif()
  if(NOT _git OR NOT _result EQUAL 0)
    message("package test skipped: ${PARMAP_SOURCE_DIR} is not a git checkout (or git is "
            "missing), so there is nothing for FetchContent to clone")
    return()
  endif()
  list(APPEND _configure_args "-DPARMAP_GIT_REPOSITORY=${PARMAP_SOURCE_DIR}"
                              "-DPARMAP_GIT_TAG=${_head}")
else()
  message(FATAL_ERROR "RunPackageTest.cmake: unknown MODE '${MODE}'")
endif()

run_step("${CMAKE_COMMAND}" ${_configure_args})

if(_expected_dir)
  # Prove which parmap was found; a system-wide one would make this test pass for nothing.
  file(STRINGS "${_build}/CMakeCache.txt" _found REGEX "^parmap_DIR:")
  string(FIND "${_found}" "${_expected_dir}" _at)
  if(NOT _at GREATER -1)
    message(FATAL_ERROR "package.${MODE}: found the wrong parmap: ${_found} (expected one under "
                        "${_expected_dir})")
  endif()
endif()

run_step("${CMAKE_COMMAND}" --build "${_build}" --config "${CONFIG}")

# Single-config generators put the program in the build dir, multi-config ones in a subfolder.
foreach(_candidate IN ITEMS "${_build}/parmap_consumer" "${_build}/${CONFIG}/parmap_consumer"
                            "${_build}/parmap_consumer.exe" "${_build}/${CONFIG}/parmap_consumer.exe")
  if(EXISTS "${_candidate}")
    run_step("${_candidate}")
    return()
  endif()
endforeach()
message(FATAL_ERROR "package.${MODE}: the consumer program was not built in ${_build}")
