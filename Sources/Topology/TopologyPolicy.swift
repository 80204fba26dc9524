/// Limits the planner works within; call `validate()` before handing one to `Planner.plan`.
public struct TopologyPolicy: Sendable, Equatable {
    /// Voters per shard, >= 2 (so that `maxReplicas` >= 1 fits).
    public var maxVoters: Int = 5
    /// Read Replicas per shard, 1...(maxVoters - 1): every Read Replica can be a voter next to the Writer.
    public var maxReplicas: Int = 4
    /// A failed node is removed from membership after being down this long.
    public var removeAfterMilliseconds: UInt64 = 30_000
    /// How many recommendations the map keeps (oldest dropped first), >= 1.
    public var recommendationHistory: Int = 32

    public init() {}

    /// Throws `.invalidPolicy` naming the first field out of range.
    public func validate() throws(TopologyError) {
        guard maxVoters >= 1 else { throw .invalidPolicy("max_voters must be >= 1, got \(maxVoters)") }
        guard maxReplicas >= 1, maxReplicas <= maxVoters - 1 else {
            throw .invalidPolicy("max_replicas must be in 1...max_voters-1 (\(maxVoters - 1)), got \(maxReplicas)")
        }
        guard recommendationHistory >= 1 else {
            throw .invalidPolicy("recommendation_history must be >= 1, got \(recommendationHistory)")
        }
    }
}
