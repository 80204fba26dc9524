import RaftCore
import Sharding
import Storage

/// The faults of a step: partitions, a lagging member, leader transfers, crashes and restarts.
extension SplitSimulation {
    func injectFaults() throws {
        let up = ids.filter { nodes[$0]!.isUp }
        // A partition of one node (often a leader: leadership moves).
        if network.isolated.values.allSatisfy({ $0 <= now }) && random.chance(0.02) {
            let target = random.chance(0.5) ? leader(of: random.pick(checker.shards).shard) ?? random.pick(ids) : random.pick(ids)
            network.isolated[target] = now + 5 + random.below(40)
            note("n\(target) isolated until \(network.isolated[target]!)")
            tally("partitions")
        }
        // A lagging member: messages to it held back, then delivered together. Often just
        // before a split is proposed, so it sees the child's traffic before it applies it.
        let splitSoon = splitSteps.keys.contains { $0 > now && $0 <= now + 3 }
        if network.lagging.values.allSatisfy({ $0 <= now }) && random.chance(splitSoon ? 0.3 : 0.015) {
            let followers = ids.filter { $0 != leader(of: 1) }
            let target = random.pick(followers.isEmpty ? ids : followers)
            let until = now + 10 + random.below(50)
            network.lagging[target] = until
            for i in network.inFlight.indices where network.inFlight[i].to == target {
                network.inFlight[i].due = max(network.inFlight[i].due, until)
            }
            note("n\(target) lags until \(until)")
            tally("lagging members")
        }
        // A leadership transfer in a random group.
        let shard = random.pick(checker.shards).shard
        if random.chance(0.03), let leaderID = leader(of: shard), let replica = nodes[leaderID]?.replicas[shard] {
            let target = random.pick(ids.filter { $0 != leaderID })
            if (try? replica.core.transferLeadership(to: target)) != nil {
                note("shard \(shard): n\(leaderID) hands leadership to n\(target)")
                tally("transfers")
                try drive(nodes[leaderID]!)
            }
        }
        // A crash (one node down at a time), restarted a few steps later.
        for id in ids where !nodes[id]!.isUp && downUntil[id, default: 0] <= now { try restart(id) }
        if up.count == ids.count && random.chance(0.01) {
            let target = random.pick(ids)
            crash(target)
            downUntil[target] = now + 3 + random.below(30)
        }
    }

    func crash(_ id: NodeID) {
        let node = nodes[id]!
        for replica in node.replicas.values {
            for attempt in replica.proposed.values {
                guard let n = checker.requestOf[attempt], case .proposed(attempt, _, _) = requests[n].state else { continue }
                requests[n].state = .unknown
                tally("writes with an unknown outcome")
            }
        }
        node.crash()
        note("n\(id) crashed")
        tally("crashes")
    }

    func restart(_ id: NodeID) throws {
        try nodes[id]!.open()
        note("n\(id) restarted with shards \(nodes[id]!.replicas.keys.sorted())")
        try drive(nodes[id]!)
    }

    /// The leader of `shard` with the highest term among the up nodes.
    func leader(of shard: Int) -> NodeID? {
        ids.compactMap { id -> (NodeID, UInt64)? in
            guard let replica = nodes[id]?.replicas[shard], nodes[id]!.isUp, replica.core.softState.role == .leader else { return nil }
            return (id, replica.core.hardState.term)
        }.max { $0.1 < $1.1 }?.0
    }
}
