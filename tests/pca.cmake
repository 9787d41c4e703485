# PCA against scikit-learn: tests/pca/pca_sklearn.py loads libnnla through ctypes and compares fits,
# transforms and whitening with sklearn.decomposition.PCA (Debian's python3-sklearn). It exits 77,
# which ctest reports as skipped, when scikit-learn is missing. Needs the shared library (ctypes).
if(NOT NNLA_TEST_HAVE_NUMPY OR NOT BUILD_SHARED_LIBS)
  return()
endif()
add_test(NAME pca_sklearn
  COMMAND "${NNLA_TEST_PYTHON}" ${CMAKE_CURRENT_SOURCE_DIR}/pca/pca_sklearn.py $<TARGET_FILE:nnla>)
set_tests_properties(pca_sklearn PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77)
if(NNLA_SANITIZE AND CMAKE_C_COMPILER_ID STREQUAL "GNU")
  # An instrumented libnnla.so loaded into an uninstrumented Python needs the ASan runtime first;
  # Python's own allocations are not ours to leak-check.
  execute_process(COMMAND ${CMAKE_C_COMPILER} -print-file-name=libasan.so
                  OUTPUT_VARIABLE _nnla_libasan OUTPUT_STRIP_TRAILING_WHITESPACE)
  set_tests_properties(pca_sklearn PROPERTIES
    ENVIRONMENT "LD_PRELOAD=${_nnla_libasan};ASAN_OPTIONS=detect_leaks=0:abort_on_error=1")
endif()
