#!/bin/bash
# The compose demo's load generator (docker/compose.yaml, service `load`; it runs in the machdb
# image: bash, curl and `machdb ctl`).
#
# Writes one document, then keeps LOAD_CLIENTS clients reading it with X-Machdb-Min-Index set to
# an index the cluster never reaches: each read waits --read-wait and answers 504, which the
# Load Manager counts as a timeout. Under the demo policy (docker/demo/policy.json) the entry
# point recommends add_node after a few seconds of that; the operator starts a container; the
# new node becomes the entry point. Every 2 s this script reads the cluster map from
# MACHDB_URL (`machdb ctl cluster`, admin token from MACHDB_ADMIN_TOKEN), points the clients at
# the current entry point, and prints the map each time a new stage has settled. At stage
# TARGET_STAGE the load stops; the script keeps printing changes until it is stopped.
set -u

URL=${MACHDB_URL:-http://n1:8080}
CLIENTS=${LOAD_CLIENTS:-6}
TARGET=${TARGET_STAGE:-4}
RUN=/tmp/load.run
ENTRY=/tmp/load.entry

say() { echo "load: $*"; }
trap 'rm -f "$RUN"; exit 0' TERM INT

stage_number() {
  case "$1" in
    "Mach I") echo 1 ;; "Mach II") echo 2 ;; "Mach III") echo 3 ;; "Mach IV") echo 4 ;;
    "Mach V") echo 5 ;; "Mach VI") echo 6 ;; "Mach VII") echo 7 ;; "Mach VIII") echo 8 ;;
    *) echo 0 ;;
  esac
}

until curl -fsS -o /dev/null -m 5 -X PUT -H 'Content-Type: application/json' \
        --data '{"demo":"load","note":"read with a minimum index never reached"}' "$URL/v1/collections/demo/docs/d1"; do
  say "waiting for $URL"
  sleep 1
done
echo "$URL" >"$ENTRY"
touch "$RUN"

client() {
  while [ -e "$RUN" ]; do
    curl -s -o /dev/null -m 5 -H 'X-Machdb-Min-Index: 1000000000000' \
      "$(cat "$ENTRY")/v1/collections/demo/docs/d1" || sleep 0.2
  done
}
for _ in $(seq 1 "$CLIENTS"); do client & done
say "$CLIENTS clients sending reads that time out to $URL (the entry point counts them)"

shown=""
while :; do
  if table=$(machdb ctl --url "$URL" cluster 2>&1); then
    stage=$(sed -n '1s/.*stage \(Mach [IVX]*\).*/\1/p' <<<"$table")
    entry=$(awk '/\(entry point\)/ { print $2; exit }' <<<"$table")
    if [ -n "$entry" ] && [ "$entry" != "$(cat "$ENTRY")" ] && [ -e "$RUN" ]; then
      echo "$entry" >"$ENTRY"
      say "the load now goes to the entry point $entry"
    fi
    # Settled: as many active nodes as the stage says, each with a role.
    nodes=$(awk 'NR > 2 && NF == 0 { exit } NR > 3' <<<"$table")
    active=$(grep -c ' active ' <<<"$nodes")
    roleless=$(awk '$4 == "-"' <<<"$nodes" | wc -l)
    number=$(stage_number "$stage")
    if [ "$stage" != "$shown" ] && [ "$active" = "$number" ] && [ "$roleless" = 0 ]; then
      shown=$stage
      say "== $stage"
      sed 's/^/    /' <<<"$table"
      if [ "$number" -ge "$TARGET" ] && [ -e "$RUN" ]; then
        rm -f "$RUN"
        say "reached $stage: load stopped (watching the map; docker-compose down to end the demo)"
      fi
    fi
  else
    say "machdb ctl cluster: $table"
  fi
  sleep 2
done
