# The `nnla` command-line program (src/cli): registered only when it is built.
#   cli_help, cli_version, cli_usage: need nothing but the program;
#   cli_<group>: run tests/cli/cli_test.py, which checks outputs against NumPy references and
#   exit codes/messages on bad input (needs /usr/bin/python3 with NumPy; Debian python3-numpy).
if(NOT TARGET nnla_cli)
  return()
endif()

add_test(NAME cli_help COMMAND nnla_cli --help)
set_tests_properties(cli_help PROPERTIES PASS_REGULAR_EXPRESSION "usage: nnla COMMAND")
add_test(NAME cli_version COMMAND nnla_cli --version)
set_tests_properties(cli_version PROPERTIES PASS_REGULAR_EXPRESSION "^nnla [0-9]+\\.[0-9]+\\.[0-9]+")
add_test(NAME cli_usage COMMAND nnla_cli no-such-command)
set_tests_properties(cli_usage PROPERTIES WILL_FAIL TRUE)

if(NNLA_TEST_HAVE_NUMPY)
  foreach(group svd eigh dense conv2d act pool pipes errors outputs lowrank pca)
    add_test(NAME cli_${group}
      COMMAND "${NNLA_TEST_PYTHON}" ${CMAKE_CURRENT_SOURCE_DIR}/cli/cli_test.py
              $<TARGET_FILE:nnla_cli> ${CMAKE_CURRENT_BINARY_DIR}/cli-work/${group} ${group})
    set_tests_properties(cli_${group} PROPERTIES TIMEOUT 300)
  endforeach()
  foreach(group inspect specnorm init) # nnla inspect, specnorm, init (src/cli/cmd_spectral.c)
    add_test(NAME cli_${group}
      COMMAND "${NNLA_TEST_PYTHON}" ${CMAKE_CURRENT_SOURCE_DIR}/cli/cli_spectral_test.py
              $<TARGET_FILE:nnla_cli> ${CMAKE_CURRENT_BINARY_DIR}/cli-work/${group} ${group})
    set_tests_properties(cli_${group} PROPERTIES TIMEOUT 300)
  endforeach()
endif()
