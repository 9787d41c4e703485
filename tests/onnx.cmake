# The ONNX module (built when protobuf-c and the ONNX schema are found):
#   onnx (tests/test_onnx.c, a unit suite) reads its regression files from tests/data/onnx;
#   onnx_conformance: the ONNX backend test suite of Debian's libonnx-testdata (node/ and
#     pytorch-converted/) through tests/onnx/onnx_run, against docs/onnx-conformance.md;
#   onnx_torch: random PyTorch models exported in float64, against torch, and round trips;
#   cli_onnx: `nnla run`, `nnla convert`, `nnla inspect MODEL.onnx`, `nnla compress` and `nnla train`
#     against NumPy (and torch.optim, when python3-torch is installed), and their errors.
# The Python cases need /usr/bin/python3 with NumPy and python3-onnx (onnx_torch also
# python3-torch); without them they report "skipped" (ctest's SKIP_RETURN_CODE 77).
if(NOT NNLA_HAVE_ONNX)
  return()
endif()
target_compile_definitions(test_onnx PRIVATE NNLA_TEST_ONNX_DATA="${CMAKE_CURRENT_SOURCE_DIR}/data/onnx")

add_executable(onnx_run ${CMAKE_CURRENT_SOURCE_DIR}/onnx/onnx_run.c)
nnla_warnings(onnx_run)
target_link_libraries(onnx_run PRIVATE nnla::nnla)

if(NNLA_TEST_HAVE_NUMPY)
  add_test(NAME onnx_conformance
    COMMAND "${NNLA_TEST_PYTHON}" ${CMAKE_CURRENT_SOURCE_DIR}/onnx/conformance.py $<TARGET_FILE:onnx_run>
            ${CMAKE_CURRENT_BINARY_DIR}/onnx-conformance-work --check ${PROJECT_SOURCE_DIR}/docs/onnx-conformance.md)
  add_test(NAME onnx_torch
    COMMAND "${NNLA_TEST_PYTHON}" ${CMAKE_CURRENT_SOURCE_DIR}/onnx/torch_models.py $<TARGET_FILE:onnx_run>
            ${CMAKE_CURRENT_BINARY_DIR}/onnx-torch-work)
  set_tests_properties(onnx_conformance onnx_torch PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77)
endif()

# `nnla run`, `convert`, `inspect`, `compress`, `train` (the CLI's ONNX commands).
if(TARGET nnla_cli AND NNLA_TEST_HAVE_NUMPY)
  add_test(NAME cli_onnx
    COMMAND "${NNLA_TEST_PYTHON}" ${CMAKE_CURRENT_SOURCE_DIR}/onnx/cli_onnx.py $<TARGET_FILE:nnla_cli>
            ${CMAKE_CURRENT_BINARY_DIR}/cli-work/onnx)
  set_tests_properties(cli_onnx PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77)
endif()
