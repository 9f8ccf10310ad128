#!/bin/bash
# RSS of `wucache serve` on a kept store (`WUCACHE_BENCH_KEEP=1 cargo bench --bench catalog`
# prints its directory): once the fragment warm-up and the fleet's compliance are both logged,
# then ten and twenty idle seconds later. Read from /proc, outside the process.
#   benches/fleet_rss.sh <wucache binary> <kept dir>/fleet.toml
# NOFLEET=1 waits for the warm-up only (a configuration without machines or baselines).
set -euo pipefail
bin=$1
config=$2
log=$(mktemp)
"$bin" serve --config "$config" >"$log" 2>&1 &
pid=$!
for _ in $(seq 1 1200); do
  if grep -q "fragment cache warmed" "$log" &&
    { [ -n "${NOFLEET:-}" ] || grep -q "fleet compliance recomputed" "$log"; }; then
    break
  fi
  sleep 0.1
done
rss() { awk '/VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$pid/status"; }
warm=$(rss)
sleep 10
ten=$(rss)
sleep 10
twenty=$(rss)
peak=$(awk '/VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$pid/status")
echo "$(basename "$bin"): RSS warm $warm, +10 s $ten, +20 s $twenty MiB (peak $peak); $(grep -o 'fleet compliance recomputed.*' "$log" || true)"
kill "$pid"
wait "$pid" 2>/dev/null || true
rm -f "$log"
