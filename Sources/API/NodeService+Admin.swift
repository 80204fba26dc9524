import Cluster
import JSON
import LoadManager
import MicroHTTPD
import Scaling
import PeerTransport
import Replica
import Storage
#if canImport(Glibc)
import Glibc
#endif

extension NodeService {
    // MARK: Health

    func health() -> Response {
        ResponseBody.json(.object([("status", .string("ok")), ("node", .string(configuration.nodeID))]))
    }

    func readiness() throws(Problem) -> Response {
        guard isAccepting else { throw Problem(.notReady, "node is shutting down") }
        if isRemoved { throw Problem(.notReady, "this node was removed from its cluster; stop it, or start it afresh with --join") }
        return ResponseBody.json(.object([("status", .string("ready"))]))
    }

    // MARK: Admin

    /// Bearer-token check in constant time (over the longer of the two lengths).
    func authorizeAdmin(_ request: Request) throws(Problem) {
        guard let expected = configuration.adminToken else { return }
        let header = request.header("authorization") ?? ""
        // The scheme name is case-insensitive (RFC 9110 §11.1).
        let presented = header.prefix(7).lowercased() == "bearer " ? String(header.dropFirst(7)).trimmingSpaces : ""
        guard InternalAuth.constantTimeEqual(Array(presented.utf8), Array(expected.utf8)) else {
            throw Problem(.unauthorized, "admin routes need Authorization: Bearer <admin token>",
                          headers: [("WWW-Authenticate", #"Bearer realm="machdb-admin""#)])
        }
    }

    static func transferJSON(token: String, direction: String, bytes: Int64, total: Int64, eta: Double?) -> JSON {
        let percent = total > 0 ? Double(bytes) * 100 / Double(total) : 0
        return .object([
            ("token", .string(token)), ("direction", .string(direction)),
            ("bytes", .int(Int(bytes))), ("total", .int(Int(total))),
            ("percent", .double((percent * 10).rounded() / 10)),
            ("eta_seconds", eta.map { .double($0) } ?? .null),
        ])
    }

    /// Streams a consistent snapshot of the database (made on a worker, sent from disk).
    func backup(_ request: Request, _ responder: MeteredResponder) throws(Problem) {
        let path = request.path
        if cluster.replica != nil, !holdsEveryShard, let map = cluster.maps.replicated {
            // Some shards were moved away from this node: a node holding every shard backs up.
            if request.header("x-machdb-forwarded") == nil,
               let whole = map.nodes.first(where: { node in node.state == .active && map.shards.allSatisfy { $0.holders.contains(node.id) } }) {
                // A redirect, not a relay: a backup is streamed, never buffered on its way.
                return responder.respond(Response(status: 307, headers: [
                    ("Location", whole.url + path), ("Content-Length", "0"),
                ]))
            }
            throw Problem(.shardsApart, "no node holds every shard (they were moved to different nodes): a whole-cluster backup is not possible here")
        }
        let file = "\(configuration.scratchDirectory)/.backup-\(DocumentID.generate()).sqlite"
        try offload {
            do throws(StorageError) {
                let index = try self.store.backup(to: file)
                responder.respond(Response(status: 200, headers: [
                    ("Content-Type", "application/vnd.sqlite3"),
                    ("Content-Disposition", #"attachment; filename="machdb-\#(self.configuration.nodeID)-\#(index).sqlite""#),
                    ("X-Machdb-Index", String(index)),
                ], body: .file(path: file, unlinkWhenOpened: true)))
            } catch {
                unlink(file)
                responder.respond(self.problem(for: error).response(instance: path))
            }
        }
    }

    // MARK: Metrics

    func metricsResponse() -> Response {
        var out = ""
        out.reserveCapacity(8 << 10)
        metrics.render(into: &out)
        let stats = store.statistics
        let (connections, inFlight) = serverCounts()
        func gauge(_ name: String, _ help: String, _ value: some Numeric) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) gauge\n\(name) \(value)\n"
        }
        func counter(_ name: String, _ help: String, _ value: some Numeric) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) counter\n\(name) \(value)\n"
        }
        gauge("machdb_http_connections", "Open client connections.", connections)
        gauge("machdb_http_requests_in_flight", "Requests received and not yet answered.", inFlight)
        gauge("machdb_write_queue_depth", "Write commands waiting for the group commit.", stats.queueDepth)
        gauge("machdb_write_queue_capacity", "Bound of the write queue.", stats.queueCapacity)
        gauge("machdb_worker_queue_depth", "Queries and backups waiting for a worker.", workers.depth)
        gauge("machdb_worker_queue_capacity", "Bound of the worker queue.", workers.capacity)
        gauge("machdb_index_waiters", "Reads parked until an index is applied.", waiters.count)
        gauge("machdb_index_waiters_capacity", "Bound of parked reads.", waiters.capacity)
        gauge("machdb_applied_index", "Highest write index applied and durable.", store.appliedIndex)
        gauge("machdb_storage_bytes", "Size of the database files (main + WAL).", stats.databaseBytes)
        gauge("machdb_documents", "Live documents.", stats.documentCount)
        gauge("machdb_shard_keys_cached", "Collections whose shard key declaration is cached here.", shardKeys.count)
        gauge("machdb_shard_keys_cache_capacity", "Bound of the shard key cache.", ShardKeyCache.capacity)
        if let replica = cluster.replica {
            let raft = replica.status
            gauge("machdb_raft_term", "Current Raft term.", raft.term)
            gauge("machdb_raft_commit_index", "Highest log index known committed.", raft.commit)
            gauge("machdb_raft_last_index", "Last index in this node's log.", raft.lastIndex)
            gauge("machdb_raft_is_leader", "1 when this node leads shard 1.", raft.isLeader ? 1 : 0)
            gauge("machdb_raft_members", "Voters and learners of shard 1.", raft.members.count)
            gauge("machdb_raft_pending_proposals", "Writes proposed and not yet applied.", raft.pendingProposals)
            gauge("machdb_raft_mailbox_depth", "Requests (proposals and others) queued for the Raft thread.", raft.mailboxDepth)
            gauge("machdb_raft_mailbox_capacity", "Bound of the Raft thread's request lane.", replica.configuration.mailboxCapacity)
            gauge("machdb_raft_peer_lane_depth", "Peer messages queued for the Raft thread (taken before requests).", raft.peerLaneDepth)
            gauge("machdb_raft_peer_lane_capacity", "Bound of the peer message lane.", replica.configuration.peerLaneCapacity)
            counter("machdb_raft_peer_lane_dropped_total", "Peer messages dropped because the peer lane was full.", raft.peerMessagesDropped)
            gauge("machdb_raft_proposals_capacity", "Writes accepted and unanswered, at most (beyond: 503 overloaded).", replica.configuration.maxPendingProposals)
            gauge("machdb_forwarded_writes_waiting", "Writes forwarded to the leader over the peer stream, waiting for its answer.", raft.forwardedWaiting)
            gauge("machdb_forwarded_writes_capacity", "Bound of forwarded writes waiting.", replica.configuration.maxForwardedWrites)
            renderTransport(into: &out, members: raft.members)
            renderShards(into: &out)
        }
        let shared = store.sharedCommits
        counter("machdb_raft_shared_commits_total", "Transactions (one fsync each) the Raft groups of this node committed.", shared.commits)
        counter("machdb_raft_shared_commit_saves_total", "Group saves those transactions carried (more than commits: groups shared an fsync).", shared.saves)
        counter("machdb_shard_splits_total", "Splits this node proposed and saw applied (as a shard's leader).", splitCounters.applied)
        counter("machdb_shard_split_refusals_total", "Split requests refused because one bucket carries the load (hot bucket).", splitCounters.hotBucket)
        gauge("machdb_shard_splits_in_flight", "Splits this node is proposing now.", splitsInFlight.count)
        gauge("machdb_forward_queue_depth", "Requests waiting to be forwarded to the leader.", cluster.forwarder.depth)
        renderGateway(into: &out)
        counter("machdb_group_commits_total", "Transactions committed by the group commit.", stats.batchesCommitted)
        counter("machdb_write_commands_total", "Write commands committed.", stats.commandsCommitted)
        out += "# HELP machdb_group_commit_batch_size Commands per group-commit transaction.\n"
        out += "# TYPE machdb_group_commit_batch_size histogram\n"
        var cumulative = ""
        for (bound, count) in zip(BatchSizeHistogram.upperBounds, stats.batchSizes.cumulativeCounts) {
            cumulative += "machdb_group_commit_batch_size_bucket{le=\"\(bound)\"} \(count)\n"
        }
        out += cumulative
        out += "machdb_group_commit_batch_size_bucket{le=\"+Inf\"} \(stats.batchSizes.count)\n"
        out += "machdb_group_commit_batch_size_sum \(stats.batchSizes.sum)\n"
        out += "machdb_group_commit_batch_size_count \(stats.batchSizes.count)\n"
        return Response(status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8", body: Array(out.utf8))
    }

    /// Per-shard gauges of the groups this node holds, labelled by shard id.
    func renderShards(into out: inout String) {
        let groups = cluster.replicas.map { ($0, $0.status) }
        let table = store.shardTable
        out += "# HELP machdb_shards Raft groups (shards) this node holds a replica of.\n# TYPE machdb_shards gauge\nmachdb_shards \(groups.count)\n"
        func family(_ name: String, _ help: String, _ value: (Replica, ReplicaStatus) -> String) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) gauge\n"
            for (replica, status) in groups { out += "\(name){shard=\"\(replica.configuration.shard)\"} \(value(replica, status))\n" }
        }
        family("machdb_shard_first_bucket", "First bucket of the shard's range (0 while the group waits for its snapshot).") { replica, _ in
            "\(max(table[replica.configuration.shard]?.firstBucket ?? 0, 0))"
        }
        family("machdb_shard_last_bucket", "Last bucket of the shard's range (0 while the group waits for its snapshot).") { replica, _ in
            "\(max(table[replica.configuration.shard]?.lastBucket ?? 0, 0))"
        }
        family("machdb_shard_range_version", "Version of the shard's range (raised by every split).") { replica, _ in
            "\(table[replica.configuration.shard]?.version ?? 0)"
        }
        family("machdb_shard_is_leader", "1 when this node leads (is the Writer of) the shard.") { $1.isLeader ? "1" : "0" }
        family("machdb_shard_applied_index", "Last entry of the shard applied here.") { "\($1.applied)" }
        family("machdb_shard_commit_index", "Highest entry of the shard known committed here.") { "\($1.commit)" }
        family("machdb_shard_pending_proposals", "Writes proposed to the shard and not yet applied.") { "\($1.pendingProposals)" }
        family("machdb_shard_mailbox_depth", "Requests queued for the shard's Raft thread.") { "\($1.mailboxDepth)" }
    }

    /// Per-peer counters of the peer streams, labelled by node id.
    func renderTransport(into out: inout String, members: [ReplicaStatus.MemberStatus]) {
        let statistics = cluster.transport.statistics
        let names = Dictionary(members.map { ($0.raftID, $0.id) }, uniquingKeysWith: { first, _ in first })
        let peers = statistics.peers.values.sorted { $0.id < $1.id }
        func family(_ name: String, _ type: String, _ help: String, _ value: (PeerStatistics) -> String) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for peer in peers { out += "\(name){peer=\"\(names[peer.id] ?? String(peer.id))\"} \(value(peer))\n" }
        }
        family("machdb_peer_connected", "gauge", "1 while the stream to the peer is open.") { $0.connected ? "1" : "0" }
        family("machdb_peer_queue_depth", "gauge", "Frames waiting to be sent to the peer.") { "\($0.queueDepth)" }
        family("machdb_peer_queue_capacity", "gauge", "Bound of the peer's send queue.") { "\($0.queueCapacity)" }
        family("machdb_peer_sent_frames_total", "counter", "Frames written to the peer's stream.") { "\($0.sentFrames)" }
        family("machdb_peer_sent_bytes_total", "counter", "Bytes written to the peer's stream.") { "\($0.sentBytes)" }
        family("machdb_peer_sent_messages_total", "counter", "Raft messages written to the peer's stream.") { "\($0.sentMessages)" }
        family("machdb_peer_received_frames_total", "counter", "Frames read from the peer's stream.") { "\($0.receivedFrames)" }
        family("machdb_peer_received_bytes_total", "counter", "Bytes read from the peer's stream.") { "\($0.receivedBytes)" }
        family("machdb_peer_received_messages_total", "counter", "Raft messages read from the peer's stream.") { "\($0.receivedMessages)" }
        family("machdb_peer_dropped_messages_total", "counter", "Frames to the peer dropped (queue full or link down).") { "\($0.dropped)" }
        family("machdb_peer_reconnects_total", "counter", "Streams to the peer opened again after the first.") { "\($0.reconnects)" }
        family("machdb_peer_failures_total", "counter", "Failed connects or writes to the peer.") { "\($0.failures)" }
        out += "# HELP machdb_peer_incoming_streams Streams peers keep open to this node.\n# TYPE machdb_peer_incoming_streams gauge\n"
        out += "machdb_peer_incoming_streams \(statistics.incomingStreams)\n"
        let throttle = cluster.transport.catchUp, current = throttle.current, totals = throttle.totals
        out += "# HELP machdb_silent_replica_throttled Silent replicas this node paces what it sends to (log and snapshots).\n"
        out += "# TYPE machdb_silent_replica_throttled gauge\nmachdb_silent_replica_throttled \(current.peers)\n"
        out += "# HELP machdb_silent_replica_rate_bytes The cluster's catch-up rate for silent replicas (0: unlimited).\n"
        out += "# TYPE machdb_silent_replica_rate_bytes gauge\nmachdb_silent_replica_rate_bytes \(cluster.settings.silentReplicaBytesPerSecond)\n"
        out += "# HELP machdb_silent_replica_paced_bytes_total Bytes sent to silent replicas at the paced rate.\n"
        out += "# TYPE machdb_silent_replica_paced_bytes_total counter\nmachdb_silent_replica_paced_bytes_total \(totals.bytes)\n"
        out += "# HELP machdb_silent_replica_paced_seconds_total Time spent waiting to keep to the rate.\n"
        out += "# TYPE machdb_silent_replica_paced_seconds_total counter\nmachdb_silent_replica_paced_seconds_total \(totals.seconds)\n"
    }

    /// The Load Manager's gauges: gateway bounds and depths, writes waiting for a leader, the
    /// measured windows (last minute), surges and the hook outbox.
    func renderGateway(into out: inout String) {
        let snapshot = gateway.snapshot
        out += "# HELP machdb_gateway_upstream_limit Requests relayed to one node at once, at most.\n"
        out += "# TYPE machdb_gateway_upstream_limit gauge\nmachdb_gateway_upstream_limit \(snapshot.maxUpstreamPerTarget)\n"
        out += "# HELP machdb_gateway_wait_queue_capacity Relayed requests waiting for a slot, at most.\n"
        out += "# TYPE machdb_gateway_wait_queue_capacity gauge\nmachdb_gateway_wait_queue_capacity \(snapshot.maxWaiting)\n"
        out += "# HELP machdb_gateway_waiting Relayed requests waiting for a slot, by class.\n# TYPE machdb_gateway_waiting gauge\n"
        for priority in Gateway.Priority.allCases {
            out += "machdb_gateway_waiting{class=\"\(priority.name)\"} \(snapshot.waitingByClass[priority, default: 0])\n"
        }
        out += "# HELP machdb_gateway_outstanding Relayed requests in flight, by target.\n# TYPE machdb_gateway_outstanding gauge\n"
        for (target, count) in snapshot.outstanding.sorted(by: { $0.key < $1.key }) {
            out += "machdb_gateway_outstanding{target=\"\(target)\"} \(count)\n"
        }
        out += "# HELP machdb_gateway_refused_total Relayed requests refused: queue full, pushed out, deadline passed.\n"
        out += "# TYPE machdb_gateway_refused_total counter\n"
        out += "machdb_gateway_refused_total{reason=\"full\"} \(snapshot.counters.refusedFull)\n"
        out += "machdb_gateway_refused_total{reason=\"evicted\"} \(snapshot.counters.evicted)\n"
        out += "machdb_gateway_refused_total{reason=\"deadline\"} \(snapshot.counters.expired)\n"
        out += "# HELP machdb_leaderless_writes Writes waiting for a leader.\n# TYPE machdb_leaderless_writes gauge\n"
        out += "machdb_leaderless_writes \(leaderlessWaiting.load(ordering: .relaxed))\n"
        out += "# HELP machdb_leaderless_writes_capacity Writes that may wait for a leader at once.\n"
        out += "# TYPE machdb_leaderless_writes_capacity gauge\nmachdb_leaderless_writes_capacity \(configuration.leaderlessWriteBuffer)\n"
        let (all, byKind) = measurement.stats(windowSeconds: 60)
        out += "# HELP machdb_window_latency_seconds Response time over the last 60 s, by class and statistic.\n"
        out += "# TYPE machdb_window_latency_seconds gauge\n"
        for (name, stats) in [("all", all)] + RequestKind.allCases.compactMap({ kind in byKind[kind].map { (kind.rawValue, $0) } }) {
            out += "machdb_window_latency_seconds{class=\"\(name)\",stat=\"avg\"} \(stats.averageSeconds)\n"
            out += "machdb_window_latency_seconds{class=\"\(name)\",stat=\"p50\"} \(stats.p50)\n"
            out += "machdb_window_latency_seconds{class=\"\(name)\",stat=\"p95\"} \(stats.p95)\n"
            out += "machdb_window_latency_seconds{class=\"\(name)\",stat=\"p99\"} \(stats.p99)\n"
        }
        out += "# HELP machdb_window_timeout_ratio Timed-out share of requests over the last 60 s.\n"
        out += "# TYPE machdb_window_timeout_ratio gauge\nmachdb_window_timeout_ratio \(all.timeoutRate)\n"
        out += "# HELP machdb_window_read_fraction Reads and queries among requests over the last 60 s.\n"
        out += "# TYPE machdb_window_read_fraction gauge\nmachdb_window_read_fraction \(all.readFraction)\n"
        let history = measurement.historyDepth
        out += "# HELP machdb_load_history_samples Per-second load samples kept for the console (GET /admin/v1/scaling/history).\n"
        out += "# TYPE machdb_load_history_samples gauge\nmachdb_load_history_samples \(history.count)\n"
        out += "# HELP machdb_load_history_capacity Per-second load samples kept, at most (the oldest is overwritten).\n"
        out += "# TYPE machdb_load_history_capacity gauge\nmachdb_load_history_capacity \(history.capacity)\n"
        if let scaling {
            let surging = scaling.lastEvaluation?.surging == true  // nil while another node evaluates
            out += "# HELP machdb_scaling_surging 1 while the scaling policy this node evaluates detects a surge.\n"
            out += "# TYPE machdb_scaling_surging gauge\nmachdb_scaling_surging \(surging ? 1 : 0)\n"
            out += "# HELP machdb_scaling_surges_total Surge episodes reported (hook kind surge) since this node started.\n"
            out += "# TYPE machdb_scaling_surges_total counter\nmachdb_scaling_surges_total \(scaling.surgesReported)\n"
        }
        if let scaling, let stats = try? scaling.outbox.stats() {
            out += "# HELP machdb_hook_pending Recommendations waiting for delivery to the operator hook.\n"
            out += "# TYPE machdb_hook_pending gauge\nmachdb_hook_pending \(stats.pending)\n"
            out += "# HELP machdb_hook_outbox_capacity Recommendations that may wait, at most (the oldest is dropped beyond).\n"
            out += "# TYPE machdb_hook_outbox_capacity gauge\nmachdb_hook_outbox_capacity \(scaling.outbox.configuration.maxPending)\n"
            out += "# HELP machdb_hook_delivered_total Recommendations delivered to the operator hook.\n"
            out += "# TYPE machdb_hook_delivered_total counter\nmachdb_hook_delivered_total \(stats.delivered)\n"
            out += "# HELP machdb_hook_dropped_total Recommendations dropped because the outbox was full.\n"
            out += "# TYPE machdb_hook_dropped_total counter\nmachdb_hook_dropped_total \(stats.dropped)\n"
        }
    }
}
