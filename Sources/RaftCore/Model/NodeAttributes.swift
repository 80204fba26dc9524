/// Per-member attributes replicated in the configuration (Smart Raft, DESIGN §3).
///
/// They live in `ConfState`, so every member agrees on them at a given applied index; they
/// change only through `ConfChange` entries.
public struct NodeAttributes: Sendable, Hashable {
    /// The node's size class, `1...5`; higher levels are preferred as leader.
    public var level: UInt8
    /// `0`: a last-resort voter (an LM's silent replica). It votes, but campaigns only after
    /// a much longer timeout than any other voter and is never chosen as a transfer target.
    /// Any value above 0 makes the node a normal candidate; among equal levels the higher
    /// priority is preferred by the leader's hand-off.
    public var priority: UInt8
    /// When true (and `Config.autoPromoteLearners`), the leader promotes this node from
    /// learner to voter once it is caught up within `Config.promotionLag` entries.
    public var autoPromote: Bool

    public init(level: UInt8 = 1, priority: UInt8 = 1, autoPromote: Bool = true) {
        self.level = level
        self.priority = priority
        self.autoPromote = autoPromote
    }

    public static let `default` = NodeAttributes()

    /// Valid levels.
    public static let levels: ClosedRange<UInt8> = 1...5

    /// Total order used for leadership preference: priority-0 nodes rank below everyone,
    /// then by level, then by priority.
    public var electionRank: Int {
        priority == 0 ? 0 : (Int(level) << 8) | Int(priority)
    }

    var isValid: Bool { Self.levels.contains(level) }
}
