import Cluster
import Foundation
import JSON
import MicroHTTPD
import Replica
import Sync
import Topology

extension NodeService {
    // MARK: Roles: who serves reads

    /// Where a client read must go under the cluster map: nil to serve it here (a single
    /// node; a Read Replica; a request another node already routed), else the URL of the Read
    /// Replica with the fewest relays in flight from here (never a learner or a node still
    /// catching up: the planner gives those no replica role), or of the leader while this
    /// node has no map yet. A replica behind the client's session index waits for it (the
    /// relay carries `X-Machdb-Min-Index`).
    ///
    /// `bucket`: a document read goes to a node holding the bucket's shard (a moved shard
    /// lives on some nodes only: docs/ARCHITECTURE.md, "Moving a shard").
    func readProxyTarget(_ request: Request, bucket: Int? = nil) -> String? {
        guard let replica = cluster.replica, request.header("x-machdb-forwarded") == nil else { return nil }
        let me = configuration.nodeID
        let ownURL = cluster.configuration.replica.url
        if let map = cluster.maps.replicated {
            let holders = bucket.flatMap { holdersOfBucket($0, in: map) }
            let holdsHere = bucket.map { store.shardTable.shard(for: $0) != nil } ?? true
            if holdsHere, let node = map.node(me), node.state == .active, node.roles.contains(.replica) { return nil }
            let replicas = map.nodes.filter {
                $0.state == .active && $0.roles.contains(.replica) && $0.id != me && (holders?.contains($0.id) ?? true)
            }.map(\.url)
            if !replicas.isEmpty {
                // Least outstanding relays; ties broken round robin (the rotation picks who goes first).
                let turn = Int(readRotation.wrappingAdd(1, ordering: .relaxed).newValue % UInt(replicas.count))
                return gateway.leastOutstanding(Array(replicas[turn...] + replicas[..<turn]))
            }
            if let bucket, let holders {
                // A moved shard on nodes without the Read Replica role (Figure 7: the nodes an
                // operator added for it): its voters other than its Writer serve its reads.
                let writer = shardEntry(bucket: bucket, in: map)?.writer
                let readers = shardReaders(holders: holders, writer: writer, in: map)
                if holdsHere, readers.contains(where: { $0.id == me }) { return nil }
                let urls = readers.filter { $0.id != me }.map(\.url)
                if !urls.isEmpty {
                    let turn = Int(readRotation.wrappingAdd(1, ordering: .relaxed).newValue % UInt(urls.count))
                    return gateway.leastOutstanding(Array(urls[turn...] + urls[..<turn]))
                }
                if !holdsHere, let writer, let url = map.node(writer)?.url, url != ownURL {
                    return url  // the shard's Writer alone holds it: it serves (DESIGN §4's degraded rule)
                }
            }
        }
        if let leader = replica.status.leaderURL, leader != ownURL { return leader }
        return nil
    }

    /// The active nodes holding a shard, other than its Writer: who reads it when no node with
    /// the Read Replica role does.
    func shardReaders(holders: Set<String>, writer: String?, in map: ClusterMap) -> [MapNode] {
        map.nodes.filter { $0.state == .active && holders.contains($0.id) && $0.id != writer }
    }

    /// The map's shard owning `bucket`.
    func shardEntry(bucket: Int, in map: ClusterMap) -> ShardEntry? {
        map.shards.first { $0.firstBucket <= bucket && bucket <= $0.lastBucket }
    }

    /// The nodes holding the data of `bucket`'s shard, when it was moved (nil: every node):
    /// its voters — learners of a moved shard may still be catching up.
    func holdersOfBucket(_ bucket: Int, in map: ClusterMap) -> Set<String>? {
        guard let entry = shardEntry(bucket: bucket, in: map), entry.placement != nil else { return nil }
        return entry.holders
    }

    /// True when this node holds a replica of every shard (so a read spanning them can run here).
    var holdsEveryShard: Bool {
        guard let map = cluster.maps.replicated else { return true }
        let table = store.shardTable
        return map.shards.allSatisfy { table[$0.id]?.isInitialized == true }
    }

    /// The index a read this node relays must see: the highest it answered a client with for
    /// the bucket's shard (every shard's for a read spanning them) or applied itself.
    func sessionIndex(bucket: Int?) -> UInt64 {
        guard let bucket else { return max(observed.highest, store.appliedIndex) }
        guard let shard = store.shardTable.shard(for: bucket)?.id else {
            // A shard this node holds no replica of: what it saw of that shard only.
            guard let map = cluster.maps.replicated, let entry = shardEntry(bucket: bucket, in: map) else {
                return max(observed.highest, store.appliedIndex)
            }
            return observed.value(shard: entry.id)
        }
        return max(observed.value(shard: shard), store.appliedIndex(shard: shard))
    }

    /// Serves `local` here or relays the request to the node that serves reads now. When the
    /// relay gets no answer, a node holding a copy serves the read itself (consistency is
    /// enforced wherever it runs); a node without one answers 503 `replica-unavailable`.
    func routedRead(_ request: Request, _ responder: MeteredResponder, bucket: Int? = nil,
                    local: @escaping @Sendable () throws(Problem) -> Void) throws(Problem) {
        guard let target = readProxyTarget(request, bucket: bucket) else { return try local() }
        let path = request.path
        let minIndex: UInt64? = request.header("x-machdb-min-index") == nil && request.queryValue("consistency") != "eventual"
            ? sessionIndex(bucket: bucket) : nil
        let hasData = cluster.maps.replicated != nil
            && (bucket.map { store.shardTable.shard(for: $0) != nil } ?? holdsEveryShard)
        forward(request, to: target, responder, onFailure: { reason in
            // The replica is gone (the map will say so shortly). A member with a copy serves
            // the read itself under the same consistency rules; a node without one cannot.
            guard hasData else {
                return responder.respond(Problem(.replicaUnavailable, "the replica did not answer (\(reason)); retry")
                    .response(instance: path))
            }
            do { try local() } catch { responder.respond(error.response(instance: path)) }
        }, minIndex: minIndex)
    }

    // MARK: GET /admin/v1/cluster

    /// The cluster map for people, with each node's live Raft state. A follower relays the
    /// request to the leader, which knows every member's progress (its own view if the
    /// leader does not answer).
    ///
    /// With `after=v` it is a long-poll, as `GET /internal/v1/cluster-map` is for nodes (the
    /// console uses it): the view is answered once this node's map version passes `v`, or
    /// after `wait` seconds (default 30, at most 60) with whatever it is then. The wait
    /// happens here; the relay to the leader does not wait again.
    func clusterView(_ request: Request, _ responder: MeteredResponder) throws(Problem) {
        guard request.header("x-machdb-forwarded") == nil, let raw = request.queryValue("after") else {
            return answerClusterView(request, responder)
        }
        guard let after = UInt64(raw) else { throw Problem(.invalidParameter, "after must be a map version (a non-negative integer)") }
        guard let wait = Int(request.queryValue("wait") ?? "30"), (0...60).contains(wait) else {
            throw Problem(.invalidParameter, "wait must be 0...60 seconds")
        }
        if currentMap().version > after || wait == 0 { return answerClusterView(request, responder) }
        let deadline = monotonicNanoseconds() + UInt64(wait) * 1_000_000_000
        // After the wait, a relay to the leader gets a deadline of its own (not the one the
        // long-poll has used up).
        let resumed: @Sendable () -> Void = { [self] in
            answerClusterView(Request(method: request.method, path: request.path, headers: request.headers, query: [],
                                      body: [], receivedAt: monotonicNanoseconds()), responder)
        }
        switch cluster.maps.waiters.wait(for: after + 1, deadline: deadline, callback: { _ in resumed() }) {
        case .reached: answerClusterView(request, responder)
        case .waiting: break
        case .full: throw Problem(.overloaded, "too many cluster-map watchers")
        }
    }

    /// The map this node serves: its own Mach I map while single, else the last one applied
    /// (version 0 before the first).
    func currentMap() -> ClusterMap { cluster.replica == nil ? cluster.maps.standalone : cluster.maps.replicated ?? .empty }

    private func answerClusterView(_ request: Request, _ responder: MeteredResponder) {
        if let replica = cluster.replica, request.header("x-machdb-forwarded") == nil,
           let leader = replica.status.leaderURL, leader != cluster.configuration.replica.url, !replica.status.isLeader {
            return forward(request, to: leader, responder, onFailure: { [self] _ in responder.respond(localClusterView()) })
        }
        responder.respond(localClusterView())
    }

    func localClusterView() -> Response {
        guard let replica = cluster.replica else {
            let map = cluster.maps.standalone
            let nodes = map.json["nodes"]?.elements.map {
                $0.setting("raft_state", to: "standalone").setting("applied_index", to: .int(store.appliedIndex))
                    .setting("lag", to: 0).setting("caught_up", to: true)
            } ?? []
            let shards = map.json["shards"]?.elements.map {
                $0.setting("leader", to: .string(configuration.nodeID)).setting("members", to: [.string(configuration.nodeID)])
                    .setting("term", to: 0).setting("commit_index", to: .int(store.appliedIndex))
            } ?? []
            return ResponseBody.json(map.json.setting("nodes", to: .array(nodes)).setting("shards", to: .array(shards))
                .setting("served_by", to: .string(configuration.nodeID)))
        }
        let status = replica.status
        let replicated = cluster.maps.replicated
        var map = replicated ?? .empty
        if replicated == nil {
            // No map applied yet (just formed or just joined): the group as Raft knows it.
            map.shards = [ShardEntry(id: 1, firstBucket: 1, lastBucket: 1000, writer: status.leaderID,
                                     voters: status.members.filter(\.isVoter).map(\.id).sorted(),
                                     learners: status.members.filter(\.isLearner).map(\.id).sorted())]
        }
        let base = map.json
        let settings = cluster.settings
        let silent = map.silentReplicas(maxVoters: settings.maxVoters)
        var nodes: [JSON] = []
        for node in base["nodes"]?.elements ?? [] {
            let id = node["id"]?.stringValue ?? ""
            // A silent replica catches up at the cluster's rate (docs/ARCHITECTURE.md, "Throttled silent replica").
            let catchUp: JSON = silent.contains(id) && settings.silentReplicaBytesPerSecond > 0
                ? .int(settings.silentReplicaBytesPerSecond) : .null
            nodes.append(liveFields(node, member: status.members.first { $0.id == id }, status: status)
                .setting("catch_up_bytes_per_second", to: catchUp))
        }
        // Members the map does not list yet (just admitted).
        for member in status.members where map.node(member.id) == nil {
            let node = JSON.object([
                ("id", .string(member.id)), ("url", .string(member.url)), ("level", .int(member.level)),
                ("roles", []), ("state", "joining"), ("primary_load_manager", false),
            ])
            nodes.append(liveFields(node, member: member, status: status))
        }
        var snapshot: JSON?
        if let transfer = status.snapshotTransfer {
            snapshot = Self.transferJSON(token: transfer.token, direction: transfer.direction, bytes: transfer.bytes,
                                         total: transfer.total, eta: transfer.etaSeconds)
        } else if let sending = cluster.snapshotServer.progress.first(where: { $0.bytes < $0.total }) {
            snapshot = Self.transferJSON(token: sending.token, direction: "sending", bytes: sending.bytes,
                                         total: sending.total, eta: sending.etaSeconds)
        }
        // Each shard as this node's replica of it sees it now (shard 1: the one answering).
        let shards = (base["shards"]?.elements ?? []).map { shard -> JSON in
            let id = shard["id"]?.intValue.flatMap { Int(exactly: $0) } ?? 1
            let group = id == 1 ? status : cluster.replica(shard: id)?.status
            let transfer = id == 1 ? snapshot : group?.snapshotTransfer.map {
                Self.transferJSON(token: $0.token, direction: $0.direction, bytes: $0.bytes, total: $0.total, eta: $0.etaSeconds)
            }
            // A shard this node holds no replica of (it was moved away): as the map reports it.
            let entry = map.shards.first { $0.id == id }
            let leader = group.map { $0.leaderID } ?? entry?.writer
            let members = group?.members.map(\.id) ?? ((entry?.voters ?? []) + (entry?.learners ?? []))
            return shard.setting("leader", to: leader.map { .string($0) } ?? .null)
                .setting("members", to: .array(members.sorted().map { .string($0) }))
                .setting("moving", to: .bool(entry?.moving ?? false))
                .setting("term", to: .int(group?.term ?? 0)).setting("commit_index", to: .int(group?.commit ?? 0))
                .setting("applied_index", to: .int(group?.applied ?? 0))
                .setting("snapshot_transfer", to: transfer ?? .null)
        }
        var view = base.setting("nodes", to: .array(nodes)).setting("shards", to: .array(shards))
            .setting("served_by", to: .string(configuration.nodeID))
        if replicated == nil {  // until the first map: the stage Raft's membership implies
            view = view.setting("stage", to: .string("Mach " + ClusterMap.roman(status.members.count)))
                .setting("stage_number", to: .int(status.members.count))
        }
        return ResponseBody.json(view)
    }

    /// A map node plus what Raft says about it now.
    private func liveFields(_ node: JSON, member: ReplicaStatus.MemberStatus?, status: ReplicaStatus) -> JSON {
        guard let member else { return node.setting("raft_state", to: "removed") }
        let raftState = member.id == status.leaderID ? "leader" : member.isLearner ? "learner" : "follower"
        var out = node.setting("raft_state", to: .string(raftState)).setting("priority", to: .int(member.priority))
        if member.id == configuration.nodeID {
            out = out.setting("applied_index", to: .int(status.applied))
                .setting("lag", to: .int(status.commit > status.applied ? status.commit - status.applied : 0))
        } else if let match = member.match {
            out = out.setting("applied_index", to: .int(match)).setting("lag", to: .int(member.lag ?? 0))
        }
        if status.isLeader {
            out = out.setting("caught_up", to: .bool(member.caughtUp))
            if let since = member.sinceContactMilliseconds { out = out.setting("last_contact_ms", to: .int(since)) }
        }
        if let replication = member.replicationState { out = out.setting("replication", to: .string(replication)) }
        return out
    }

    // MARK: GET /internal/v1/cluster-map?after=v&wait=s

    /// The map once its version passes `after` (at once if it has), else after `wait` seconds
    /// (default 30, at most 60; 0: do not wait) 304 Not Modified.
    func clusterMapPoll(_ request: Request, _ responder: MeteredResponder) throws(Problem) {
        guard let after = UInt64(request.queryValue("after") ?? "0") else {
            throw Problem(.invalidParameter, "after must be a map version (a non-negative integer)")
        }
        guard let wait = Int(request.queryValue("wait") ?? "30"), (0...60).contains(wait) else {
            throw Problem(.invalidParameter, "wait must be 0...60 seconds")
        }
        let maps = cluster.maps
        /// A single node shows its own map; a group member with no map applied yet has none (version 0).
        let current: @Sendable () -> ClusterMap = { [self] in currentMap() }
        let answer: @Sendable () -> Response = {
            let map = current()
            guard map.version > after else {
                return Response(status: 304, headers: [("X-Machdb-Map-Version", String(map.version))])
            }
            var response = ResponseBody.json(map.json)
            response.addHeader("X-Machdb-Map-Version", String(map.version))
            return response
        }
        if current().version > after || wait == 0 { return responder.respond(answer()) }
        let deadline = monotonicNanoseconds() + UInt64(wait) * 1_000_000_000
        switch maps.waiters.wait(for: after + 1, deadline: deadline, callback: { _ in responder.respond(answer()) }) {
        case .reached: responder.respond(answer())
        case .waiting: break
        case .full: throw Problem(.overloaded, "too many cluster-map watchers")
        }
    }

    // MARK: POST /admin/v1/nodes/{id}/leave

    /// Asks the cluster to let `node` go: its roles move to others, leadership is handed off
    /// if it leads, then it is removed from the group. Answered by the leader (202).
    func leave(_ request: Request, node: String, _ responder: MeteredResponder) throws(Problem) {
        guard let replica = cluster.replica else { throw Problem(.notInCluster, "a single node cannot leave its own cluster") }
        let status = replica.status
        if !status.isLeader {
            guard let url = status.leaderURL else { throw Problem(.noLeader, "no leader known; retry") }
            return forward(request, to: url, responder)
        }
        guard status.members.contains(where: { $0.id == node }) else {
            throw Problem(.notFound, "\(node) is not a member of this cluster")
        }
        guard status.members.count > 1 else { throw Problem(.notInCluster, "the last member cannot leave") }
        cluster.topology?.requestLeave(node)
        var response = ResponseBody.json(.object([("node", .string(node)), ("state", "leaving")]))
        response.status = 202
        responder.respond(response)
    }
}
