import JSON

/// One scaling recommendation, before the outbox gives it an `id` and a `seq`.
public struct Proposal: Sendable, Equatable {
    /// What the recommendation is aimed at; fields that do not apply are nil.
    public struct Target: Sendable, Equatable {
        /// remove_node: the node to remove.
        public var node: String?
        /// add_node: the level of the new replica (the leader's); bigger_leader: the new leader's level.
        public var level: Int?
        /// split_shard: the shard to split, and the first bucket of the new shard.
        public var shard: Int?
        public var at: Int?
        /// add_node, bigger_leader: where the new node joins.
        public var joinURL: String?

        public init(node: String? = nil, level: Int? = nil, shard: Int? = nil, at: Int? = nil, joinURL: String? = nil) {
            self.node = node
            self.level = level
            self.shard = shard
            self.at = at
            self.joinURL = joinURL
        }

        /// `{node, level, shard, at, join_url}` with nil fields omitted.
        public var json: JSON {
            var members: [(String, JSON)] = []
            if let node { members.append(("node", .string(node))) }
            if let level { members.append(("level", .int(level))) }
            if let shard { members.append(("shard", .int(shard))) }
            if let at { members.append(("at", .int(at))) }
            if let joinURL { members.append(("join_url", .string(joinURL))) }
            return .object(members)
        }
    }

    public var kind: RecommendationKind
    /// One human sentence with the figures that triggered it.
    public var reason: String
    /// The stage name and number when it was made.
    public var stage: String
    public var stageNumber: Int
    public var target: Target
    /// The measurements behind it, keyed by figure and window, e.g. "average_seconds_3600",
    /// "timeout_rate_300", "requests_3600", "read_fraction", "surge_average_seconds_10".
    public var evidence: [String: Double]

    public init(kind: RecommendationKind, reason: String, stage: String, stageNumber: Int, target: Target, evidence: [String: Double]) {
        self.kind = kind
        self.reason = reason
        self.stage = stage
        self.stageNumber = stageNumber
        self.target = target
        self.evidence = evidence
    }

    /// The hook body less `id` and `seq`: `{kind, reason, stage, stage_number, target, evidence}`
    /// (evidence keys sorted).
    public var json: JSON {
        .object([
            ("kind", .string(kind.rawValue)),
            ("reason", .string(reason)),
            ("stage", .string(stage)),
            ("stage_number", .int(stageNumber)),
            ("target", target.json),
            ("evidence", .object(evidence.sorted { $0.key < $1.key }.map { ($0.key, .double($0.value)) })),
        ])
    }
}
