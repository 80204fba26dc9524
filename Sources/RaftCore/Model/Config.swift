/// Everything a `RawNode` needs besides its storage. Time is counted in logical ticks
/// (`RawNode.tick()`); the runtime decides how long a tick is.
public struct Config: Sendable {
    /// This node's id; not 0.
    public var id: NodeID
    /// Base election timeout in ticks. A follower that hears from no leader for its
    /// randomized timeout (see `Raft+SmartRaft.swift`) campaigns; it is also the leader
    /// lease and the CheckQuorum period. Default 10.
    public var electionTick: Int = 10
    /// Ticks between leader heartbeats; smaller than `electionTick`. Default 1.
    public var heartbeatTick: Int = 1
    /// The last index the application has applied durably (its state includes it); the
    /// core hands out committed entries after it. 0 when the application re-applies from
    /// the latest snapshot.
    public var applied: UInt64 = 0
    /// Upper bound on the entry bytes of one `append` message (at least one entry is sent).
    public var maxSizePerMsg: UInt64 = 1 << 20
    /// Maximum number of unacknowledged `append` messages per follower (pipelining window).
    public var maxInflightMsgs: Int = 256
    /// Maximum unacknowledged entry bytes per follower.
    public var maxInflightBytes: UInt64 = 32 << 20
    /// Back pressure: `propose` fails with `uncommittedBytesExceeded` when the leader's
    /// uncommitted entry payload bytes would exceed this (a single proposal on an empty
    /// backlog is always accepted).
    public var maxUncommittedBytes: UInt64 = 64 << 20
    /// Upper bound on the committed-entry bytes in one `Ready` (at least one entry).
    public var maxCommittedBytesPerReady: UInt64 = 64 << 20
    /// A leader that has not heard from a quorum within `electionTick` steps down; a
    /// follower that has heard from its leader within `electionTick` ignores vote requests.
    public var checkQuorum: Bool = true
    /// Campaign in two phases so a partitioned node rejoining cannot bump the term.
    public var preVote: Bool = true
    /// A learner whose match index is within this many entries of the leader's last index
    /// is caught up: eligible for automatic promotion. Also the lag within which a
    /// higher-level voter is considered for automatic leadership hand-off.
    public var promotionLag: UInt64 = 100
    /// The leader proposes the promotion of caught-up learners whose attributes allow it.
    public var autoPromoteLearners: Bool = true
    /// Smart Raft: a leader hands leadership to a caught-up, live voter of higher rank
    /// (level, then priority). A priority-0 leader always hands off, whatever this says.
    public var transferToHigherLevel: Bool = true
    /// A leadership transfer not finished within this many ticks is abandoned. nil means
    /// `electionTick`.
    public var transferTimeoutTicks: Int? = nil
    /// A priority-0 voter waits this many base election timeouts (plus jitter) before
    /// campaigning; at least 4 so it always loses to a live voter of priority > 0 (whose
    /// timeout is below 3 base timeouts). Default 4.
    public var priorityZeroTimeoutMultiplier: Int = 4
    /// Maximum read-index requests waiting for leadership confirmation at a leader.
    public var maxPendingReadIndex: Int = 4096
    /// Seed of this node's private random source (election jitter). The core uses no
    /// other randomness, so a seed makes a run reproducible.
    public var randomSeed: UInt64

    public init(id: NodeID, randomSeed: UInt64) {
        self.id = id
        self.randomSeed = randomSeed
    }

    /// The effective transfer timeout in ticks.
    public var effectiveTransferTimeout: Int { transferTimeoutTicks ?? electionTick }

    /// Throws `RaftError.invalidConfig` naming the first bad field.
    public func validate() throws(RaftError) {
        guard id != 0 else { throw .invalidConfig("id must not be 0") }
        guard heartbeatTick > 0 else { throw .invalidConfig("heartbeatTick must be > 0") }
        guard electionTick > heartbeatTick else {
            throw .invalidConfig("electionTick must be greater than heartbeatTick")
        }
        guard electionTick >= 4 else { throw .invalidConfig("electionTick must be >= 4") }
        guard maxSizePerMsg > 0 else { throw .invalidConfig("maxSizePerMsg must be > 0") }
        guard maxInflightMsgs > 0 else { throw .invalidConfig("maxInflightMsgs must be > 0") }
        guard maxInflightBytes >= maxSizePerMsg else {
            throw .invalidConfig("maxInflightBytes must be >= maxSizePerMsg")
        }
        guard maxUncommittedBytes > 0 else { throw .invalidConfig("maxUncommittedBytes must be > 0") }
        guard maxCommittedBytesPerReady > 0 else {
            throw .invalidConfig("maxCommittedBytesPerReady must be > 0")
        }
        guard effectiveTransferTimeout > 0 else { throw .invalidConfig("transferTimeoutTicks must be > 0") }
        guard priorityZeroTimeoutMultiplier >= 4 else {
            throw .invalidConfig("priorityZeroTimeoutMultiplier must be >= 4")
        }
        guard maxPendingReadIndex > 0 else { throw .invalidConfig("maxPendingReadIndex must be > 0") }
    }
}
