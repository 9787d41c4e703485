# The convolution and pooling suites under the threading model (docs/guide.md, "Threads").
# test_conv sets each of its own threads' OpenMP thread count (test_user_threads): link libgomp.
target_link_libraries(test_conv PRIVATE OpenMP::OpenMP_C)
# The serial fallback: with the pthread build of OpenBLAS loaded instead of the OpenMP one
# (LD_LIBRARY_PATH takes precedence over libnnla's RUNPATH), libnnla's loops run on one thread and
# each GEMM on OpenBLAS's threads; the suites must pass unchanged. Registered when Debian's
# pthread build is installed in its usual place.
set(_nnla_pthread_blas "/usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}/openblas-pthread")
if(EXISTS "${_nnla_pthread_blas}/libopenblas.so.0")
  foreach(module conv pool)
    add_test(NAME ${module}_pthread_blas COMMAND test_${module})
    set_tests_properties(${module}_pthread_blas PROPERTIES TIMEOUT 600
                         ENVIRONMENT "LD_LIBRARY_PATH=${_nnla_pthread_blas};OMP_WAIT_POLICY=passive")
  endforeach()
endif()
# Every test of the suites with one and three threads to start with (odd cuts), through the
# model's one knob. Passive waiting: libgomp's threads otherwise spin for milliseconds at each
# barrier and after each parallel region, which on a loaded machine (CI, other jobs) turns a
# 1-second suite into a 10-second one; the results do not depend on it (the default `conv` and
# `pool` runs keep libgomp's default).
foreach(n 1 3)
  foreach(module conv pool)
    add_test(NAME ${module}_omp${n} COMMAND test_${module})
    set_tests_properties(${module}_omp${n} PROPERTIES TIMEOUT 600
                         ENVIRONMENT "OMP_NUM_THREADS=${n};OMP_WAIT_POLICY=passive")
  endforeach()
endforeach()
