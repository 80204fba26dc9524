/// What a snapshot covers: the log up to and including `index` (whose entry had `term`),
/// and the configuration in force after applying it.
public struct SnapshotMetadata: Sendable, Hashable {
    public var index: UInt64
    public var term: UInt64
    public var confState: ConfState

    public init(index: UInt64 = 0, term: UInt64 = 0, confState: ConfState = .empty) {
        self.index = index
        self.term = term
        self.confState = confState
    }
}
