#!/usr/bin/env bash
# micro's one-batch burst kernel (ctpb_peer_burst) from a small C program,
# ctp and oneTBB interleaved: `bash scripts/peer-burst.sh [tasks] [repetitions]`.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
inc=(-Iinclude -ISources/CTPBenchKernels/include -ISources/CTPBenchTBB/include)
numa=()
if [ -e /usr/include/numa.h ]; then numa=(-DCTP_HAVE_LIBNUMA); fi
g++ -O2 -c Sources/CTPBenchTBB/pool_tbb.cpp "${inc[@]}" -o "$out/tbb.o"
gcc -std=gnu11 -O2 "${inc[@]}" "${numa[@]}" Sources/CThreadPool/*.c Sources/CTPBenchKernels/*.c \
    scripts/peer_burst.c "$out/tbb.o" -ltbb -lstdc++ -lpthread -lm ${numa:+-lnuma} -o "$out/peer_burst"
"$out/peer_burst" "$@"
