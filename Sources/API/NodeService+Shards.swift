import Cluster
import JSON
import MicroHTTPD
import Replica
import Sharding
import Storage

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
}
