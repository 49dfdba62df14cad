# The test suite, run by ctest from `make test`:
#   tests/*_test.lua        Lua suites, each run as `alaris-run FILE` from the source folder
#   tests/lab/*_test.lua    the same, against a lab started once for them (fixture "lab")
#   tests/pg/*_test.lua     the same, against a PostgreSQL server started once for them (fixture "pg")
#   tests/c/*_test.c        C unit tests linked with the engine and the bindings
#   lab/test/*.test.js      the lab's own suites (node's test runner), in the plain build only (label "node")
set(TEST_ENV "ALARIS_RUN=$<TARGET_FILE:alaris-run>;LUA_PATH=${CMAKE_SOURCE_DIR}/tests/lib/?.lua\\;\\;;NO_COLOR=1")
if(ALARIS_SANITIZE)
  list(APPEND TEST_ENV "ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=99"
    "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:exitcode=99"
    "LSAN_OPTIONS=suppressions=${CMAKE_SOURCE_DIR}/tests/lsan.supp")
endif()

function(alaris_lua_tests folder fixture)
  file(GLOB suites CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/${folder}/*_test.lua)
  foreach(suite ${suites})
    get_filename_component(name ${suite} NAME_WE)
    string(REGEX REPLACE "_test$" "" name "${name}")
    set(test_name "lua:${name}")
    if(fixture)
      set(test_name "${fixture}:${name}")
      add_test(NAME ${test_name} COMMAND sh -c ". \"$0/env\" && exec \"$@\"" ${CMAKE_BINARY_DIR}/${fixture}
        $<TARGET_FILE:alaris-run> ${suite} WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
      set_tests_properties(${test_name} PROPERTIES FIXTURES_REQUIRED ${fixture} LABELS ${fixture})
    else()
      add_test(NAME ${test_name} COMMAND alaris-run ${suite} WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
    endif()
    set_tests_properties(${test_name} PROPERTIES ENVIRONMENT "${TEST_ENV}" TIMEOUT 600)
  endforeach()
endfunction()

alaris_lua_tests(tests "")

add_test(NAME lab:up COMMAND ${CMAKE_SOURCE_DIR}/lab/bin/lab up --dir ${CMAKE_BINARY_DIR}/lab)
add_test(NAME lab:down COMMAND ${CMAKE_SOURCE_DIR}/lab/bin/lab down --dir ${CMAKE_BINARY_DIR}/lab)
set_tests_properties(lab:up PROPERTIES FIXTURES_SETUP lab)
set_tests_properties(lab:down PROPERTIES FIXTURES_CLEANUP lab)
alaris_lua_tests(tests/lab lab)

add_test(NAME pg:up COMMAND ${CMAKE_SOURCE_DIR}/tests/support/pg-server up ${CMAKE_BINARY_DIR}/pg)
add_test(NAME pg:down COMMAND ${CMAKE_SOURCE_DIR}/tests/support/pg-server down ${CMAKE_BINARY_DIR}/pg)
set_tests_properties(pg:up PROPERTIES FIXTURES_SETUP pg)
set_tests_properties(pg:down PROPERTIES FIXTURES_CLEANUP pg)
alaris_lua_tests(tests/pg pg)

file(GLOB c_tests CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/c/*_test.c)
foreach(src ${c_tests})
  get_filename_component(name ${src} NAME_WE)
  add_executable(${name} ${src})
  target_link_libraries(${name} PRIVATE alaris-core)
  add_test(NAME c:${name} COMMAND ${name} WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(c:${name} PROPERTIES ENVIRONMENT "${TEST_ENV}")
endforeach()

if(NOT ALARIS_SANITIZE)
  add_test(NAME node:lab COMMAND node --test --test-concurrency=1 test/ WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}/lab)
  set_tests_properties(node:lab PROPERTIES LABELS node TIMEOUT 900)
endif()
