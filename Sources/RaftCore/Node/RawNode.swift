/// A Raft group member as a pure state machine (the etcd-io/raft model).
///
/// Inputs: `tick()`, `step(_:)`, `propose(_:)`, `proposeConfChange(_:)`,
/// `transferLeadership(to:)`, `readIndex(context:)`, `campaign()`, `reportUnreachable(_:)`,
/// `reportSnapshot(_:success:)`. Output: `ready()` gathers what to persist, send and apply
/// (see `Ready` for the order; the core decides which messages may leave before the
/// persist, `Ready.earlyMessages`), and `advance(_:)` acknowledges it.
///
/// Ownership: one thread owns a `RawNode` (and drives its storage's writes); the type is
/// not `Sendable`. No I/O, no clock, no global randomness: the same inputs, seed and storage
/// give the same outputs.
public final class RawNode {
    let raft: Raft
    private var previousSoftState: SoftState
    private var previousHardState: HardState
    private var readyOutstanding = false

    /// Creates a node over `storage` (its persisted hard state, snapshot and log).
    /// `config.applied` tells the core where the application's state stands.
    public init(config: Config, storage: any LogStorage) throws(RaftError) {
        raft = try Raft(config: config, storage: storage)
        previousSoftState = raft.softState
        previousHardState = raft.hardState
    }

    /// This node's id.
    public var id: NodeID { raft.id }

    // MARK: Inputs

    /// Advances logical time by one tick (election and heartbeat timers, CheckQuorum,
    /// transfer timeout, learner promotion, Smart Raft hand-off).
    public func tick() { raft.tick() }

    /// Feeds a message received from a peer. Messages for another node are refused; stale
    /// or unexpected messages are ignored (the network may drop, delay, reorder or
    /// duplicate anything).
    public func step(_ message: Message) throws(RaftError) {
        guard message.to == raft.id else { throw .wrongRecipient(message.to) }
        guard message.from != 0, message.from != raft.id else { return }
        raft.step(message)
    }

    /// Leader: appends `data`; returns where it landed. Errors: `notLeader`,
    /// `transferInProgress`, `uncommittedBytesExceeded` (back pressure).
    @discardableResult
    public func propose(_ data: [UInt8]) throws(RaftError) -> LogPosition {
        try raft.propose(data)
    }

    /// Leader: appends a configuration change. Errors as `propose`, plus
    /// `confChangePending` and `invalidConfChange`.
    @discardableResult
    public func proposeConfChange(_ change: ConfChange) throws(RaftError) -> LogPosition {
        try raft.proposeConfChange(change)
    }

    /// Leader: hands leadership to `target` (see `Raft+Transfer.swift`). Errors: `notLeader`,
    /// `invalidTransferTarget`.
    public func transferLeadership(to target: NodeID) throws(RaftError) {
        try raft.transferLeadership(to: target)
    }

    /// Requests a linearizable read point; the answer arrives as a `ReadState` carrying
    /// `context` in a later `Ready`, or never (leader change, lost message: time out and
    /// retry). Errors: `notLeader(nil)` when no leader is known, `readIndexQueueFull`.
    public func readIndex(context: [UInt8]) throws(RaftError) {
        try raft.readIndex(context: context)
    }

    /// Campaigns now (with PreVote when configured), e.g. to elect a freshly bootstrapped
    /// single node without waiting for its timeout. Error: `notVoter`.
    public func campaign() throws(RaftError) {
        guard raft.isPromotable else { throw .notVoter }
        raft.campaign(transfer: false)
    }

    /// The transport could not reach `id`: stop pipelining to it and probe instead.
    public func reportUnreachable(_ id: NodeID) {
        guard raft.role == .leader, let pr = raft.progress[id] else { return }
        if pr.state == .replicate { pr.becomeProbe() }
    }

    /// The transport finished (or failed) sending the snapshot to `id`. Either way the
    /// leader probes `id` again; on success it waits for the follower's acknowledgement.
    public func reportSnapshot(_ id: NodeID, success: Bool) {
        guard raft.role == .leader, let pr = raft.progress[id], pr.state == .snapshot else { return }
        if !success { pr.pendingSnapshot = 0 }
        pr.becomeProbe()
        // Wait for the follower's answer (or a heartbeat answer) before probing.
        pr.probeSent = true
    }

    // MARK: Output

    /// True when `ready()` has something to hand out.
    public var hasReady: Bool {
        if raft.softState != previousSoftState { return true }
        if raft.hardState != previousHardState { return true }
        if raft.log.unstable.snapshot != nil { return true }
        if !raft.log.unstable.entries.isEmpty { return true }
        if !raft.messages.isEmpty || !raft.readStates.isEmpty { return true }
        if raft.broadcastPending && raft.role == .leader { return true }
        return raft.log.hasNextCommittedEntries
    }

    /// Gathers the pending work. Must be followed by `advance(_:)` before the next call.
    public func ready() -> Ready {
        precondition(!readyOutstanding, "raft: ready() called again before advance()")
        readyOutstanding = true
        raft.flushProposals()
        var rd = Ready()
        // What earlier `Ready`s made durable (the caller persisted each before `advance`).
        let durableHardState = previousHardState
        let soft = raft.softState
        if soft != previousSoftState {
            rd.softState = soft
            previousSoftState = soft
        }
        let hard = raft.hardState
        if hard != previousHardState {
            rd.hardState = hard
            rd.mustSync = hard.term != previousHardState.term || hard.vote != previousHardState.vote
            previousHardState = hard
        }
        rd.snapshot = raft.log.unstable.snapshot
        rd.entries = raft.log.unstable.entries
        if rd.snapshot != nil || !rd.entries.isEmpty { rd.mustSync = true }
        rd.committedEntries = raft.log.nextCommittedEntries(maxBytes: raft.config.maxCommittedBytesPerReady)
        if let last = rd.committedEntries.last {
            raft.log.applying = last.index
        }
        (rd.earlyMessages, rd.messages) = splitEarly(raft.messages, ready: rd, durable: durableHardState)
        raft.messages = []
        rd.readStates = raft.readStates
        raft.readStates = []
        return rd
    }

    /// Splits `messages` into those that may leave before `ready` is persisted and those
    /// that must wait (see `Ready`). Early: a leader's `.append` messages, when
    /// - `ready` changes neither term nor vote, and carries no snapshot. (A single voter
    ///   becomes candidate and leader in one `Ready`; were its appends out before its term
    ///   is durable, a crash could let it lead that term again with a different log. Its
    ///   noop, committed at once, also keeps them back by the next rule; this one does not
    ///   depend on that.)
    /// - the message's commit index is at most the last entry persisted before `ready`.
    ///   With several voters this always holds (the leader's own match counts entries it
    ///   has not persisted yet, but a commit also needs a follower's acknowledgement of
    ///   entries sent by an earlier `Ready`, persisted before this one was handed out). A
    ///   single voter commits its entries as it appends them; an append telling a learner
    ///   so must wait.
    ///
    /// Everything else waits, conservatively: votes and responses promise what `ready`
    /// persists; heartbeats gain nothing from leaving early (they carry no entries);
    /// snapshots are reported by the transport after sending (`reportSnapshot`), and
    /// `timeoutNow` and read-index answers are not on the write path.
    private func splitEarly(
        _ messages: [Message], ready: Ready, durable: HardState
    ) -> (early: [Message], late: [Message]) {
        let hard = raft.hardState
        guard raft.role == .leader, ready.snapshot == nil,
              hard.term == durable.term, hard.vote == durable.vote
        else { return ([], messages) }
        let durableLastIndex = ready.entries.first.map { $0.index - 1 } ?? raft.log.lastIndex
        var early: [Message] = [], late: [Message] = []
        for m in messages {
            if m.kind == .append && m.term == hard.term && m.commit <= durableLastIndex {
                early.append(m)
            } else {
                late.append(m)
            }
        }
        return (early, late)
    }

    /// Acknowledges that everything in `ready` was persisted, sent and applied.
    public func advance(_ ready: Ready) {
        precondition(readyOutstanding, "raft: advance() without ready()")
        readyOutstanding = false
        if let snapshot = ready.snapshot {
            raft.log.unstable.stableSnapshotTo(index: snapshot.metadata.index)
            raft.log.appliedTo(snapshot.metadata.index)
            raft.confs.appliedTo(snapshot.metadata.index)
        }
        if let last = ready.entries.last {
            raft.log.unstable.stableTo(index: last.index, term: last.term)
        }
        if let last = ready.committedEntries.last {
            raft.log.appliedTo(last.index)
            raft.confs.appliedTo(raft.log.applied)
            raft.reduceUncommitted(ready.committedEntries)
        }
    }

    // MARK: State

    /// The configuration as of the applied index: what a snapshot taken at
    /// `status.applied` must record. Valid between `advance` and the next `ready`.
    public var confState: ConfState { raft.appliedConf }

    /// Leader and role now (cheap).
    public var softState: SoftState { raft.softState }

    /// Term, vote and commit index now (cheap).
    public var hardState: HardState { raft.hardState }

    /// The current state, for monitoring and tests (builds a full copy; prefer `softState`
    /// and `hardState` on hot paths).
    public var status: Status {
        var progress: [NodeID: Status.MemberProgress] = [:]
        if raft.role == .leader {
            for (member, pr) in raft.progress {
                let state: Status.MemberProgress.State = switch pr.state {
                case .probe: .probe
                case .replicate: .replicate
                case .snapshot: .snapshot
                }
                progress[member] = Status.MemberProgress(
                    match: pr.match, next: pr.next, state: state, recentActive: pr.recentActive,
                    isLearner: pr.isLearner, inflightMessages: pr.inflights.count)
            }
        }
        return Status(
            id: raft.id, hardState: raft.hardState, softState: raft.softState,
            applied: raft.log.applied, lastIndex: raft.log.lastIndex, firstIndex: raft.log.firstIndex,
            confState: raft.conf, appliedConfState: raft.appliedConf, progress: progress,
            transferee: raft.transferee == 0 ? nil : raft.transferee,
            uncommittedBytes: raft.uncommittedBytes, electionTimeout: raft.randomizedElectionTimeout)
    }
}
