# tests/bench/ab/conv_ab.sh builds two variants of src/conv.c and times them against each other;
# this smoke test keeps the harness building, and checks along the way that two tunings of the
# convolution (4096 or 1024 grouped columns for small images, one-thread GEMMs) give the same result (conv_ab
# exits non-zero when the two builds disagree). One timed run of the smallest shape: not a
# timing test. With the benchmarks only (-DNNLA_BUILD_BENCH=ON).
if(NNLA_BUILD_BENCH AND NOT NNLA_SANITIZE)
  add_test(NAME bench_conv_ab
    COMMAND bash tests/bench/ab/conv_ab.sh -o "${CMAKE_CURRENT_BINARY_DIR}/conv_ab"
            -- "" "-DNNLA_CONV_TARGET_COLS_NOSPLIT_1T=4096" 1 b32_c3
    WORKING_DIRECTORY "${PROJECT_SOURCE_DIR}")
  set_tests_properties(bench_conv_ab PROPERTIES PASS_REGULAR_EXPRESSION "AB b32_c3_32x32_o32_k3p1 ")
endif()
