# cch_library(NAME <name> SOURCES ... DEPENDS ...)
# One CMake target per library under libs/<name>: public headers in include/cch/<name>/,
# sources in src/, tests in tests/. Target name cch_<name>, alias cch::<name>.
function(cch_library)
  cmake_parse_arguments(ARG "" "NAME" "SOURCES;DEPENDS;PRIVATE_DEPENDS" ${ARGN})
  set(target cch_${ARG_NAME})
  add_library(${target} STATIC ${ARG_SOURCES})
  add_library(cch::${ARG_NAME} ALIAS ${target})
  target_include_directories(${target} PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include)
  target_link_libraries(${target} PUBLIC ${ARG_DEPENDS} PRIVATE cch_warnings ${ARG_PRIVATE_DEPENDS})
endfunction()

# cch_test(NAME <name> SOURCES ... DEPENDS ... [LABELS ...])
# A GoogleTest executable registered with ctest. Tests labelled "db" need a PostgreSQL server,
# reached through the environment variable CCH_TEST_DATABASE_URL (deploy/local/test sets it).
function(cch_test)
  cmake_parse_arguments(ARG "" "NAME" "SOURCES;DEPENDS;LABELS" ${ARGN})
  if(NOT CCH_BUILD_TESTS)
    return()
  endif()
  add_executable(${ARG_NAME} ${ARG_SOURCES})
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPENDS} cch_warnings GTest::gtest GTest::gtest_main)
  if(NOT ARG_LABELS)
    set(ARG_LABELS unit)
  endif()
  gtest_discover_tests(${ARG_NAME} DISCOVERY_TIMEOUT 60
    PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT 300
               ENVIRONMENT "LSAN_OPTIONS=suppressions=${PROJECT_SOURCE_DIR}/tests/sanitizers/lsan.supp:print_suppressions=0")
endfunction()
