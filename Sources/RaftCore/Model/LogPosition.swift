/// Where a proposal landed in the leader's log. The proposal is committed exactly when the
/// committed entry at `index` has this `term`; if a different term shows up at `index`, the
/// proposal was lost (leader change) and may be retried.
public struct LogPosition: Sendable, Hashable {
    public var index: UInt64
    public var term: UInt64

    public init(index: UInt64, term: UInt64) {
        self.index = index
        self.term = term
    }
}
