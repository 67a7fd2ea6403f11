# README's model example is examples/readme.cpp, word for word (so the README's code compiles).
file(READ ${README} readme)
file(READ ${EXAMPLE} example)
string(FIND "${readme}" "```cpp\n${example}```" at)
if(at EQUAL -1)
  message(FATAL_ERROR "README.md's cpp block differs from ${EXAMPLE}; keep them the same")
endif()
