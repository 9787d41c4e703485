# Cross-checks against PyTorch float64 (Debian's python3-torch): tests/torch/torch_check.py loads the
# built libnnla through ctypes and compares convolution, pooling and batch normalization, forward
# and backward, with torch.nn.functional and autograd on random configurations. One ctest per group
# (torch_conv, torch_pool, torch_norm); each is skipped (exit code 77) when torch cannot be imported.
# In a sanitized build the Python interpreter is not instrumented: the ASan runtime is preloaded for
# it, and leak detection is off (the interpreter's own allocations are not ours).
if(NOT NNLA_TEST_HAVE_NUMPY)
  return()
endif()
set(_nnla_torch_env "")
if(NNLA_SANITIZE)
  execute_process(COMMAND ${CMAKE_C_COMPILER} -print-file-name=libasan.so
                  OUTPUT_VARIABLE _nnla_libasan OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(NOT EXISTS "${_nnla_libasan}")
    message(STATUS "No libasan.so found for ${CMAKE_C_COMPILER}: the torch_* cross-checks are not registered "
                   "in this sanitized build")
    return()
  endif()
  set(_nnla_torch_env "LD_PRELOAD=${_nnla_libasan}" "ASAN_OPTIONS=detect_leaks=0:abort_on_error=1"
                      "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")
endif()
foreach(group conv pool norm)
  add_test(NAME torch_${group}
    COMMAND "${NNLA_TEST_PYTHON}" ${CMAKE_CURRENT_SOURCE_DIR}/torch/torch_check.py $<TARGET_FILE:nnla> ${group})
  set_tests_properties(torch_${group} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)
  if(_nnla_torch_env)
    set_tests_properties(torch_${group} PROPERTIES ENVIRONMENT "${_nnla_torch_env}")
  endif()
endforeach()
