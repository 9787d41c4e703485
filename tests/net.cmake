# Networks against PyTorch float64 (tests/net/torch_net_check.py): every layer kind on fixed and
# random configurations, built through the public API by tests/net/net_recipe. Registered when
# /usr/bin/python3 imports torch (Debian's python3-torch); configuring says so otherwise.
add_executable(net_recipe ${CMAKE_CURRENT_SOURCE_DIR}/net/net_recipe.c)
target_link_libraries(net_recipe PRIVATE nnla::nnla m)
nnla_warnings(net_recipe)
set(NNLA_TEST_HAVE_TORCH OFF)
if(NNLA_TEST_HAVE_NUMPY)
  execute_process(COMMAND "${NNLA_TEST_PYTHON}" -c "import torch"
                  RESULT_VARIABLE _nnla_torch_rc OUTPUT_QUIET ERROR_QUIET)
  if(_nnla_torch_rc EQUAL 0)
    set(NNLA_TEST_HAVE_TORCH ON)
  endif()
endif()
if(NNLA_TEST_HAVE_TORCH)
  add_test(NAME net_torch
    COMMAND "${NNLA_TEST_PYTHON}" ${CMAKE_CURRENT_SOURCE_DIR}/net/torch_net_check.py
            $<TARGET_FILE:net_recipe> ${CMAKE_CURRENT_BINARY_DIR}/net_torch-work)
  set_tests_properties(net_torch PROPERTIES TIMEOUT 600)
else()
  message(STATUS "PyTorch not found with ${NNLA_TEST_PYTHON}: the network check against PyTorch "
                 "(net_torch) is not registered (apt-get install python3-torch)")
endif()
