# FindOpenBLAS: locate OpenBLAS (CBLAS interface and the openblas_* extensions).
# Defines OpenBLAS_FOUND, OpenBLAS_INCLUDE_DIR, OpenBLAS_LIBRARY and the imported
# target nnla_dep::openblas. On Debian the package is libopenblas-dev.
find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND)
  pkg_check_modules(PC_OpenBLAS QUIET openblas)
endif()
find_path(OpenBLAS_INCLUDE_DIR NAMES cblas.h
  HINTS ${PC_OpenBLAS_INCLUDE_DIRS}
  PATH_SUFFIXES openblas openblas-pthread)
find_library(OpenBLAS_LIBRARY NAMES openblas
  HINTS ${PC_OpenBLAS_LIBRARY_DIRS}
  PATH_SUFFIXES openblas-pthread)
if(OpenBLAS_INCLUDE_DIR AND NOT EXISTS "${OpenBLAS_INCLUDE_DIR}/openblas_config.h")
  # cblas.h found, but it is not OpenBLAS's (e.g. only the reference CBLAS is installed).
  unset(OpenBLAS_INCLUDE_DIR CACHE)
  find_path(OpenBLAS_INCLUDE_DIR NAMES openblas_config.h
    HINTS ${PC_OpenBLAS_INCLUDE_DIRS} PATH_SUFFIXES openblas openblas-pthread)
endif()
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(OpenBLAS
  REQUIRED_VARS OpenBLAS_LIBRARY OpenBLAS_INCLUDE_DIR
  REASON_FAILURE_MESSAGE "install the Debian package libopenblas-dev (apt-get install libopenblas-dev)")
if(OpenBLAS_FOUND AND NOT TARGET nnla_dep::openblas)
  add_library(nnla_dep::openblas UNKNOWN IMPORTED)
  set_target_properties(nnla_dep::openblas PROPERTIES
    IMPORTED_LOCATION "${OpenBLAS_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${OpenBLAS_INCLUDE_DIR}")
endif()
mark_as_advanced(OpenBLAS_INCLUDE_DIR OpenBLAS_LIBRARY)
