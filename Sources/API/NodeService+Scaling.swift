import Foundation
import JSON
import LoadManager
import MicroHTTPD
import Scaling
import Sharding

extension NodeService {
    /// Creates the scaling evaluator with its outbox (`<data dir>/hook-outbox.sqlite`) and, with
    /// a hook URL, the sender that delivers to it; starts both.
    public func startScaling(hook: HookSettings?, policy: ScalingPolicy, dataDirectory: String, joining: Bool = false) throws {
        let outbox = try Outbox(path: dataDirectory + "/hook-outbox.sqlite", logger: logger)
        var sender: HookSender?
        if let hook {
            sender = try HookSender(outbox: outbox, url: hook.url, secret: hook.secret, configuration: HookConfiguration(),
                                    logger: logger)
        }
        let settings = ScalingController.Settings(
            nodeID: configuration.nodeID, url: configuration.advertiseURL, level: configuration.level,
            policyPath: dataDirectory + "/scaling-policy.json", mapCursorPath: dataDirectory + "/hook-map-cursor",
            joining: joining)
        let controller = ScalingController(settings: settings, policy: policy, measurement: measurement, cluster: cluster,
                                           outbox: outbox, sender: sender, logger: logger)
        attach(scaling: controller)
        sender?.start()
        controller.start()
    }

    func attach(scaling: ScalingController) { scalingState.withLock { $0 = scaling } }

    private func requireScaling() throws(Problem) -> ScalingController {
        guard let scaling else { throw Problem(.notReady, "scaling is not running on this node") }
        return scaling
    }

    /// `GET /admin/v1/scaling`: what this node measures, what the policy concludes, the
    /// gateway's bounds and depths, and the hook's delivery state.
    func scalingView() throws(Problem) -> Response {
        let scaling = try requireScaling()
        let gateway = self.gateway.snapshot
        var fields: [(String, JSON)] = [
            ("node", .string(configuration.nodeID)),
            ("evaluator", .bool(scaling.isEvaluator)),
            ("policy", scaling.policy.json),
            ("evaluation", scaling.lastEvaluation?.json ?? .null),
            ("cluster", Self.factsJSON(scaling.clusterFacts())),
            ("measurement", measurement.json),
            ("gateway", .object([
                ("max_upstream_per_target", .int(gateway.maxUpstreamPerTarget)), ("max_waiting", .int(gateway.maxWaiting)),
                ("waiting", .object(Gateway.Priority.allCases.map { ($0.name, .int(gateway.waitingByClass[$0, default: 0])) })),
                ("outstanding", .object(gateway.outstanding.sorted { $0.key < $1.key }.map { ($0.key, .int($0.value)) })),
                ("refused_full", .int(gateway.counters.refusedFull)), ("evicted", .int(gateway.counters.evicted)),
                ("expired", .int(gateway.counters.expired)),
                ("leaderless_waiting", .int(leaderlessWaiting.load(ordering: .relaxed))),
                ("leaderless_buffer", .int(configuration.leaderlessWriteBuffer)),
            ])),
        ]
        fields.append(("split_points", splitPointsJSON()))
        if let stats = try? scaling.outbox.stats() { fields.append(("outbox", stats.json)) }
        if let sender = scaling.sender { fields.append(("hook", sender.status.json)) }
        return ResponseBody.json(.object(fields))
    }

    /// Where each shard would split now from the load measured here (see `SplitPoint`):
    /// `{"shard", "buckets", "at", "balance"}`, or `"hot_bucket"` and `"share"` when one
    /// bucket carries the load and the shard cannot usefully be split.
    func splitPointsJSON() -> JSON {
        let counts = measurement.bucketCounts()
        return .array(store.shardTable.sorted.compactMap { descriptor -> JSON? in
            guard let range = descriptor.buckets else { return nil }
            var fields: [(String, JSON)] = [
                ("shard", .int(descriptor.id)), ("buckets", .array([.int(range.lowerBound), .int(range.upperBound)])),
            ]
            switch SplitPoint.choose(range: range, counts: { UInt64(counts[$0 - 1]) }) {
            case let .at(bucket, balance): fields += [("at", .int(bucket)), ("balance", .double(balance))]
            case let .hotBucket(bucket, share): fields += [("at", .null), ("hot_bucket", .int(bucket)), ("share", .double(share))]
            case .tooSmall: fields += [("at", .null)]
            }
            return .object(fields)
        })
    }

    static func factsJSON(_ facts: ClusterFacts) -> JSON {
        .object([
            ("stage", .string(facts.stageName)), ("stage_number", .int(facts.stage)), ("read_replicas", .int(facts.readReplicas)),
            ("max_replicas", .int(facts.maxReplicas)), ("leader_level", .int(facts.leaderLevel)),
            ("replica_lagging", .bool(facts.anyReplicaLagging)), ("removable_node", facts.removableNode.map { .string($0) } ?? .null),
            ("join_url", facts.joinURL.map { .string($0) } ?? .null),
        ])
    }

    /// `GET /admin/v1/scaling/recommendations?limit=n`: newest first, with delivery state.
    func recommendations(_ request: Request) throws(Problem) -> Response {
        let scaling = try requireScaling()
        guard let limit = Int(request.queryValue("limit") ?? "100"), (1...1_000).contains(limit) else {
            throw Problem(.invalidParameter, "limit must be 1...1000")
        }
        do {
            let history = try scaling.outbox.history(limit: limit)
            return ResponseBody.json(.object([("recommendations", .array(history.map(\.json)))]))
        } catch {
            throw Problem(.storageError, "\(error)")
        }
    }
}

/// Where and how recommendations are delivered (`--hook-url`, `--hook-secret`).
public struct HookSettings: Sendable {
    public var url: String
    public var secret: String
    public init(url: String, secret: String) {
        self.url = url
        self.secret = secret
    }
}
