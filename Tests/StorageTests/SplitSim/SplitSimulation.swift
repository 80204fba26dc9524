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

    struct Request {
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
    var random: SimRandom
    let directory: String
    var nodes: [NodeID: SplitSimNode] = [:]
    var ids: [NodeID] { nodes.keys.sorted() }
    var network = SimNetwork()
    let checker = SplitSimChecker()
    var requests: [Request] = []
    var nextAttempt: UInt64 = 0
    var now = 0
    /// Step → the boundary of the split proposed then (0: a second split, chosen then).
    var splitSteps: [Int: Int] = [:]
    /// Crashed node → the step it restarts.
    var downUntil: [NodeID: Int] = [:]
    var firstBoundary = 0
    var trace: [String] = []
    let keepTrace: Bool
    var stats: [String: Int] = [:]

    init(seed: UInt64, steps: Int, directory: String, keepTrace: Bool, injection: Injection? = nil) {
        self.seed = seed
        self.steps = steps
        self.directory = directory
        self.keepTrace = keepTrace
        self.injection = injection
        random = SimRandom(seed: seed)
    }

    func tally(_ key: String, _ n: Int = 1) { stats[key, default: 0] += n }

    func note(_ line: @autoclosure () -> String) {
        if keepTrace { trace.append("[\(now)] " + line()) }
    }

    func fail(_ message: String) { checker.fail("step \(now): " + message) }

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

    func setUp() throws {
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
    func step(faults: Bool) throws {
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

    func deliver(_ packet: SimPacket) throws {
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
    func drive(_ node: SplitSimNode) throws {
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

    func process(_ replica: SimReplica, on node: SplitSimNode) throws {
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
    struct SplitEntry: Hashable {
        var shard: Int
        var index: UInt64
        var term: UInt64
    }
    var splitEntries: Set<SplitEntry> = []

    func recordState(_ replica: SimReplica, on node: SplitSimNode) throws {
        let applied = replica.raft.appliedIndex
        guard let range = checker.range(of: replica.shard, after: applied) else {
            return fail("n\(node.id) holds shard \(replica.shard), which no split created")
        }
        checker.state(try node.digest(range), shard: replica.shard, applied: applied, descriptor: replica.raft.descriptor, node: node.id)
    }

    /// `RaftLoop.complete`: answers the request whose proposal was applied (or lost) here.
    func complete(_ entry: AppliedEntry, replica: SimReplica, node: SplitSimNode) {
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
    func clientWrites(newRate: Double) {
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

    func submit(_ n: Int) {
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
    func proposeSplit(_ boundary: Int) {
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
}
