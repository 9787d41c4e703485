# The "main job" example (docs/examples/spectral.c) runs as a test: it exits non-zero when a call
# fails or a residual is not at rounding level.
if(TARGET example_spectral)
  add_test(NAME example_spectral COMMAND $<TARGET_FILE:example_spectral>)
  set_tests_properties(example_spectral PROPERTIES TIMEOUT 60)
endif()
