@testable import RaftCore

/// A seeded, thread-free simulated network of `RawNode`s over `MemoryLogStorage`.
///
/// Messages are queued when a node's `Ready` is processed — its `earlyMessages` before its
/// writes, its `messages` after them, as the real runtime does — and delivered one at a
/// time, in any order the test chooses, or dropped, duplicated, or blocked by a partition.
/// Between the early send and the writes the node may crash (`beforePersist`), losing the
/// `Ready`. Every `Ready` goes through `SafetyChecker`.
final class Cluster {
    struct Envelope {
        var message: Message
    }

    struct Link: Hashable {
        var from: NodeID
        var to: NodeID
    }

    var rng: TestRandom
    private(set) var nodes: [NodeID: SimNode] = [:]
    /// Node ids in ascending order (iteration order must not depend on hashing).
    private(set) var ids: [NodeID] = []
    /// The nodes in `ids` order.
    private(set) var nodeList: [SimNode] = []
    var network: [Envelope] = []
    /// Directed links that currently lose everything.
    var cut: Set<Link> = []
    let checker = SafetyChecker()
    /// Adjusts each node's configuration (the id and seed are set by the cluster).
    var configure: (inout Config) -> Void
    /// Upper bound on queued messages; beyond it the oldest are lost.
    var networkCapacity = 2_000
    private(set) var messagesDelivered = 0
    /// Called with each `Ready` once its early messages are in the network, before the
    /// node persists it; true crashes the node there (the `Ready` is lost; `restart`
    /// recovers from storage). For fault injection and for tests that look at `Ready`s.
    var beforePersist: ((SimNode, Ready) -> Bool)?
    private(set) var crashesBeforePersist = 0

    init(seed: UInt64, configure: @escaping (inout Config) -> Void = { _ in }) {
        rng = TestRandom(seed: seed)
        self.configure = configure
    }

    /// A group founded with `voters` (and `learners`), every founder bootstrapped alike.
    convenience init(
        seed: UInt64, voters: [NodeID], learners: [NodeID] = [],
        attributes: [NodeID: NodeAttributes] = [:], configure: @escaping (inout Config) -> Void = { _ in }
    ) {
        self.init(seed: seed, configure: configure)
        let conf = ConfState(voters: voters, learners: learners, attributes: attributes)
        for id in voters + learners {
            addNode(id, storage: MemoryLogStorage(bootstrap: conf))
        }
    }

    func config(for id: NodeID, applied: UInt64) -> Config {
        var c = Config(id: id, randomSeed: rng.next())
        configure(&c)
        c.id = id
        c.applied = applied
        return c
    }

    /// Starts a node over `storage` (an empty one for a node about to join).
    @discardableResult
    func addNode(_ id: NodeID, storage: MemoryLogStorage = MemoryLogStorage()) -> SimNode {
        let node = SimNode(id: id, storage: storage)
        if nodes[id] == nil {
            ids.append(id)
            ids.sort()
        }
        nodes[id] = node
        nodeList = ids.map { nodes[$0]! }
        start(node)
        return node
    }

    private func start(_ node: SimNode) {
        if node.lastHardState == .empty, let hs = try? node.storage.hardState(), hs != .empty {
            // A bootstrapped log counts as persisted and committed.
            checker.adopt(node, hardState: hs)
        }
        do {
            node.raw = try RawNode(config: config(for: node.id, applied: node.applied), storage: node.storage)
        } catch {
            checker.fail("node \(node.id) failed to start: \(error)")
            return
        }
        if let status = node.raw?.status {
            if status.commit < node.highestCommitSeen {
                checker.fail("node \(node.id) restarted with commit \(status.commit) < \(node.highestCommitSeen)")
            }
            if status.term < node.lastHardState.term {
                checker.fail("node \(node.id) restarted with term \(status.term) < \(node.lastHardState.term)")
            }
            node.role = status.role
            node.term = status.term
        }
        process(node.id)
    }

    // MARK: Faults

    /// Kills the process: only storage and the applied state survive.
    func crash(_ id: NodeID) {
        nodes[id]?.raw = nil
    }

    /// Restarts a crashed node from its storage. With `fromSnapshot`, the application
    /// also lost its state and rebuilds it from the latest snapshot, so the core re-delivers
    /// every committed entry after it.
    func restart(_ id: NodeID, fromSnapshot: Bool = false) {
        guard let node = nodes[id], node.raw == nil else { return }
        if fromSnapshot, let snap = try? node.storage.snapshot() {
            let data = SimSnapshotData(snap.data) ?? SimSnapshotData(index: 0, hash: 0)
            node.applied = snap.metadata.index
            node.stateHash = data.hash
        }
        start(node)
    }

    func isolate(_ id: NodeID) {
        for other in ids where other != id {
            cut.insert(Link(from: id, to: other))
            cut.insert(Link(from: other, to: id))
        }
    }

    /// Cuts every link between `a` and `b` (both directions).
    func partition(_ a: [NodeID], _ b: [NodeID]) {
        for x in a {
            for y in b {
                cut.insert(Link(from: x, to: y))
                cut.insert(Link(from: y, to: x))
            }
        }
    }

    func heal() { cut.removeAll() }

    // MARK: Driving

    var upNodes: [SimNode] { nodeList.filter(\.isUp) }

    func raw(_ id: NodeID) -> RawNode { nodes[id]!.raw! }

    func status(_ id: NodeID) -> Status { raw(id).status }

    /// Processes every pending `Ready` of `id`: send the early messages, (maybe crash,)
    /// persist, check, send the rest, apply, advance.
    func process(_ id: NodeID) {
        guard let node = nodes[id] else { return }
        while let raw = node.raw, raw.hasReady {
            let rd = raw.ready()
            if !rd.earlyMessages.isEmpty {
                checker.willSendEarly(node, rd, raw: raw)
                // Whatever they reveal as committed must already hold, even if this node
                // never persists `rd`.
                let revealed = rd.earlyMessages.map(\.commit).max() ?? 0
                if revealed > node.highestCommitSeen {
                    checkCommitQuorum(leader: node, raw: raw, index: revealed)
                }
                for m in rd.earlyMessages { network.append(Envelope(message: m)) }
            }
            if let beforePersist, beforePersist(node, rd) {
                crashesBeforePersist += 1
                crash(id)
                trimNetwork()
                return
            }
            checker.willPersist(node, rd)
            do {
                if let s = rd.snapshot { try node.storage.applySnapshot(s) }
                try node.storage.append(rd.entries)
            } catch {
                checker.fail("node \(id): storage refused a Ready: \(error)")
            }
            if let hs = rd.hardState { node.storage.setHardState(hs) }
            let previousCommit = node.highestCommitSeen
            checker.didPersist(node, rd, raw: raw)
            if let hs = rd.hardState, hs.commit > previousCommit, raw.softState.role == .leader {
                checkCommitQuorum(leader: node, raw: raw, index: hs.commit)
            }
            for m in rd.messages {
                network.append(Envelope(message: m))
            }
            if let s = rd.snapshot, let data = SimSnapshotData(s.data) {
                checker.willInstallSnapshot(node, s)
                node.applied = s.metadata.index
                node.stateHash = data.hash
            }
            for e in rd.committedEntries { checker.apply(node, e) }
            for rs in rd.readStates {
                node.readStates.append(rs)
                checker.answeredRead(node, rs)
            }
            raw.advance(rd)
            trimNetwork()
        }
    }

    /// Loses the oldest messages beyond `networkCapacity` (after `advance`: losing a
    /// snapshot reports it to its sender, which may be the node just processed).
    private func trimNetwork() {
        guard network.count > networkCapacity else { return }
        let excess = network.count - networkCapacity
        let dropped = network.prefix(excess)
        network.removeFirst(excess)
        for e in dropped { lost(e.message) }
    }

    /// A leader's commit index is held (persisted) by a quorum of the voters of the
    /// configuration it committed with; learners and non-members never count. (That is the
    /// latest configuration, or — when a configuration entry after the commit index was
    /// appended in the same step, e.g. an automatic promotion — the one before it.)
    private func checkCommitQuorum(leader: SimNode, raw: RawNode, index: UInt64) {
        guard let term = try? leader.storage.term(at: index) else { return }
        let confs = raw.raft.confs
        var candidates = [confs.latest]
        if confs.latestIndex > index {
            candidates.append(confs.conf(at: confs.latestIndex - 1))
        }
        func holds(_ voter: NodeID) -> Bool {
            guard let storage = nodes[voter]?.storage else { return false }
            if let t = try? storage.term(at: index) { return t == term }
            if let first = try? storage.firstIndex(), first > index { return true }  // compacted after applying it
            return false
        }
        for conf in candidates where conf.voters.filter(holds).count >= conf.quorum { return }
        let detail = confs.latest.voters.map { v in
            "\(v): \(holds(v) ? "holds" : "lacks") (match \(raw.status.progress[v]?.match ?? 0))"
        }.joined(separator: ", ")
        checker.fail("leader \(leader.id) committed \(index) (term \(term)) without a quorum of voters: \(detail)")
    }

    func processAll() {
        for id in ids { process(id) }
    }

    /// A message that will never arrive; a lost snapshot is reported as failed.
    private func lost(_ m: Message) {
        if m.kind == .snapshot, let sender = nodes[m.from]?.raw {
            sender.reportSnapshot(m.to, success: false)
            process(m.from)
        }
    }

    /// Delivers (or loses, when the link is cut or the target is down) the message at `index`.
    func deliver(at index: Int) {
        let m = network.remove(at: index).message
        guard !cut.contains(Link(from: m.from, to: m.to)), let target = nodes[m.to]?.raw else {
            lost(m)
            return
        }
        messagesDelivered += 1
        do {
            try target.step(m)
        } catch {
            checker.fail("node \(m.to) refused a message: \(error)")
        }
        process(m.to)
        if m.kind == .snapshot, let sender = nodes[m.from]?.raw {
            sender.reportSnapshot(m.to, success: true)
            process(m.from)
        }
    }

    /// Delivers messages in order until the network is quiet (or `limit` deliveries).
    func deliverAll(limit: Int = 100_000) {
        var n = 0
        while !network.isEmpty && n < limit {
            deliver(at: 0)
            n += 1
        }
    }

    func drop(at index: Int) {
        lost(network.remove(at: index).message)
    }

    func tick(_ id: NodeID) {
        guard let raw = nodes[id]?.raw else { return }
        raw.tick()
        process(id)
    }

    func tickAll() {
        for node in nodeList {
            guard let raw = node.raw else { continue }
            raw.tick()
            process(node.id)
        }
    }

    /// Ticks every node and delivers everything, `rounds` times.
    func run(rounds: Int) {
        for _ in 0..<rounds {
            tickAll()
            deliverAll()
        }
    }

    /// Runs until `condition` holds (true) or `rounds` pass (false).
    @discardableResult
    func run(upTo rounds: Int, until condition: () -> Bool) -> Bool {
        for _ in 0..<rounds {
            if condition() { return true }
            tickAll()
            deliverAll()
        }
        return condition()
    }

    // MARK: Queries

    /// The live leader with the highest term, if any.
    var leader: NodeID? {
        var best: (id: NodeID, term: UInt64)?
        for node in nodeList {
            guard let raw = node.raw, raw.softState.role == .leader else { continue }
            let term = raw.hardState.term
            if term >= (best?.term ?? 0) { best = (node.id, term) }
        }
        return best?.id
    }

    /// Runs until some node leads; returns it.
    func awaitLeader(rounds: Int = 300) -> NodeID? {
        var found: NodeID?
        run(upTo: rounds) {
            found = leader
            return found != nil
        }
        return found
    }

    /// After each step: cheap checks on every live node.
    func checkLive() {
        for node in nodeList {
            guard let raw = node.raw else { continue }
            checker.checkLive(node, hardState: raw.hardState, role: raw.softState.role)
        }
    }
}
