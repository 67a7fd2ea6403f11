# A run interrupted after epoch 1 and resumed ends with the same parameters, bit for bit, as the
# same run done in one go (momentum, Nesterov, the halving schedule and early stopping included).
# ARGS (a ;-list) chooses the run; the default exercises momentum, Nesterov, the halving schedule
# and early stopping.
if(ARGS)
  set(common ${ARGS} --quiet)
else()
  set(common --limit-train 600 --limit-test 200 --validation 200 --batch 10 --seed 7 --momentum 0.9
      --nesterov --schedule halve --patience 1 --early-stop 3 --quiet)
endif()
file(REMOVE_RECURSE ${WORK})
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}${err}")
  endif()
  message(STATUS "${out}")
endfunction()
run(${TRAIN} ${common} --epochs 3 --out ${WORK}/whole)
run(${TRAIN} ${common} --epochs 1 --out ${WORK}/parts)
run(${TRAIN} --resume ${WORK}/parts/checkpoint.safetensors --epochs 3)
execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${WORK}/whole/model.safetensors ${WORK}/parts/model.safetensors
                RESULT_VARIABLE same)
if(NOT same EQUAL 0)
  message(FATAL_ERROR "the resumed run ended with other parameters than the uninterrupted run")
endif()
file(READ ${WORK}/parts/metrics.csv csv)
string(REGEX MATCHALL "\n[0-9]+," rows "${csv}")
list(LENGTH rows n)
if(NOT n EQUAL 3)
  message(FATAL_ERROR "metrics.csv of the resumed run should have 3 epochs:\n${csv}")
endif()
