# Runs COMMAND (a list) and passes only if it exits non-zero, its output contains EXPECT, and
# it ends within WITHIN seconds: the behaviour of an MPI job that must fail cleanly. (CTest's
# WILL_FAIL with PASS_REGULAR_EXPRESSION cannot say this: it inverts the regex result too.)
string(TIMESTAMP _start "%s")
execute_process(COMMAND ${COMMAND}
  RESULT_VARIABLE _rc OUTPUT_VARIABLE _out ERROR_VARIABLE _err
  TIMEOUT 60)
string(TIMESTAMP _end "%s")
math(EXPR _elapsed "${_end} - ${_start}")
message("exit: ${_rc}; ${_elapsed} s\n--- stdout\n${_out}\n--- stderr\n${_err}")
if(_rc EQUAL 0)
  message(FATAL_ERROR "the job exited 0; it must fail")
endif()
string(FIND "${_out}${_err}" "${EXPECT}" _at)
if(_at EQUAL -1)
  message(FATAL_ERROR "the output does not say: ${EXPECT}")
endif()
if(_elapsed GREATER WITHIN)
  message(FATAL_ERROR "the job took ${_elapsed} s to end; the limit is ${WITHIN} s")
endif()
