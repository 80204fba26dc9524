/// A message between members of one group. A plain value with simple fields, so a
/// transport can encode it any way it likes (`encoded()` gives a compact binary form).
///
/// Field use by kind (unused fields are zero / empty / false):
///
/// | kind | index | logTerm | commit | other |
/// |---|---|---|---|---|
/// | `preVote`, `vote` | candidate's last index | term at it | candidate's commit | `commitTerm`, `transfer` |
/// | `preVoteResponse`, `voteResponse` | | | | `reject` |
/// | `append` | index before `entries` | term at it | leader's commit | `entries` |
/// | `appendResponse` | last index now matching (or rejected index) | hint term | | `reject`, `rejectHint` |
/// | `heartbeat` | | | min(follower match, commit) | `context` (read-index round) |
/// | `heartbeatResponse` | | | | `context` echoed |
/// | `snapshot` | | | | `snapshot` (metadata + opaque data) |
/// | `timeoutNow` | | | | |
/// | `readIndex` | | | | `context` (the caller's request id) |
/// | `readIndexResponse` | read index | | | `context` echoed |
public struct Message: Sendable, Equatable {
    public enum Kind: UInt8, Sendable, Hashable, CaseIterable {
        case preVote = 0
        case preVoteResponse = 1
        case vote = 2
        case voteResponse = 3
        case append = 4
        case appendResponse = 5
        case heartbeat = 6
        case heartbeatResponse = 7
        /// InstallSnapshot: carries metadata and an opaque token; the runtime streams the
        /// bytes, then reports the outcome with `RawNode.reportSnapshot`.
        case snapshot = 8
        /// Leadership transfer: the receiver campaigns at once, bypassing PreVote and leases.
        case timeoutNow = 9
        /// A follower forwarding `readIndex` to its leader.
        case readIndex = 10
        case readIndexResponse = 11
    }

    public var kind: Kind
    public var from: NodeID
    public var to: NodeID
    /// The sender's term (for pre-votes: the term the sender would campaign in).
    public var term: UInt64
    public var logTerm: UInt64
    public var index: UInt64
    public var commit: UInt64
    /// Term of the entry at `commit` (vote requests only): lets a voter that holds that
    /// entry learn the candidate's commit index.
    public var commitTerm: UInt64
    public var entries: [Entry]
    public var reject: Bool
    public var rejectHint: UInt64
    /// The vote request comes from a leadership transfer: voters grant it even within
    /// their leader lease.
    public var transfer: Bool
    public var context: [UInt8]
    public var snapshot: Snapshot?

    public init(
        kind: Kind, from: NodeID, to: NodeID, term: UInt64,
        logTerm: UInt64 = 0, index: UInt64 = 0, commit: UInt64 = 0, commitTerm: UInt64 = 0,
        entries: [Entry] = [], reject: Bool = false, rejectHint: UInt64 = 0,
        transfer: Bool = false, context: [UInt8] = [], snapshot: Snapshot? = nil
    ) {
        self.kind = kind
        self.from = from
        self.to = to
        self.term = term
        self.logTerm = logTerm
        self.index = index
        self.commit = commit
        self.commitTerm = commitTerm
        self.entries = entries
        self.reject = reject
        self.rejectHint = rejectHint
        self.transfer = transfer
        self.context = context
        self.snapshot = snapshot
    }

    /// True for the kinds that ask for a (pre-)vote.
    public var isVoteRequest: Bool { kind == .preVote || kind == .vote }
}
