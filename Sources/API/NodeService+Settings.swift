import Foundation
import JSON
import MicroHTTPD
import Scaling
import Sync
import Topology

/// The cluster-wide settings (docs/ARCHITECTURE.md, "Cluster-wide settings"): the scaling
/// policy and the topology settings, read and changed on any node. A single node keeps its
/// own (they seed the cluster when it forms); in a cluster they live in the replicated map and
/// only the meta shard's leader writes them, so a change asked of another node is forwarded
/// there and answered once the map carries it.
extension NodeService {
    /// `GET|PUT /admin/v1/scaling/policy`: PUT takes any subset of the fields (the rest keep
    /// their current values); an unknown field or a bad value is a 400 and changes nothing.
    func scalingPolicy(_ request: Request, _ responder: MeteredResponder) throws(Problem) {
        guard let scaling else { throw Problem(.notReady, "scaling is not running on this node") }
        guard request.method == "PUT" else { return responder.respond(ResponseBody.json(scaling.policy.json)) }
        let body = try jsonBody(request, limit: 16 << 10, depth: 4)
        let policy: ScalingPolicy
        do {
            policy = try ScalingPolicy(json: body, defaults: scaling.policy)
            try policy.validate()
        } catch {
            throw Problem(.invalidRequest, "\(error)")
        }
        guard cluster.replica != nil else {
            do {
                try scaling.setPolicy(policy)
            } catch {
                throw Problem(.storageError, "the policy could not be saved: \(error)")
            }
            logger.notice("scaling policy changed", metadata: ["policy": "\(policy.json.text)"])
            return responder.respond(ResponseBody.json(policy.json))
        }
        // The fields the body names, applied on the meta leader to the settings as they will
        // be there (a concurrent change of other fields is kept).
        try write(request, responder, change: { (settings: inout ClusterSettings) throws(Problem) in
            do {
                let merged = try ScalingPolicy(json: body, defaults: (try? ScalingPolicy(json: settings.scalingPolicy, defaults: ScalingPolicy())) ?? ScalingPolicy())
                try merged.validate()
                settings.scalingPolicy = merged.json
            } catch {
                throw Problem(.invalidRequest, "\(error)")
            }
        }, render: { settings in ResponseBody.json(settings.scalingPolicy) })
    }

    /// `GET|PUT /admin/v1/topology/settings`: `max_voters`, `max_replicas`,
    /// `failure_timeout_ms`, `remove_after_ms`; PUT takes any subset, as the policy does.
    func topologySettings(_ request: Request, _ responder: MeteredResponder) throws(Problem) {
        let current = cluster.settings
        guard request.method == "PUT" else { return responder.respond(ResponseBody.json(current.topologyJSON)) }
        let body = try jsonBody(request, limit: 16 << 10, depth: 4)
        let wanted: ClusterSettings
        do {
            wanted = try current.updating(topology: body)
            try wanted.validate()
        } catch {
            throw Problem(.invalidRequest, "\(error)")
        }
        guard cluster.replica != nil else {
            cluster.seed { $0 = wanted }
            logger.notice("topology settings changed (this node's; they seed the cluster when it forms)",
                          metadata: ["settings": "\(wanted.topologyJSON.text)"])
            return responder.respond(ResponseBody.json(wanted.topologyJSON))
        }
        try write(request, responder, change: { (settings: inout ClusterSettings) throws(Problem) in
            do {
                settings = try settings.updating(topology: body)
                try settings.validate()
            } catch {
                throw Problem(.invalidRequest, "\(error)")
            }
        }, render: { settings in ResponseBody.json(settings.topologyJSON) })
    }

    /// Has the meta shard's leader apply `change` to the cluster's settings (forwarding the
    /// request there from any other node); answers with `render(the map's settings)` once the
    /// applied map carries the change (with any later ones folded in).
    private func write(_ request: Request, _ responder: MeteredResponder,
                       change: @escaping @Sendable (inout ClusterSettings) throws(Problem) -> Void,
                       render: @escaping @Sendable (ClusterSettings) -> Response) throws(Problem) {
        guard let replica = cluster.replica else { throw Problem(.notInCluster, "this node is not in a cluster") }
        let status = replica.status
        if !status.isLeader {
            guard let url = status.leaderURL else { throw Problem(.noLeader, "no leader known; retry") }
            return forward(request, to: url, responder)
        }
        guard let topology = cluster.topology else { throw Problem(.notInCluster, "no topology controller here") }
        let generation = try topology.requestSettings(change)
        logger.notice("cluster settings change asked", metadata: ["path": "\(request.path)", "change": "\(generation)"])
        let maps = cluster.maps, path = request.path
        try offload {
            let deadline = monotonicNanoseconds() + 5_000_000_000
            while monotonicNanoseconds() < deadline {
                if topology.settingsCarried(generation), let settings = maps.replicated?.settings {
                    return responder.respond(render(settings))
                }
                usleep(10_000)
            }
            responder.respond(Problem(.noLeader, "the settings were not written into the cluster map in time; read them, then retry")
                .response(instance: path))
        }
    }
}
