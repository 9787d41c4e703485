# Sourced by the scripts in cmake/: Debian 12 packages libnnla needs to build and test.
#   NNLA_DEPS_BUILD: to build the library and its tests (protobuf-c, its compiler and the ONNX
#                    schema of libonnx-dev for the optional ONNX module; without them the
#                    library builds without that module).
#   NNLA_DEPS_TEST:  extra tools the full test suite uses (fuzzing with clang, NumPy for
#                    cross-checking .npy files and CLI output, Doxygen for the API reference,
#                    a de_DE locale to check that number parsing ignores the locale,
#                    libgfortran-12-dev: Debian's static OpenBLAS and LAPACK are Fortran-built,
#                    so linking a static libnnla (pkg-config --static, the consumer_static
#                    test) needs -lgfortran, whose libgfortran.so/.a only this package ships,
#                    for gcc 12, Debian 12's compiler; libgfortran5 has the runtime only), the
#                    peers the cross-checks compare against: SciPy, scikit-learn and PyTorch, and
#                    ONNX's Python package and its backend test data (the ONNX conformance tests),
#                    libomp-14-dev: the fuzz build compiles libnnla with clang, whose -fopenmp
#                    needs LLVM's OpenMP runtime (gcc's libgomp serves every other build).
#   zlib1g-dev:     nnla-digits (the main job) reads the gzip-compressed digits with zlib.
#   libopenblas0-openmp: the OpenMP build of OpenBLAS, which libnnla prefers at run time (its
#                    GEMM runs on one thread inside libnnla's parallel loops; docs/guide.md).
NNLA_DEPS_BUILD="build-essential cmake pkg-config libopenblas-dev libopenblas0-openmp liblapacke-dev libcmocka-dev
                 libprotobuf-c-dev protobuf-c-compiler libonnx-dev zlib1g-dev"
NNLA_DEPS_TEST="clang libclang-rt-14-dev python3 python3-numpy python3-scipy python3-sklearn python3-torch doxygen locales libgfortran-12-dev
                python3-onnx libonnx-testdata libomp-14-dev"

# nnla_install_deps PKG...: install the Debian packages that are missing. As root it runs
# apt-get; otherwise it prints the apt-get line to run and fails.
nnla_install_deps() {
    missing=""
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    if [ "$(id -u)" -eq 0 ]; then
        echo "== installing:$missing"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
    else
        echo "missing Debian packages; run as root:" >&2
        echo "  apt-get update && apt-get install -y$missing" >&2
        return 1
    fi
}

# nnla_prepare_locale: as root, generate the de_DE.UTF-8 locale (decimal comma) so that the test
# of locale-independent number parsing runs instead of skipping. Harmless when not root.
nnla_prepare_locale() {
    locale -a 2>/dev/null | grep -qi '^de_DE\.utf-\?8$' && return 0
    [ "$(id -u)" -eq 0 ] || return 0
    [ -f /etc/locale.gen ] || return 0
    sed -i 's/^# *de_DE\.UTF-8 UTF-8/de_DE.UTF-8 UTF-8/' /etc/locale.gen
    locale-gen >/dev/null 2>&1 || true
}
