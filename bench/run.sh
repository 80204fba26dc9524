#!/usr/bin/env bash
# machdb vs etcd on this machine, same driver (../shared/bench/load.py, wrk underneath), same run.
#
#   bench/run.sh [RESULTS.jsonl]
#
# For every (nodes, system, mix, connections): a fresh store (empty data dirs), 10,000 keys
# preloaded with 1 KB JSON carts, 3 s warm-up, 15 s measured, closed loop, load aimed at the
# cluster's entry point (machdb: the primary Load Manager of the cluster map — at n=3 the
# newest node, which relays writes to the leader and reads to the Read Replica; etcd: its
# leader). n=1: machdb is a Mach I node (durable: synchronous=FULL group commit), etcd one
# member. n=3: machdb nodes joined into one Raft group (fsync on every node), etcd 3 members.
# SYSTEMS may also name machdb-2shards: the machdb cluster split at bucket 501 before the
# preload (two shards, their Writers on different nodes), load still aimed at the entry point.
# MIXES may also name query: POST /v1/collections/carts/query {"limit": 10} instead of reads
# (machdb only).
# Environment knobs (defaults in brackets):
#   NODES ["1"]  SYSTEMS ["machdb etcd"]  MIXES ["write read95"]  CONNS ["1 16 64 256"]
#   REPEATS [3] (runs per configuration at c=64; other c get REPEATS_OTHER [1])
#   DURATION [15]  WARMUP [3]  KEYS [10000]  PORT [18080]
#   MACHDB_BIN [the release build] — benchmark another binary (e.g. a build of an older commit)
# machdb runs also record the cluster's internal traffic (peer stream frames and messages,
# internal HTTP requests, summed over nodes, from /metrics before and after) in RESULTS.jsonl.counters.
# Summarize:  python3 bench/summarize.py RESULTS.jsonl   (medians, machdb/etcd ratios, CPU and
#             internal messages per operation)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SHARED=${SHARED:-$ROOT/../shared}
OUT=${1:-$HERE/results/$(date +%Y%m%d-%H%M%S).jsonl}
NODES=${NODES:-"1"}
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
if [[ -z ${MACHDB_BIN:-} ]]; then (cd "$ROOT" && swift build -c release --product machdb 2>&1 | tail -n 1); fi
BIN=${MACHDB_BIN:-"$ROOT/.build/release/machdb"}
ETCD="$SHARED/bench/etcd/cluster.sh"

node_pids=()
stop_nodes() {  # followers first, the leader (first node) last, like the etcd harness
  local i pid
  for ((i = ${#node_pids[@]} - 1; i >= 0; i--)); do
    pid=${node_pids[$i]}
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid"
      for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    fi
  done
  node_pids=()
}
trap 'stop_nodes; "$ETCD" stop >/dev/null 2>&1 || true' EXIT

start_nodes() {  # start_nodes N: node 1 on $PORT, node k on $PORT+k-1 joining node 1
  local n=$1 k port
  for k in $(seq 1 "$n"); do
    port=$((PORT + k - 1))
    if curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then
      echo "something already serves 127.0.0.1:$port; stop it or set PORT" >&2; return 1
    fi
  done
  rm -rf "$WORK"/node*
  for k in $(seq 1 "$n"); do
    port=$((PORT + k - 1))
    mkdir -p "$WORK/node$k"
    local join=()
    [[ $k -gt 1 ]] && join=(--join "http://127.0.0.1:$PORT")
    "$BIN" serve --node-id "n$k" --data-dir "$WORK/node$k" --listen "127.0.0.1:$port" --log-level warning \
      --cluster-token bench "${join[@]}" 2>"$WORK/node$k.log" &
    node_pids+=($!)
    for _ in $(seq 1 300); do
      curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
      kill -0 "${node_pids[-1]}" 2>/dev/null || { cat "$WORK/node$k.log" >&2; return 1; }
      sleep 0.1
    done
  done
  # Every node a voter, n1 leading, before load starts.
  for _ in $(seq 1 300); do
    if curl -fsS "http://127.0.0.1:$PORT/admin/v1/cluster" | python3 -c '
import json, sys
m = json.load(sys.stdin); n = int(sys.argv[1])
voters = [x for x in m["nodes"] if x.get("raft_state") in ("leader", "follower", "standalone")]
sys.exit(0 if len(voters) == n and m["shards"][0]["leader"] == "n1" else 1)' "$n"; then return 0; fi
    sleep 0.1
  done
  echo "machdb cluster of $n did not form" >&2; return 1
}

split_in_two() {  # shard 1 split at bucket 501; waits for two shards with Writers on different nodes
  curl -fsS -X POST "http://127.0.0.1:$PORT/admin/v1/shards/1/split" -H 'Content-Type: application/json' \
    -d '{"at": 501}' >/dev/null
  for _ in $(seq 1 300); do
    if curl -fsS "http://127.0.0.1:$PORT/admin/v1/cluster" | python3 -c '
import json, sys
s = json.load(sys.stdin)["shards"]
leaders = [x.get("leader") for x in s]
sys.exit(0 if len(s) == 2 and None not in leaders and len(set(leaders)) == 2 else 1)'; then return 0; fi
    sleep 0.1
  done
  echo "machdb did not split in two" >&2; return 1
}

run() {  # run NODES SYSTEM MIX CONNS REPEAT
  local n=$1 system=$2 mix=$3 c=$4 r=$5
  local args=(--mix "$mix" --conns "$c" --duration "$DURATION" --warmup "$WARMUP" --keys "$KEYS"
              --quiet-wait "${QUIET_WAIT:-60}" --label "$system n=$n $mix c=$c r=$r" --out "$OUT")
  if [[ $system == machdb* ]]; then
    start_nodes "$n"
    [[ $system == machdb-2shards ]] && split_in_two
    local pidargs=()
    for p in "${node_pids[@]}"; do pidargs+=(--server-pid "$p"); done
    # Clients use the cluster's entry point (the primary Load Manager of the map; n1 alone).
    local entry
    entry=$(curl -fsS "http://127.0.0.1:$PORT/admin/v1/cluster" | python3 -c '
import json, sys
m = json.load(sys.stdin)
print(next(n["url"] for n in m["nodes"] if n.get("primary_load_manager")))')
    local before
    before=$(python3 "$HERE/counters.py" "$PORT" "$n")
    local read=(--read 'GET /v1/collections/carts/docs/{key_url}' --read-body '')
    if [[ $mix == query ]]; then
      read=(--read 'POST /v1/collections/carts/query' --read-body '{"limit": 10}')
      args[1]=read
    fi
    python3 "$SHARED/bench/load.py" --url "$entry" \
      --write 'PUT /v1/collections/carts/docs/{key_url}' --write-body '{doc}' \
      "${read[@]}" "${pidargs[@]}" "${args[@]}" >/dev/null
    python3 "$HERE/counters.py" "$PORT" "$n" --since "$before" --label "$system n=$n $mix c=$c r=$r" >>"$OUT.counters"
    stop_nodes
  else
    "$ETCD" start "$n" >&2
    local pidargs=()
    for p in $("$ETCD" pids); do pidargs+=(--server-pid "$p"); done
    python3 "$SHARED/bench/load.py" --url "$("$ETCD" leader)" --preset etcd "${pidargs[@]}" "${args[@]}" >/dev/null
    "$ETCD" stop >&2
  fi
}

for n in $NODES; do
  for c in $CONNS; do
    repeats=$REPEATS_OTHER; [[ $c == 64 ]] && repeats=$REPEATS
    for r in $(seq 1 "$repeats"); do
      for mix in $MIXES; do
        for system in $SYSTEMS; do   # interleaved, so drift hits both systems alike
          echo "== $system n=$n $mix c=$c run $r" >&2
          run "$n" "$system" "$mix" "$c" "$r"
        done
      done
    done
  done
done
python3 "$HERE/summarize.py" "$OUT"
