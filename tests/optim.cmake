# Losses, optimizers, clipping and schedules against PyTorch (tests/optim/torch_check.py): the
# script loads the shared libnnla through ctypes and compares with torch.optim,
# torch.optim.lr_scheduler, torch.nn.utils.clip_grad_norm_ and torch.nn.functional + autograd in
# float64. It exits 77, reported by ctest as skipped, when /usr/bin/python3 has no torch
# (apt-get install python3-torch). Under the sanitizers the instrumented library can only be
# loaded into Python with the ASan runtime preloaded: the test does that, leak checks off
# (CPython's own allocations are not ours).
if(NOT NNLA_TEST_HAVE_NUMPY OR NOT BUILD_SHARED_LIBS)
  return()
endif()
add_test(NAME optim_torch
  COMMAND "${NNLA_TEST_PYTHON}" ${CMAKE_CURRENT_SOURCE_DIR}/optim/torch_check.py $<TARGET_FILE:nnla>)
set_tests_properties(optim_torch PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)
if(NNLA_SANITIZE)
  set(_nnla_libasan "")
  foreach(_name libasan.so libclang_rt.asan-x86_64.so)   # GCC's runtime, then Clang's
    execute_process(COMMAND ${CMAKE_C_COMPILER} -print-file-name=${_name}
                    OUTPUT_VARIABLE _path OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
    if(NOT _nnla_libasan AND IS_ABSOLUTE "${_path}" AND EXISTS "${_path}")
      set(_nnla_libasan "${_path}")
    endif()
  endforeach()
  if(_nnla_libasan)
    set_tests_properties(optim_torch PROPERTIES ENVIRONMENT
      "LD_PRELOAD=${_nnla_libasan};ASAN_OPTIONS=detect_leaks=0:abort_on_error=1")
  else()
    message(STATUS "optim_torch disabled: the ASan runtime of ${CMAKE_C_COMPILER} was not found")
    set_tests_properties(optim_torch PROPERTIES DISABLED TRUE)
  endif()
endif()
