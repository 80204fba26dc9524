#!/usr/bin/env python3
"""How long writes to a moving range wait while a shard splits.

    python3 bench/split_wait.py [--bin .build/release/machdb] [--threads 16] [--runs 3]

Starts a fresh 3-node machdb cluster (Mach III) on loopback, loads it through the entry point
with closed-loop writers (1 KB carts, half of them in the range that moves, half in the range
that stays), splits shard 1 at bucket 501 after a few seconds, and reports, per run and over
all runs, the latency of the writes that started from the split request until one second
after it was applied (p50, p99, max; moving and staying range), next to the same writes before
the split. Every write must succeed: a write answered anything but 200/201 is counted and
reported. Prints one JSON line per run and a summary.
"""
import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def fnv_bucket(key: str) -> int:
    h = 0xcbf29ce484222325
    for b in key.encode():
        h ^= b
        h = (h * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return 1 + h % 1000


def request(port, method, path, body=None, timeout=10):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def start_cluster(binary, base, port0, count=3):
    shutil.rmtree(base, ignore_errors=True)
    procs = []
    for k in range(1, count + 1):
        port = port0 + k - 1
        d = base / f"n{k}"
        d.mkdir(parents=True)
        cmd = [binary, "serve", "--node-id", f"n{k}", "--data-dir", str(d), "--listen", f"127.0.0.1:{port}",
               "--log-level", "warning", "--cluster-token", "bench"]
        if k > 1:
            cmd += ["--join", f"http://127.0.0.1:{port0}"]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(d / "log", "wb")))
        for _ in range(300):
            try:
                if request(port, "GET", "/readyz")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
    for _ in range(300):
        try:
            m = json.loads(request(port0, "GET", "/admin/v1/cluster")[1])
            voters = [n for n in m["nodes"] if n.get("raft_state") in ("leader", "follower")]
            if len(voters) == min(count, 5) and m.get("stage_number") == count:
                entry = next(n["url"] for n in m["nodes"] if n.get("primary_load_manager"))
                return procs, int(entry.rsplit(":", 1)[1])
        except (OSError, ValueError, KeyError, StopIteration):
            pass
        time.sleep(0.1)
    raise SystemExit("cluster did not form")


def split_keys(count=400):
    """Cart ids on each side of bucket 501: (moving range, staying range)."""
    keys = [f"cart-{i}" for i in range(5000)]
    return [k for k in keys if fnv_bucket(k) >= 501][:count], [k for k in keys if fnv_bucket(k) < 501][:count]


def start_writers(port, threads, moving, staying, doc, samples, lock, stop, problems=None):
    """Closed-loop writers at `port`, even ones to `moving` keys, odd ones to `staying`; each
    write appends (start, seconds, moving?, status) to `samples`, and a failure's status and
    body to `problems` when given."""
    def writer(n):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        keys = moving if n % 2 == 0 else staying
        i = n
        while not stop.is_set():
            key = keys[i % len(keys)]
            i += threads
            t0 = time.monotonic()
            try:
                conn.request("PUT", f"/v1/collections/carts/docs/{key}", body=doc,
                             headers={"Content-Type": "application/json"})
                r = conn.getresponse()
                body = r.read()
                status = r.status
                if status not in (200, 201) and problems is not None:
                    with lock:
                        problems.append((status, body[:300].decode(errors="replace"), round(time.monotonic() - t0, 3)))
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                status = 0
            with lock:
                samples.append((t0, time.monotonic() - t0, n % 2 == 0, status))

    workers = [threading.Thread(target=writer, args=(n,), daemon=True) for n in range(threads)]
    for t in workers:
        t.start()
    return workers


def stop_all(workers, procs, base):
    for t in workers:
        t.join(35)
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait(30)
    shutil.rmtree(base, ignore_errors=True)


def latency(samples, lo, hi, moving):
    """Writes that started in [lo, hi) to one range: count, p50, p99, max (ms)."""
    v = sorted(s for t0, s, m, st in samples if lo <= t0 < hi and m == moving)

    def pct(q):
        return round(v[min(len(v) - 1, int(q * len(v)))] * 1000, 2) if v else None
    return {"writes": len(v), "p50_ms": pct(0.5), "p99_ms": pct(0.99), "max_ms": round(v[-1] * 1000, 2) if v else None}


def failed(samples):
    return sum(1 for *_, st in samples if st not in (200, 201))


def two_shards(port):
    m = json.loads(request(port, "GET", "/admin/v1/cluster")[1])
    leaders = [s.get("leader") for s in m["shards"]]
    return len(leaders) == 2 and None not in leaders


def one_run(args, run):
    base = Path(args.workdir) / f"run{run}"
    procs, entry = start_cluster(args.bin, base, args.port)
    doc = json.dumps({"customer": "x" * 900, "items": [{"sku": "a", "qty": 1}]})
    moving, staying = split_keys()
    samples = []  # (start, seconds, moving, status)
    lock = threading.Lock()
    stop = threading.Event()
    threads = start_writers(entry, args.threads, moving, staying, doc, samples, lock, stop)
    time.sleep(args.before)
    split_sent = time.monotonic()
    status, body = request(entry, "POST", "/admin/v1/shards/1/split", json.dumps({"at": 501}).encode(), timeout=30)
    split_answered = time.monotonic()
    assert status == 202, (status, body)
    while not two_shards(entry):
        time.sleep(0.01)
    split_ready = time.monotonic()
    time.sleep(args.after)
    stop.set()
    stop_all(threads, procs, base)

    window = (split_sent, split_ready + 1.0)
    before = (split_sent - args.before + 1.0, split_sent)
    out = {"run": run, "threads": args.threads,
           "split_answered_ms": round((split_answered - split_sent) * 1000, 1),
           "new_shard_leader_ms": round((split_ready - split_sent) * 1000, 1),
           "failed_writes": failed(samples)}
    for name, (lo, hi) in (("during", window), ("before", before)):
        for label, flag in (("moving", True), ("staying", False)):
            out[f"{name}_{label}"] = latency(samples, lo, hi, flag)
    print(json.dumps(out), flush=True)
    return out, samples, window


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.environ.get("MACHDB_BIN", str(ROOT / ".build/release/machdb")))
    ap.add_argument("--threads", type=int, default=16)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--before", type=float, default=5.0)
    ap.add_argument("--after", type=float, default=3.0)
    ap.add_argument("--port", type=int, default=18180)
    ap.add_argument("--workdir", default="/tmp/machdb-split-wait")
    args = ap.parse_args()
    during_moving, before_moving = [], []
    for run in range(1, args.runs + 1):
        out, samples, window = one_run(args, run)
        during_moving.append(out["during_moving"]["p99_ms"])
        before_moving.append(out["before_moving"]["p99_ms"])
    print(json.dumps({"summary": "median over runs of p99 (ms) of writes to the moving range",
                      "during_split": statistics.median(during_moving), "before_split": statistics.median(before_moving)}))


if __name__ == "__main__":
    main()
