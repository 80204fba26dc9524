@testable import RaftCore

/// Checks Raft's safety properties against everything every node ever persisted, applied
/// or reported, across crashes. A violation is recorded as text (the first one stops the
/// simulation).
final class SafetyChecker {
    private struct EntryKey: Hashable {
        var index: UInt64
        var term: UInt64
    }

    private struct EntryInfo: Equatable {
        var kind: Entry.Kind
        var digest: UInt64
        var previousTerm: UInt64
    }

    private struct AppliedInfo: Equatable {
        var term: UInt64
        var kind: Entry.Kind
        var digest: UInt64
    }

    private(set) var violations: [String] = []
    /// term → the node that led it.
    private(set) var leaderOfTerm: [UInt64: NodeID] = [:]
    /// (index, term) → what that entry is, wherever it appears.
    private var entries: [EntryKey: EntryInfo] = [:]
    /// index → term of the committed entry there.
    private(set) var committedTerm: [UInt64: UInt64] = [:]
    private(set) var highestCommitted: UInt64 = 0
    /// index → what was applied there / the state digest after it.
    private var appliedAt: [UInt64: AppliedInfo] = [:]
    private var hashAt: [UInt64: UInt64] = [:]
    /// term → voter → candidate.
    private var votes: [UInt64: [NodeID: NodeID]] = [:]
    /// term → candidate → its configuration when it campaigned.
    private var candidateConf: [UInt64: [NodeID: ConfState]] = [:]
    /// read request id → highest committed index when it was issued.
    private var readsIssued: [UInt64: UInt64] = [:]
    private(set) var readsAnswered = 0
    private(set) var elections = 0
    private(set) var entriesApplied = 0

    func fail(_ message: String) {
        violations.append(message)
    }

    var ok: Bool { violations.isEmpty }

    // MARK: Sending before persisting

    /// Before `ready.earlyMessages` leave, before the node persists `ready`: they must not
    /// depend on it (see `Ready`). Each is an append from a leader, of a term and vote
    /// already in its storage, whose commit index its storage already holds — with the
    /// same entry the node's log has there.
    func willSendEarly(_ node: SimNode, _ ready: Ready, raw: RawNode) {
        guard let stored = try? node.storage.hardState(), let storedLast = try? node.storage.lastIndex() else {
            fail("node \(node.id): storage unreadable before an early send")
            return
        }
        if raw.softState.role != .leader { fail("node \(node.id) sends early while \(raw.softState.role)") }
        if ready.snapshot != nil { fail("node \(node.id) sends early with a snapshot to persist") }
        if stored.vote != node.id { fail("node \(node.id) sends early without its vote for itself persisted (vote \(stored.vote))") }
        for m in ready.earlyMessages {
            if m.kind != .append || m.from != node.id {
                fail("node \(node.id) sends a \(m.kind) from \(m.from) early")
            }
            if m.term != stored.term {
                fail("node \(node.id) sends an append of term \(m.term) early, its persisted term is \(stored.term)")
            }
            if m.commit > storedLast {
                fail("node \(node.id) sends commit \(m.commit) early, it persisted only up to \(storedLast)")
            } else if m.commit > 0, let t = try? node.storage.term(at: m.commit), t != raw.raft.log.term(at: m.commit) {
                fail("node \(node.id) sends commit \(m.commit) early, its stored entry there is not its log's")
            }
        }
    }

    // MARK: Persisting a Ready

    /// Before the node persists `ready`: log matching over every entry ever written, and
    /// committed entries are never overwritten.
    func willPersist(_ node: SimNode, _ ready: Ready) {
        if let s = ready.snapshot {
            let meta = s.metadata
            guard let data = SimSnapshotData(s.data), data.index == meta.index else {
                fail("node \(node.id): malformed snapshot at \(meta.index)")
                return
            }
            if let h = hashAt[meta.index], h != data.hash {
                fail("state machine safety: node \(node.id) installs a snapshot at \(meta.index) whose state differs")
            } else if hashAt[meta.index] == nil {
                fail("node \(node.id) installs a snapshot at \(meta.index) that nobody applied")
            }
            if let t = committedTerm[meta.index], t != meta.term {
                fail("snapshot at \(meta.index) has term \(meta.term), committed term is \(t)")
            }
        }
        guard let first = ready.entries.first else { return }
        var previousTerm: UInt64
        if let s = ready.snapshot, s.metadata.index == first.index - 1 {
            previousTerm = s.metadata.term
        } else if first.index == 1 {
            previousTerm = 0
        } else {
            guard let t = try? node.storage.term(at: first.index - 1) else {
                fail("node \(node.id) appends at \(first.index) after a hole")
                return
            }
            previousTerm = t
        }
        let persistedCommit = node.lastHardState.commit
        for e in ready.entries {
            if e.term < previousTerm {
                fail("node \(node.id): term decreases in the log at \(e.index)")
            }
            let info = EntryInfo(kind: e.kind, digest: digest(e.data), previousTerm: previousTerm)
            let key = EntryKey(index: e.index, term: e.term)
            if let known = entries[key] {
                if known != info {
                    fail("log matching: node \(node.id) holds a different entry (\(e.index), \(e.term))")
                }
            } else {
                entries[key] = info
            }
            if e.index <= persistedCommit, let old = try? node.storage.term(at: e.index), old != e.term {
                fail("node \(node.id) overwrites committed entry \(e.index) (term \(old) → \(e.term))")
            }
            previousTerm = e.term
        }
    }

    /// After the node persisted `ready`: hard-state monotonicity, one vote per term,
    /// committed entries, election safety, leader completeness, vote counting.
    func didPersist(_ node: SimNode, _ ready: Ready, raw: RawNode) {
        if let hs = ready.hardState {
            let last = node.lastHardState
            if hs.term < last.term { fail("node \(node.id): term went back \(last.term) → \(hs.term)") }
            if hs.term == last.term && last.vote != 0 && hs.vote != last.vote {
                fail("node \(node.id) voted twice in term \(hs.term): \(last.vote) then \(hs.vote)")
            }
            if hs.commit < node.highestCommitSeen {
                fail("node \(node.id): commit went back \(node.highestCommitSeen) → \(hs.commit)")
            }
            if hs.vote != 0 && (hs.term != last.term || hs.vote != last.vote) {
                recordVote(node, hs, status: raw.status)
            }
            recordCommitted(node, from: node.highestCommitSeen, to: hs.commit)
            node.lastHardState = hs
            node.highestCommitSeen = max(node.highestCommitSeen, hs.commit)
        }
        if let soft = ready.softState {
            node.role = soft.role
            if soft.role == .leader { checkNewLeader(node, term: raw.hardState.term) }
        }
        node.term = raw.hardState.term
    }

    /// A node starts with a state written before it ran (a bootstrap log).
    func adopt(_ node: SimNode, hardState: HardState) {
        recordCommitted(node, from: 0, to: hardState.commit)
        node.lastHardState = hardState
        node.highestCommitSeen = hardState.commit
    }

    private func recordVote(_ node: SimNode, _ hs: HardState, status: Status) {
        var byVoter = votes[hs.term, default: [:]]
        if let previous = byVoter[node.id], previous != hs.vote {
            fail("node \(node.id) voted for \(previous) and \(hs.vote) in term \(hs.term)")
        }
        byVoter[node.id] = hs.vote
        votes[hs.term] = byVoter
        if hs.vote == node.id {
            // A candidacy: only a voter of its latest or applied configuration campaigns
            // (learners never do).
            if !status.confState.isVoter(node.id) && !status.appliedConfState.isVoter(node.id) {
                fail("node \(node.id) campaigned in term \(hs.term) without being a voter (\(status.confState))")
            }
            candidateConf[hs.term, default: [:]][node.id] = status.confState
        }
    }

    private func recordCommitted(_ node: SimNode, from: UInt64, to: UInt64) {
        guard to > from else { return }
        let floor = (try? node.storage.firstIndex()).map { $0 - 1 } ?? 0
        var i = max(from + 1, floor)
        while i <= to {
            guard let t = try? node.storage.term(at: i) else {
                fail("node \(node.id) commits \(i) which it does not hold")
                return
            }
            if let known = committedTerm[i] {
                if known != t { fail("two different entries committed at \(i): terms \(known) and \(t)") }
            } else if i > 0 {
                committedTerm[i] = t
            }
            i += 1
        }
        highestCommitted = max(highestCommitted, to)
    }

    private func checkNewLeader(_ node: SimNode, term: UInt64) {
        elections += 1
        if let other = leaderOfTerm[term], other != node.id {
            fail("election safety: \(other) and \(node.id) both lead term \(term)")
        }
        leaderOfTerm[term] = node.id
        // Votes: a quorum of the candidate's configuration, none from outside its voters.
        guard let conf = candidateConf[term]?[node.id] else {
            fail("node \(node.id) leads term \(term) without having campaigned")
            return
        }
        let grantors = (votes[term] ?? [:]).filter { $0.value == node.id }.map(\.key)
        // (A candidate outside its latest configuration votes for itself but does not count.)
        for g in grantors where !conf.isVoter(g) && g != node.id {
            fail("node \(g), not a voter of \(node.id)'s configuration, voted for it in term \(term)")
        }
        let counted = grantors.filter { conf.isVoter($0) }.count
        if counted < conf.quorum {
            fail("node \(node.id) leads term \(term) with \(counted) votes of \(conf.voters.count) voters")
        }
        // Leader completeness: every entry known committed is in the new leader's log.
        let first = (try? node.storage.firstIndex()) ?? 1
        let last = (try? node.storage.lastIndex()) ?? 0
        if last < highestCommitted {
            fail("leader completeness: leader \(node.id) of term \(term) ends at \(last), commit is \(highestCommitted)")
            return
        }
        var i = max(first, 1)
        while i <= highestCommitted {
            if let t = committedTerm[i], (try? node.storage.term(at: i)) != t {
                fail("leader completeness: leader \(node.id) of term \(term) lacks committed entry \(i)")
                return
            }
            i += 1
        }
    }

    // MARK: Applying

    func willInstallSnapshot(_ node: SimNode, _ snapshot: Snapshot) {
        if snapshot.metadata.index <= node.applied {
            fail("node \(node.id) installs snapshot \(snapshot.metadata.index) at or below applied \(node.applied)")
        }
    }

    /// State machine safety: every node applies the same entry at each index, in order,
    /// and only committed entries.
    func apply(_ node: SimNode, _ e: Entry) {
        if e.index != node.applied + 1 {
            fail("node \(node.id) applies \(e.index) after \(node.applied)")
        }
        if e.index > node.highestCommitSeen {
            fail("node \(node.id) applies \(e.index) beyond its commit \(node.highestCommitSeen)")
        }
        if let t = committedTerm[e.index], t != e.term {
            fail("node \(node.id) applies (\(e.index), \(e.term)) but (\(e.index), \(t)) is committed")
        }
        let info = AppliedInfo(term: e.term, kind: e.kind, digest: digest(e.data))
        if let known = appliedAt[e.index] {
            if known != info { fail("state machine safety: node \(node.id) applies a different entry at \(e.index)") }
        } else {
            appliedAt[e.index] = info
        }
        entriesApplied += 1
        node.applied = e.index
        node.stateHash = mix(mix(mix(node.stateHash, e.index), e.term), info.digest)
        if e.kind == .normal { node.appliedData.append(e.data) }
        if let h = hashAt[e.index] {
            if h != node.stateHash { fail("state machine safety: node \(node.id) state differs after \(e.index)") }
        } else {
            hashAt[e.index] = node.stateHash
        }
    }

    // MARK: Reads

    func issuedRead(_ id: UInt64) {
        readsIssued[id] = highestCommitted
    }

    /// Linearizability of ReadIndex: the read point covers everything committed before the
    /// read was issued, and is itself committed.
    func answeredRead(_ node: SimNode, _ state: ReadState) {
        guard state.context.count == 8 else { return }
        let id = uint64(from: state.context[...])
        guard let floor = readsIssued[id] else { return }
        readsAnswered += 1
        if state.index < floor {
            fail("read \(id) at node \(node.id) answered index \(state.index) < \(floor) committed before it")
        }
        if state.index > highestCommitted {
            fail("read \(id) answered uncommitted index \(state.index)")
        }
    }

    // MARK: Each step

    /// Cheap checks over live nodes after every step.
    func checkLive(_ node: SimNode, hardState: HardState, role: Role) {
        if hardState.commit < node.highestCommitSeen {
            fail("node \(node.id): commit index \(hardState.commit) below \(node.highestCommitSeen) seen before")
        }
        if role == .leader, let other = leaderOfTerm[hardState.term], other != node.id {
            fail("election safety: \(other) and \(node.id) both lead term \(hardState.term)")
        }
    }
}
