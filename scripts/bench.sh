#!/usr/bin/env bash
# The benchmark, after installing what is missing. Arguments go to
# threadpool-bench (see `scripts/bench.sh --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build -c release --traits Benchmark --product threadpool-bench >&2
exec .build/release/threadpool-bench "$@"
