# nnla-digits, the README's main job, run briefly (tests/digits/check_digits.py): its stages, RESULT
# line, report (well-formed XML with its charts) and ONNX file. Needs /usr/bin/python3 with NumPy.
if(TARGET nnla_digits AND NNLA_TEST_HAVE_NUMPY)
  set(_cli "")
  if(TARGET nnla_cli)
    set(_cli $<TARGET_FILE:nnla_cli>)
  endif()
  add_test(NAME digits
    COMMAND "${NNLA_TEST_PYTHON}" ${CMAKE_CURRENT_SOURCE_DIR}/digits/check_digits.py
            $<TARGET_FILE:nnla_digits> ${CMAKE_CURRENT_BINARY_DIR}/digits-work ${_cli})
  set_tests_properties(digits PROPERTIES TIMEOUT 900)
endif()
