# .npy module: the suite finds its golden files through NNLA_TEST_DATA_DIR, and (when
# /usr/bin/python3 has NumPy) a cross-check with NumPy in both directions: NumPy writes arrays
# of every supported kind, tests/npy/npy_roundtrip reads each and writes it back, and NumPy
# checks the values and that our bytes are numpy.save's.
if(TARGET test_npy)
  target_compile_definitions(test_npy PRIVATE NNLA_TEST_DATA_DIR="${CMAKE_CURRENT_SOURCE_DIR}/data/npy")
endif()

add_executable(npy_roundtrip ${CMAKE_CURRENT_SOURCE_DIR}/npy/npy_roundtrip.c)
target_link_libraries(npy_roundtrip PRIVATE nnla::nnla)
if(NNLA_TEST_HAVE_NUMPY)
  add_test(NAME npy_numpy
    COMMAND "${NNLA_TEST_PYTHON}" ${CMAKE_CURRENT_SOURCE_DIR}/npy/numpy_check.py
            $<TARGET_FILE:npy_roundtrip> ${CMAKE_CURRENT_BINARY_DIR}/npy_numpy-work)
  set_tests_properties(npy_numpy PROPERTIES TIMEOUT 300)
endif()
