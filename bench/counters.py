#!/usr/bin/env python3
"""Internal traffic of a machdb cluster, summed over its nodes' /metrics.
   counters.py PORT NODES                      -> JSON of the current sums
   counters.py PORT NODES --since JSON --label L -> one JSON line: L and the sums' deltas
Nodes are on 127.0.0.1:PORT .. PORT+NODES-1 (bench/run.sh's layout)."""
import argparse
import json
import re
import urllib.request

FAMILIES = {
    "peer_frames": "machdb_peer_sent_frames_total",
    "peer_messages": "machdb_peer_sent_messages_total",
    "peer_bytes": "machdb_peer_sent_bytes_total",
}


def scrape(port, nodes):
    sums = {k: 0.0 for k in list(FAMILIES) + ["internal_http"]}
    for k in range(nodes):
        text = urllib.request.urlopen(f"http://127.0.0.1:{port + k}/metrics", timeout=10).read().decode()
        for line in text.splitlines():
            if line.startswith("#"):
                continue
            m = re.match(r'([a-z_]+)(\{[^}]*\})? ([0-9.e+-]+)$', line)
            if not m:
                continue
            name, labels, value = m.group(1), m.group(2) or "", float(m.group(3))
            for key, family in FAMILIES.items():
                if name == family:
                    sums[key] += value
            if name == "machdb_http_requests_total" and 'class="internal"' in labels:
                sums["internal_http"] += value
    return sums


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("nodes", type=int)
    ap.add_argument("--since")
    ap.add_argument("--label")
    a = ap.parse_args()
    now = scrape(a.port, a.nodes)
    if a.since is None:
        print(json.dumps(now))
        return
    before = json.loads(a.since)
    print(json.dumps({"label": a.label, **{k: now[k] - before.get(k, 0) for k in now}}))


if __name__ == "__main__":
    main()
