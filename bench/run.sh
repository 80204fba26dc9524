#!/usr/bin/env bash
# machdb vs etcd on this machine, same driver (../shared/bench/load.py, wrk underneath), same run.
#
#   bench/run.sh [RESULTS.jsonl]
#
# For every (system, mix, connections): a fresh store (empty data dir), 10,000 keys preloaded
# with 1 KB JSON carts, 3 s warm-up, 15 s measured, closed loop. machdb is a Mach I node
# (durable: synchronous=FULL group commit); etcd is one member (WAL fsync per batch).
# Environment knobs (defaults in brackets):
#   SYSTEMS ["machdb etcd"]  MIXES ["write read95"]  CONNS ["1 16 64 256"]
#   REPEATS [3] (runs per configuration at c=64; other c get REPEATS_OTHER [1])
#   DURATION [15]  WARMUP [3]  KEYS [10000]  PORT [18080]
# Summarize:  python3 bench/summarize.py RESULTS.jsonl   (medians, machdb/etcd ratios)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SHARED=${SHARED:-$ROOT/../shared}
OUT=${1:-$HERE/results/$(date +%Y%m%d-%H%M%S).jsonl}
SYSTEMS=${SYSTEMS:-"machdb etcd"}
MIXES=${MIXES:-"write read95"}
CONNS=${CONNS:-"1 16 64 256"}
REPEATS=${REPEATS:-3}
REPEATS_OTHER=${REPEATS_OTHER:-1}
DURATION=${DURATION:-15}
WARMUP=${WARMUP:-3}
KEYS=${KEYS:-10000}
PORT=${PORT:-18080}
WORK=${WORK:-/tmp/machdb-bench}
export PATH="/opt/swift/usr/bin:$PATH"

mkdir -p "$(dirname "$OUT")" "$WORK"
"$ROOT/scripts/setup" --bench
(cd "$ROOT" && swift build -c release --product machdb 2>&1 | tail -n 1)
BIN="$ROOT/.build/release/machdb"
ETCD="$SHARED/bench/etcd/cluster.sh"

node_pid=""
stop_node() {
  if [[ -n "$node_pid" ]] && kill -0 "$node_pid" 2>/dev/null; then
    kill -TERM "$node_pid"
    for _ in $(seq 1 150); do kill -0 "$node_pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$node_pid" 2>/dev/null && kill -KILL "$node_pid"
  fi
  node_pid=""
}
trap 'stop_node; "$ETCD" stop >/dev/null 2>&1 || true' EXIT

start_node() {
  if curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1; then
    echo "something already serves 127.0.0.1:$PORT; stop it or set PORT" >&2; return 1
  fi
  rm -rf "$WORK/node"
  mkdir -p "$WORK/node"
  "$BIN" serve --node-id bench --data-dir "$WORK/node" --listen "127.0.0.1:$PORT" --log-level warning \
    2>"$WORK/node.log" &
  node_pid=$!
  for _ in $(seq 1 200); do
    curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && return 0
    kill -0 "$node_pid" 2>/dev/null || { cat "$WORK/node.log" >&2; return 1; }
    sleep 0.1
  done
  echo "machdb did not become ready" >&2; return 1
}

run() {  # run SYSTEM MIX CONNS REPEAT
  local system=$1 mix=$2 c=$3 r=$4
  local args=(--mix "$mix" --conns "$c" --duration "$DURATION" --warmup "$WARMUP" --keys "$KEYS"
              --quiet-wait "${QUIET_WAIT:-60}" --label "$system n=1 $mix c=$c r=$r" --out "$OUT")
  if [[ $system == machdb ]]; then
    start_node
    python3 "$SHARED/bench/load.py" --url "http://127.0.0.1:$PORT" \
      --write 'PUT /v1/collections/carts/docs/{key_url}' --write-body '{doc}' \
      --read 'GET /v1/collections/carts/docs/{key_url}' --read-body '' \
      --server-pid "$node_pid" "${args[@]}" >/dev/null
    stop_node
  else
    "$ETCD" start 1 >&2
    local pidargs=()
    for p in $("$ETCD" pids); do pidargs+=(--server-pid "$p"); done
    python3 "$SHARED/bench/load.py" --url "$("$ETCD" leader)" --preset etcd "${pidargs[@]}" "${args[@]}" >/dev/null
    "$ETCD" stop >&2
  fi
}

for c in $CONNS; do
  repeats=$REPEATS_OTHER; [[ $c == 64 ]] && repeats=$REPEATS
  for r in $(seq 1 "$repeats"); do
    for mix in $MIXES; do
      for system in $SYSTEMS; do   # interleaved, so drift hits both systems alike
        echo "== $system $mix c=$c run $r" >&2
        run "$system" "$mix" "$c" "$r"
      done
    done
  done
done
python3 "$HERE/summarize.py" "$OUT"
