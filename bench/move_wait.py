#!/usr/bin/env python3
"""How long a shard move takes, and how long writes to the moving shard wait meanwhile.

    python3 bench/move_wait.py [--bin .build/release/machdb] [--threads 16] [--runs 3] [--docs 20000]

Starts a fresh 5-node cluster (Mach V) on loopback, fills it with `--docs` 1 KB carts, splits
shard 1 at bucket 501 and moves shard 501 to n3, n4, n5 (n1 and n2 drop it). Then, under
closed-loop writes through the entry point (half to each shard), moves shard 501 to n1, n2,
n3: n1 and n2 get it back by a snapshot of its range, n4 and n5 drop it. Reports, per run, how
long that move took (request to the map showing the shard on its new nodes only), and the
latency of the writes to the moving and the staying shard during the move (p50, p99, max)
next to the same writes before it. Every write must succeed (failures are counted).
"""
import argparse
import http.client
import json
import os
import statistics
import threading
import time
from pathlib import Path

from split_wait import ROOT, failed, latency, request, split_keys, start_cluster, start_writers, stop_all


def shard(port, sid):
    m = json.loads(request(port, "GET", "/admin/v1/cluster")[1])
    return next((s for s in m["shards"] if s["id"] == sid), None)


def wait(predicate, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.01)
    raise SystemExit("timed out")


def placed(port, sid, nodes):
    s = shard(port, sid)
    return s and not s.get("moving") and sorted(s["voters"]) == nodes and not s["learners"] and s.get("leader") in nodes


def one_run(args, run):
    base = Path(args.workdir) / f"run{run}"
    procs, entry = start_cluster(args.bin, base, args.port, count=5)
    doc = json.dumps({"customer": "x" * 900, "items": [{"sku": "a", "qty": 1}]})
    conn = http.client.HTTPConnection("127.0.0.1", entry, timeout=30)
    for i in range(0, args.docs, 500):  # bulk-load the carts
        ops = [{"op": "put", "collection": "carts", "id": f"fill-{j}", "doc": json.loads(doc)} for j in range(i, min(args.docs, i + 500))]
        conn.request("POST", "/v1/_bulk", body=json.dumps({"ops": ops}), headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        r.read()
        assert r.status == 200, r.status
    assert request(entry, "POST", "/admin/v1/shards/1/split", json.dumps({"at": 501}).encode(), timeout=30)[0] == 202
    wait(lambda: (s := shard(entry, 501)) and s.get("leader"))
    assert request(entry, "POST", "/admin/v1/shards/501/move", json.dumps({"to": ["n3", "n4", "n5"]}).encode())[0] == 202
    wait(lambda: placed(entry, 501, ["n3", "n4", "n5"]))

    moving, staying = split_keys()
    samples, lock, stop = [], threading.Lock(), threading.Event()
    problems = []
    threads = start_writers(entry, args.threads, moving, staying, doc, samples, lock, stop, problems)
    time.sleep(args.before)
    sent = time.monotonic()
    status, body = request(entry, "POST", "/admin/v1/shards/501/move", json.dumps({"to": ["n1", "n2", "n3"]}).encode())
    assert status == 202, (status, body)
    wait(lambda: placed(entry, 501, ["n1", "n2", "n3"]))
    done = time.monotonic()
    time.sleep(args.after)
    stop.set()
    stop_all(threads, procs, base)
    out = {"run": run, "threads": args.threads, "docs": args.docs, "move_ms": round((done - sent) * 1000, 1),
           "failed_writes": failed(samples), "failures": problems[:3]}
    for name, (lo, hi) in (("during", (sent, done)), ("before", (sent - args.before + 1.0, sent))):
        for label, flag in (("moving", True), ("staying", False)):
            out[f"{name}_{label}"] = latency(samples, lo, hi, flag)
    print(json.dumps(out), flush=True)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.environ.get("MACHDB_BIN", str(ROOT / ".build/release/machdb")))
    ap.add_argument("--threads", type=int, default=16)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--docs", type=int, default=20000)
    ap.add_argument("--before", type=float, default=4.0)
    ap.add_argument("--after", type=float, default=2.0)
    ap.add_argument("--port", type=int, default=18280)
    ap.add_argument("--workdir", default="/tmp/machdb-move-wait")
    args = ap.parse_args()
    runs = [one_run(args, run) for run in range(1, args.runs + 1)]
    print(json.dumps({"summary": "medians over runs",
                      "move_ms": statistics.median(r["move_ms"] for r in runs),
                      "during_moving_p99_ms": statistics.median(r["during_moving"]["p99_ms"] for r in runs),
                      "before_moving_p99_ms": statistics.median(r["before_moving"]["p99_ms"] for r in runs),
                      "failed_writes": sum(r["failed_writes"] for r in runs)}))


if __name__ == "__main__":
    main()
