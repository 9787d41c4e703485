# Install/consumer tests: install into a temporary prefix, then build and run two tiny
# programs against it, one with pkg-config and one with find_package(nnla CONFIG).
# consumer: this build (shared). consumer_static: a static build of the same sources, made
# by the test itself. (Skipped in sanitizer builds: the installed library would need the
# sanitizer runtime in every consumer.)
if(NOT NNLA_SANITIZE)
  add_test(NAME consumer
    COMMAND ${CMAKE_COMMAND} -E env CC=${CMAKE_C_COMPILER}
            bash ${CMAKE_CURRENT_SOURCE_DIR}/consumer/run.sh ${PROJECT_BINARY_DIR}
            ${CMAKE_CURRENT_BINARY_DIR}/consumer-work)
  set(_static_build ${CMAKE_CURRENT_BINARY_DIR}/consumer-static-build)
  add_test(NAME consumer_static
    COMMAND bash -c "set -e; cmake -S '${PROJECT_SOURCE_DIR}' -B '${_static_build}' -DCMAKE_BUILD_TYPE=Release \
-DBUILD_SHARED_LIBS=OFF -DNNLA_BUILD_TESTS=OFF -DNNLA_BUILD_EXAMPLES=OFF -DNNLA_BUILD_CLI=OFF \
-DCMAKE_C_COMPILER='${CMAKE_C_COMPILER}' > /dev/null && cmake --build '${_static_build}' -j2 > /dev/null && \
CC='${CMAKE_C_COMPILER}' bash '${CMAKE_CURRENT_SOURCE_DIR}/consumer/run.sh' '${_static_build}' \
'${CMAKE_CURRENT_BINARY_DIR}/consumer-static-work' static")
  set_tests_properties(consumer consumer_static PROPERTIES TIMEOUT 600)
endif()
