/// The Raft state machine of one node: no I/O, no clock, no shared state. `RawNode` wraps
/// it with the Ready/advance protocol; everything here runs on the caller's thread.
///
/// Facets: `Raft+Step` (message dispatch and term rules), `Raft+Election`,
/// `Raft+Replication` (leader side), `Raft+Follower`, `Raft+Propose`, `Raft+ReadIndex`,
/// `Raft+Membership`, `Raft+Transfer`, `Raft+SmartRaft`, `Raft+Tick`.
final class Raft {
    let id: NodeID
    let config: Config

    // Persistent (through HardState).
    var term: UInt64 = 0
    var vote: NodeID = 0
    var log: RaftLog

    // Volatile.
    var role: Role = .follower
    /// The known leader of `term`; 0 when unknown.
    var leader: NodeID = 0
    var confs: ConfHistory
    /// Leader only: replication state of every member (self included).
    var progress: [NodeID: Progress] = [:]
    /// (Pre-)candidate only: answers received in this campaign.
    var votes: [NodeID: Bool] = [:]
    /// Outgoing messages, handed out by the next `Ready`.
    var messages: [Message] = []
    var readStates: [ReadState] = []

    var electionElapsed = 0
    var heartbeatElapsed = 0
    var randomizedElectionTimeout = 0
    var rng: SplitMix64
    /// Ticks since this node started; the clock of back-off decisions.
    var clock: UInt64 = 0

    /// Leader only: the node leadership is being transferred to (0 when none).
    var transferee: NodeID = 0
    var transferElapsed = 0
    var timeoutNowSent = false

    /// Leader only: index of the latest configuration entry it may not yet see committed.
    var pendingConfIndex: UInt64 = 0
    /// Leader only: proposals were appended since the last `Ready`; they go out together,
    /// one append per follower (group commit), when the next `Ready` is gathered.
    var broadcastPending = false
    /// Leader only: payload bytes of entries appended in this term and not yet applied.
    var uncommittedBytes: UInt64 = 0

    /// Leader only: read-index requests waiting for a heartbeat quorum, oldest first.
    var pendingReads: [PendingRead] = []
    /// Leader only: read-index requests waiting for the first commit of this term.
    var readsAwaitingCommit: [(from: NodeID, context: [UInt8])] = []
    var readSequence: UInt64 = 0

    /// Smart Raft hand-off back-off per target: no automatic transfer before `notBefore`.
    var handoffBackoff: [NodeID: (notBefore: UInt64, delay: UInt64)] = [:]

    struct PendingRead {
        var sequence: UInt64
        var index: UInt64
        var from: NodeID
        var context: [UInt8]
        var acks: Set<NodeID>
    }

    init(config: Config, storage: any LogStorage) throws(RaftError) {
        try config.validate()
        id = config.id
        self.config = config
        rng = SplitMix64(seed: config.randomSeed ^ (config.id &* 0x9E37_79B9_7F4A_7C15))
        let hardState = try storage.hardState()
        let snapshot = try storage.snapshot()
        log = RaftLog(storage: storage)
        confs = ConfHistory(base: snapshot.metadata.confState, at: snapshot.metadata.index)
        // Rebuild the configuration history from the stored log tail.
        var next = snapshot.metadata.index + 1
        let last = log.lastIndex
        while next <= last {
            guard let batch = log.entries(from: next, to: last + 1, maxBytes: 16 << 20), !batch.isEmpty else {
                throw .storage("cannot read the log from \(next)")
            }
            confs.didAppend(batch)
            next = batch[batch.count - 1].index + 1
        }
        if hardState != .empty {
            guard hardState.commit <= log.lastIndex else {
                throw .storage("hard state commit \(hardState.commit) beyond the last index \(log.lastIndex)")
            }
            log.commitTo(hardState.commit)
            term = hardState.term
            vote = hardState.vote
        }
        let applied = max(config.applied, snapshot.metadata.index)
        guard applied <= log.committed else {
            throw .invalidConfig("applied \(applied) is beyond the commit index \(log.committed)")
        }
        log.appliedTo(applied)
        confs.appliedTo(applied)
        becomeFollower(term: term, leader: 0)
    }

    // MARK: Derived state

    var hardState: HardState { HardState(term: term, vote: vote, commit: log.committed) }
    var softState: SoftState { SoftState(leader: leader == 0 ? nil : leader, role: role) }

    /// The configuration in force: the latest in the log.
    var conf: ConfState { confs.latest }

    /// The configuration as of the applied index (what a snapshot there records).
    var appliedConf: ConfState { confs.conf(at: log.applied) }

    var isVoter: Bool { conf.isVoter(id) }

    /// May campaign: a voter of the latest configuration, or of the applied one. The second
    /// case is a node whose log ends with its own, not yet committed, removal: it may be the
    /// only one holding that entry and must be able to get it committed (dissertation
    /// §4.2.2). It then asks the voters of its latest configuration and does not count its
    /// own vote.
    var isPromotable: Bool { conf.isVoter(id) || appliedConf.isVoter(id) }

    /// True once the leader has committed an entry of its own term: only then is its commit
    /// index known to cover every committed entry (needed by ReadIndex and conf changes).
    var committedInCurrentTerm: Bool { log.term(at: log.committed) == term }

    // MARK: Role changes

    /// Resets per-term volatile state; moves to `term` (forgetting the vote) if it is new.
    func reset(term newTerm: UInt64) {
        if term != newTerm {
            term = newTerm
            vote = 0
        }
        leader = 0
        electionElapsed = 0
        heartbeatElapsed = 0
        resetRandomizedElectionTimeout()
        transferee = 0
        transferElapsed = 0
        timeoutNowSent = false
        votes = [:]
        progress = [:]
        pendingReads = []
        readsAwaitingCommit = []
        uncommittedBytes = 0
        broadcastPending = false
    }

    func becomeFollower(term newTerm: UInt64, leader newLeader: NodeID) {
        reset(term: newTerm)
        role = .follower
        setLeader(newLeader)
    }

    /// Records `newLeader` as this term's leader (0: unknown).
    func setLeader(_ newLeader: NodeID) {
        leader = newLeader
        if newLeader != 0 { handoffBackoff[newLeader] = nil }
    }

    func becomePreCandidate() {
        precondition(role != .leader, "raft: leader cannot become pre-candidate")
        // The term is not incremented and the vote is kept: a pre-campaign changes nothing
        // persistent, so a node cut off from the group cannot inflate terms.
        role = .preCandidate
        votes = [:]
        leader = 0
        electionElapsed = 0
    }

    func becomeCandidate() {
        precondition(role != .leader, "raft: leader cannot become candidate")
        reset(term: term + 1)
        vote = id
        role = .candidate
    }

    func becomeLeader() {
        precondition(role == .candidate, "raft: only a candidate becomes leader")
        reset(term: term)
        role = .leader
        setLeader(id)
        let last = log.lastIndex
        for member in conf.members + [id] {
            progress[member] = makeProgress(member, next: last + 1)
        }
        progress[id]?.match = last
        progress[id]?.recentActive = true
        // Configuration entries already in the log may be uncommitted: no new change until
        // the first entry of this term commits (which commits them too).
        pendingConfIndex = last
        appendEntries([Entry(term: term, index: 0, kind: .noop)])
    }

    func makeProgress(_ member: NodeID, next: UInt64) -> Progress {
        let pr = Progress(
            next: next, isLearner: !conf.isVoter(member),
            maxInflight: config.maxInflightMsgs, maxInflightBytes: config.maxInflightBytes)
        pr.becomeProbe()
        pr.next = next
        return pr
    }

    // MARK: Helpers

    func send(_ message: Message) {
        messages.append(message)
    }

    /// Appends entries to the log and records configuration entries among them.
    func writeLog(_ entries: [Entry]) {
        guard !entries.isEmpty else { return }
        log.append(entries)
        confs.didAppend(entries)
    }
}
