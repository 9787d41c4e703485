# docs/examples/paper_walkthrough.c reproduces the paper's worked examples; it exits non-zero on
# any mismatch, and its output must show the paper's convolution result.
if(TARGET example_paper_walkthrough)
  add_test(NAME example_paper_walkthrough COMMAND $<TARGET_FILE:example_paper_walkthrough>)
  set_tests_properties(example_paper_walkthrough PROPERTIES
    PASS_REGULAR_EXPRESSION "A \\* k =\n  \\[\\[12 12 17 35\\] \\[10 17 19 41\\] \\[9 6 14 44\\]\\]"
    FAIL_REGULAR_EXPRESSION "MISMATCH")
endif()
