# nabla-train --vote: two small trained networks are rebuilt from their model.safetensors, each
# gives the test accuracy its training run reported (so the reloaded network is the trained one),
# and the ensemble's plurality vote is printed.
set(common --limit-train 600 --limit-test 200 --validation 0 --epochs 1 --quiet)
file(REMOVE_RECURSE ${WORK})
foreach(seed 1 2)
  execute_process(COMMAND ${TRAIN} ${common} --seed ${seed} --out ${WORK}/m${seed} RESULT_VARIABLE rc OUTPUT_VARIABLE out
                  ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "training failed (${rc}):\n${out}${err}")
  endif()
  string(REGEX MATCH "test accuracy ([0-9.]+)" _ "${out}")
  set(trained${seed} ${CMAKE_MATCH_1})
endforeach()
execute_process(COMMAND ${TRAIN} --vote ${WORK}/m1/model.safetensors ${WORK}/m2/model.safetensors
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message(STATUS "${out}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "--vote failed (${rc}):\n${out}${err}")
endif()
foreach(seed 1 2)
  if(NOT out MATCHES "m${seed}/model.safetensors: network2 [^\n]*test accuracy ${trained${seed}}")
    message(FATAL_ERROR "model ${seed}: expected the trained run's test accuracy ${trained${seed}} in:\n${out}")
  endif()
endforeach()
if(NOT out MATCHES "Ensemble of 2 by plurality vote: test accuracy 0\\.[0-9]+ \\([0-9]+ / 200\\)")
  message(FATAL_ERROR "no ensemble line in:\n${out}")
endif()
# --vote-mirror: one network alone, each test image also seen mirrored; its accuracy is printed.
execute_process(COMMAND ${TRAIN} --vote ${WORK}/m1/model.safetensors --vote-mirror
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message(STATUS "${out}")
if(NOT rc EQUAL 0 OR NOT out MATCHES "m1/model.safetensors: network2 [^\n]*test accuracy 0\\.[0-9]+ \\(with the mirror images\\)")
  message(FATAL_ERROR "--vote-mirror (${rc}):\n${out}${err}")
endif()
