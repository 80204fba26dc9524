import RaftCore

/// One randomized run: a 3- or 5-voter group (sometimes with a learner), or a single voter
/// with a learner, under random deliveries, drops, duplicates, reorders, partitions,
/// crashes/restarts (including a leader crashing after its early appends left and before
/// it persisted them), ticks, proposals, membership changes, transfers, reads and
/// compactions — then a healed phase that must make progress. Everything derives from
/// `seed`.
final class RandomSchedule {
    struct Outcome {
        var seed: UInt64
        var violations: [String]
        var trace: [String]
        var steps: Int
        var committed: UInt64
        var elections: Int
        var reads: Int
        var messages: Int
        var stats: [String: Int]
    }

    let seed: UInt64
    let steps: Int
    let cluster: Cluster
    private var rng: TestRandom
    /// Decides crashes between a `Ready`'s early send and its persist (its own stream, so
    /// the hook, called from inside the cluster, does not shift the schedule's choices).
    private var persistFaults: TestRandom
    /// Chance, per `Ready` with early messages, that its node crashes before persisting it.
    private let crashBeforePersistPercent: Int
    private var nextNodeID: NodeID
    private var proposals: UInt64 = 0
    private var readCounter: UInt64 = 0
    private var trace: [String] = []
    /// What happened, by kind (accepted and refused inputs, faults).
    private(set) var stats: [String: Int] = [:]

    private func tally(_ key: String) { stats[key, default: 0] += 1 }
    private let traceLimit = 400
    private let keepTrace: Bool

    init(seed: UInt64, steps: Int, keepTrace: Bool = false) {
        self.seed = seed
        self.steps = steps
        self.keepTrace = keepTrace
        var rng = TestRandom(seed: seed)
        // Sometimes a single voter with a learner: it campaigns, wins and commits alone,
        // inside one `Ready`, which its early sends must not reveal.
        let shape = rng.below(100)
        let voterCount = shape < 10 ? 1 : shape < 55 ? 3 : 5
        let withLearner = voterCount == 1 || rng.percent(30)
        var attributes: [NodeID: NodeAttributes] = [:]
        let voters = Array(NodeID(1)...NodeID(voterCount))
        let learners: [NodeID] = withLearner ? [NodeID(voterCount + 1)] : []
        let smart = rng.percent(40)
        for id in voters + learners {
            if smart {
                let level = UInt8(1 + rng.below(5))
                let priority: UInt8 = rng.percent(15) ? 0 : UInt8(1 + rng.below(3))
                attributes[id] = NodeAttributes(level: level, priority: priority, autoPromote: rng.percent(80))
            }
        }
        // Knobs: small limits so batching, flow control and back pressure all engage.
        let preVote = rng.percent(85)
        let checkQuorum = rng.percent(85)
        let heartbeat = 1 + rng.below(2)
        let maxSize = UInt64([64, 200, 1 << 20][rng.below(3)])
        let inflight = [1, 2, 4, 64][rng.below(4)]
        let uncommitted = UInt64([100, 1_000, 64 << 20][rng.below(3)])
        let lag = UInt64([0, 3, 20][rng.below(3)])
        let handOff = rng.percent(70)
        cluster = Cluster(seed: rng.next(), voters: voters, learners: learners, attributes: attributes) { c in
            c.electionTick = 10
            c.heartbeatTick = heartbeat
            c.preVote = preVote
            c.checkQuorum = checkQuorum
            c.maxSizePerMsg = maxSize
            c.maxInflightMsgs = inflight
            c.maxInflightBytes = max(maxSize, 2_000)
            c.maxUncommittedBytes = uncommitted
            c.promotionLag = lag
            c.transferToHigherLevel = handOff
        }
        nextNodeID = NodeID(voterCount + learners.count + 1)
        crashBeforePersistPercent = [0, 1, 4][rng.below(3)]
        persistFaults = TestRandom(seed: rng.next())
        self.rng = rng
        cluster.beforePersist = { [unowned self] node, ready in self.crashBeforePersist(node, ready) }
        note("crash before persist: \(crashBeforePersistPercent)% of early sends")
        note("voters \(voters) learners \(learners) attrs \(attributes.sorted { $0.key < $1.key }.map { "\($0.key):L\($0.value.level)P\($0.value.priority)\($0.value.autoPromote ? "" : "-")" }) preVote \(preVote) checkQuorum \(checkQuorum) hb \(heartbeat) maxSize \(maxSize) inflight \(inflight) uncommitted \(uncommitted) lag \(lag) handOff \(handOff)")
    }

    private func note(_ text: @autoclosure () -> String) {
        guard keepTrace else { return }
        trace.append(text())
        if trace.count > 4 * traceLimit { trace.removeFirst(trace.count - traceLimit) }
    }

    func run() -> Outcome {
        var step = 0
        while step < steps && cluster.checker.ok {
            step += 1
            act(step)
            cluster.checkLive()
            if keepTrace {
                let leaders = cluster.upNodes.filter({ $0.raw!.softState.role == .leader }).count
                if leaders > 1 { tally("steps with two leaders") }
                if leaders == 0 { tally("steps without leader") }
            }
        }
        if cluster.checker.ok { checkProgressAfterHealing() }

        return Outcome(
            seed: seed, violations: cluster.checker.violations, trace: Array(trace.suffix(traceLimit)),
            steps: step, committed: cluster.checker.highestCommitted, elections: cluster.checker.elections,
            reads: cluster.checker.readsAnswered, messages: cluster.messagesDelivered, stats: stats)
    }

    // MARK: Actions

    private enum Action: CaseIterable {
        case deliver, tickAll, tickOne, propose, drop, duplicate, crash, crashLeader, restart
        case partition, heal, membership, transfer, read, compact
    }

    /// Relative weights of the actions; a seed is either calm or stormy.
    private var weights: [(Action, Int)] = []
    private var totalWeight = 0

    private func chooseProfile() {
        let stormy = rng.percent(40)
        weights = [
            (.deliver, 430), (.tickAll, 170), (.tickOne, 30), (.propose, 110),
            (.drop, stormy ? 120 : 25), (.duplicate, 20),
            (.crash, stormy ? 8 : 3), (.crashLeader, stormy ? 6 : 2), (.restart, 30),
            (.partition, stormy ? 20 : 8), (.heal, 8), (.membership, 20), (.transfer, 15),
            (.read, 30), (.compact, 20),
        ]
        totalWeight = weights.reduce(0) { $0 + $1.1 }
        note("profile: \(stormy ? "stormy" : "calm")")
    }

    private func act(_ step: Int) {
        if weights.isEmpty { chooseProfile() }
        var r = rng.below(totalWeight)
        var action = Action.deliver
        for (a, w) in weights {
            if r < w {
                action = a
                break
            }
            r -= w
        }
        switch action {
        case .deliver: deliverOne()
        case .tickAll:
            note("\(step) tick all: " + cluster.upNodes.map { n in let st = n.raw!.status; return "\(n.id):\(st.role.description.prefix(4))t\(st.term)c\(st.commit)" }.joined(separator: " ") + " down: \(cluster.nodes.values.filter { !$0.isUp }.map(\.id).sorted()) cut: \(cluster.cut.count)")
            cluster.tickAll()
        case .tickOne:
            if let n = rng.pick(cluster.upNodes) {
                note("\(step) tick \(n.id)")
                cluster.tick(n.id)
            }
        case .propose: propose(step)
        case .drop:
            if !cluster.network.isEmpty {
                let i = rng.below(cluster.network.count)
                note("\(step) drop \(describe(cluster.network[i].message))")
                cluster.drop(at: i)
            }
        case .duplicate:
            if let e = rng.pick(cluster.network) {
                note("\(step) duplicate \(describe(e.message))")
                cluster.network.append(e)
            }
        case .crash:
            if let n = rng.pick(cluster.upNodes) {
                tally("crashes")
                note("\(step) crash \(n.id)")
                cluster.crash(n.id)
            }
        case .crashLeader:
            if let id = cluster.leader {
                tally("crashes")
                note("\(step) crash leader \(id)")
                cluster.crash(id)
            }
        case .restart:
            if let n = rng.pick(cluster.nodes.values.filter { !$0.isUp }.sorted { $0.id < $1.id }) {
                let rebuild = rng.percent(20)
                note("\(step) restart \(n.id)\(rebuild ? " (state rebuilt from snapshot)" : "")")
                cluster.restart(n.id, fromSnapshot: rebuild)
            }
        case .partition: partition(step)
        case .heal:
            note("\(step) heal")
            cluster.heal()
        case .membership: changeMembership(step)
        case .transfer: transfer(step)
        case .read: read(step)
        case .compact: compact(step)
        }
    }

    private func errorKind(_ error: RaftError) -> String {
        switch error {
        case .notLeader: "not leader"
        case .transferInProgress: "transfer in progress"
        case .uncommittedBytesExceeded: "back pressure"
        case .confChangePending: "conf change pending"
        case .invalidConfChange: "invalid conf change"
        case .invalidTransferTarget: "invalid transfer target"
        default: "\(error)"
        }
    }

    private func describe(_ m: Message) -> String {
        "\(m.kind) \(m.from)→\(m.to) t\(m.term) i\(m.index) lt\(m.logTerm) c\(m.commit) n\(m.entries.count)\(m.reject ? " rej" : "")"
    }

    /// Delivers a burst of messages (the network is fast next to a tick): mostly in order,
    /// sometimes any queued message (reordering; what stays queued is delayed).
    private func deliverOne() {
        for _ in 0..<(1 + rng.below(10)) {
            guard !cluster.network.isEmpty else { return }
            let i = rng.percent(75) ? 0 : rng.below(cluster.network.count)
            note("deliver \(describe(cluster.network[i].message))")
            cluster.deliver(at: i)
        }
    }

    private func propose(_ step: Int) {
        let target: NodeID?
        if rng.percent(85) {
            target = cluster.leader
        } else {
            target = rng.pick(cluster.upNodes)?.id
        }
        guard let id = target else { return }
        let count = 1 + rng.below(3)
        for _ in 0..<count {
            proposals += 1
            var data = Array("p\(proposals)".utf8)
            data += [UInt8](repeating: UInt8(truncatingIfNeeded: proposals), count: rng.below(80))
            do {
                let pos = try cluster.raw(id).propose(data)
                tally("proposals accepted")
                note("\(step) propose at \(id) → \(pos.index)/\(pos.term)")
            } catch {
                tally("proposals refused: \(errorKind(error))")
                note("\(step) propose at \(id) refused: \(error)")
            }
        }
        cluster.process(id)
    }

    private func partition(_ step: Int) {
        let ids = cluster.ids
        if rng.percent(50), let victim = rng.pick(ids) {
            note("\(step) isolate \(victim)")
            cluster.isolate(victim)
        } else if rng.percent(50) {
            var a: [NodeID] = []
            var b: [NodeID] = []
            for id in ids { if rng.percent(50) { a.append(id) } else { b.append(id) } }
            note("\(step) partition \(a) | \(b)")
            cluster.partition(a, b)
        } else if let x = rng.pick(ids), let y = rng.pick(ids), x != y {
            note("\(step) cut \(x)→\(y)")
            cluster.cut.insert(Cluster.Link(from: x, to: y))
        }
    }

    private func changeMembership(_ step: Int) {
        guard let leaderID = cluster.leader else { return }
        let raw = cluster.raw(leaderID)
        let conf = raw.status.confState
        var change: ConfChange?
        let r = rng.below(100)
        if r < 30 && conf.members.count < 7 {
            let id = nextNodeID
            var attrs = NodeAttributes(level: UInt8(1 + rng.below(5)), priority: rng.percent(15) ? 0 : 1)
            attrs.autoPromote = rng.percent(75)
            change = .addLearner(id, attrs)
        } else if r < 38 && conf.members.count < 7 {
            change = .addVoter(nextNodeID, NodeAttributes(level: UInt8(1 + rng.below(5))))
        } else if r < 55, let learner = rng.pick(conf.learners) {
            change = .promote(learner)
        } else if r < 80, conf.voters.count > 2 || rng.percent(20), let member = rng.pick(conf.members) {
            change = .remove(member)
        } else if let member = rng.pick(conf.members) {
            change = .updateAttributes(member, NodeAttributes(
                level: UInt8(1 + rng.below(5)), priority: rng.percent(10) ? 0 : 1, autoPromote: rng.percent(70)))
        }
        guard let change else { return }
        do {
            try raw.proposeConfChange(change)
            tally("conf change \(change.kind)")
            note("\(step) conf change at \(leaderID): \(change.kind) \(change.nodeID)")
            if change.kind == .addLearner || change.kind == .addVoter {
                cluster.addNode(change.nodeID)
                nextNodeID += 1
            }
        } catch {
            tally("conf changes refused: \(errorKind(error))")
            note("\(step) conf change \(change.kind) \(change.nodeID) refused: \(error)")
        }
        cluster.process(leaderID)
    }

    private func transfer(_ step: Int) {
        guard let leaderID = cluster.leader, let target = rng.pick(cluster.status(leaderID).confState.voters) else { return }
        do {
            try cluster.raw(leaderID).transferLeadership(to: target)
            tally("transfers started")
            note("\(step) transfer \(leaderID) → \(target)")
        } catch {
            note("\(step) transfer \(leaderID) → \(target) refused: \(error)")
        }
        cluster.process(leaderID)
    }

    private func read(_ step: Int) {
        // Half the reads go to a node that believes it leads (possibly a stale leader).
        let leaders = cluster.upNodes.filter { $0.raw!.softState.role == .leader }
        guard let node = rng.percent(50) && !leaders.isEmpty ? rng.pick(leaders) : rng.pick(cluster.upNodes) else { return }
        readCounter += 1
        cluster.checker.issuedRead(readCounter)
        do {
            try node.raw!.readIndex(context: uint64Bytes(readCounter))
            note("\(step) read \(readCounter) at \(node.id)")
        } catch {
            note("\(step) read at \(node.id) refused: \(error)")
        }
        cluster.process(node.id)
    }

    private func compact(_ step: Int) {
        guard let node = rng.pick(cluster.upNodes), let raw = node.raw else { return }
        let snapIndex = (try? node.storage.snapshot().metadata.index) ?? 0
        guard node.applied > snapIndex else { return }
        do {
            try node.storage.createSnapshot(
                index: node.applied, confState: raw.confState,
                data: SimSnapshotData(index: node.applied, hash: node.stateHash).bytes)
            let first = try node.storage.firstIndex()
            if node.applied >= first {
                let upTo = first + UInt64(rng.below(Int(node.applied - first + 1)))
                try node.storage.compact(upTo: upTo)
                tally("compactions")
                note("\(step) snapshot \(node.id) at \(node.applied), compact to \(upTo)")
            }
        } catch {
            cluster.checker.fail("compaction at node \(node.id) failed: \(error)")
        }
    }

    /// The `Cluster.beforePersist` hook: sometimes kills a node whose early messages are
    /// already in the network, before it persists their `Ready`.
    private func crashBeforePersist(_ node: SimNode, _ ready: Ready) -> Bool {
        guard !ready.earlyMessages.isEmpty else { return false }
        tally("early sends")
        guard crashBeforePersistPercent > 0, persistFaults.percent(crashBeforePersistPercent) else { return false }
        tally("crashes before persist")
        let lost = ready.entries.last.map { "\(ready.entries.first!.index)...\($0.index)" } ?? "none"
        note("crash \(node.id) after \(ready.earlyMessages.count) early sends, before persisting (entries \(lost))")
        return true
    }

    // MARK: Liveness

    /// Heals everything and restarts every node: a leader must emerge and commit a new
    /// entry on every member of its configuration.
    private func checkProgressAfterHealing() {
        cluster.beforePersist = nil
        cluster.heal()
        for node in cluster.nodes.values.sorted(by: { $0.id < $1.id }) where !node.isUp {
            cluster.restart(node.id)
        }
        note("liveness phase")
        var marker: LogPosition?
        var markerLeader: NodeID = 0
        for _ in 0..<500 {
            cluster.tickAll()
            cluster.deliverAll(limit: 20_000)
            guard cluster.checker.ok else { return }
            if let m = marker {
                let members = cluster.status(markerLeader).confState.members
                let done = members.allSatisfy { id in
                    guard let n = cluster.nodes[id] else { return false }
                    return n.applied >= m.index
                }
                if done { return }
                // A leader change may have dropped the marker: propose again.
                if cluster.leader != markerLeader { marker = nil }
                continue
            }
            if let leader = cluster.leader, let pos = try? cluster.raw(leader).propose(Array("marker".utf8)) {
                marker = pos
                markerLeader = leader
                cluster.process(leader)
            }
        }
        let states = cluster.upNodes.map { n -> String in
            let s = n.raw!.status
            return "\(n.id): \(s.role) t\(s.term) lead \(s.leader.map(String.init) ?? "-") commit \(s.commit) applied \(n.applied) last \(s.lastIndex) conf \(s.confState.voters)/\(s.confState.learners) timeout \(s.electionTimeout) transferee \(s.transferee.map(String.init) ?? "-")"
        }
        cluster.checker.fail("liveness: no progress after healing; marker \(String(describing: marker))\n  " + states.joined(separator: "\n  "))
    }
}
