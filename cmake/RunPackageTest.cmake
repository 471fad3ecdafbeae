# Runs one packaging test (see tests/CMakeLists.txt): cmake -DMODE=... -P RunPackageTest.cmake
#
# MODE find_package:     install PARMAP_BINARY_DIR to a scratch prefix, then build the consumer
#                        with find_package(parmap CONFIG REQUIRED) finding it there.
# MODE build_tree:       the same consumer, finding parmap through the build tree's export.
# MODE add_subdirectory: build a consumer that add_subdirectory()s PARMAP_SOURCE_DIR.
# Each mode then runs the consumer, which checks a small parmap run and returns 0.

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

if(MODE STREQUAL "find_package")
  run_step("${CMAKE_COMMAND}" --install "${PARMAP_BINARY_DIR}" --prefix "${_prefix}"
           --config "${CONFIG}")
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
