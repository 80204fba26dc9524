import Cluster
import Foundation
import JSON
import LoadManager
import Logging
import Replica
import Scaling
import Sharding
import Sync
import Synchronization
import Topology

/// Runs the scaling policy once a second on the node that evaluates it — the primary Load
/// Manager of the cluster map (a single node evaluates for itself) — and hands each proposal,
/// each surge episode the policy reports (kind `surge`, informational), and each
/// `replace_node` the topology planner records in the map, to the outbox that delivers them
/// to the operator hook (DESIGN §7).
///
/// The policy is the cluster's, from the replicated map (docs/ARCHITECTURE.md, "Cluster-wide
/// settings"); a single node's own (`--scaling-policy FILE`, then `PUT
/// /admin/v1/scaling/policy`, persisted in the data directory) seeds it when the cluster
/// forms. Measurements are the requests this node answered.
final class ScalingController: Sendable {
    struct Settings: Sendable {
        var nodeID: String
        var url: String
        var level: Int
        /// Where a policy set through the API is kept.
        var policyPath: String
        /// Where the highest map recommendation already handed on is kept.
        var mapCursorPath: String
        /// Started with `--join`: not an entry point of its own while it is still alone.
        var joining: Bool
    }

    let settings: Settings
    let measurement: LoadMeasurement
    let cluster: ClusterController
    let outbox: Outbox
    let sender: HookSender?
    let logger: Logger
    private let policyState: Mutex<ScalingPolicy>
    /// The map's policy document and its reading, decoded once per change.
    private let clusterPolicy = Mutex<(document: JSON, policy: ScalingPolicy)?>(nil)
    /// The policy the last tick evaluated with: a change restarts the conditions.
    private let lastPolicy = Mutex<ScalingPolicy?>(nil)
    private let evaluation = Mutex<Evaluation?>(nil)
    private let engineState = Mutex(ScalingState())
    private let mapCursor: Mutex<UInt64>
    /// Whether this node evaluated at the last tick. It starts true only for a node that is
    /// the entry point from the start (a single node, not joining): any other that becomes one
    /// later starts in cooldown.
    private let wasEvaluator: Mutex<Bool>
    private let stopped = Atomic<Bool>(false)
    /// Surge episodes this node reported since it started (`machdb_scaling_surges_total`).
    private let surgeReports = Atomic<Int>(0)
    private let wake = ConditionLock()

    init(settings: Settings, policy: ScalingPolicy, measurement: LoadMeasurement, cluster: ClusterController, outbox: Outbox,
         sender: HookSender?, logger: Logger) {
        self.settings = settings
        self.measurement = measurement
        self.cluster = cluster
        self.outbox = outbox
        self.sender = sender
        self.logger = logger
        let stored = (try? String(contentsOfFile: settings.policyPath, encoding: .utf8))
            .flatMap { try? ScalingPolicy(json: JSON.parse($0), defaults: policy) }
        policyState = Mutex(stored ?? policy)
        cluster.seed { $0.scalingPolicy = (stored ?? policy).json }
        let cursor = (try? String(contentsOfFile: settings.mapCursorPath, encoding: .utf8))
            .flatMap { UInt64($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? 0
        mapCursor = Mutex(cursor)
        wasEvaluator = Mutex(cluster.replica == nil && !settings.joining)
    }

    func start() {
        let thread = Thread { [self] in
            while !stopped.load(ordering: .relaxed) {
                tick()
                wake.withLock { _ = wake.wait(untilNanoseconds: monotonicNanoseconds() + 1_000_000_000) }
            }
        }
        thread.name = "scaling"
        thread.start()
    }

    func stop() {
        stopped.store(true, ordering: .relaxed)
        wake.withLock { wake.broadcast() }
    }

    /// The policy in force: the cluster's, else (a single node) this node's own.
    var policy: ScalingPolicy {
        let own = policyState.withLock { $0 }
        guard let document = cluster.maps.replicated?.settings?.scalingPolicy else { return own }
        return clusterPolicy.withLock { cached in
            if let cached, cached.document == document { return cached.policy }
            let read = (try? ScalingPolicy(json: document, defaults: ScalingPolicy())) ?? own
            cached = (document, read)
            return read
        }
    }

    /// Replaces this node's own policy (validated by the caller; a single node's) and keeps
    /// it across restarts; it seeds the cluster's when the cluster forms.
    func setPolicy(_ policy: ScalingPolicy) throws {
        try Data(policy.json.encoded()).write(to: URL(fileURLWithPath: settings.policyPath), options: .atomic)
        policyState.withLock { $0 = policy }
        cluster.seed { $0.scalingPolicy = policy.json }
    }

    var lastEvaluation: Evaluation? { evaluation.withLock { $0 } }

    /// Surge episodes reported since this node started.
    var surgesReported: Int { surgeReports.load(ordering: .relaxed) }

    /// True when this node evaluates the policy: it is the map's primary Load Manager.
    var isEvaluator: Bool {
        guard cluster.replica != nil else { return !settings.joining }
        return cluster.maps.map.primaryLoadManager?.id == settings.nodeID
    }

    // MARK: One tick

    private func tick() {
        measurement.sampleHistory()  // the console's per-second history (docs/ARCHITECTURE.md, "Console")
        let evaluating = isEvaluator
        let previous = wasEvaluator.withLock { value in defer { value = evaluating }; return value }
        guard evaluating else {
            evaluation.withLock { $0 = nil }  // another node evaluates: nothing current to show here
            return
        }
        if !previous {
            // This node just became the entry point — usually because a node was added or lost.
            // Start in cooldown (no scale-up or scale-down at once): the cluster needs time to
            // absorb the change, and the previous evaluator's cooldown must not be lost with it.
            let now = measurement.now
            engineState.withLock { $0 = ScalingState(lastRecommendation: now, lastScaleUp: now) }
            logger.info("now evaluating the scaling policy (entry point); starting in cooldown")
        }
        let facts = clusterFacts()
        let policy = self.policy
        if lastPolicy.withLock({ last in defer { last = policy }; return last != nil && last != policy }) {
            engineState.withLock { $0 = ScalingState() }  // new thresholds: conditions start over
        }
        let now = measurement.now
        let result = ScalingPolicyEngine.evaluate(windows: measurement.overall, now: now, facts: facts,
                                                  state: engineState.withLock { $0 }, policy: policy)
        engineState.withLock { $0 = result.state }
        evaluation.withLock { $0 = result }
        for proposal in result.proposals {
            record(kind: proposal.kind.rawValue, reason: proposal.reason, stage: proposal.stage, stageNumber: proposal.stageNumber,
                   target: proposal.target.json, evidence: proposal.json["evidence"] ?? .object([]))
        }
        for episode in result.surges {
            surgeReports.add(1, ordering: .relaxed)
            record(kind: RecommendationKind.surge.rawValue, reason: episode.reason, stage: facts.stageName,
                   stageNumber: facts.stage, target: .object([]),
                   evidence: .object(episode.evidence.sorted { $0.key < $1.key }.map { ($0.key, .double($0.value)) }),
                   episode: Self.wallClock(episode, now: now))
        }
        forwardMapRecommendations()
    }

    /// A surge's `episode` member of the hook body: `{started_at, ended_at}` in wall-clock
    /// milliseconds (the measurement clock's seconds placed before the wall clock's now) and
    /// `duration_seconds`.
    static func wallClock(_ episode: SurgeEpisode, now: UInt64, wallNow: Int64 = wallClockMilliseconds()) -> JSON {
        func wall(_ second: UInt64) -> Int64 { wallNow - Int64(clamping: now > second ? now - second : 0) * 1000 }
        return .object([
            ("started_at", .int(wall(episode.start))), ("ended_at", .int(wall(episode.end ?? now))),
            ("duration_seconds", .int(episode.durationSeconds ?? 0)),
        ])
    }

    /// What the policy needs to know about the cluster, from the map.
    func clusterFacts() -> ClusterFacts {
        guard cluster.replica != nil else {
            return ClusterFacts(stage: 1, stageName: "Mach I", readReplicas: 0, maxReplicas: cluster.settings.maxReplicas,
                                leaderLevel: settings.level, anyReplicaLagging: false, removableNode: nil, joinURL: settings.url)
        }
        let map = cluster.maps.map
        let active = map.nodes.filter { $0.state == .active }
        let writer = map.shards.first?.writer.flatMap { map.node($0) }
        let replicas = active.filter { $0.roles.contains(.replica) && !$0.roles.contains(.writer) }
        let split = splitChoice(map)
        return ClusterFacts(
            stage: map.stage, stageName: map.stageName, readReplicas: replicas.count,
            maxReplicas: cluster.settings.maxReplicas, leaderLevel: writer?.level ?? settings.level,
            // A node with no role yet is catching up (or waiting for promotion).
            anyReplicaLagging: active.contains { $0.roles.isEmpty },
            removableNode: replicas.max { $0.joinOrder < $1.joinOrder }?.id,
            joinURL: map.primaryLoadManager?.url ?? settings.url, splitShard: split.shard, splitAt: split.at)
    }

    /// The shard a split would help most (the one with the most requests measured here over the
    /// last hour) and where it would split (`SplitPoint`; nil for a hot bucket).
    func splitChoice(_ map: ClusterMap) -> (shard: Int, at: Int?) {
        let counts = measurement.bucketCounts()
        let ranges = map.shards.map { (id: $0.id, range: $0.firstBucket...$0.lastBucket) }
        guard let busiest = ranges.max(by: { a, b in
            a.range.reduce(0) { $0 + counts[$1 - 1] } < b.range.reduce(0) { $0 + counts[$1 - 1] }
        }) else { return (1, nil) }
        if case let .at(bucket, _) = SplitPoint.choose(range: busiest.range, counts: { UInt64(counts[$0 - 1]) }) {
            return (busiest.id, bucket)
        }
        return (busiest.id, nil)
    }

    /// Hands each new `replace_node` of the map to the outbox (once: the cursor is persisted).
    private func forwardMapRecommendations() {
        guard cluster.replica != nil else { return }
        let map = cluster.maps.map
        let cursor = mapCursor.withLock { $0 }
        let fresh = map.recommendations.filter { $0.seq > cursor && $0.kind == .replaceNode }
        guard let last = map.recommendations.last?.seq, last > cursor else { return }
        for recommendation in fresh {
            let failed = recommendation.target.flatMap { map.node($0) }
            var target: [(String, JSON)] = [("level", .int(failed?.level ?? settings.level))]
            if let node = recommendation.target { target.append(("node", .string(node))) }
            target.append(("join_url", .string(map.primaryLoadManager?.url ?? settings.url)))
            // The same id from whichever node hands it on: the operator acts once.
            record(kind: recommendation.kind.rawValue, reason: recommendation.reason,
                   stage: "Mach " + ClusterMap.roman(recommendation.stage),
                   stageNumber: recommendation.stage, target: .object(target),
                   evidence: .object([("map_version", .int(recommendation.mapVersion)), ("map_seq", .int(recommendation.seq))]),
                   id: "map-\(recommendation.seq)-v\(recommendation.mapVersion)")
        }
        mapCursor.withLock { $0 = last }
        try? Data(String(last).utf8).write(to: URL(fileURLWithPath: settings.mapCursorPath), options: .atomic)
    }

    private func record(kind: String, reason: String, stage: String, stageNumber: Int, target: JSON, evidence: JSON,
                        episode: JSON? = nil, id: String? = nil) {
        do {
            let recommendation = try outbox.enqueue(kind: kind, reason: reason, stage: stage, stageNumber: stageNumber,
                                                    target: target, evidence: evidence, episode: episode,
                                                    source: settings.nodeID, id: id)
            logger.notice(kind == RecommendationKind.surge.rawValue ? "surge reported" : "scaling recommendation", metadata: [
                "kind": "\(kind)", "seq": "\(recommendation.seq)", "id": "\(recommendation.id)", "reason": "\(reason)",
            ])
            sender?.wake()
        } catch {
            logger.error("recommendation not recorded", metadata: ["kind": "\(kind)", "error": "\(error)"])
        }
    }
}
