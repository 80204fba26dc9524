import RaftCore
import Sharding
import Storage

/// The per-step checks, the healing phase and the final checks.
extension SplitSimulation {
    /// After every step: one leader per term, the committed prefix of every group on every
    /// node matches, and every acknowledged write is present, once, on every node whose group
    /// applied past it.
    func checkStep() throws {
        for id in ids {
            guard let node = nodes[id], node.isUp else { continue }
            for replica in node.replicas.values.sorted(by: { $0.shard < $1.shard }) {
                if replica.core.softState.role == .leader { checker.leads(id, shard: replica.shard, term: replica.core.hardState.term) }
                let commit = replica.raft.hardStateValue.commit
                if commit > replica.checkedCommit {
                    for entry in try replica.raft.entries(from: replica.checkedCommit + 1, to: commit + 1, maxBytes: .max) {
                        checker.committed(entry, shard: replica.shard, node: id)
                    }
                    replica.checkedCommit = commit
                }
            }
        }
        for n in requests.indices where requests[n].isAcked { try verify(n, final: false) }
    }

    func verify(_ n: Int, final: Bool) throws {
        guard case let .acked(shard, index, attempt) = requests[n].state else { return }
        for id in ids where !requests[n].verified.contains(id) {
            guard let node = nodes[id], node.isUp else { continue }
            guard let replica = node.replicas[shard], replica.raft.appliedIndex >= index else {
                if final { fail("n\(id) has not applied request \(n) (shard \(shard) index \(index)) after healing") }
                continue
            }
            guard let row = try node.document(requests[n].id) else {
                return fail("n\(id) applied shard \(shard) past \(index) but lacks acknowledged request \(n) (attempt \(attempt))")
            }
            if row.rev != 1 || row.writeIndex != Int64(index) || !row.json.hasSuffix(",\"a\":\(attempt)}") {
                return fail("n\(id): request \(n) acknowledged at \(index) of shard \(shard) (attempt \(attempt)) reads rev \(row.rev), write index \(row.writeIndex), \(row.json)")
            }
            requests[n].verified.insert(id)
        }
    }

    // MARK: Healing

    /// Ends every fault, then writes to every shard until each such write is acknowledged and
    /// every node holds every group at the same applied index with the same documents.
    func heal() throws {
        network.heal()
        for id in ids where !nodes[id]!.isUp { try restart(id) }
        note("healed")
        var probes: [Int: Int] = [:]  // shard → request
        let start = now
        while checker.ok {
            for (shard, buckets) in checker.shards where probes[shard] == nil {
                var k = 0
                while !buckets.contains(Bucket.of("probe-\(shard)-\(k)")) { k += 1 }
                let id = "probe-\(shard)-\(k)"
                probes[shard] = requests.count
                requests.append(Request(id: id, bucket: Bucket.of(id), state: .waiting(until: now)))
            }
            if converged(probes) { break }
            if now - start > 600 { return fail("no convergence \(now - start) steps after healing: \(progress())") }
            try step(faults: false)
            now += 1
        }
        guard checker.ok else { return }
        tally("healing steps", now - start)
        try finalChecks()
    }

    func converged(_ probes: [Int: Int]) -> Bool {
        guard probes.values.allSatisfy({ requests[$0].isAcked }) else { return false }
        guard !requests.contains(where: { if case .waiting = $0.state { true } else { false } }) else { return false }
        for (shard, _) in checker.shards {
            let replicas = ids.compactMap { nodes[$0]!.replicas[shard] }
            guard replicas.count == ids.count else { return false }
            let last = replicas.map { (try? $0.raft.lastIndex()) ?? 0 }.max() ?? 0
            guard replicas.allSatisfy({ $0.raft.appliedIndex == last }) else { return false }
        }
        return true
    }

    func progress() -> String {
        checker.shards.map { shard, _ in
            "shard \(shard): " + ids.map { id in
                nodes[id]!.replicas[shard].map { "n\(id) applied \($0.raft.appliedIndex) \($0.core.softState.role)" } ?? "n\(id) -"
            }.joined(separator: ", ")
        }.joined(separator: "; ")
    }

    /// Every node: the same documents in every group's range and overall; every request's
    /// document present exactly when one of its attempts wrote, as that attempt wrote it.
    func finalChecks() throws {
        for (shard, buckets) in checker.shards {
            let digests = try ids.map { try nodes[$0]!.digest(buckets) }
            if Set(digests).count != 1 { return fail("shard \(shard): the nodes' documents differ after healing") }
        }
        let whole = try ids.map { try nodes[$0]!.digest(Bucket.range) }
        if Set(whole).count != 1 { return fail("the nodes' documents differ after healing") }
        for n in requests.indices {
            try verify(n, final: true)
            let writer = checker.writtenBy[n]
            for id in ids {
                let row = try nodes[id]!.document(requests[n].id)
                switch (row, writer) {
                case (nil, nil): continue
                case (nil, let attempt?): return fail("n\(id) lacks request \(n), written by attempt \(attempt)")
                case (let row?, nil): return fail("n\(id) holds request \(n) (\(row.json)), which no attempt wrote")
                case (let row?, let attempt?):
                    if row.rev != 1 || !row.json.hasSuffix(",\"a\":\(attempt)}") {
                        return fail("n\(id): request \(n) reads rev \(row.rev), \(row.json); written by attempt \(attempt)")
                    }
                }
            }
        }
        tally("requests", requests.count)
        tally("shards at the end", checker.shards.count)
        tally("elections", checker.elections)
        tally("messages sent", network.sent)
    }
}
