# init module: tests/init/torch_check.py compares the fans, gains and scales of libnnla's
# initializers (asked through tests/init/init_query) with torch.nn.init's, and the orthogonality of
# orthogonal weights with torch.nn.init.orthogonal_'s. Registered when /usr/bin/python3 has NumPy and
# PyTorch (Debian python3-torch).
add_executable(init_query ${CMAKE_CURRENT_SOURCE_DIR}/init/init_query.c)
target_link_libraries(init_query PRIVATE nnla::nnla)
nnla_warnings(init_query)
if(NNLA_TEST_HAVE_NUMPY)
  execute_process(COMMAND "${NNLA_TEST_PYTHON}" -c "import torch"
                  RESULT_VARIABLE _nnla_torch_rc OUTPUT_QUIET ERROR_QUIET)
  if(_nnla_torch_rc EQUAL 0)
    add_test(NAME init_torch
      COMMAND "${NNLA_TEST_PYTHON}" ${CMAKE_CURRENT_SOURCE_DIR}/init/torch_check.py $<TARGET_FILE:init_query>)
    set_tests_properties(init_torch PROPERTIES TIMEOUT 300)
  else()
    message(STATUS "PyTorch not found with ${NNLA_TEST_PYTHON}: init_torch is not registered "
                   "(apt-get install python3-torch)")
  endif()
endif()
