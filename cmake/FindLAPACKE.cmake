# FindLAPACKE: locate LAPACKE (the C interface to LAPACK) and LAPACK itself.
# Defines LAPACKE_FOUND and the imported target nnla_dep::lapacke.
# On Debian the package is liblapacke-dev (it pulls in liblapack-dev).
find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND)
  pkg_check_modules(PC_LAPACKE QUIET lapacke)
endif()
find_path(LAPACKE_INCLUDE_DIR NAMES lapacke.h HINTS ${PC_LAPACKE_INCLUDE_DIRS})
find_library(LAPACKE_LIBRARY NAMES lapacke HINTS ${PC_LAPACKE_LIBRARY_DIRS})
find_library(LAPACKE_LAPACK_LIBRARY NAMES lapack HINTS ${PC_LAPACKE_LIBRARY_DIRS})
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(LAPACKE
  REQUIRED_VARS LAPACKE_LIBRARY LAPACKE_LAPACK_LIBRARY LAPACKE_INCLUDE_DIR
  REASON_FAILURE_MESSAGE "install the Debian package liblapacke-dev (apt-get install liblapacke-dev)")
if(LAPACKE_FOUND AND NOT TARGET nnla_dep::lapacke)
  add_library(nnla_dep::lapacke UNKNOWN IMPORTED)
  set_target_properties(nnla_dep::lapacke PROPERTIES
    IMPORTED_LOCATION "${LAPACKE_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${LAPACKE_INCLUDE_DIR}"
    INTERFACE_LINK_LIBRARIES "${LAPACKE_LAPACK_LIBRARY}")
endif()
mark_as_advanced(LAPACKE_INCLUDE_DIR LAPACKE_LIBRARY LAPACKE_LAPACK_LIBRARY)
