# Install/consumer test: install into a temporary prefix, then build and run two tiny
# programs against it, one with pkg-config and one with find_package(nnla CONFIG).
# (Skipped in sanitizer builds: the installed library would need the sanitizer runtime.)
if(NOT NNLA_SANITIZE)
  add_test(NAME consumer
    COMMAND ${CMAKE_COMMAND} -E env CC=${CMAKE_C_COMPILER}
            bash ${CMAKE_CURRENT_SOURCE_DIR}/consumer/run.sh ${PROJECT_BINARY_DIR}
            ${CMAKE_CURRENT_BINARY_DIR}/consumer-work)
  set_tests_properties(consumer PROPERTIES TIMEOUT 600)
endif()
