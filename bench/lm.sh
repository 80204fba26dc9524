#!/usr/bin/env bash
# The Load Manager hop, measured: a Mach IV cluster (n1 Writer, n2 and n3 Read Replicas, n4 the
# Load Manager), the shared driver (../shared/bench/load.py, wrk underneath), 1 KB carts, c=64.
# For each mix, the same load is sent (interleaved, REPEATS times) either
#   direct: writes to the Writer, reads to a Read Replica (the node that serves them), or
#   lm:     everything to the Load Manager, which relays it (upstream limit, priority queue).
#
#   bench/lm.sh [RESULTS.jsonl]
# Environment: MIXES ["write read"]  CONNS [64]  REPEATS [3]  DURATION [15]  WARMUP [3]
#              KEYS [10000]  PORT [18180]  MACHDB_BIN [the release build]
# Summarize:  python3 bench/summarize.py RESULTS.jsonl
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SHARED=${SHARED:-$ROOT/../shared}
OUT=${1:-$HERE/results/lm-$(date +%Y%m%d-%H%M%S).jsonl}
MIXES=${MIXES:-"write read"}
CONNS=${CONNS:-64}
REPEATS=${REPEATS:-3}
DURATION=${DURATION:-15}
WARMUP=${WARMUP:-3}
KEYS=${KEYS:-10000}
PORT=${PORT:-18180}
WORK=${WORK:-/tmp/machdb-bench-lm}
export PATH="/opt/swift/usr/bin:$PATH"

mkdir -p "$(dirname "$OUT")" "$WORK"
"$ROOT/scripts/setup" --bench
if [[ -z ${MACHDB_BIN:-} ]]; then (cd "$ROOT" && swift build -c release --product machdb 2>&1 | tail -n 1); fi
BIN=${MACHDB_BIN:-"$ROOT/.build/release/machdb"}

pids=()
stop_nodes() {
  local i
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill -TERM "${pids[$i]}" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  pids=()
}
trap stop_nodes EXIT

start_cluster() {  # n1..n4 on PORT..PORT+3, each joining the previous entry point
  rm -rf "$WORK"/node*
  local k port join
  for k in 1 2 3 4; do
    port=$((PORT + k - 1))
    mkdir -p "$WORK/node$k"
    join=()
    [[ $k -gt 1 ]] && join=(--join "http://127.0.0.1:$PORT")
    "$BIN" serve --node-id "n$k" --data-dir "$WORK/node$k" --listen "127.0.0.1:$port" --log-level warning \
      --cluster-token bench "${join[@]}" 2>"$WORK/node$k.log" &
    pids+=($!)
    for _ in $(seq 1 300); do
      curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
      sleep 0.1
    done
    # Wait for each stage's roles before the next node joins (the newest node is the LM).
    for _ in $(seq 1 600); do
      if curl -fsS "http://127.0.0.1:$PORT/admin/v1/cluster" | python3 -c '
import json, sys
m = json.load(sys.stdin); k = int(sys.argv[1])
active = [n for n in m["nodes"] if n["state"] == "active" and n["roles"]]
voters = [n for n in m["nodes"] if n.get("raft_state") in ("leader", "follower", "standalone")]
sys.exit(0 if len(active) == k and len(voters) == (1 if k <= 2 else k) else 1)' "$k"; then break; fi
      sleep 0.1
    done
  done
}

run() {  # run MIX MODE CONNS REPEAT
  local mix=$1 mode=$2 c=$3 r=$4 url
  if [[ $mode == lm ]]; then url="http://127.0.0.1:$((PORT + 3))"
  elif [[ $mix == write ]]; then url="http://127.0.0.1:$PORT"          # the Writer
  else url="http://127.0.0.1:$((PORT + 1))"; fi                       # a Read Replica
  local pidargs=()
  for p in "${pids[@]}"; do pidargs+=(--server-pid "$p"); done
  python3 "$SHARED/bench/load.py" --url "$url" \
    --write 'PUT /v1/collections/carts/docs/{key_url}' --write-body '{doc}' \
    --read 'GET /v1/collections/carts/docs/{key_url}' --read-body '' \
    --mix "$mix" --conns "$c" --duration "$DURATION" --warmup "$WARMUP" --keys "$KEYS" \
    --quiet-wait "${QUIET_WAIT:-60}" --label "machdb-$mode n=4 $mix c=$c r=$r" --out "$OUT" \
    "${pidargs[@]}" >/dev/null
}

start_cluster
curl -fsS "http://127.0.0.1:$PORT/admin/v1/cluster" | python3 -c '
import json, sys
m = json.load(sys.stdin)
print("cluster:", m["stage"], [(n["id"], n["roles"]) for n in m["nodes"]], file=sys.stderr)'
for c in $CONNS; do
  for r in $(seq 1 "$REPEATS"); do
    for mix in $MIXES; do
      for mode in direct lm; do
        echo "== $mode $mix c=$c run $r" >&2
        run "$mix" "$mode" "$c" "$r"
      done
    done
  done
done
python3 "$HERE/summarize.py" "$OUT" || true
