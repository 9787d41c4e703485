# cmake -DIN_DIR=... -DOUT_DIR=... -P protoc_c_rename.cmake
# Moves the code protoc-c generated from onnx.proto into libnnla's internal namespace: every
# linker-visible name onnx__* becomes nnla__onnx__* (types Onnx__* and macros ONNX__* are not
# link symbols and stay). In a static libnnla.a the generated code then cannot clash with a
# program's own copy of the ONNX schema; in the shared library it is hidden anyway.
foreach(f onnx.pb-c.h onnx.pb-c.c)
  file(READ "${IN_DIR}/${f}" text)
  string(REGEX REPLACE "(^|[^A-Za-z0-9_])onnx__" "\\1nnla__onnx__" text "${text}")
  file(WRITE "${OUT_DIR}/${f}" "${text}")
endforeach()
