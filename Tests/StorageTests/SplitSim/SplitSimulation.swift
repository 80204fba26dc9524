import Glibc
import Logging
import RaftCore
import Sharding
import Storage

/// One seeded run of the online split (docs/ARCHITECTURE.md, "Shards"): 3 to 5 nodes, each a
/// real `Store` and `RaftStore` per group on its own SQLite file (`SplitSimNode`), a random
/// network (`SimNetwork`), client writes routed by each entry node's own view of the shards,
/// one split of shard 1 and sometimes a second (stale, of the parent again, or of the child),
/// leader transfers, partitions, a lagging member and crashes; `SplitSimChecker` after every
/// `Ready` and every step. Then the faults heal and every group must take a write and every
/// node converge. Everything derives from `seed`.
final class SplitSimulation {
    /// A rule broken on purpose, to show the checks catch it (see `SplitSimulationTests`).
    enum Injection: String {
        /// A node creates the child group (empty) as soon as it hears the child's traffic,
        /// although its parent group still owns that range.
        case acceptChildTrafficEarly
    }

    struct Outcome {
        var violations: [String]
        var trace: [String]
        var steps: Int
        var stats: [String: Int]
    }

    private struct Request {
        enum State {
            case waiting(until: Int)
            case proposed(attempt: UInt64, node: NodeID, shard: Int)
            case acked(shard: Int, index: UInt64, attempt: UInt64)
            /// The node holding the proposal crashed: the outcome is unknown (a 503
            /// `write-timeout`), so the client does not retry.
            case unknown
        }

        let id: String
        let bucket: Int
        var state: State
        var verified: Set<NodeID> = []
        var isAcked: Bool { if case .acked = state { true } else { false } }
    }

    let seed: UInt64
    let steps: Int
    let injection: Injection?
    private var random: SimRandom
    private let directory: String
    private var nodes: [NodeID: SplitSimNode] = [:]
    private var ids: [NodeID] { nodes.keys.sorted() }
    private var network = SimNetwork()
    private let checker = SplitSimChecker()
    private var requests: [Request] = []
    private var nextAttempt: UInt64 = 0
    private var now = 0
    private var splitSteps: [Int: Int] = [:]
    private var firstBoundary = 0
    private var trace: [String] = []
    private let keepTrace: Bool
    private(set) var stats: [String: Int] = [:]

    init(seed: UInt64, steps: Int, directory: String, keepTrace: Bool, injection: Injection? = nil) {
        self.seed = seed
        self.steps = steps
        self.directory = directory
        self.keepTrace = keepTrace
        self.injection = injection
        random = SimRandom(seed: seed)
    }

    private func tally(_ key: String, _ n: Int = 1) { stats[key, default: 0] += n }

    private func note(_ line: @autoclosure () -> String) {
        if keepTrace { trace.append("[\(now)] " + line()) }
    }

    private func fail(_ message: String) { checker.fail("step \(now): " + message) }

    // MARK: Running

    func run() -> Outcome {
        do {
            try setUp()
            while now < steps && checker.ok {
                try step(faults: true)
                now += 1
            }
            if checker.ok { try heal() }
        } catch {
            fail("error: \(error)")
        }
        for node in nodes.values { node.crash() }
        return Outcome(violations: checker.violations, trace: trace, steps: now, stats: stats)
    }

    private func setUp() throws {
        let shape = random.below(100)
        let count = shape < 70 ? 3 : shape < 85 ? 4 : 5
        let voters = (1...count).map { NodeID($0) }
        let bytesPerReady: UInt64 = random.chance(0.5) ? 1 : 64 << 20
        network.dropRate = [0, 0.02, 0.05, 0.1][random.below(4)]
        network.duplicateRate = random.chance(0.3) ? 0.02 : 0
        network.maxDelay = random.below(4)
        firstBoundary = 2 + random.below(999)
        if random.chance(0.7) { firstBoundary = 200 + random.below(601) }  // traffic on both sides
        splitSteps[steps / 8 + random.below(steps * 3 / 8)] = firstBoundary
        if random.chance(0.5) { splitSteps[steps / 2 + random.below(steps / 3)] = 0 }  // a second split, chosen then
        var logger = Logger(label: "machdb.split-sim")
        logger.logLevel = .critical
        for id in voters {
            let dir = directory + "/n\(id)"
            mkdir(dir, 0o755)
            let path = dir + "/machdb.sqlite"
            try SplitSimNode.bootstrap(path: path, id: id, voters: voters, logger: logger)
            let node = SplitSimNode(id: id, path: path, seed: seed, committedBytesPerReady: bytesPerReady)
            try node.open()
            nodes[id] = node
        }
        note("\(count) nodes, split at \(firstBoundary), steps \(splitSteps.keys.sorted()), drop \(network.dropRate), delay ≤ \(network.maxDelay), \(bytesPerReady == 1 ? "one entry per Ready" : "batched Readies")")
    }

    /// One step: faults (when `faults`), client writes, splits, a tick on every group, then
    /// every message due, each followed by its node's turn; then the per-step checks.
    private func step(faults: Bool) throws {
        if faults { try injectFaults() }
        clientWrites(newRate: faults ? 0.6 : 0)
        if let boundary = splitSteps[now] { proposeSplit(boundary) }
        for id in ids {
            guard let node = nodes[id], node.isUp else { continue }
            for shard in node.replicas.keys.sorted() { node.replicas[shard]?.core.tick() }
            try drive(node)
        }
        for packet in network.take(now: now, random: &random) where checker.ok {
            try deliver(packet)
        }
        try checkStep()
    }

    private func deliver(_ packet: SimPacket) throws {
        guard let node = nodes[packet.to], node.isUp else { return tally("lost to a down node") }
        if node.replicas[packet.shard] == nil {
            let listed = checker.created[packet.shard].flatMap { created in
                checker.range(of: packet.shard, after: .max).map {
                    ShardDescriptor(id: packet.shard, firstBucket: $0.lowerBound, lastBucket: $0.upperBound, version: created.version)
                }
            }
            guard try node.heardOf(shard: packet.shard, listed: listed, acceptEarly: injection == .acceptChildTrafficEarly) else {
                return tally("child traffic dropped before the split")
            }
            note("n\(node.id) created an empty group for shard \(packet.shard)")
            tally("empty groups created")
        }
        guard let replica = node.replicas[packet.shard] else { return }
        if packet.message.kind == .snapshot {
            // Never needed here (no compaction, every member holds the parent's data): the
            // image transfer is outside this simulation.
            return tally("snapshots dropped")
        }
        try? replica.core.step(packet.message)
        try drive(node)
    }

    /// Handles every `Ready` of every group of `node` like `RaftLoop.processReady`.
    private func drive(_ node: SplitSimNode) throws {
        var busy = true
        while busy && checker.ok {
            busy = false
            for shard in node.replicas.keys.sorted() {
                guard let replica = node.replicas[shard] else { continue }
                while replica.core.hasReady && checker.ok {
                    busy = true
                    try process(replica, on: node)
                }
            }
        }
    }

    private func process(_ replica: SimReplica, on node: SplitSimNode) throws {
        let core = replica.core, shard = replica.shard
        let ready = core.ready()
        if let soft = ready.softState, soft.role == .leader {
            checker.leads(node.id, shard: shard, term: core.hardState.term)
            note("n\(node.id) leads shard \(shard) in term \(core.hardState.term)")
        }
        if !ready.earlyMessages.isEmpty { network.send(ready.earlyMessages, shard: shard, from: node.id, now: now, random: &random) }
        let applied = try replica.raft.save(ready)
        if !ready.messages.isEmpty {
            network.send(ready.messages, shard: shard, from: node.id, now: now, random: &random)
            for message in ready.messages where message.kind == .snapshot { core.reportSnapshot(message.to, success: true) }
        }
        if !applied.isEmpty {
            checker.applied(applied, entries: ready.committedEntries, shard: shard, node: node.id)
            try recordState(replica, on: node)
        }
        for entry in applied {
            complete(entry, replica: replica, node: node)
            if let child = entry.split {
                let leading = core.softState.role == .leader
                note("n\(node.id) applied the split of shard \(shard) at \(entry.index): \(child)\(leading ? ", campaigns" : "")")
                tally("splits applied")
                try node.startGroup(child.id, campaign: leading)
                if let started = node.replicas[child.id] { try recordState(started, on: node) }
            } else if splitEntries.remove(SplitEntry(shard: shard, index: entry.index, term: entry.term)) != nil {
                note("n\(node.id) refused the split entry at \(entry.index) of shard \(shard) (stale)")
                tally("stale splits")
            }
        }
        core.advance(ready)
    }

    /// Split entries proposed and not yet seen applied (to count the stale ones, once).
    private struct SplitEntry: Hashable {
        var shard: Int
        var index: UInt64
        var term: UInt64
    }
    private var splitEntries: Set<SplitEntry> = []

    private func recordState(_ replica: SimReplica, on node: SplitSimNode) throws {
        let applied = replica.raft.appliedIndex
        guard let range = checker.range(of: replica.shard, after: applied) else {
            return fail("n\(node.id) holds shard \(replica.shard), which no split created")
        }
        checker.state(try node.digest(range), shard: replica.shard, applied: applied, descriptor: replica.raft.descriptor, node: node.id)
    }

    /// `RaftLoop.complete`: answers the request whose proposal was applied (or lost) here.
    private func complete(_ entry: AppliedEntry, replica: SimReplica, node: SplitSimNode) {
        guard let attempt = replica.proposed.removeValue(forKey: entry.index),
              let n = checker.requestOf[attempt] else { return }
        guard let proposal = entry.proposal, proposal.node == node.id, proposal.sequence == attempt else {
            note("attempt \(attempt) (request \(n)) lost at \(entry.index) of shard \(replica.shard): retried")
            tally("attempts overwritten")
            requests[n].state = .waiting(until: now + 1)
            return
        }
        if entry.result != nil {
            requests[n].state = .acked(shard: replica.shard, index: entry.index, attempt: attempt)
            tally("writes acknowledged")
        } else {
            note("attempt \(attempt) (request \(n), bucket \(requests[n].bucket)) refused at \(entry.index) of shard \(replica.shard): re-routed")
            tally("refused at apply (shard mismatch)")
            requests[n].state = .waiting(until: now + 1 + random.below(5))
        }
    }

    // MARK: Inputs

    /// New client writes (documents on both sides of every boundary) and the retries due;
    /// each submitted through a random node, to the leader of the shard that owns the bucket
    /// in that node's view, and checked against the leader's range before it proposes.
    private func clientWrites(newRate: Double) {
        if random.chance(newRate) {
            let n = requests.count
            let id = "r\(n)-\(random.below(1 << 30))"
            requests.append(Request(id: id, bucket: Bucket.of(id), state: .waiting(until: now)))
        }
        for n in requests.indices {
            guard case let .waiting(until) = requests[n].state, until <= now else { continue }
            submit(n)
        }
    }

    private func submit(_ n: Int) {
        let bucket = requests[n].bucket
        requests[n].state = .waiting(until: now + 1 + random.below(3))
        let up = ids.filter { nodes[$0]!.isUp }
        guard !up.isEmpty else { return }
        let entry = nodes[random.pick(up)]!
        guard let shard = entry.store?.shardTable.shard(for: bucket)?.id, let group = entry.replicas[shard],
              let leaderID = group.core.softState.leader, let leader = nodes[leaderID], leader.isUp,
              !network.cut(entry.id, leaderID, now: now), let replica = leader.replicas[shard],
              replica.core.softState.role == .leader else { return tally("writes waiting for a leader") }
        let command = WriteCommand(operations: [.put(collection: "sim", id: requests[n].id, contentType: "application/json",
                                                     body: Array("{\"r\":\(n),\"a\":\(nextAttempt + 1)}".utf8), isJSON: true,
                                                     precondition: .none)],
                                   timestampMilliseconds: 1_700_000_000_000 + Int64(now))
        if replica.raft.descriptor.refusal(of: command) != nil { return tally("refused at propose (shard mismatch)") }
        nextAttempt += 1
        let attempt = nextAttempt
        checker.bucketOf[attempt] = bucket
        checker.requestOf[attempt] = n
        let data = LogCommand.write(command, proposal: ProposalID(node: leaderID, sequence: attempt)).encoded()
        guard let position = try? replica.core.propose(data) else { return tally("proposals refused by the core") }
        replica.proposed[position.index] = attempt
        requests[n].state = .proposed(attempt: attempt, node: leaderID, shard: shard)
        note("attempt \(attempt) (request \(n), bucket \(bucket)) via n\(entry.id) → n\(leaderID) shard \(shard) at \(position.index)")
        tally("attempts proposed")
    }

    /// Proposes a split at the leader of the shard that owns `boundary` (0: a second split,
    /// chosen now: the first one again, stale; the parent again; or the child), with the
    /// range version that leader applied.
    private func proposeSplit(_ boundary: Int) {
        var at = boundary
        if at == 0 {
            switch random.below(3) {
            case 0: at = firstBoundary
            case 1: at = firstBoundary > 2 ? 2 + random.below(firstBoundary - 2) : firstBoundary
            default: at = firstBoundary < 1000 ? firstBoundary + 1 + random.below(1000 - firstBoundary) : firstBoundary
            }
        }
        let leaders = ids.compactMap { id -> SimReplica? in
            guard let node = nodes[id], node.isUp, let shard = node.store?.shardTable.shard(for: at - 1 >= 1 ? at - 1 : at)?.id else { return nil }
            guard let replica = node.replicas[shard], replica.core.softState.role == .leader else { return nil }
            return replica
        }
        guard let replica = leaders.max(by: { $0.core.hardState.term < $1.core.hardState.term }) else {
            splitSteps[now + 5] = boundary  // no leader now: try again shortly
            return
        }
        // The shard owning bucket `at - 1` must also hold `at` for the split to apply;
        // otherwise (or with a stale version) it is refused the same way on every replica.
        let version = replica.raft.descriptor.version
        let command = LogCommand.split(newShard: at, at: at, expectedVersion: version)
        guard let position = try? replica.core.propose(command.encoded()) else {
            splitSteps[now + 5] = boundary
            return
        }
        splitEntries.insert(SplitEntry(shard: replica.shard, index: position.index, term: position.term))
        note("split of shard \(replica.shard) at \(at) (expected version \(version)) proposed at \(position.index)")
        tally("splits proposed")
    }

    // MARK: Faults

    private func injectFaults() throws {
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

    private var downUntil: [NodeID: Int] = [:]

    private func crash(_ id: NodeID) {
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

    private func restart(_ id: NodeID) throws {
        try nodes[id]!.open()
        note("n\(id) restarted with shards \(nodes[id]!.replicas.keys.sorted())")
        try drive(nodes[id]!)
    }

    /// The leader of `shard` with the highest term among the up nodes.
    private func leader(of shard: Int) -> NodeID? {
        ids.compactMap { id -> (NodeID, UInt64)? in
            guard let replica = nodes[id]?.replicas[shard], nodes[id]!.isUp, replica.core.softState.role == .leader else { return nil }
            return (id, replica.core.hardState.term)
        }.max { $0.1 < $1.1 }?.0
    }

    // MARK: Checks

    /// After every step: one leader per term, the committed prefix of every group on every
    /// node matches, and every acknowledged write is present, once, on every node whose group
    /// applied past it.
    private func checkStep() throws {
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

    private func verify(_ n: Int, final: Bool) throws {
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
    private func heal() throws {
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

    private func converged(_ probes: [Int: Int]) -> Bool {
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

    private func progress() -> String {
        checker.shards.map { shard, _ in
            "shard \(shard): " + ids.map { id in
                nodes[id]!.replicas[shard].map { "n\(id) applied \($0.raft.appliedIndex) \($0.core.softState.role)" } ?? "n\(id) -"
            }.joined(separator: ", ")
        }.joined(separator: "; ")
    }

    /// Every node: the same documents in every group's range and overall; every request's
    /// document present exactly when one of its attempts wrote, as that attempt wrote it.
    private func finalChecks() throws {
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
