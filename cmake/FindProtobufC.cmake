# FindProtobufC: locate protobuf-c (the C runtime, libprotobuf-c) and its compiler protoc-c.
# Defines ProtobufC_FOUND, ProtobufC_INCLUDE_DIR, ProtobufC_LIBRARY, ProtobufC_PROTOC_C (the
# compiler; empty when only the runtime is installed, as in a consumer's build) and the imported
# target nnla_dep::protobuf_c. Debian: libprotobuf-c-dev (runtime, pkg-config libprotobuf-c) and
# protobuf-c-compiler (protoc-c).
find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND)
  pkg_check_modules(PC_ProtobufC QUIET libprotobuf-c)
endif()
find_path(ProtobufC_INCLUDE_DIR NAMES protobuf-c/protobuf-c.h HINTS ${PC_ProtobufC_INCLUDE_DIRS})
find_library(ProtobufC_LIBRARY NAMES protobuf-c HINTS ${PC_ProtobufC_LIBRARY_DIRS})
find_program(ProtobufC_PROTOC_C NAMES protoc-c protoc-gen-c)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(ProtobufC
  REQUIRED_VARS ProtobufC_LIBRARY ProtobufC_INCLUDE_DIR
  REASON_FAILURE_MESSAGE "install the Debian package libprotobuf-c-dev (apt-get install libprotobuf-c-dev)")
if(ProtobufC_FOUND AND NOT TARGET nnla_dep::protobuf_c)
  add_library(nnla_dep::protobuf_c UNKNOWN IMPORTED)
  set_target_properties(nnla_dep::protobuf_c PROPERTIES
    IMPORTED_LOCATION "${ProtobufC_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${ProtobufC_INCLUDE_DIR}")
endif()
mark_as_advanced(ProtobufC_INCLUDE_DIR ProtobufC_LIBRARY ProtobufC_PROTOC_C)
