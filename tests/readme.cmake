# The usage example in README.md compiles as written and runs: extract the first ```c block,
# build it against the library in this build tree, run it.
add_test(NAME readme_example
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/readme/check.sh ${PROJECT_SOURCE_DIR}/README.md
          ${CMAKE_CURRENT_BINARY_DIR}/readme-work ${CMAKE_C_COMPILER}
          ${PROJECT_SOURCE_DIR}/include:${PROJECT_BINARY_DIR}/include $<TARGET_LINKER_FILE_DIR:nnla>
          "${NNLA_SANITIZE}")

# Every whole program in docs/*.md compiles as written and runs successfully.
file(GLOB NNLA_DOC_PAGES "${PROJECT_SOURCE_DIR}/docs/*.md")
add_test(NAME doc_programs
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/readme/doc_programs.sh ${CMAKE_CURRENT_BINARY_DIR}/doc-programs
          ${CMAKE_C_COMPILER} ${PROJECT_SOURCE_DIR}/include:${PROJECT_BINARY_DIR}/include $<TARGET_LINKER_FILE_DIR:nnla>
          "${NNLA_SANITIZE}" ${NNLA_DOC_PAGES})
