# Runs one compile-fail test: cmake -DCXX=... -DFLAGS=... -DSOURCE=... -P CheckCompileFails.cmake
#
# SOURCE must carry one or more lines `// expect: <text>` (by convention its first lines). The
# test passes when the compiler rejects SOURCE and its output contains at least one <text>;
# several lines allow for GCC and Clang wording the same error differently.
#
# SOURCE may also carry lines `// expect-first-error: <text>`: then the first line of the
# output that reports an error must contain every such <text>. For errors that parmap reports
# itself (a static_assert with our own wording, the same for every compiler): the message that
# says what is wrong must come first, not after screens of errors it would have explained.

file(STRINGS "${SOURCE}" _expect_lines REGEX "^// expect: ")
file(STRINGS "${SOURCE}" _expect_first_lines REGEX "^// expect-first-error: ")
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
# The first error: the text from the first "error: " (GCC's and Clang's "file:line:col: error:",
# "fatal error:" too) to the end of its line. Found with string(FIND), not by splitting the
# output into a CMake list: compiler output is full of "[with T = ...]" brackets and ';',
# both of which change how CMake splits a list.
if(_expect_first_lines)
  set(_first_error "")
  string(FIND "${_output}" "error: " _at)
  if(NOT _at EQUAL -1)
    string(SUBSTRING "${_output}" ${_at} -1 _first_error)
    string(FIND "${_first_error}" "\n" _end)
    if(NOT _end EQUAL -1)
      string(SUBSTRING "${_first_error}" 0 ${_end} _first_error)
    endif()
  endif()
  foreach(_line IN LISTS _expect_first_lines)
    string(REGEX REPLACE "^// expect-first-error: *" "" _text "${_line}")
    string(STRIP "${_text}" _text)
    string(FIND "${_first_error}" "${_text}" _at)
    if(_at EQUAL -1)
      message(FATAL_ERROR
        "${SOURCE} failed to compile, but its first error does not say \"${_text}\":\n"
        "${_first_error}\n\nThe whole output:\n${_output}")
    endif()
  endforeach()
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
