import RaftCore

/// One simulated process: durable storage and application state (which survive crashes)
/// plus, while it runs, a `RawNode`.
final class SimNode {
    let id: NodeID
    let storage: MemoryLogStorage
    /// nil while crashed.
    var raw: RawNode?

    // The application's durable state; applying an entry and recording it happen together
    // (as the SQLite runtime will do in one transaction).
    var applied: UInt64 = 0
    /// Digest of the state machine: a hash chain over applied entries.
    var stateHash: UInt64 = 0
    /// Normal entries applied, in order (for tests that look at contents).
    var appliedData: [[UInt8]] = []

    // Observations for the checker; they survive restarts.
    var lastHardState = HardState()
    var highestCommitSeen: UInt64 = 0
    var readStates: [ReadState] = []
    var role: Role = .follower
    var term: UInt64 = 0

    init(id: NodeID, storage: MemoryLogStorage) {
        self.id = id
        self.storage = storage
    }

    var isUp: Bool { raw != nil }
}

/// The simulated application's snapshot payload: the applied index and the state digest.
struct SimSnapshotData {
    var index: UInt64
    var hash: UInt64

    var bytes: [UInt8] { uint64Bytes(index) + uint64Bytes(hash) }

    init(index: UInt64, hash: UInt64) {
        self.index = index
        self.hash = hash
    }

    init?(_ bytes: [UInt8]) {
        guard bytes.count == 16 else { return nil }
        index = uint64(from: bytes[0..<8])
        hash = uint64(from: bytes[8..<16])
    }
}
