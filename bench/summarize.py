#!/usr/bin/env python3
"""Median table of bench/run.sh results, with machdb/etcd ratios.
   python3 bench/summarize.py RESULTS.jsonl"""
import collections
import json
import statistics
import sys


def main(path):
    runs = collections.defaultdict(list)
    for line in open(path):
        r = json.loads(line)
        system, nodes, mix, conns = r["label"].split()[:4]
        runs[(int(nodes[2:]), mix, int(conns[2:]), system)].append(r)
    print("| nodes | mix | conns | system | runs | ops/s (median) | p50 ms | p99 ms | errors | server CPU % | CPU µs/op | machdb/etcd ops | p99 ratio |")
    print("|---:|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for (nodes, mix, conns, system) in sorted(runs, key=lambda k: (k[0], k[1], k[2], k[3] != "machdb")):
        rs = runs[(nodes, mix, conns, system)]
        ops = statistics.median(r["ops_per_s"] for r in rs)
        p50 = statistics.median(r["latency_ms"]["p50"] for r in rs)
        p99 = statistics.median(r["latency_ms"]["p99"] for r in rs)
        errors = sum(r["errors"]["total"] for r in rs)
        cpu = statistics.median(r["cpu"]["server_total_pct_of_one_core"] or 0 for r in rs)
        cpu_per_op = statistics.median((r["cpu"]["server_total_pct_of_one_core"] or 0) / 100 * r["cpu"]["wall_s"]
                                       / max(1, r["requests"]) * 1e6 for r in rs)
        ratio = p99ratio = ""
        other = runs.get((nodes, mix, conns, "etcd"))
        if system == "machdb" and other:
            ratio = f"{ops / statistics.median(o['ops_per_s'] for o in other):.2f}x"
            p99ratio = f"{p99 / statistics.median(o['latency_ms']['p99'] for o in other):.2f}x"
        flag = " (contaminated)" if any(r.get("contaminated") for r in rs) else ""
        print(f"| {nodes} | {mix} | {conns} | {system}{flag} | {len(rs)} | {ops:,.0f} | {p50:.2f} | {p99:.1f} | {errors} | {cpu:.0f} | {cpu_per_op:.0f} | {ratio} | {p99ratio} |")


def internal(path):
    """Internal traffic per write of machdb write runs (RESULTS.jsonl.counters): everything the
    cluster sent between its nodes during preload, warm-up and measurement, over the writes."""
    try:
        lines = [json.loads(line) for line in open(path + ".counters")]
    except FileNotFoundError:
        return
    results = {json.loads(line)["label"]: json.loads(line) for line in open(path)}
    rows = collections.defaultdict(list)
    for c in lines:
        r = results.get(c["label"])
        if r is None or not r.get("write_pct"):
            continue
        writes = r["preload"]["sent"] + (r["warmup"]["requests"] + r["requests"]) * r["write_pct"] / 100
        nodes, mix, conns = c["label"].split()[1:4]
        rows[(nodes, mix, conns)].append({k: c[k] / writes for k in ("peer_frames", "peer_messages", "internal_http")})
    if not rows:
        return
    print()
    print("| nodes | mix | conns | peer frames / write | Raft messages / write | internal HTTP requests / write |")
    print("|---:|---|---:|---:|---:|---:|")
    for key in sorted(rows):
        rs = rows[key]
        med = {k: statistics.median(x[k] for x in rs) for k in rs[0]}
        print(f"| {key[0][2:]} | {key[1]} | {key[2][2:]} | {med['peer_frames']:.2f} | {med['peer_messages']:.2f} | {med['internal_http']:.2f} |")


if __name__ == "__main__":
    main(sys.argv[1])
    internal(sys.argv[1])
