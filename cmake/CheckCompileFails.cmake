# Runs one compile-fail test: cmake -DCXX=... -DFLAGS=... -DSOURCE=... -P CheckCompileFails.cmake
#
# SOURCE must carry one or more lines `// expect: <text>` (by convention its first lines). The
# test passes when the compiler rejects SOURCE and its output contains at least one <text>;
# several lines allow for GCC and Clang wording the same error differently.

file(STRINGS "${SOURCE}" _expect_lines REGEX "^// expect: ")
if(NOT _expect_lines)
  message(FATAL_ERROR "${SOURCE}: no `// expect: <text>` line says which error it must produce")
endif()

# LC_ALL=C: GCC translates its messages and, in a UTF-8 locale, quotes names with ‘ ’ instead
# of ' ', so an expect text written on one machine would not match on another.
execute_process(
  COMMAND "${CMAKE_COMMAND}" -E env LC_ALL=C "${CXX}" ${FLAGS} "${SOURCE}"
  RESULT_VARIABLE _result
  OUTPUT_VARIABLE _output
  ERROR_VARIABLE _output)

if(_result EQUAL 0)
  message(FATAL_ERROR "${SOURCE} compiled, but it must not")
endif()
foreach(_line IN LISTS _expect_lines)
  string(REGEX REPLACE "^// expect: *" "" _text "${_line}")
  string(STRIP "${_text}" _text)
  string(FIND "${_output}" "${_text}" _at)
  if(_text AND NOT _at EQUAL -1)
    message(STATUS "${SOURCE} failed to compile, as expected: found \"${_text}\"")
    return()
  endif()
endforeach()
message(FATAL_ERROR
  "${SOURCE} failed to compile, but for another reason: none of its `// expect:` texts is in "
  "the compiler's output:\n${_output}")
