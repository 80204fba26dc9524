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
    print("| nodes | mix | conns | system | runs | ops/s (median) | p50 ms | p99 ms | errors | server CPU % | machdb/etcd ops | p99 ratio |")
    print("|---:|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for (nodes, mix, conns, system) in sorted(runs, key=lambda k: (k[0], k[1], k[2], k[3] != "machdb")):
        rs = runs[(nodes, mix, conns, system)]
        ops = statistics.median(r["ops_per_s"] for r in rs)
        p50 = statistics.median(r["latency_ms"]["p50"] for r in rs)
        p99 = statistics.median(r["latency_ms"]["p99"] for r in rs)
        errors = sum(r["errors"]["total"] for r in rs)
        cpu = statistics.median(r["cpu"]["server_total_pct_of_one_core"] or 0 for r in rs)
        ratio = p99ratio = ""
        other = runs.get((nodes, mix, conns, "etcd"))
        if system == "machdb" and other:
            ratio = f"{ops / statistics.median(o['ops_per_s'] for o in other):.2f}x"
            p99ratio = f"{p99 / statistics.median(o['latency_ms']['p99'] for o in other):.2f}x"
        flag = " (contaminated)" if any(r.get("contaminated") for r in rs) else ""
        print(f"| {nodes} | {mix} | {conns} | {system}{flag} | {len(rs)} | {ops:,.0f} | {p50:.2f} | {p99:.1f} | {errors} | {cpu:.0f} | {ratio} | {p99ratio} |")


if __name__ == "__main__":
    main(sys.argv[1])
