#!/usr/bin/env bash
# micro's tick after a park, phase by phase (head, each worker's first start,
# tail), ctp against the mutex pool in one process:
# `bash scripts/tick-phases.sh [tasks] [rounds]` (defaults 100 and 200).
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
inc=(-Iinclude -ISources/CTPBenchKernels/include)
numa=()
if [ -e /usr/include/numa.h ]; then numa=(-DCTP_HAVE_LIBNUMA); fi
gcc -std=gnu11 -O2 -Wall -Wextra "${inc[@]}" "${numa[@]}" Sources/CThreadPool/*.c \
    Sources/CTPBenchKernels/pool_ctp.c Sources/CTPBenchKernels/pool_mutex.c Sources/CTPBenchKernels/bots_run.c \
    Sources/CTPBenchKernels/bots_world.c Sources/CTPBenchKernels/layout.c \
    scripts/tick_phases.c -lpthread -lm ${numa:+-lnuma} -o "$out/tick_phases"
"$out/tick_phases" "$@"
