import JSON

/// The cluster-wide configuration, replicated in the cluster map (DESIGN §5) so that the node
/// that plans (the meta shard's leader) and the node that evaluates the scaling policy (the
/// entry point) use the same values wherever they run (docs/ARCHITECTURE.md, "Cluster-wide
/// settings"). The founder's flags and `--scaling-policy` seed it when the cluster forms; after
/// that only `PUT /admin/v1/topology/settings` and `PUT /admin/v1/scaling/policy` change it, on
/// any node, and a node that joins with other flags takes the cluster's values.
public struct ClusterSettings: Sendable, Equatable {
    /// Voters per shard, at most (`--max-voters`).
    public var maxVoters: Int
    /// Read Replicas per shard, at most (`--max-replicas`).
    public var maxReplicas: Int
    /// Milliseconds without contact before the leader counts a node as failed (`--failure-timeout`).
    public var failureTimeoutMilliseconds: Int
    /// Milliseconds a failed node may stay down before it is removed (`--remove-after`).
    public var removeAfterMilliseconds: UInt64
    /// Bytes per second a Load Manager's silent replica catches up at (log and snapshots;
    /// `--silent-replica-rate`); 0: unlimited. See `ClusterMap.silentReplicas`.
    public var silentReplicaBytesPerSecond: Int
    /// The scaling policy as its JSON document (the Scaling module reads it; opaque here).
    public var scalingPolicy: JSON

    /// The default of `silentReplicaBytesPerSecond`: 32 MiB/s.
    public static let defaultSilentReplicaBytesPerSecond = 32 << 20

    public init(maxVoters: Int, maxReplicas: Int, failureTimeoutMilliseconds: Int, removeAfterMilliseconds: UInt64,
                silentReplicaBytesPerSecond: Int = ClusterSettings.defaultSilentReplicaBytesPerSecond, scalingPolicy: JSON) {
        self.maxVoters = maxVoters
        self.maxReplicas = maxReplicas
        self.failureTimeoutMilliseconds = failureTimeoutMilliseconds
        self.removeAfterMilliseconds = removeAfterMilliseconds
        self.silentReplicaBytesPerSecond = silentReplicaBytesPerSecond
        self.scalingPolicy = scalingPolicy
    }

    /// `base` with this cluster's voter cap, replica cap and removal grace.
    public func topologyPolicy(_ base: TopologyPolicy) -> TopologyPolicy {
        var policy = base
        policy.maxVoters = maxVoters
        policy.maxReplicas = maxReplicas
        policy.removeAfterMilliseconds = removeAfterMilliseconds
        return policy
    }

    /// Throws `.invalidPolicy` naming the first value out of range.
    public func validate() throws(TopologyError) {
        try topologyPolicy(TopologyPolicy()).validate()
        guard failureTimeoutMilliseconds >= 200 else {
            throw .invalidPolicy("failure_timeout_ms must be >= 200, got \(failureTimeoutMilliseconds)")
        }
        guard silentReplicaBytesPerSecond == 0 || silentReplicaBytesPerSecond >= 16 << 10 else {
            throw .invalidPolicy("silent_replica_bytes_per_second must be 0 (unlimited) or >= 16384, got \(silentReplicaBytesPerSecond)")
        }
    }

    // MARK: JSON

    /// The topology part, as `GET /admin/v1/topology/settings` shows it.
    public var topologyJSON: JSON {
        .object([
            ("max_voters", .int(maxVoters)),
            ("max_replicas", .int(maxReplicas)),
            ("failure_timeout_ms", .int(failureTimeoutMilliseconds)),
            ("remove_after_ms", .int(Int(clamping: removeAfterMilliseconds))),
            ("silent_replica_bytes_per_second", .int(silentReplicaBytesPerSecond)),
        ])
    }

    /// The whole of it, as the map carries it.
    public var json: JSON {
        .object(topologyJSON.members.map { ($0.key, $0.value) } + [("scaling_policy", scalingPolicy)])
    }

    /// These settings with the topology fields `body` names (any subset of `topologyJSON`'s);
    /// an unknown field or a value of the wrong type throws `.invalidPolicy` (range checks are
    /// `validate()`'s).
    public func updating(topology body: JSON) throws(TopologyError) -> ClusterSettings {
        guard body.kind == .object else { throw .invalidPolicy("the body is a JSON object of settings") }
        var next = self
        for (key, value) in body.members {
            guard let raw = value.intValue, value.kind == .integer, let number = Int(exactly: raw) else {
                throw .invalidPolicy("\(key) must be an integer")
            }
            switch key {
            case "max_voters": next.maxVoters = number
            case "max_replicas": next.maxReplicas = number
            case "failure_timeout_ms": next.failureTimeoutMilliseconds = number
            case "silent_replica_bytes_per_second": next.silentReplicaBytesPerSecond = number
            case "remove_after_ms":
                guard number >= 0 else { throw .invalidPolicy("remove_after_ms must be >= 0, got \(number)") }
                next.removeAfterMilliseconds = UInt64(number)
            default: throw .invalidPolicy("unknown setting \(key.debugDescription)")
            }
        }
        return next
    }

    init(fields: Fields) throws(TopologyError) {
        let policy = try fields.value("scaling_policy")
        guard policy.kind == .object else { throw .invalidMap("\(fields.path("scaling_policy")): expected an object") }
        self.init(
            maxVoters: try fields.int("max_voters", in: 1...Int.max),
            maxReplicas: try fields.int("max_replicas", in: 0...Int.max),
            failureTimeoutMilliseconds: try fields.int("failure_timeout_ms", in: 0...Int.max),
            removeAfterMilliseconds: try fields.uint64("remove_after_ms"),
            silentReplicaBytesPerSecond: fields.has("silent_replica_bytes_per_second")
                ? try fields.int("silent_replica_bytes_per_second", in: 0...Int.max) : Self.defaultSilentReplicaBytesPerSecond,
            scalingPolicy: policy)
    }
}
