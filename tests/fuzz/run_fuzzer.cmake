# Runs one libFuzzer target for SECONDS on a fresh copy of SEED_CORPUS in WORK_DIR;
# crash inputs are written to WORK_DIR/artifacts. Fails when the fuzzer finds anything.
#   cmake -D FUZZER=... -D SEED_CORPUS=... -D WORK_DIR=... -D SECONDS=30 -P run_fuzzer.cmake
foreach(var FUZZER SEED_CORPUS WORK_DIR SECONDS)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_fuzzer.cmake: ${var} is not set")
  endif()
endforeach()

# Each run starts from the seeds alone, so that its result does not depend on an
# earlier run's corpus.
file(REMOVE_RECURSE "${WORK_DIR}/corpus")
file(MAKE_DIRECTORY "${WORK_DIR}/corpus" "${WORK_DIR}/artifacts")
file(GLOB seeds "${SEED_CORPUS}/*")
if(NOT seeds)
  message(FATAL_ERROR "run_fuzzer.cmake: no seed inputs in ${SEED_CORPUS}")
endif()
file(COPY ${seeds} DESTINATION "${WORK_DIR}/corpus")

execute_process(
  COMMAND "${FUZZER}" -max_total_time=${SECONDS} -timeout=10 -print_final_stats=1
          "-artifact_prefix=${WORK_DIR}/artifacts/" "${WORK_DIR}/corpus"
  WORKING_DIRECTORY "${WORK_DIR}"
  RESULT_VARIABLE result)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "${FUZZER} failed (${result}); the input that broke it is in ${WORK_DIR}/artifacts")
endif()
