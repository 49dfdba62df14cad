# The test suite, run by ctest from `make test`:
#   tests/*_test.lua        Lua suites, each run as `alaris-run FILE` from the source folder
#   tests/lab/*_test.lua    the same, against a lab started once for them (fixture "lab")
#   tests/pg/*_test.lua     the same, against a PostgreSQL server started once for them (fixture "pg")
#   tests/c/*_test.c        C unit tests linked with the engine and the bindings
#   lab/test/*.test.js      the lab's own suites (node's test runner), in the plain build only (label "node")
#   app/test/*.test.js      the tenant app's suites (node's test runner), in both builds (label "app")
#   style:clang-format      the C sources match .clang-format (plain build only)
set(TEST_ENV "ALARIS_RUN=$<TARGET_FILE:alaris-run>;LUA_PATH=${CMAKE_SOURCE_DIR}/tests/lib/?.lua\\;\\;;NO_COLOR=1")
if(ALARIS_SANITIZE)
  list(APPEND TEST_ENV "ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=99"
    "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:exitcode=99"
    "LSAN_OPTIONS=suppressions=${CMAKE_SOURCE_DIR}/tests/lsan.supp")
endif()

# Under the sanitizers a suite runs through tests/support/sanitized-run, which runs it once more only when
# LeakSanitizer's own tracer crashed at a process's exit (a flaw of the runtime), never after a real finding.
set(SUITE_WRAPPER "")
if(ALARIS_SANITIZE)
  set(SUITE_WRAPPER ${CMAKE_SOURCE_DIR}/tests/support/sanitized-run)
endif()

function(alaris_lua_tests folder fixture)
  file(GLOB suites CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/${folder}/*_test.lua)
  foreach(suite ${suites})
    get_filename_component(name ${suite} NAME_WE)
    string(REGEX REPLACE "_test$" "" name "${name}")
    set(test_name "lua:${name}")
    if(fixture)
      set(test_name "${fixture}:${name}")
      add_test(NAME ${test_name} COMMAND ${SUITE_WRAPPER} sh -c ". \"$0/env\" && exec \"$@\"" ${CMAKE_BINARY_DIR}/${fixture}
        $<TARGET_FILE:alaris-run> ${suite} WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
      set_tests_properties(${test_name} PROPERTIES FIXTURES_REQUIRED ${fixture} LABELS ${fixture})
    else()
      add_test(NAME ${test_name} COMMAND ${SUITE_WRAPPER} $<TARGET_FILE:alaris-run> ${suite} WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
    endif()
    set(suite_env "${TEST_ENV}")
    if(ALARIS_SANITIZE AND fixture STREQUAL "lab")
      # The lab suites' failing child runs crash LeakSanitizer's own tracer at exit (google/sanitizers#1353, a flaw
      # of the runtime, no finding): leak checking is off for them; ASan and UBSan still stop them on any error,
      # and the other suites check leaks in the same code.
      string(REPLACE "detect_leaks=1" "detect_leaks=0" suite_env "${suite_env}")
    endif()
    set_tests_properties(${test_name} PROPERTIES ENVIRONMENT "${suite_env}" TIMEOUT 600)
  endforeach()
endfunction()

alaris_lua_tests(tests "")

# A fixture: `up` before the first suite of the folder, `down` after the last, only when the folder has suites.
function(alaris_fixture name folder up down)
  file(GLOB suites CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/${folder}/*_test.lua)
  if(NOT suites)
    return()
  endif()
  add_test(NAME ${name}:up COMMAND ${up} ${CMAKE_BINARY_DIR}/${name})
  add_test(NAME ${name}:down COMMAND ${down} ${CMAKE_BINARY_DIR}/${name})
  set_tests_properties(${name}:up PROPERTIES FIXTURES_SETUP ${name} TIMEOUT 120)
  set_tests_properties(${name}:down PROPERTIES FIXTURES_CLEANUP ${name} TIMEOUT 120)
  alaris_lua_tests(${folder} ${name})
endfunction()

alaris_fixture(lab tests/lab "${CMAKE_SOURCE_DIR}/lab/bin/lab;up;--dir" "${CMAKE_SOURCE_DIR}/lab/bin/lab;down;--dir")
# The PITR and DR drill suites restore Clusters with barman-cloud: minutes each on a loaded machine.
set_tests_properties(lab:playbook_pitr lab:playbook_drdrill PROPERTIES TIMEOUT 2400)
# grade's suite onboards two tenants, backs them up and restores four Clusters: many minutes on a loaded machine.
if(TEST lab:playbook_grade)
  set_tests_properties(lab:playbook_grade PROPERTIES TIMEOUT 3600)
endif()
# backup's suite onboards a tenant and takes two Backups with barman-cloud: minutes on a loaded machine.
if(TEST lab:playbook_backup)
  set_tests_properties(lab:playbook_backup PROPERTIES TIMEOUT 1800)
endif()
# onboard's suites bring up real Clusters and apps, offboard's takes a real final backup: minutes on a loaded machine.
foreach(suite playbook_onboard playbook_onboard_faults playbook_offboard)
  if(TEST lab:${suite})
    set_tests_properties(lab:${suite} PROPERTIES TIMEOUT 1800)
  endif()
endforeach()
# The suites that restore Clusters (PITR, the DR drill, grade's drills) spend their time in PostgreSQL's WAL replay and
# barman-cloud, not in alaris: label "restore", left out of the sanitizer run (make test: -LE 'node|restore'), whose
# alaris code paths (watches, port-forward, S3, libpq) the other lab suites already run under ASan + UBSan.
foreach(suite playbook_pitr playbook_drdrill playbook_grade)
  if(TEST lab:${suite})
    set_tests_properties(lab:${suite} PROPERTIES LABELS "lab;restore")
  endif()
endforeach()
# onboarding's fault suite: under the sanitizers, the child run whose bucket step is refused crashed LeakSanitizer's
# own tracer at exit on both tries (google/sanitizers#1353: a flaw of the runtime, no finding); until that is
# understood the suite runs in the plain build only (label plain-only, left out of the sanitizer run).
if(TEST lab:playbook_onboard_faults)
  set_tests_properties(lab:playbook_onboard_faults PROPERTIES LABELS "lab;plain-only")
endif()
alaris_fixture(pg tests/pg "${CMAKE_SOURCE_DIR}/tests/support/pg-server;up" "${CMAKE_SOURCE_DIR}/tests/support/pg-server;down")

file(GLOB c_tests CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/c/*_test.c)
foreach(src ${c_tests})
  get_filename_component(name ${src} NAME_WE)
  add_executable(${name} ${src})
  target_link_libraries(${name} PRIVATE alaris-core)
  add_test(NAME c:${name} COMMAND ${name} WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(c:${name} PROPERTIES ENVIRONMENT "${TEST_ENV}")
endforeach()

# The lab's own suites in three groups, each with its own time limit, so a failure or a timeout names its part:
# node:lab-node (pods, pod network, Services, policies), node:lab-cnpg (CloudNativePG and barman-cloud), node:lab-api.
if(NOT ALARIS_SANITIZE)
  file(GLOB lab_all CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/lab/test/*.test.js)
  file(GLOB lab_node CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/lab/test/node-*.test.js
    ${CMAKE_SOURCE_DIR}/lab/test/k8s-workloads-node.test.js)
  file(GLOB lab_cnpg CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/lab/test/cnpg-*.test.js ${CMAKE_SOURCE_DIR}/lab/test/barman-*.test.js)
  set(lab_api ${lab_all})
  list(REMOVE_ITEM lab_api ${lab_node} ${lab_cnpg})
  foreach(group api node cnpg)
    if(lab_${group})
      add_test(NAME node:lab-${group} COMMAND node --test --test-concurrency=1 ${lab_${group}}
        WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}/lab)
      set_tests_properties(node:lab-${group} PROPERTIES LABELS node TIMEOUT 1800)
    endif()
  endforeach()
endif()

# The tenant app's suites, in both builds: they start the app and a PostgreSQL of their own.
add_test(NAME app:node COMMAND node --test --test-concurrency=1 test/ WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}/app)
set_tests_properties(app:node PROPERTIES LABELS app TIMEOUT 300)

# One C style for the tree: the repository's .clang-format, checked (not applied) on every run.
find_program(CLANG_FORMAT clang-format)
if(CLANG_FORMAT AND NOT ALARIS_SANITIZE)
  file(GLOB c_sources CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/engine/*.[ch] ${CMAKE_SOURCE_DIR}/bindings/*.[ch]
    ${CMAKE_SOURCE_DIR}/tests/c/*.c ${CMAKE_SOURCE_DIR}/fuzz/*.[ch])
  add_test(NAME style:clang-format COMMAND ${CLANG_FORMAT} --dry-run --Werror ${c_sources})
endif()
