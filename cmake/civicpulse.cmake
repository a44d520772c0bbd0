# Helpers that keep every component's CMake to a few declarative lines.

# civicpulse_library(NAME name SOURCES ... [PUBLIC_DEPS ...] [PRIVATE_DEPS ...])
# Declares library `civicpulse_<name>` with alias `civicpulse::<name>`, whose public headers
# live in ./include. Third-party libraries belong in PRIVATE_DEPS so they never leak.
function(civicpulse_library)
  cmake_parse_arguments(ARG "" "NAME" "SOURCES;PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(civicpulse_${ARG_NAME} STATIC ${ARG_SOURCES})
  add_library(civicpulse::${ARG_NAME} ALIAS civicpulse_${ARG_NAME})
  target_include_directories(civicpulse_${ARG_NAME} PUBLIC
    $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>)
  target_link_libraries(civicpulse_${ARG_NAME} PUBLIC ${ARG_PUBLIC_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
endfunction()

# civicpulse_test(NAME name SOURCES ... [DEPS ...] [LABELS ...] [TIMEOUT s])
# Declares a GoogleTest executable registered with CTest under the given labels
# (unit, integration, e2e, chaos, fuzz). Defaults to label `unit`.
function(civicpulse_test)
  cmake_parse_arguments(ARG "" "NAME;TIMEOUT" "SOURCES;DEPS;LABELS" ${ARGN})
  if(NOT ARG_LABELS)
    set(ARG_LABELS unit)
  endif()
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 120)
  endif()
  add_executable(${ARG_NAME} ${ARG_SOURCES})
  set_target_properties(${ARG_NAME} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS} GTest::gmock GTest::gtest_main)
  add_test(NAME ${ARG_NAME} COMMAND ${ARG_NAME})
  set_tests_properties(${ARG_NAME} PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT})
endfunction()

# civicpulse_binary(NAME civicpulse-x SOURCES main.cc DEPS ...)
function(civicpulse_binary)
  cmake_parse_arguments(ARG "" "NAME" "SOURCES;DEPS" ${ARGN})
  add_executable(${ARG_NAME} ${ARG_SOURCES})
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS})
endfunction()
