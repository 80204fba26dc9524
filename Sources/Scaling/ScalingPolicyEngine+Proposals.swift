extension ScalingPolicyEngine {
    /// The scale-up proposal for the workload class and the cluster's room to grow; nil when the
    /// answer would be a split and the shard cannot usefully be split (`facts.splitAt` nil).
    static func scaleUp(
        _ measured: Measurements, sustained: Int, windows: LatencyWindows, now: UInt64, facts: ClusterFacts,
        workload: WorkloadClass, policy: ScalingPolicy
    ) -> Proposal? {
        var causes: [String] = []
        if measured.averageHigh(policy) {
            causes.append(
                "mean response time \(Format.seconds(measured.up.averageSeconds)) over the last \(measured.upSeconds) s "
                    + "is above \(Format.seconds(policy.upAverageSeconds))")
        }
        if measured.timeoutsHigh(policy) {
            causes.append(
                "\(Format.percent(measured.timeouts.timeoutRate)) of requests timed out over the last "
                    + "\(measured.timeoutSeconds) s (above \(Format.percent(policy.upTimeoutRate)))")
        }
        let cause = causes.joined(separator: " and ") + " for \(sustained) s"

        let kind: RecommendationKind
        let target: Proposal.Target
        let action: String
        switch workload {
        case .writeIntensive where facts.leaderLevel < ClusterFacts.maximumLevel:
            kind = .biggerLeader
            target = .init(level: facts.leaderLevel + 1, joinURL: facts.joinURL)
            action = "the workload is write-intensive (\(Format.percent(measured.long.writeFraction)) writes): "
                + "move the leader to a level \(facts.leaderLevel + 1) node"
        case .writeIntensive:
            guard let at = facts.splitAt else { return nil }  // nothing to split (a hot bucket): the status says so
            kind = .splitShard
            target = .init(shard: facts.splitShard, at: at, joinURL: facts.joinURL)
            action = "the workload is write-intensive (\(Format.percent(measured.long.writeFraction)) writes) "
                + "and the leader is already at level \(facts.leaderLevel): split shard \(facts.splitShard) at bucket \(at)"
        case .readIntensive, .balanced:
            if facts.readReplicas < facts.maxReplicas {
                kind = .addNode
                target = .init(level: facts.leaderLevel, joinURL: facts.joinURL)
                action = "\(facts.readReplicas) of \(facts.maxReplicas) read replicas are in use "
                    + "(\(Format.percent(measured.long.readFraction)) reads): add a level \(facts.leaderLevel) node"
            } else {
                guard let at = facts.splitAt else { return nil }
                kind = .splitShard
                target = .init(shard: facts.splitShard, at: at, joinURL: facts.joinURL)
                action = "all \(facts.maxReplicas) read replicas are in use "
                    + "(\(Format.percent(measured.long.readFraction)) reads): split shard \(facts.splitShard) at bucket \(at)"
            }
        }

        var evidence = commonEvidence(measured, facts: facts, policy: policy)
        evidence["sustained_seconds"] = Double(sustained)
        let percentiles = windows.stats(windowSeconds: measured.upSeconds, now: now)
        evidence["p95_seconds_\(measured.upSeconds)"] = percentiles.p95
        evidence["p99_seconds_\(measured.upSeconds)"] = percentiles.p99
        return Proposal(
            kind: kind, reason: sentence("\(cause); \(action)."), stage: facts.stageName, stageNumber: facts.stage,
            target: target, evidence: evidence)
    }

    /// The remove_node proposal for `node`.
    static func scaleDown(
        _ measured: Measurements, sustained: Int, node: String, facts: ClusterFacts, policy: ScalingPolicy
    ) -> Proposal {
        var evidence = commonEvidence(measured, facts: facts, policy: policy)
        evidence["sustained_seconds"] = Double(sustained)
        let reason = "mean response time \(Format.seconds(measured.down.averageSeconds)) over the last "
            + "\(measured.downSeconds) s has been below \(Format.seconds(policy.downAverageSeconds)) for \(sustained) s; "
            + "remove \(node) (\(facts.stage) live nodes, minimum \(policy.minimumNodes))."
        return Proposal(
            kind: .removeNode, reason: sentence(reason), stage: facts.stageName, stageNumber: facts.stage,
            target: .init(node: node), evidence: evidence)
    }

    /// Figures every proposal carries, keyed by figure and window length in seconds (windows
    /// clipped to the same length share their keys).
    private static func commonEvidence(_ measured: Measurements, facts: ClusterFacts, policy: ScalingPolicy) -> [String: Double] {
        var evidence: [String: Double] = [:]
        evidence["average_seconds_\(measured.upSeconds)"] = measured.up.averageSeconds
        evidence["requests_\(measured.upSeconds)"] = Double(measured.up.requests)
        evidence["timeout_rate_\(measured.timeoutSeconds)"] = measured.timeouts.timeoutRate
        evidence["timeouts_\(measured.timeoutSeconds)"] = Double(measured.timeouts.timeouts)
        evidence["requests_\(measured.timeoutSeconds)"] = Double(measured.timeouts.requests)
        evidence["down_average_seconds_\(measured.downSeconds)"] = measured.down.averageSeconds
        evidence["down_requests_\(measured.downSeconds)"] = Double(measured.down.requests)
        evidence["read_fraction"] = measured.long.readFraction
        evidence["write_fraction"] = measured.long.writeFraction
        evidence["surge_average_seconds_\(policy.surgeWindowSeconds)"] = measured.surge.averageSeconds
        evidence["read_replicas"] = Double(facts.readReplicas)
        evidence["max_replicas"] = Double(facts.maxReplicas)
        evidence["leader_level"] = Double(facts.leaderLevel)
        return evidence
    }

    /// Capitalizes the first letter.
    private static func sentence(_ text: String) -> String {
        text.prefix(1).uppercased() + text.dropFirst()
    }
}
