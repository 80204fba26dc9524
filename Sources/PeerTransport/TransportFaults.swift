import RaftCore
import Synchronization

/// Faults a test injects into a live transport (never set in production): each applies to
/// frames this node sends, or reads, from then on.
public final class TransportFaults: Sendable {
    public struct Settings: Sendable {
        /// Fraction (0...1) of Raft message frames silently lost on send.
        public var dropRate = 0.0
        /// Fraction of Raft message frames sent twice.
        public var duplicateRate = 0.0
        /// Pause before every write to a peer.
        public var delayMilliseconds = 0
        /// Peers this node neither sends to (not even heartbeats, so their receivers drop the
        /// silent stream and it reconnects after healing) nor reads from: a partition.
        public var partitioned: Set<NodeID> = []
        /// Peers whose streams this node stops reading (their sends eventually block and time out).
        public var stopReading: Set<NodeID> = []
        /// Shards whose Raft messages to these peers are all lost: `[peer: shards]` (one
        /// group cut off while the others' traffic flows).
        public var droppedShards: [NodeID: Set<Int>] = [:]
        /// Seed of the drop/duplicate choices.
        public var seed: UInt64 = 1
        public init() {}
    }

    private let state: Mutex<(settings: Settings, random: SplitMix64)>

    public init() { state = Mutex((Settings(), SplitMix64(seed: 1))) }

    public var settings: Settings {
        get { state.withLock { $0.settings } }
        set { state.withLock { $0 = (newValue, SplitMix64(seed: newValue.seed)) } }
    }

    /// Whether anything is injected (the hot path checks this first).
    var active: Bool {
        state.withLock { s in
            s.settings.dropRate > 0 || s.settings.duplicateRate > 0 || s.settings.delayMilliseconds > 0
                || !s.settings.partitioned.isEmpty || !s.settings.stopReading.isEmpty || !s.settings.droppedShards.isEmpty
        }
    }

    /// How many copies of a frame to `peer` go out: 0 (lost), 1 or 2. Only Raft message frames
    /// are dropped or duplicated (calls are not retried by Raft; TCP never duplicates).
    func copies(of frame: PeerFrame, to peer: NodeID) -> Int {
        state.withLock { s in
            if s.settings.partitioned.contains(peer) { return 0 }
            guard case let .messages(shard, _) = frame else { return 1 }
            if s.settings.droppedShards[peer]?.contains(shard) == true { return 0 }
            if s.settings.dropRate > 0, Double.random(in: 0..<1, using: &s.random) < s.settings.dropRate { return 0 }
            if s.settings.duplicateRate > 0, Double.random(in: 0..<1, using: &s.random) < s.settings.duplicateRate { return 2 }
            return 1
        }
    }

    var delayMilliseconds: Int { state.withLock { $0.settings.delayMilliseconds } }

    func ignores(_ peer: NodeID) -> Bool { state.withLock { $0.settings.partitioned.contains(peer) } }

    func pausesReading(_ peer: NodeID) -> Bool { state.withLock { $0.settings.stopReading.contains(peer) } }
}
