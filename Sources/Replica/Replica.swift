import Foundation
import Logging
import PeerTransport
import RaftCore
import Sharding
import Storage
import Sync
import Synchronization

/// One node's member of the shard's Raft group: the sole owner of its `RawNode` and
/// `RaftStore`, driven by one thread that reads a bounded mailbox (STYLE: "one thread owns
/// each RawNode").
///
/// Per loop turn: take every queued input (proposals, peer messages, requests), tick the
/// core when a tick is due, then for each `Ready`: persist + apply in one SQLite transaction
/// (one fsync), send the messages, answer the requests whose entries were applied, advance.
/// Many proposals thus share one log append, one fsync and one AppendEntries per follower.
public final class Replica: Sendable {
    public let configuration: ReplicaConfiguration
    let mailbox: Mailbox
    let published = Mutex(ReplicaStatus())
    /// Who leads, as this node last learned it (set by the Raft thread on every change).
    let leadership = Mutex(Leadership())
    let logger: Logger
    let transport: PeerTransport
    /// The node's store (its shard table tells who owns a bucket here).
    let store: Store
    /// Runs completions of proposals, reads and requests off the Raft thread, in order.
    private let answerer: WorkerPool
    /// Writes forwarded to the leader and waiting for its answer.
    let calls: PendingCalls
    /// Proposals accepted and not yet answered (bounded by `maxPendingProposals`).
    let outstanding = Atomic<Int>(0)
    /// Called when this group applies a split (see ``onSplit(_:)``).
    private let splitHandler = Mutex<SplitHandlerBox?>(nil)
    private let stoppedFlag = Atomic<Bool>(false)
    private let finished = ConditionLock()
    private let finishedFlag = Mutex(false)

    /// Starts the Raft thread over `raftStore` (handed over: only that thread touches it from
    /// now on). `bootstrapped` single-voter groups campaign at once.
    public init(configuration: ReplicaConfiguration, raftStore: sending RaftStore, transport: PeerTransport,
                clusterToken: String?, logger: Logger) throws(ReplicaError) {
        try configuration.validate()
        self.configuration = configuration
        self.logger = logger
        self.transport = transport
        self.store = raftStore.store
        mailbox = Mailbox(peerCapacity: configuration.peerLaneCapacity, capacity: configuration.mailboxCapacity)
        answerer = WorkerPool(name: "raft-answers", threads: 1, capacity: 65_536)
        calls = PendingCalls(capacity: configuration.maxForwardedWrites, firstID: PendingCalls.firstID(shard: configuration.shard),
                             name: "forwarded-writes")
        let loop: RaftLoop
        do {
            loop = try RaftLoop(configuration: configuration, raftStore: raftStore, transport: transport,
                                clusterToken: clusterToken, logger: logger)
        } catch {
            throw .invalidConfiguration("cannot start Raft: \(error)")
        }
        let owned = Owned(loop)
        let mailbox = self.mailbox
        let runner = Thread { [self] in
            let loop = owned.take()
            loop.run(mailbox: mailbox, replica: self)
            finishedFlag.withLock { $0 = true }
            finished.withLock { finished.broadcast() }
        }
        runner.name = configuration.shard == 1 ? "raft" : "raft-\(configuration.shard)"
        runner.stackSize = 8 << 20
        runner.start()
    }

    var stopped: Bool { stoppedFlag.load(ordering: .relaxed) }

    /// Registers what to do when this group applies a split: start the new shard's group on
    /// this node (`leading`: this node led the parent then, and should campaign at once).
    /// Runs on the Raft thread, after the split is durable. Set once, before traffic.
    public func onSplit(_ handler: @escaping @Sendable (_ child: ShardDescriptor, _ leading: Bool) -> Void) {
        splitHandler.withLock { $0 = SplitHandlerBox(handler) }
    }

    func splitApplied(_ child: ShardDescriptor, leading: Bool) {
        if let handler = splitHandler.withLock({ $0 }) { handler.call(child, leading) }
    }

    /// Hands one Raft turn's completions to the answer thread (run here when its queue is full
    /// or closed: never lost).
    func answer(_ batch: [@Sendable () -> Void]) {
        guard !batch.isEmpty else { return }
        if !answerer.submit({ for answer in batch { answer() } }) { for answer in batch { answer() } }
    }

    /// The latest published status.
    public var status: ReplicaStatus { published.withLock { $0 } }

    // MARK: Requests (any thread)

    /// Proposes a write; `completion` runs on the Raft thread once it is applied (with its
    /// index and outcomes), or with an error: `notLeader` (forward it), `overloaded`,
    /// `timeout` (outcome unknown), `stopped`.
    ///
    /// Back pressure: with `maxPendingProposals` proposals unanswered, it fails at once with
    /// `overloaded` (nothing happened) instead of queueing.
    public func propose(_ command: WriteCommand, completion: @escaping @Sendable (Result<CommandResult, ReplicaError>) -> Void) {
        guard outstanding.add(1, ordering: .relaxed).newValue <= configuration.maxPendingProposals else {
            outstanding.subtract(1, ordering: .relaxed)
            return completion(.failure(.overloaded("\(configuration.maxPendingProposals) writes waiting for the log")))
        }
        let counted: ReplicaInput.ProposalCompletion = { [self] result in
            outstanding.subtract(1, ordering: .relaxed)
            completion(result)
        }
        let deadline = monotonicNanoseconds() + UInt64(configuration.proposalTimeoutMilliseconds) * 1_000_000
        push(.propose(command, deadline: deadline, completion: counted)) { counted(.failure($0)) }
    }

    /// Hands messages received from peers to the core, through the peer lane.
    public func deliver(_ messages: [Message]) {
        if stopped { return }
        mailbox.pushPeer(messages)
    }

    /// A linearizable read point (Raft ReadIndex): the index a read must see applied.
    public func readIndex(timeoutMilliseconds: Int, completion: @escaping @Sendable (Result<UInt64, ReplicaError>) -> Void) {
        let deadline = monotonicNanoseconds() + UInt64(timeoutMilliseconds) * 1_000_000
        push(.readIndex(deadline: deadline, completion: completion)) { completion(.failure($0)) }
    }

    /// Leader: hands leadership to `node` (a caught-up voter; the core catches it up first).
    public func transferLeadership(to node: String, completion: @escaping @Sendable (Result<Void, ReplicaError>) -> Void) {
        push(.transfer(to: RaftID.of(node), completion: completion)) { completion(.failure($0)) }
    }

    /// Leader: admits a node — records it in the replicated directory, then adds it as a
    /// learner (promoted to voter by the core once caught up). Idempotent.
    public func addMember(_ member: Member, timeoutMilliseconds: Int = 20_000,
                          completion: @escaping @Sendable (Result<Void, ReplicaError>) -> Void) {
        let deadline = monotonicNanoseconds() + UInt64(timeoutMilliseconds) * 1_000_000
        push(.addMember(member, deadline: deadline, completion: completion)) { completion(.failure($0)) }
    }

    /// Leader: proposes a membership change (`promote`, `updateAttributes`, `remove`);
    /// `completion` runs once it is applied here. A removal also drops the node from the
    /// replicated directory.
    public func changeMembership(_ change: ConfChange, timeoutMilliseconds: Int = 10_000,
                                 completion: @escaping @Sendable (Result<Void, ReplicaError>) -> Void) {
        let deadline = monotonicNanoseconds() + UInt64(timeoutMilliseconds) * 1_000_000
        push(.changeMembership(change, deadline: deadline, completion: completion)) { completion(.failure($0)) }
    }

    /// Leader: proposes a control entry (not a client write, e.g. the cluster map);
    /// `completion` gets its index once applied here.
    public func proposeControl(_ command: LogCommand, timeoutMilliseconds: Int = 10_000,
                               completion: @escaping @Sendable (Result<UInt64, ReplicaError>) -> Void) {
        let deadline = monotonicNanoseconds() + UInt64(timeoutMilliseconds) * 1_000_000
        push(.proposeControl(command, deadline: deadline, completion: completion)) { completion(.failure($0)) }
    }

    /// The transport failed to reach `peer`: the leader stops pipelining to it and probes.
    public func reportUnreachable(_ peer: NodeID) { push(.unreachable(peer)) { _ in } }

    /// Peers known from outside the log (a joining node learns them from the join answer).
    public func learn(peers: [Member]) { push(.knownPeers(peers)) { _ in } }

    func push(_ input: ReplicaInput, refused: (ReplicaError) -> Void) {
        if stopped { return refused(.stopped) }
        if !mailbox.push(input) { refused(.overloaded("raft mailbox full (\(mailbox.capacity))")) }
    }

    // MARK: Shutdown

    /// Graceful shutdown, step 1: a leader hands leadership to the most caught-up voter and
    /// waits (bounded) for the writes it already proposed to be applied, so clients see no
    /// failed write. The loop keeps running; a follower returns at once.
    public func handOver(timeoutMilliseconds: Int = 5_000) {
        guard status.isLeader, let target = bestTransferTarget() else { return }
        let deadline = monotonicNanoseconds() + UInt64(timeoutMilliseconds) * 1_000_000
        transferLeadership(to: target) { _ in }
        while monotonicNanoseconds() < deadline && (status.isLeader || status.pendingProposals > 0) {
            usleep(10_000)
        }
        logger.info("leadership handed over before shutdown", metadata: [
            "to": "\(target)", "leader_now": "\(status.leaderID ?? "none")", "pending": "\(status.pendingProposals)",
        ])
    }

    /// Graceful shutdown, step 2: stops the Raft thread (bounded wait); requests still waiting
    /// fail with `stopped`.
    public func shutdown() {
        stoppedFlag.store(true, ordering: .relaxed)
        mailbox.close()
        defer {
            calls.close()
            answerer.close()
        }
        let deadline = monotonicNanoseconds() + 10_000_000_000
        finished.withLock {
            while !finishedFlag.withLock({ $0 }) && monotonicNanoseconds() < deadline {
                _ = finished.wait(untilNanoseconds: monotonicNanoseconds() + 50_000_000)
            }
        }
    }

    /// The voter to hand leadership to: one that may lead (priority above 0, unless there is
    /// none), caught up the most, then the biggest.
    func bestTransferTarget() -> String? {
        let status = self.status
        let voters = status.members.filter { $0.isVoter && $0.raftID != configuration.raftID }
        let electable = voters.filter { $0.priority > 0 }
        return (electable.isEmpty ? voters : electable)
            .max { ($0.match ?? 0, $0.level) < ($1.match ?? 0, $1.level) }?.id
    }
}

final class SplitHandlerBox: Sendable {
    let call: @Sendable (ShardDescriptor, Bool) -> Void
    init(_ call: @escaping @Sendable (ShardDescriptor, Bool) -> Void) { self.call = call }
}

/// Moves a non-Sendable value to the thread that will own it. Taken exactly once.
final class Owned<Value>: @unchecked Sendable {
    private var value: Value?
    init(_ value: sending Value) { self.value = value }
    func take() -> Value {
        defer { value = nil }
        return value!
    }
}
