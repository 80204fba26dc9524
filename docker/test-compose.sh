#!/usr/bin/env bash
# End-to-end test of docker/Dockerfile and docker/compose.yaml on a real docker daemon:
# walks a cluster from Mach I to Mach IV with docker-compose profiles and checks it through
# the admin API, then tears everything down.
#
#   docker/test-compose.sh
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
#   5. `docker-compose -p machdb-test --profile machK up -d` for K = 1..4; after each, waits for
#      the new node to be healthy and checks GET /admin/v1/cluster on 127.0.0.1: the stage
#      ("Mach I" .. "Mach IV"), every node active, exactly one writer, the newest node the
#      primary Load Manager, the voters and learners of the stage; `machdb ctl cluster` inside n1;
#   6. a PUT and a GET of a document through the Load Manager's published port;
#   7. `docker-compose down -v` (always, on any exit) and stops the daemon it started.
# Every wait has a timeout. Published ports are on 127.0.0.1 only (7101..7104, 7900; override
# with MACHDB_N1_PORT.. MACHDB_N4_PORT, MACHDB_OPERATOR_PORT).
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
# Fresh tokens for every run: nothing here is meant to outlive the test.
rand() { od -An -N12 -tx1 /dev/urandom | tr -d ' \n'; }
export MACHDB_ADMIN_TOKEN="admin-$(rand)" MACHDB_CLUSTER_TOKEN="cluster-$(rand)" MACHDB_HOOK_SECRET="hook-$(rand)"
export DOCKER_BUILDKIT=0 COMPOSE_DOCKER_CLI_BUILD=0 COMPOSE_HTTP_TIMEOUT=120

mkdir -p "$STATE_DIR"
DOCKERD_PID_FILE="$STATE_DIR/dockerd.pid"
DOCKERD_LOG="$STATE_DIR/dockerd.log"
OUR_DOCKERD=""       # PID of the dockerd this run owns (started now or by an interrupted earlier run)
STACK_UP=0
START=$SECONDS

say()  { printf 'test-compose [%3ds]: %s\n' "$((SECONDS - START))" "$*"; }
skip() { echo "test-compose: docker daemon cannot be started here: $*" >&2; exit 77; }
fail() {
  echo "test-compose: FAIL: $*" >&2
  if [ "$STACK_UP" = 1 ]; then
    echo "---- last log lines of the containers ----" >&2
    compose 60 --profile mach4 logs --no-color --tail=30 >&2 2>&1 || true
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

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ "$STACK_UP" = 1 ]; then
    say "tearing down: docker-compose -p $PROJECT down -v"
    compose 180 --profile mach4 down -v --remove-orphans >"$STATE_DIR/down.log" 2>&1 \
      || { echo "test-compose: docker-compose down failed:" >&2; tail -n 20 "$STATE_DIR/down.log" >&2; }
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

# ---------------------------------------------------------------- 5. the Mach stages
# Leftovers of an interrupted earlier run of this project go first.
compose 180 --profile mach4 down -v --remove-orphans >"$STATE_DIR/down.log" 2>&1 || true
for p in "$MACHDB_N1_PORT" "$MACHDB_N2_PORT" "$MACHDB_N3_PORT" "$MACHDB_N4_PORT" "$MACHDB_OPERATOR_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
    fail "127.0.0.1:$p is already in use (set MACHDB_N1_PORT.. MACHDB_N4_PORT / MACHDB_OPERATOR_PORT to other ports)"
  fi
done

port_of() { eval "echo \$MACHDB_N${1}_PORT"; }
admin_get() { curl -fsS -m 5 -H "Authorization: Bearer $MACHDB_ADMIN_TOKEN" "http://127.0.0.1:$MACHDB_N1_PORT$1"; }

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

ROMAN=("" I II III IV)
for k in 1 2 3 4; do
  t0=$SECONDS
  say "== Mach ${ROMAN[$k]}: docker-compose -p $PROJECT --profile mach$k up -d"
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

# `machdb ctl cluster` inside a container (it reads MACHDB_ADMIN_TOKEN from the environment).
if ! ctl_out=$(compose 60 --profile mach4 exec -T n1 machdb ctl cluster 2>&1); then
  echo "$ctl_out" >&2; fail "machdb ctl cluster inside n1 failed"
fi
echo "$ctl_out" | sed 's/^/    /'
echo "$ctl_out" | grep -q 'stage Mach IV' || fail "machdb ctl cluster does not say 'stage Mach IV'"

# The operator (--provision log) is up and reachable.
op=$(curl -fsS -m 5 "http://127.0.0.1:$MACHDB_OPERATOR_PORT/healthz") || fail "operator /healthz did not answer"
echo "$op" | grep -q '"provision":"log"' || echo "$op" | grep -q '"provision": "log"' || fail "operator /healthz: $op"

# ---------------------------------------------------------------- 6. write and read through the LM
LM_PORT=$(port_of 4)
doc_id="compose-$(rand | cut -c1-8)"
body='{"customer":"compose","status":"open","items":[{"sku":"apple","qty":3,"price":0.5}],"total":1.5}'
url="http://127.0.0.1:$LM_PORT/v1/collections/carts/docs/$doc_id"
code=$(curl -sS -m 30 -o "$STATE_DIR/put.out" -D "$STATE_DIR/put.headers" -w '%{http_code}' -X PUT "$url" \
         -H 'Content-Type: application/json' --data-binary "$body") || fail "PUT through the Load Manager: curl failed"
[ "$code" = 201 ] || fail "PUT through the Load Manager (n4): HTTP $code $(cat "$STATE_DIR/put.out")"
index=$(sed -n 's/^[Xx]-[Mm]achdb-[Ii]ndex: *\([0-9]*\).*/\1/p' "$STATE_DIR/put.headers")
served=$(sed -n 's/^[Xx]-[Mm]achdb-[Ss]erved-[Bb]y: *\([^[:space:]]*\).*/\1/p' "$STATE_DIR/put.headers")
say "PUT $url -> 201 (index ${index:-?}, served by ${served:-?})"
code=$(curl -sS -m 30 -o "$STATE_DIR/get.out" -D "$STATE_DIR/get.headers" -w '%{http_code}' "$url") \
  || fail "GET through the Load Manager: curl failed"
[ "$code" = 200 ] || fail "GET through the Load Manager (n4): HTTP $code $(cat "$STATE_DIR/get.out")"
[ "$(cat "$STATE_DIR/get.out")" = "$body" ] || fail "GET returned $(cat "$STATE_DIR/get.out"), not what was written"
served=$(sed -n 's/^[Xx]-[Mm]achdb-[Ss]erved-[Bb]y: *\([^[:space:]]*\).*/\1/p' "$STATE_DIR/get.headers")
say "GET $url -> 200, byte-exact (served by ${served:-?})"
# The same document from the writer's port, linearizable.
code=$(curl -sS -m 30 -o "$STATE_DIR/get1.out" -w '%{http_code}' \
         "http://127.0.0.1:$MACHDB_N1_PORT/v1/collections/carts/docs/$doc_id?consistency=strong") || fail "strong GET on n1: curl failed"
[ "$code" = 200 ] && [ "$(cat "$STATE_DIR/get1.out")" = "$body" ] || fail "strong GET on n1: HTTP $code $(cat "$STATE_DIR/get1.out")"
say "GET on n1 (consistency=strong) -> 200, byte-exact"

say "PASS: Mach I -> Mach IV with docker-compose, roles and stage checked, write/read through the Load Manager"
exit 0
