#!/usr/bin/env bash
# One command on a fresh Debian 12 machine: install what is missing, build, run the main job.
#   bash cmake/bootstrap.sh            (as root it installs with apt-get; otherwise it prints the line)
set -euo pipefail
cd "$(dirname "$0")/.."
. cmake/deps.sh
nnla_install_deps $NNLA_DEPS_BUILD
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)"
echo "== main job: build/bin/nnla-digits (report: build/nnla-digits/report.html)"
./build/bin/nnla-digits --out build/nnla-digits
