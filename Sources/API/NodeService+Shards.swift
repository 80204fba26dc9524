import Cluster
import Foundation
import JSON
import MicroHTTPD
import Replica
import Sharding
import Storage
import Sync
import Topology

extension NodeService {
    // MARK: POST /admin/v1/shards/{id}/split

    /// Splits shard `shard` at `{"at": B}` (the new shard's first bucket and id), or where the
    /// load measured here balances best (the middle without load): one Raft entry in the
    /// shard's group; every replica then holds the new shard's group over the data it already
    /// has (docs/ARCHITECTURE.md, "Shards"). Answered by the shard's leader: 202 once the split
    /// is applied there. 409 while another split of the shard is being proposed, or when one
    /// bucket carries the load (a hot bucket cannot be split); 400 for a point outside the range.
    func split(_ request: Request, shard: Int, _ responder: MeteredResponder) throws(Problem) {
        guard cluster.replica != nil else {
            throw Problem(.notInCluster, "a single node holds one shard; start another node with --join first")
        }
        guard let replica = cluster.replica(shard: shard), let descriptor = store.shardTable[shard] else {
            throw Problem(.notFound, "this node holds no replica of shard \(shard)")
        }
        let body = request.body.isEmpty ? JSON.object([]) : try jsonBody(request, limit: 4 << 10, depth: 4)
        guard body.kind == .object, body.members.allSatisfy({ $0.key == "at" }) else {
            throw Problem(.invalidSplit, #"split takes an empty body or {"at": <first bucket of the new shard>}"#)
        }
        let at: Int
        if let requested = body["at"] {
            guard let value = requested.intValue, let bucket = Int(exactly: value) else {
                throw Problem(.invalidSplit, "at must be an integer bucket")
            }
            at = bucket
        } else {
            at = try chosenSplitPoint(descriptor)  // from the load seen here (the entry point sees it all)
        }
        if let refusal = descriptor.refusesSplit(at: at) { throw Problem(.invalidSplit, refusal) }
        if let entry = cluster.maps.replicated?.shards.first(where: { $0.id == shard }), entry.moving {
            throw Problem(.moveInProgress, "shard \(shard) is moving to \(entry.placement?.nodes ?? []); split it once the move is done")
        }
        let status = replica.status
        if !status.isLeader {  // the shard's leader proposes, with the range it applied
            guard let url = status.leaderURL else { throw Problem(.noLeader, "shard \(shard) has no leader; retry") }
            let chosen = Request(method: request.method, path: request.path, headers: request.headers, query: request.query,
                                 body: JSON.object([("at", .int(at))]).encoded(), receivedAt: request.receivedAt)
            return forward(chosen, to: url, responder)
        }
        guard splitsInFlight.begin(shard) else {
            throw Problem(.splitInProgress, "a split of shard \(shard) is being applied; retry when it is done")
        }
        let path = request.path, store = self.store, inFlight = splitsInFlight, counters = splitCounters
        logger.info("splitting a shard", metadata: ["shard": "\(shard)", "at": "\(at)", "version": "\(descriptor.version)"])
        replica.proposeControl(.split(newShard: at, at: at, expectedVersion: descriptor.version)) { result in
            inFlight.end(shard)
            switch result {
            case .success:
                guard let parent = store.shardTable[shard], parent.version > descriptor.version, parent.lastBucket == at - 1 else {
                    return responder.respond(Problem(.splitInProgress, "shard \(shard) changed while the split was proposed; look again")
                        .response(instance: path))
                }
                counters.recordApplied()
                var response = ResponseBody.json(.object([
                    ("shard", .int(shard)), ("new_shard", .int(at)), ("at", .int(at)), ("version", .int(Int64(parent.version))),
                    ("buckets", .array([.int(parent.firstBucket), .int(parent.lastBucket)])),
                    ("new_buckets", .array([.int(at), .int(descriptor.lastBucket)])),
                ]))
                response.status = 202
                responder.respond(response)
            case let .failure(.notLeader(url)):
                responder.respond(Problem(.noLeader, "shard \(shard) lost its leader" + (url.map { " (now \($0))" } ?? "") + "; retry")
                    .response(instance: path))
            case let .failure(error):
                responder.respond(Problem(.noLeader, "the split was not applied: \(error); retry").response(instance: path))
            }
        }
    }

    /// Where to split `descriptor` from the requests per bucket this node measured (see
    /// `SplitPoint`); a hot bucket refuses (409).
    func chosenSplitPoint(_ descriptor: ShardDescriptor) throws(Problem) -> Int {
        guard let range = descriptor.buckets else { throw Problem(.invalidSplit, "shard \(descriptor.id) holds no range") }
        let counts = measurement.bucketCounts()
        switch SplitPoint.choose(range: range, counts: { UInt64(counts[$0 - 1]) }) {
        case let .at(bucket, _): return bucket
        case let .hotBucket(bucket, share):
            splitCounters.recordHotBucket()
            throw Problem(.hotBucket, "bucket \(bucket) carries \(Int(share * 100)) % of shard \(descriptor.id)'s requests: a split cannot divide it")
        case .tooSmall: throw Problem(.invalidSplit, "shard \(descriptor.id) holds a single bucket")
        }
    }

    // MARK: POST /admin/v1/shards/{id}/move

    /// Moves shard `shard` to the nodes `{"to": ["n4", "n5", "n6"]}`: the meta shard's leader
    /// writes the placement into the replicated cluster map (202 once it is there), then the shard's leader walks
    /// its group there one step at a time — add a learner, wait until it caught up, promote
    /// it, hand leadership to a placed node, remove an old member — and every node the shard
    /// left drops its replica (docs/ARCHITECTURE.md, "Moving a shard"). 400 for shard 1 (the
    /// meta shard lives on every node), an unknown or inactive node, or too many nodes; 409
    /// while the shard moves or splits.
    func move(_ request: Request, shard: Int, _ responder: MeteredResponder) throws(Problem) {
        guard let replica = cluster.replica else {
            throw Problem(.notInCluster, "a single node holds every shard; start another node with --join first")
        }
        let body = try jsonBody(request, limit: 16 << 10, depth: 4)
        guard body.kind == .object, body.members.allSatisfy({ $0.key == "to" }), let list = body["to"]?.elements,
              body["to"]?.kind == .array else {
            throw Problem(.invalidRequest, #"the body is {"to": ["<node id>", ...]}"#)
        }
        let nodes = list.compactMap(\.stringValue)
        guard nodes.count == list.count, !nodes.isEmpty, Set(nodes).count == nodes.count else {
            throw Problem(.invalidRequest, "to lists distinct node ids, at least one")
        }
        guard shard != 1 else {
            throw Problem(.invalidRequest, "shard 1 is the meta shard (the cluster map and directory): it lives on every node")
        }
        guard let map = cluster.maps.replicated, let entry = map.shards.first(where: { $0.id == shard }) else {
            throw Problem(.notFound, "no shard \(shard)")
        }
        let maxVoters = cluster.settings.maxVoters
        guard nodes.count <= maxVoters else {
            throw Problem(.invalidRequest, "a shard's group takes at most --max-voters (\(maxVoters)) nodes")
        }
        for node in nodes where map.node(node)?.state != .active {
            throw Problem(.invalidRequest, "\(node) is not an active node of this cluster")
        }
        if entry.moving {
            throw Problem(.moveInProgress, "shard \(shard) is still moving to \(entry.placement?.nodes ?? []); retry when it is done")
        }
        if splitsInFlight.isActive(shard) {
            throw Problem(.splitInProgress, "a split of shard \(shard) is being applied; retry when it is done")
        }
        let status = replica.status
        if !status.isLeader {  // checked here, written by the meta shard's leader (which checks again)
            guard let url = status.leaderURL else { throw Problem(.noLeader, "no leader known; retry") }
            return forward(request, to: url, responder)
        }
        let placement = ShardPlacement(nodes: nodes, version: entry.version)
        guard let topology = cluster.topology else { throw Problem(.notInCluster, "no topology controller here") }
        topology.requestMove(shard, to: placement)
        logger.info("moving a shard", metadata: ["shard": "\(shard)", "to": "\(placement.nodes)", "version": "\(entry.version)"])
        // Answered once the placement is in the replicated map (a move acknowledged is never
        // lost with this node); the wait happens on a worker, not the I/O thread.
        let maps = cluster.maps, path = request.path
        try offload {
            let deadline = monotonicNanoseconds() + 5_000_000_000
            while monotonicNanoseconds() < deadline {
                if maps.replicated?.shards.first(where: { $0.id == shard })?.placement == placement {
                    return responder.respond(ResponseBody.json(.object([
                        ("shard", .int(shard)), ("to", .array(placement.nodes.map(JSON.string))), ("version", .int(placement.version)),
                    ]), status: 202))
                }
                usleep(10_000)
            }
            responder.respond(Problem(.noLeader, "the move was not written into the cluster map in time; look at the map, then retry")
                .response(instance: path))
        }
    }

    // MARK: POST /internal/v1/shards/{id}/report

    /// A shard's leader tells the meta shard's leader its range, leader and members (see
    /// `ShardReport`); 204 when kept, 409 when this node does not lead the meta shard.
    func shardReport(_ request: Request, shard: Int, _ responder: MeteredResponder) throws(Problem) {
        let body = try jsonBody(request, limit: 16 << 10, depth: 4)
        guard let report = ShardReport(json: body, shard: shard) else {
            throw Problem(.invalidRequest, "a shard report is {id, buckets, version, term, leader, voters, learners}")
        }
        guard let replica = cluster.replica, replica.status.isLeader, let topology = cluster.topology else {
            throw Problem(.notInCluster, "this node does not lead the meta shard")
        }
        topology.record(report)
        responder.respond(Response(status: 204, headers: [("Content-Length", "0")]))
    }
}
