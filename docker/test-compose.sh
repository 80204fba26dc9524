#!/usr/bin/env bash
# End-to-end test of docker/Dockerfile, docker/compose.yaml and `machdb operator --provision
# docker` on a real docker daemon, then tears everything down. Three parts, each on a fresh
# cluster:
#   A. by hand: walks Mach I to Mach IV with the compose profiles and checks each stage
#      through the admin API, writes and reads through the Load Manager;
#   B. the operator against the daemon: signed recommendations posted to it directly —
#      add_node starts a labelled container that joins; the same id again (also after an
#      operator restart) does nothing; remove_node lets the node leave, then stops and removes
#      its container; --max-nodes counts the managed containers on the network; a daemon error
#      (no such image) is a decision with the daemon's message;
#   C. the loop closes by itself: plain `docker-compose up` (n1, the operator, the load
#      generator) reaches Mach IV with no other command; a write and a read through the entry
#      point (an operator-made container); teardown removes the operator's containers.
#
#   docker/test-compose.sh                    all three
#   TEST_PARTS="loop" docker/test-compose.sh  only some (profiles, operator, loop)
#
# What it does, each step only when needed (so a second run reuses the first one's work):
#   1. apt-get install docker.io, docker-compose, debootstrap, curl if their commands are missing;
#   2. starts `dockerd` in the background if no daemon answers (its PID is kept in
#      $STATE_DIR/dockerd.pid; at the end only that PID is stopped; a daemon this script did
#      not start is never touched); it listens on its unix socket only;
#   3. makes the base image `debian:bookworm-slim` (debootstrap + docker import,
#      docker/build-base.sh) unless it exists;
#   4. builds the machdb binary with the static Swift standard library in .build-docker
#      when it is missing or older than the sources, and `docker build`s machdb:latest;
#   5. part A: `docker-compose -p machdb-test --profile machK up -d` for K = 1..4; after each,
#      waits for the new node to be healthy and checks GET /admin/v1/cluster on 127.0.0.1: the
#      stage ("Mach I" .. "Mach IV"), every node active, exactly one writer, the newest node the
#      primary Load Manager, the voters and learners of the stage; `machdb ctl cluster` inside
#      n1; a PUT and a GET of a document through the Load Manager's published port;
#   6. part B (operator and n1 only, recommendations signed here with the hook secret), and a
#      second operator run on the host (.build-docker/release/machdb) for the refusals;
#   7. part C: `docker-compose up -d` with no profile (docker/.env: COMPOSE_PROFILES=demo);
#   8. after each part and on any exit: `docker rm -f` of the containers labelled
#      io.machdb.managed=true on the test's network, `docker-compose down -v`; at the end the
#      daemon it started is stopped.
# Every wait has a timeout. Published ports are on 127.0.0.1 only (7101..7104, 7900; override
# with MACHDB_N1_PORT.. MACHDB_N4_PORT, MACHDB_OPERATOR_PORT); the network is named after the
# project (MACHDB_NETWORK).
#
# Exit status: 0 every check passed; 1 a check or a build failed; 77 docker cannot run here
# (the message says why: "docker daemon cannot be started here: <reason>").
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export PATH="/opt/swift/usr/bin:$PATH"

STATE_DIR=${STATE_DIR:-/tmp/machdb-test-compose-$(id -u)}
PROJECT=${COMPOSE_PROJECT:-machdb-test}
COMPOSE_FILE_PATH="$ROOT/docker/compose.yaml"
IMAGE=${MACHDB_IMAGE:-machdb:latest}
BASE_TAG=$(sed -n 's/^FROM[[:space:]]\+\([^[:space:]]\+\).*/\1/p' "$ROOT/docker/Dockerfile" | head -n 1)
BIN="$ROOT/.build-docker/release/machdb"
CONTEXT_DIR="$ROOT/.build-docker/image"
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

export MACHDB_IMAGE="$IMAGE"
export MACHDB_N1_PORT=${MACHDB_N1_PORT:-7101} MACHDB_N2_PORT=${MACHDB_N2_PORT:-7102}
export MACHDB_N3_PORT=${MACHDB_N3_PORT:-7103} MACHDB_N4_PORT=${MACHDB_N4_PORT:-7104}
export MACHDB_OPERATOR_PORT=${MACHDB_OPERATOR_PORT:-7900}
# The network the compose services and the operator's containers share (containers <network>-opK).
export MACHDB_NETWORK=${MACHDB_NETWORK:-$PROJECT}
# Plain `up` is the demo through docker/.env; nothing from the caller's environment overrides it.
unset COMPOSE_PROFILES
TEST_PARTS=${TEST_PARTS:-profiles operator loop}
# Fresh tokens for every run: nothing here is meant to outlive the test.
rand() { od -An -N12 -tx1 /dev/urandom | tr -d ' \n'; }
export MACHDB_ADMIN_TOKEN="admin-$(rand)" MACHDB_CLUSTER_TOKEN="cluster-$(rand)" MACHDB_HOOK_SECRET="hook-$(rand)"
export DOCKER_BUILDKIT=0 COMPOSE_DOCKER_CLI_BUILD=0 COMPOSE_HTTP_TIMEOUT=120

mkdir -p "$STATE_DIR"
DOCKERD_PID_FILE="$STATE_DIR/dockerd.pid"
DOCKERD_LOG="$STATE_DIR/dockerd.log"
OUR_DOCKERD=""       # PID of the dockerd this run owns (started now or by an interrupted earlier run)
STACK_UP=0
HOST_OPERATOR=""     # PID of a `machdb operator` this run started on the host (part B)
START=$SECONDS

say()  { printf 'test-compose [%3ds]: %s\n' "$((SECONDS - START))" "$*"; }
skip() { echo "test-compose: docker daemon cannot be started here: $*" >&2; exit 77; }
fail() {
  echo "test-compose: FAIL: $*" >&2
  if [ "$STACK_UP" = 1 ]; then
    echo "---- last log lines of the containers ----" >&2
    compose 60 --profile demo --profile mach4 logs --no-color --tail=30 >&2 2>&1 || true
    for c in $(managed_ids); do
      echo "---- $("$DOCKER" inspect -f '{{.Name}}' "$c") (made by the operator) ----" >&2
      "$DOCKER" logs --tail=20 "$c" >&2 2>&1 || true
    done
  fi
  exit 1
}

# The docker CLI that came with the daemon package, if there is one.
if [ -z "${DOCKER:-}" ]; then
  if [ -x /usr/bin/docker ]; then DOCKER=/usr/bin/docker; else DOCKER=docker; fi
fi
export DOCKER
docker_() { "$DOCKER" "$@"; }
# compose SECONDS args...: docker-compose for this project, bounded in time.
compose() { local t=$1; shift; timeout "$t" docker-compose -p "$PROJECT" -f "$COMPOSE_FILE_PATH" "$@"; }
daemon_answers() { timeout 15 "$DOCKER" info >/dev/null 2>&1; }
is_dockerd() { [ -n "$1" ] && [ -r "/proc/$1/comm" ] && [ "$(cat "/proc/$1/comm" 2>/dev/null)" = dockerd ]; }
# The containers the operator made on this test's network (they are not compose's).
managed_ids() {
  "$DOCKER" ps -aq --filter label=io.machdb.managed=true --filter "label=io.machdb.network=$MACHDB_NETWORK" 2>/dev/null
}
# Removes the operator's containers, then everything compose made (every profile).
teardown() {
  local ids
  ids=$(managed_ids)
  if [ -n "$ids" ]; then
    # shellcheck disable=SC2086
    timeout 120 "$DOCKER" rm -f -v $ids >"$STATE_DIR/rm.log" 2>&1 \
      || { echo "test-compose: docker rm -f of the operator's containers failed:" >&2; tail -n 5 "$STATE_DIR/rm.log" >&2; }
  fi
  compose 180 --profile demo --profile mach4 down -v --remove-orphans >"$STATE_DIR/down.log" 2>&1 \
    || { echo "test-compose: docker-compose down failed:" >&2; tail -n 20 "$STATE_DIR/down.log" >&2; return 1; }
}
stop_host_operator() {
  if [ -n "$HOST_OPERATOR" ]; then
    kill -TERM "$HOST_OPERATOR" 2>/dev/null
    for _ in $(seq 1 40); do kill -0 "$HOST_OPERATOR" 2>/dev/null || break; sleep 0.25; done
    kill -KILL "$HOST_OPERATOR" 2>/dev/null
    wait "$HOST_OPERATOR" 2>/dev/null
    HOST_OPERATOR=""
  fi
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_host_operator
  if [ "$STACK_UP" = 1 ]; then
    say "tearing down: the operator's containers, then docker-compose -p $PROJECT down -v"
    teardown
  fi
  if [ -n "$OUR_DOCKERD" ] && is_dockerd "$OUR_DOCKERD"; then
    say "stopping the dockerd this script started (PID $OUR_DOCKERD)"
    kill -TERM "$OUR_DOCKERD" 2>/dev/null
    for _ in $(seq 1 60); do is_dockerd "$OUR_DOCKERD" || break; sleep 0.5; done
    if is_dockerd "$OUR_DOCKERD"; then
      echo "test-compose: dockerd $OUR_DOCKERD did not stop in 30 s; sending SIGKILL" >&2
      kill -KILL "$OUR_DOCKERD" 2>/dev/null
    fi
    rm -f "$DOCKERD_PID_FILE"
  fi
  say "done (exit $rc)"
  exit "$rc"
}
trap cleanup EXIT
trap 'echo "test-compose: interrupted" >&2; exit 1' INT TERM

# ---------------------------------------------------------------- 1. packages
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo "$@"; else return 126; fi; }
missing=()
command -v dockerd >/dev/null        || missing+=(docker.io)
command -v docker-compose >/dev/null || missing+=(docker-compose)
command -v debootstrap >/dev/null    || missing+=(debootstrap)
command -v curl >/dev/null           || missing+=(curl)
command -v python3 >/dev/null        || missing+=(python3)
if ((${#missing[@]})); then
  say "installing ${missing[*]} (apt-get)"
  if ! as_root true; then skip "${missing[*]} not installed, and not root (no sudo) to install them"; fi
  if ! as_root timeout 300 apt-get update -qq >"$STATE_DIR/apt.log" 2>&1 \
     || ! as_root env DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq "${missing[@]}" >>"$STATE_DIR/apt.log" 2>&1; then
    tail -n 10 "$STATE_DIR/apt.log" >&2
    skip "apt-get could not install ${missing[*]} (log: $STATE_DIR/apt.log)"
  fi
fi
say "docker CLI $("$DOCKER" --version 2>/dev/null | sed 's/^Docker version //'), $(docker-compose version --short 2>/dev/null | sed 's/^/docker-compose /')"

# ---------------------------------------------------------------- 2. the daemon
prev_pid=$(cat "$DOCKERD_PID_FILE" 2>/dev/null || true)
if daemon_answers; then
  if is_dockerd "$prev_pid"; then
    OUR_DOCKERD=$prev_pid
    say "dockerd $prev_pid (started by an earlier run of this script) answers; it will be stopped at the end"
  else
    rm -f "$DOCKERD_PID_FILE"
    say "using the docker daemon already running (it is left running)"
  fi
else
  if is_dockerd "$prev_pid"; then
    say "dockerd $prev_pid from an earlier run does not answer; stopping it"
    kill -TERM "$prev_pid" 2>/dev/null
    for _ in $(seq 1 40); do is_dockerd "$prev_pid" || break; sleep 0.5; done
    is_dockerd "$prev_pid" && kill -KILL "$prev_pid" 2>/dev/null
  fi
  rm -f "$DOCKERD_PID_FILE"
  [ "$(id -u)" -eq 0 ] || skip "no daemon answers and this user ($(id -un)) is not root, so dockerd cannot be started"
  command -v dockerd >/dev/null || skip "dockerd is not installed"
  if [ -n "${DOCKER_HOST:-}" ] && [ "${DOCKER_HOST}" != unix:///var/run/docker.sock ]; then
    skip "DOCKER_HOST=$DOCKER_HOST does not answer (this script only starts a daemon on unix:///var/run/docker.sock)"
  fi
  say "starting dockerd (unix socket only; log: $DOCKERD_LOG)"
  dockerd --host unix:///var/run/docker.sock >"$DOCKERD_LOG" 2>&1 &
  OUR_DOCKERD=$!
  echo "$OUR_DOCKERD" >"$DOCKERD_PID_FILE"
  ok=0
  for _ in $(seq 1 60); do
    if ! kill -0 "$OUR_DOCKERD" 2>/dev/null; then break; fi
    if daemon_answers; then ok=1; break; fi
    sleep 0.5
  done
  if [ "$ok" != 1 ]; then
    reason=$(grep -E 'level=(fatal|error)|failed|Error' "$DOCKERD_LOG" | tail -n 3 | sed 's/^time="[^"]*" //' | tr '\n' ' ')
    if kill -0 "$OUR_DOCKERD" 2>/dev/null; then
      skip "dockerd (PID $OUR_DOCKERD) did not answer within 30 s: ${reason:-see $DOCKERD_LOG}"
    fi
    wait "$OUR_DOCKERD" 2>/dev/null; OUR_DOCKERD=""
    rm -f "$DOCKERD_PID_FILE"
    skip "dockerd exited at start: ${reason:-see $DOCKERD_LOG}"
  fi
  say "dockerd PID $OUR_DOCKERD answers ($("$DOCKER" info -f '{{.Driver}} storage, cgroup {{.CgroupVersion}}' 2>/dev/null))"
fi

# ---------------------------------------------------------------- 3. the base image
if docker_ image inspect "$BASE_TAG" >/dev/null 2>&1; then
  say "base image $BASE_TAG present"
else
  say "base image $BASE_TAG missing: building it with debootstrap (a few minutes)"
  t0=$SECONDS
  if ! BASE_TAG="$BASE_TAG" DEBIAN_MIRROR="$MIRROR" WORK_DIR="$STATE_DIR/base" "$ROOT/docker/build-base.sh"; then
    if ! curl -fsS -m 15 -o /dev/null "$MIRROR/dists/bookworm/Release"; then
      skip "no network for debootstrap: $MIRROR is unreachable"
    fi
    fail "docker/build-base.sh could not make $BASE_TAG"
  fi
  say "base image $BASE_TAG built in $((SECONDS - t0)) s"
fi
# Can this daemon run a container at all (namespaces, cgroups, runc)?
if ! out=$(timeout 120 "$DOCKER" run --rm --network none "$BASE_TAG" true 2>&1); then
  skip "the daemon runs but cannot start a container: $(echo "$out" | tail -n 2 | tr '\n' ' ')"
fi

# ---------------------------------------------------------------- 4. binary and image
if [ ! -x "$BIN" ] || [ -n "$(find "$ROOT/Sources" "$ROOT/Package.swift" -newer "$BIN" -print -quit 2>/dev/null)" ]; then
  command -v swift >/dev/null || fail "swift is not on PATH (expected /opt/swift/usr/bin)"
  say "building machdb (release, static Swift stdlib, scratch path .build-docker)"
  t0=$SECONDS
  if ! timeout 3600 swift build -c release --static-swift-stdlib --product machdb --scratch-path "$ROOT/.build-docker" \
       >"$STATE_DIR/swift-build.log" 2>&1; then
    tail -n 30 "$STATE_DIR/swift-build.log" >&2
    fail "swift build failed (log: $STATE_DIR/swift-build.log)"
  fi
  say "machdb built in $((SECONDS - t0)) s"
else
  say "machdb binary is up to date ($BIN)"
fi
mkdir -p "$CONTEXT_DIR"
if [ ! -x "$CONTEXT_DIR/machdb" ] || [ "$BIN" -nt "$CONTEXT_DIR/machdb" ]; then
  # Debug info is dropped (the symbol table stays, for backtraces): about 8 MB less.
  cp "$BIN" "$CONTEXT_DIR/machdb.tmp"
  if command -v strip >/dev/null; then strip --strip-debug "$CONTEXT_DIR/machdb.tmp"; fi
  mv "$CONTEXT_DIR/machdb.tmp" "$CONTEXT_DIR/machdb"
fi
say "docker build -t $IMAGE (context: .build-docker/image)"
t0=$SECONDS
if ! timeout 1200 "$DOCKER" build -f "$ROOT/docker/Dockerfile" -t "$IMAGE" "$CONTEXT_DIR" >"$STATE_DIR/docker-build.log" 2>&1; then
  tail -n 20 "$STATE_DIR/docker-build.log" >&2
  if ! timeout 180 "$DOCKER" run --rm "$BASE_TAG" apt-get update -qq >/dev/null 2>&1; then
    skip "containers cannot reach the Debian mirror, so docker build cannot install packages"
  fi
  fail "docker build failed (log: $STATE_DIR/docker-build.log)"
fi
say "image $IMAGE built in $((SECONDS - t0)) s: $("$DOCKER" image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1/1e6}')"


# ---------------------------------------------------------------- helpers for the parts
# Leftovers of an interrupted earlier run of this project go first.
teardown || true
for p in "$MACHDB_N1_PORT" "$MACHDB_N2_PORT" "$MACHDB_N3_PORT" "$MACHDB_N4_PORT" "$MACHDB_OPERATOR_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
    fail "127.0.0.1:$p is already in use (set MACHDB_N1_PORT.. MACHDB_N4_PORT / MACHDB_OPERATOR_PORT to other ports)"
  fi
done

port_of() { eval "echo \$MACHDB_N${1}_PORT"; }
admin_get() { curl -fsS -m 5 -H "Authorization: Bearer $MACHDB_ADMIN_TOKEN" "http://127.0.0.1:$MACHDB_N1_PORT$1"; }
wants() { case " $TEST_PARTS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

# wait_healthy SERVICE TIMEOUT
wait_healthy() {
  local svc=$1 deadline=$((SECONDS + $2)) id status
  id=$(compose 30 ps -q "$svc" 2>/dev/null | head -n 1)
  [ -n "$id" ] || fail "no container for service $svc"
  while :; do
    status=$("$DOCKER" inspect -f '{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}' "$id" 2>/dev/null)
    case "$status" in
      "running healthy") return 0 ;;
      *unhealthy*) fail "$svc is unhealthy" ;;
      exited*|dead*) fail "$svc exited ($("$DOCKER" inspect -f '{{.State.ExitCode}}' "$id"))" ;;
    esac
    ((SECONDS < deadline)) || fail "$svc not healthy within $2 s (status: $status)"
    sleep 1
  done
}

# json_get EXPR: evaluates a Python expression on the JSON read from stdin (bound to `j`).
json_get() { python3 -c 'import json, sys; j = json.load(sys.stdin); v = eval(sys.argv[1]); print(v if isinstance(v, str) else json.dumps(v))' "$1"; }

# recommendation KIND SEQ ID TARGET_JSON: a recommendation body as the Load Manager sends it.
recommendation() {
  python3 -c 'import json, sys, time
kind, seq, rid, target = sys.argv[1], int(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4])
print(json.dumps({"id": rid, "seq": seq, "kind": kind, "reason": "test-compose", "stage": "Mach I", "stage_number": 1,
                  "target": target, "evidence": {}, "created_at": int(time.time() * 1000), "source": "test"}, separators=(",", ":")))' "$@"
}

# deliver PORT BODY: POSTs BODY to the operator's /hook, signed with the hook secret
# (X-Machdb-Signature: sha256=<hex HMAC-SHA256>); prints the answer; fails on a non-2xx.
deliver() {
  python3 - "$1" "$MACHDB_HOOK_SECRET" "$2" <<'PY'
import hashlib, hmac, sys, urllib.error, urllib.request
port, secret, body = sys.argv[1], sys.argv[2].encode(), sys.argv[3].encode()
signature = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
request = urllib.request.Request(f"http://127.0.0.1:{port}/hook", data=body, method="POST",
                                 headers={"Content-Type": "application/json", "X-Machdb-Signature": signature})
try:
    with urllib.request.urlopen(request, timeout=90) as answer:
        print(answer.read().decode())
except urllib.error.HTTPError as e:
    print(f"HTTP {e.code}: {e.read().decode()}")
    sys.exit(1)
except OSError as e:
    print(f"no answer: {e}")
    sys.exit(1)
PY
}

# The map entry of NODE ("null" when absent).
map_entry() { admin_get /admin/v1/cluster | json_get "next((n for n in j['nodes'] if n['id'] == '$1'), None)"; }
stage_of_map() { admin_get /admin/v1/cluster | json_get "j['stage']"; }

# The checks on GET /admin/v1/cluster for stage K; prints a one-line summary, exits 0 when
# everything holds, 1 when something does not (yet).
read -r -d '' CHECK_STAGE <<'PY'
import json, sys
k = int(sys.argv[1])
roman = ["", "I", "II", "III", "IV"][k]
try:
    m = json.load(sys.stdin)
except Exception as e:
    print(f"not JSON: {e}"); sys.exit(1)
nodes = {n["id"]: n for n in m.get("nodes", [])}
shard = (m.get("shards") or [{}])[0]
newest = f"n{k}"
writers = sorted(i for i, n in nodes.items() if "writer" in n.get("roles", []))
plms = sorted(i for i, n in nodes.items() if n.get("primary_load_manager"))
problems = []
if m.get("stage") != f"Mach {roman}":
    problems.append(f"stage is {m.get('stage')!r}, not 'Mach {roman}'")
if set(nodes) != {f"n{i}" for i in range(1, k + 1)}:
    problems.append(f"nodes are {sorted(nodes)}")
if len(writers) != 1:
    problems.append(f"writers are {writers} (want exactly one)")
if k >= 2 and plms != [newest]:
    problems.append(f"primary load manager is {plms} (want [{newest!r}])")
for i, n in sorted(nodes.items()):
    if n.get("state") != "active":
        problems.append(f"{i} is {n.get('state')}")
if k >= 3:
    for i, n in sorted(nodes.items()):
        if i not in writers and i != newest and "replica" not in n.get("roles", []):
            problems.append(f"{i} is not a read replica: {n.get('roles')}")
voters, learners = sorted(shard.get("voters", [])), sorted(shard.get("learners", []))
if k == 2 and (voters != ["n1"] or learners != ["n2"]):
    problems.append(f"voters {voters} learners {learners} (want n1 / n2)")
if k >= 3 and (len(voters) != k or learners):
    problems.append(f"voters {voters} learners {learners} (want {k} voters)")
def show(i):
    n = nodes[i]
    return f"{i}={'+'.join(n.get('roles', []))}{'*' if n.get('primary_load_manager') else ''}({n.get('raft_state', '?')})"
print(f"{m.get('stage')} v{m.get('version')}: " + " ".join(show(i) for i in sorted(nodes))
      + f" | leader {shard.get('leader')} voters {','.join(voters)} learners {','.join(learners) or '-'}")
if problems:
    print("  not yet: " + "; ".join(problems))
    sys.exit(1)
PY

# The closed loop's map: a one-line summary; exits 0 once stage K has settled (K active nodes,
# each with a role, one writer, the newest the entry point, no learner from Mach III on).
read -r -d '' CHECK_SETTLED <<'PY'
import json, sys
k = int(sys.argv[1])
try:
    m = json.load(sys.stdin)
except Exception as e:
    print(f"not JSON: {e}"); sys.exit(1)
nodes = m.get("nodes", [])
active = [n for n in nodes if n.get("state") == "active"]
shard = (m.get("shards") or [{}])[0]
writers = [n["id"] for n in active if "writer" in n.get("roles", [])]
entry = [n["id"] for n in active if n.get("primary_load_manager")]
newest = max(active, key=lambda n: n.get("join_order", 0))["id"] if active else None
print(f"{m.get('stage')} v{m.get('version')}: " + " ".join(
    f"{n['id']}={'+'.join(n.get('roles', [])) or '-'}{'*' if n.get('primary_load_manager') else ''}({n.get('state')})" for n in nodes)
    + f" | voters {','.join(shard.get('voters', []))} learners {','.join(shard.get('learners', [])) or '-'}")
ok = (m.get("stage_number", 0) >= k and len(active) == len(nodes) == m.get("stage_number") and all(n.get("roles") for n in active)
      and len(writers) == 1 and len(entry) == 1 and (k < 3 or not shard.get("learners")))
sys.exit(0 if ok else 1)
PY

# put_get URL_BASE RUNNER...: a PUT and a GET of a fresh document through URL_BASE, with curl
# run by RUNNER (nothing: on the host; `compose 60 exec -T n1`: inside the network); checks the
# status codes and that the GET is byte-exact; the document's id and body stay in DOC_ID and
# DOC_BODY.
put_get() {
  local base=$1; shift
  local id body code served
  id="compose-$(rand | cut -c1-8)"
  body='{"customer":"compose","status":"open","items":[{"sku":"apple","qty":3,"price":0.5}],"total":1.5}'
  DOC_ID=$id DOC_BODY=$body
  "$@" curl -sS -m 30 -D - -o /dev/null -w 'HTTP %{http_code}\n' -X PUT "$base/v1/collections/carts/docs/$id" \
    -H 'Content-Type: application/json' --data-binary "$body" >"$STATE_DIR/put.out" 2>&1 || fail "PUT through $base: $(cat "$STATE_DIR/put.out")"
  code=$(sed -n 's/^HTTP \([0-9]*\)$/\1/p' "$STATE_DIR/put.out")
  [ "$code" = 201 ] || fail "PUT through $base: $(tail -n 3 "$STATE_DIR/put.out")"
  served=$(sed -n 's/^[Xx]-[Mm]achdb-[Ss]erved-[Bb]y: *\([^[:space:]]*\).*/\1/p' "$STATE_DIR/put.out")
  say "PUT $base/v1/collections/carts/docs/$id -> 201 (served by ${served:-?})"
  "$@" curl -fsS -m 30 "$base/v1/collections/carts/docs/$id" >"$STATE_DIR/get.out" 2>&1 \
    || fail "GET through $base: $(cat "$STATE_DIR/get.out")"
  [ "$(cat "$STATE_DIR/get.out")" = "$body" ] || fail "GET through $base returned $(cat "$STATE_DIR/get.out"), not what was written"
  say "GET $base/v1/collections/carts/docs/$id -> byte-exact"
}

# ---------------------------------------------------------------- 5. A: the stages by hand
ROMAN=("" I II III IV)
if wants profiles; then
  say "== A: the Mach stages by hand (compose profiles)"
  for k in 1 2 3 4; do
    t0=$SECONDS
    say "Mach ${ROMAN[$k]}: docker-compose -p $PROJECT --profile mach$k up -d"
    STACK_UP=1
    if ! compose 300 --profile "mach$k" up -d >"$STATE_DIR/up-mach$k.log" 2>&1; then
      cat "$STATE_DIR/up-mach$k.log" >&2
      fail "docker-compose --profile mach$k up -d failed"
    fi
    wait_healthy "n$k" 120
    [ "$k" = 1 ] && wait_healthy operator 60
    deadline=$((SECONDS + 90)); summary=""
    while :; do
      if ! json=$(admin_get /admin/v1/cluster 2>&1); then
        summary="GET /admin/v1/cluster on 127.0.0.1:$MACHDB_N1_PORT: $json"
      elif summary=$(printf '%s' "$json" | python3 -c "$CHECK_STAGE" "$k"); then
        break
      fi
      ((SECONDS < deadline)) || fail "Mach ${ROMAN[$k]} not reached within 90 s: $summary"
      sleep 1
    done
    say "$summary"
    say "Mach ${ROMAN[$k]} reached in $((SECONDS - t0)) s"
  done
  [ -z "$(compose 30 ps -q load 2>/dev/null)" ] || fail "the load generator runs with --profile mach4 (it belongs to the demo only)"

  # `machdb ctl cluster` inside a container (it reads MACHDB_ADMIN_TOKEN from the environment).
  if ! ctl_out=$(compose 60 --profile mach4 exec -T n1 machdb ctl cluster 2>&1); then
    echo "$ctl_out" >&2; fail "machdb ctl cluster inside n1 failed"
  fi
  echo "$ctl_out" | sed 's/^/    /'
  echo "$ctl_out" | grep -q 'stage Mach IV' || fail "machdb ctl cluster does not say 'stage Mach IV'"

  op=$(curl -fsS -m 5 "http://127.0.0.1:$MACHDB_OPERATOR_PORT/healthz") || fail "operator /healthz did not answer"
  [ "$(json_get "j['provision']" <<<"$op")" = docker ] || fail "operator /healthz: $op"

  # Write and read through the Load Manager's published port; then the writer, linearizable.
  put_get "http://127.0.0.1:$(port_of 4)"
  code=$(curl -sS -m 30 -o "$STATE_DIR/get1.out" -w '%{http_code}' \
           "http://127.0.0.1:$MACHDB_N1_PORT/v1/collections/carts/docs/$DOC_ID?consistency=strong") || fail "strong GET on n1: curl failed"
  [ "$code" = 200 ] && [ "$(cat "$STATE_DIR/get1.out")" = "$DOC_BODY" ] || fail "strong GET on n1: HTTP $code $(cat "$STATE_DIR/get1.out")"
  say "GET on n1 (consistency=strong) -> 200, byte-exact"
  [ -z "$(managed_ids)" ] || fail "the operator made containers while nothing recommended any: $(managed_ids | tr '\n' ' ')"
  say "A passed; tearing down"
  teardown || fail "teardown after part A"
  STACK_UP=0
fi

# ---------------------------------------------------------------- 6. B: the operator and the daemon
decision_of() {  # decision_of PORT ID ACTION: the first decision for ID with ACTION, or nothing
  curl -fsS -m 5 "http://127.0.0.1:$1/decisions" \
    | json_get "next((d for d in j['decisions'] if d['id'] == '$2' and d['action'] == '$3'), '')"
}
if wants operator; then
  say "== B: the operator against the docker daemon (signed recommendations posted to it)"
  STACK_UP=1
  compose 300 --profile mach1 up -d >"$STATE_DIR/up-operator.log" 2>&1 || { cat "$STATE_DIR/up-operator.log" >&2; fail "up (operator + n1) failed"; }
  wait_healthy operator 60
  wait_healthy n1 120
  OP=$MACHDB_OPERATOR_PORT
  node="op1" container="$MACHDB_NETWORK-op1"

  add_id="tc-add-$(rand | cut -c1-8)"
  add=$(recommendation add_node 1 "$add_id" '{"join_url":"http://n1:8080","level":1}')
  answer=$(deliver "$OP" "$add") || fail "add_node delivery: $answer"
  [ "$(json_get "j['action']" <<<"$answer")" = started ] || fail "add_node: $answer"
  [ "$(json_get "j.get('container')" <<<"$answer")" = "$container" ] || fail "add_node started another container: $answer"
  say "add_node $add_id -> $answer"
  labels=$("$DOCKER" inspect -f '{{range $k, $v := .Config.Labels}}{{$k}}={{$v}} {{end}}' "$container") || fail "no container $container"
  for want in io.machdb.managed=true "io.machdb.network=$MACHDB_NETWORK" "io.machdb.node=$node" \
              "io.machdb.recommendation=$add_id" io.machdb.join-url=http://n1:8080; do
    [[ " $labels " == *" $want "* ]] || fail "$container lacks the label $want: $labels"
  done
  env_cmd=$("$DOCKER" inspect -f '{{range .Config.Env}}{{.}} {{end}}| {{join .Config.Cmd " "}}' "$container")
  for want in "MACHDB_ADMIN_TOKEN=$MACHDB_ADMIN_TOKEN" "MACHDB_CLUSTER_TOKEN=$MACHDB_CLUSTER_TOKEN" \
              MACHDB_HOOK_URL=http://operator:7900/hook "--join http://n1:8080" "--level 1" "--advertise http://$container:8080"; do
    [[ "$env_cmd" == *"$want"* ]] || fail "$container was not given $want"
  done
  deadline=$((SECONDS + 90))
  until [ "$(map_entry "$node" 2>/dev/null | json_get "(j or {}).get('state')" 2>/dev/null)" = active ] \
        && [ "$(stage_of_map 2>/dev/null)" = "Mach II" ]; do
    ((SECONDS < deadline)) || fail "$node not active in n1's map within 90 s (stage $(stage_of_map 2>&1))"
    sleep 1
  done
  # A joined node is a learner (Mach II) before it can leave the Raft group.
  deadline=$((SECONDS + 60))
  until [[ "$(map_entry "$node" 2>/dev/null | json_get "(j or {}).get('raft_state')" 2>/dev/null)" =~ ^(learner|follower)$ ]]; do
    ((SECONDS < deadline)) || fail "$node not a member of the shard within 60 s: $(map_entry "$node" 2>&1)"
    sleep 1
  done
  say "$node ($container) joined: Mach II"

  # The same recommendation again: nothing happens, before and after an operator restart.
  answer=$(deliver "$OP" "$add") || fail "repeated add_node: $answer"
  [ "$(json_get "j.get('duplicate')" <<<"$answer")" = true ] || fail "a repeated id was acted on: $answer"
  compose 60 --profile mach1 restart operator >"$STATE_DIR/restart.log" 2>&1 || fail "restarting the operator: $(cat "$STATE_DIR/restart.log")"
  wait_healthy operator 60
  answer=$(deliver "$OP" "$add") || fail "add_node after the restart: $answer"
  [ "$(json_get "j.get('duplicate')" <<<"$answer")" = true ] || fail "a repeated id was acted on after a restart: $answer"
  [ "$(managed_ids | wc -l)" = 1 ] || fail "managed containers: $(managed_ids | tr '\n' ' ') (want one)"
  nodes=$(curl -fsS -m 10 "http://127.0.0.1:$OP/nodes") || fail "GET /nodes"
  [ "$(json_get "[n['node'] for n in j['nodes']]" <<<"$nodes")" = '["op1"]' ] || fail "the restarted operator does not find $container: $nodes"
  say "the same id again, before and after an operator restart: duplicate; the restarted operator finds $container by its label"

  # A second operator, on the host, on the same network: it counts the first one's container
  # against --max-nodes, and words a daemon error (an image that does not exist) as a decision.
  host_operator() {  # host_operator MAX_NODES: starts it; sets HOST_PORT
    HOST_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    rm -rf "$STATE_DIR/host-operator"
    "$BIN" operator --listen "127.0.0.1:$HOST_PORT" --secret "$MACHDB_HOOK_SECRET" --provision docker \
      --docker-network "$MACHDB_NETWORK" --docker-image "machdb-test-no-such-image:none" --max-nodes "$1" \
      --data-root "$STATE_DIR/host-operator" >"$STATE_DIR/host-operator.log" 2>&1 &
    HOST_OPERATOR=$!
    for _ in $(seq 1 40); do curl -fsS -m 2 -o /dev/null "http://127.0.0.1:$HOST_PORT/healthz" 2>/dev/null && return 0; sleep 0.25; done
    fail "the host operator did not start: $(tail -n 5 "$STATE_DIR/host-operator.log")"
  }
  host_operator 1
  answer=$(deliver "$HOST_PORT" "$(recommendation add_node 2 "tc-max-$(rand | cut -c1-8)" '{"join_url":"http://n1:8080"}')") \
    || fail "host operator: $answer"
  [ "$(json_get "j['action']" <<<"$answer")" = "skipped: max nodes" ] || fail "--max-nodes 1 with $container running: $answer"
  stop_host_operator
  host_operator 3
  bad_id="tc-bad-$(rand | cut -c1-8)"
  answer=$(deliver "$HOST_PORT" "$(recommendation add_node 3 "$bad_id" '{"join_url":"http://n1:8080"}')") || fail "host operator: $answer"
  detail=$(decision_of "$HOST_PORT" "$bad_id" failed | json_get "j['detail']" 2>/dev/null)
  [[ "$detail" == *"No such image"* ]] || fail "a missing image: $answer; decision detail: ${detail:-none}"
  stop_host_operator
  [ "$(managed_ids | wc -l)" = 1 ] || fail "managed containers after the refusals: $(managed_ids | tr '\n' ' ')"
  say "--max-nodes counts the managed containers; a daemon error is a decision: \"$detail\""

  # remove_node: the node leaves the cluster, then its container is stopped and removed.
  rm_id="tc-rm-$(rand | cut -c1-8)"
  answer=$(deliver "$OP" "$(recommendation remove_node 4 "$rm_id" "{\"node\":\"$node\",\"join_url\":\"http://n1:8080\"}")") \
    || fail "remove_node: $answer"
  [ "$(json_get "j['action']" <<<"$answer")" = removing ] || fail "remove_node: $answer"
  deadline=$((SECONDS + 100))
  until removed=$(decision_of "$OP" "$rm_id" removed) && [ -n "$removed" ]; do
    failed=$(decision_of "$OP" "$rm_id" failed)
    [ -z "$failed" ] || fail "remove_node failed: $failed"
    ((SECONDS < deadline)) || fail "no 'removed' decision within 100 s: $(curl -fsS -m 5 "http://127.0.0.1:$OP/decisions")"
    sleep 1
  done
  say "remove_node -> $(json_get "j['detail']" <<<"$removed")"
  [[ "$removed" == *"left the cluster map"* ]] || fail "$node was stopped without leaving the map: $removed"
  [ -z "$(managed_ids)" ] || fail "$container is still there after remove_node"
  [ "$(map_entry "$node")" = null ] || fail "$node is still in n1's map"
  say "B passed; tearing down"
  teardown || fail "teardown after part B"
  STACK_UP=0
fi

# ---------------------------------------------------------------- 7. C: the loop closes by itself
if wants loop; then
  TARGET=${TARGET_STAGE:-4}
  LOOP_TIMEOUT=${LOOP_TIMEOUT:-240}
  say "== C: the closed loop: docker-compose -p $PROJECT up -d (no profile: the demo), then nothing but waiting"
  STACK_UP=1
  t0=$SECONDS
  compose 300 up -d >"$STATE_DIR/up-demo.log" 2>&1 || { cat "$STATE_DIR/up-demo.log" >&2; fail "docker-compose up -d failed"; }
  [ -n "$(compose 30 ps -q load)" ] || fail "plain up did not start the load generator"
  [ -z "$(compose 30 ps -q n2)" ] || fail "plain up started n2 (the stage profiles are for stepping by hand)"
  wait_healthy n1 120
  deadline=$((t0 + LOOP_TIMEOUT)); reached=1; summary=""
  while ((reached < TARGET)); do
    next=$((reached + 1))
    if json=$(admin_get /admin/v1/cluster 2>&1) && summary=$(printf '%s' "$json" | python3 -c "$CHECK_SETTLED" "$next"); then
      reached=$(json_get "j['stage_number']" <<<"$json")
      say "$summary"
      say "Mach ${ROMAN[$reached]} after $((SECONDS - t0)) s"
      continue
    fi
    ((SECONDS < deadline)) || fail "Mach ${ROMAN[$next]} not reached within $LOOP_TIMEOUT s of up: $summary"
    sleep 2
  done
  running=$("$DOCKER" ps -q --filter label=io.machdb.managed=true --filter "label=io.machdb.network=$MACHDB_NETWORK" | wc -l)
  [ "$running" = $((reached - 1)) ] || fail "$running operator-made containers run at Mach ${ROMAN[$reached]}"
  decisions=$(curl -fsS -m 5 "http://127.0.0.1:$MACHDB_OPERATOR_PORT/decisions") || fail "GET /decisions"
  say "operator decisions: $(json_get "'; '.join(f\"{d['kind']} -> {d['action']} {d.get('container') or ''}\" for d in reversed(j['decisions']))" <<<"$decisions")"
  started=$(json_get "len([d for d in j['decisions'] if d['kind'] == 'add_node' and d['action'] == 'started'])" <<<"$decisions")
  [ "$started" = $((reached - 1)) ] || fail "$started add_node decisions started a container (want $((reached - 1)))"
  compose 30 logs --no-color load 2>/dev/null | grep -E 'load: (==|the load|reached)' | sed 's/^/    /' | tail -n 12

  # A write and a read through the entry point: a container the operator made, reached from
  # inside the network (it publishes no port).
  entry=$(admin_get /admin/v1/cluster | json_get "next(n['url'] for n in j['nodes'] if n.get('primary_load_manager'))")
  [[ "$entry" == "http://$MACHDB_NETWORK-op"* ]] || fail "the entry point is $entry, not an operator-made container"
  put_get "$entry" compose 60 exec -T n1

  say "C passed; tearing down"
  teardown || fail "teardown after part C"
  STACK_UP=0
  [ -z "$(managed_ids)" ] || fail "operator-made containers left after the teardown: $(managed_ids | tr '\n' ' ')"
  left=$("$DOCKER" ps -aq --filter "label=com.docker.compose.project=$PROJECT")
  [ -z "$left" ] || fail "compose containers left after the teardown: $left"
  ! "$DOCKER" network inspect "$MACHDB_NETWORK" >/dev/null 2>&1 || fail "the network $MACHDB_NETWORK is left after the teardown"
fi

say "PASS ($TEST_PARTS): stages by hand, the operator against the daemon, the loop closing by itself"
exit 0
