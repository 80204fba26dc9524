import Cluster
import Curl
import Foundation
import JSON
import LoadManager
import MicroHTTPD
import PeerTransport
import RaftCore
import Replica
import Sharding
import Storage
import Sync

extension NodeService {
    // MARK: Forwarding to the leader

    /// Relays a request to another node (the leader for writes, a Read Replica for reads) and
    /// its answer back, or answers 307 when the client asked for redirects with
    /// `X-Machdb-Redirect: true`.
    ///
    /// Back pressure (the Load Manager's gateway): the relay waits for a slot to the target —
    /// at most `--upstream-limit` in flight per target, then a bounded queue ordered by class
    /// (control > writes > reads > queries); a full queue answers 503 `overloaded` with
    /// `Retry-After`, a request still waiting at its deadline (`--request-deadline` after it
    /// arrived) 504 `deadline-exceeded`. The slot is held only while the upstream works: the
    /// whole request has arrived before, and the answer is buffered before it is sent back,
    /// so a slow client never pins one.
    ///
    /// A request is forwarded at most once: a node that receives a forwarded request it cannot
    /// serve refuses it with `X-Machdb-Not-Applied: true` (nothing happened), and the node that
    /// forwarded it then calls `retry` — leadership is moving, and it may even have moved here.
    /// A relay that certainly sent nothing (`CurlError.neverSent`: the target is down) calls
    /// `retry` too. A forward that fails otherwise answers `write-timeout` (outcome unknown),
    /// never a claim that nothing was written: "could not connect" alone is ambiguous, because
    /// libcurl retries a request whose reused connection died after sending it on a fresh
    /// connection, and reports only that second attempt's failure.
    func forward(_ request: Request, to leaderURL: String, _ responder: MeteredResponder,
                 retry: (@Sendable () -> Void)? = nil, onFailure: (@Sendable (String) -> Void)? = nil,
                 minIndex: UInt64? = nil) {
        let path = request.path
        if request.header("x-machdb-redirect")?.lowercased() == "true" {
            let target = leaderURL + path + Self.queryString(request.query)
            return responder.respond(Response(status: 307, headers: [("Location", target), ("Content-Length", "0")]))
        }
        if request.header("x-machdb-forwarded") != nil {
            var refusal = Problem(.noLeader, "leadership is moving; retry").response(instance: path)
            refusal.addHeader(Self.notAppliedHeader, "true")
            return responder.respond(refusal)
        }
        relay(request, to: leaderURL, minIndex: minIndex) { [self] outcome in
            switch outcome {
            case let .answered(result): relayed(result, path: path, responder, retry: retry, onFailure: onFailure)
            case let .refused(problem): responder.respond(problem.response(instance: path))
            }
        }
    }

    /// What became of a relay: the target's answer (or transport error), or a refusal by the
    /// gateway (queue full, deadline, shutting down) before anything was sent.
    enum RelayOutcome: Sendable {
        case answered(Result<ClientResponse, CurlError>)
        case refused(Problem)
    }

    /// Sends `request` to the node at `base` through the gateway (a slot per target, the
    /// priority queue, the request's deadline) and hands the outcome to `completion` (on the
    /// relay I/O thread or the gateway's timer thread; keep it short).
    func relay(_ request: Request, to base: String, minIndex: UInt64? = nil,
               extraHeaders: [(name: String, value: String)] = [],
               completion: @escaping @Sendable (RelayOutcome) -> Void) {
        var headers: [(name: String, value: String)] = [("X-Machdb-Forwarded", configuration.nodeID)]
        for name in ["content-type", "if-match", "if-none-match", "authorization", "x-machdb-min-index"] {
            if let value = request.header(name) { headers.append((name, value)) }
        }
        if let minIndex { headers.append(("X-Machdb-Min-Index", String(minIndex))) }
        headers.append(contentsOf: extraHeaders)
        let target = base + request.path + Self.queryString(request.query)
        let deadline = request.receivedAt + UInt64(configuration.requestDeadlineMilliseconds) * 1_000_000
        let gateway = self.gateway
        let outgoingHeaders = headers
        gateway.acquire(target: base, priority: Self.priority(of: request), deadline: deadline, start: { [self] in
            let remaining = Int((deadline &- monotonicNanoseconds()) / 1_000_000)
            guard deadline > monotonicNanoseconds() + 1_000_000 else {
                gateway.release(target: base)
                return completion(.refused(Problem(.deadlineExceeded, "the request waited past its deadline")))
            }
            let overStream = relayOverStream(request, to: base, headers: outgoingHeaders,
                                             timeoutMilliseconds: min(15_000, remaining)) { result in
                gateway.release(target: base)
                completion(.answered(result))
            }
            if overStream { return }
            let outgoing = ClientRequest(method: request.method, url: target, headers: outgoingHeaders, body: request.body,
                                         timeoutMilliseconds: min(15_000, remaining))
            let queued = cluster.forwarder.send(outgoing) { result in
                gateway.release(target: base)
                completion(.answered(result))
            }
            if !queued {
                gateway.release(target: base)
                completion(.refused(Problem(.overloaded, "too many requests being relayed", headers: [("Retry-After", "1")])))
            }
        }, refuse: { refusal in
            switch refusal {
            case let .overloaded(seconds):
                completion(.refused(Problem(.overloaded, "too many requests waiting for \(base)",
                                            headers: [("Retry-After", String(seconds))])))
            case .deadlineExceeded:
                completion(.refused(Problem(.deadlineExceeded, "the request waited past its deadline for \(base)")))
            case .closed:
                completion(.refused(Problem(.notReady, "node is shutting down")))
            }
        })
    }

    /// The shard of the document a request path names (shard 1 for other paths).
    func shardOf(path: String) -> Int {
        let parts = path.split(separator: "/")
        guard parts.count == 5, parts[3] == "docs", let id = PercentEncoding.decode(String(parts[4])) else { return 1 }
        return shardID(bucket: Bucket.of(id))
    }

    /// The shard owning `bucket`: as this node applied the ranges, else (a shard held
    /// elsewhere) as the replicated map lists it; 1 when neither knows.
    func shardID(bucket: Int, table: ShardTable? = nil) -> Int {
        if let shard = (table ?? store.shardTable).shard(for: bucket) { return shard.id }
        return cluster.maps.replicated.flatMap { shardEntry(bucket: bucket, in: $0)?.id } ?? 1
    }

    /// The answer of a relay, passed back to the client.
    private func relayed(_ result: Result<ClientResponse, CurlError>, path: String, _ responder: MeteredResponder,
                         retry: (@Sendable () -> Void)?, onFailure: (@Sendable (String) -> Void)?) {
        switch result {
        case let .success(answer):
            if answer.status == 503, answer.header(Self.notAppliedHeader) == "true", let retry {
                return DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(50)) { retry() }
            }
            if let index = answer.header("x-machdb-index").flatMap({ UInt64($0) }) {
                observed.record(shard: shardOf(path: path), index: index)  // reads relayed later must see it
            }
            responder.respond(Response(status: answer.status, headers: answer.headers.filter { Self.relayedHeaders.contains($0.name) },
                                       body: .bytes(answer.body)))
        case let .failure(error):
            if error.neverSent, let retry {
                // Nothing reached the target (it is down: a leader that just died). Try again
                // once the cluster knows better, within the write's leaderless wait.
                return DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(100)) { retry() }
            }
            if let onFailure { return onFailure(error.message) }
            responder.respond(Problem(.writeTimeout, "the leader did not answer (\(error.message)); the request may or may not have been applied")
                .response(instance: path))
        }
    }

    /// Response headers a relay passes back (libcurl gives their names in lowercase).
    static let relayedHeaders: Set<String> = [
        "content-type", "etag", "location", "x-machdb-index", "x-machdb-served-by", "x-machdb-rev", "x-machdb-bucket",
        "last-modified", "retry-after", "www-authenticate", "allow", "x-machdb-not-applied",
    ]

    /// The admission class of a relayed request.
    static func priority(of request: Request) -> Gateway.Priority {
        let path = request.path
        if path.hasPrefix("/admin/") || path.hasPrefix("/internal/") || path.hasPrefix("/healthz") || path.hasPrefix("/readyz") {
            return .control
        }
        switch request.method {
        case "GET", "HEAD": return .read
        case "POST" where path.hasSuffix("/query"): return .query
        default: return .write
        }
    }

    /// Marks a refusal that certainly changed nothing, so a forwarding node may retry it.
    static let notAppliedHeader = "X-Machdb-Not-Applied"

    static func queryString(_ query: [(name: String, value: String)]) -> String {
        guard !query.isEmpty else { return "" }
        return "?" + query.map { "\(InternalRoutes.percentEncoded($0.name))=\(InternalRoutes.percentEncoded($0.value))" }
            .joined(separator: "&")
    }

    // MARK: Internal routes (cluster token)

    func authorizeInternal(_ request: Request) throws(Problem) {
        // With a cluster CA (--tls-ca), node-to-node traffic also proves who it is: a client
        // certificate the CA signed (docs/ARCHITECTURE.md, "TLS").
        if configuration.requireClientCertificate && !request.clientCertificateVerified {
            throw Problem(.unauthorized, "internal routes need a client certificate signed by the cluster CA (--tls-ca)")
        }
        guard InternalAuth.check(authorizationHeader: request.header("authorization"), clusterToken: cluster.configuration.clusterToken) else {
            throw Problem(.unauthorized, "internal routes need Authorization: Bearer <cluster token>",
                          headers: [("WWW-Authenticate", #"Bearer realm="machdb-cluster""#)])
        }
    }

    /// Opens a peer stream (`PeerStreamHandshake`): answers 101 and hands the connection to the
    /// transport, which reads its frames below this layer from then on.
    func raftStream(_ request: Request, _ responder: MeteredResponder) throws(Problem) {
        guard PeerStreamHandshake.isRequested(upgrade: request.header("upgrade"), connection: request.header("connection")) else {
            throw Problem(.upgradeRequired, "this route opens a peer stream: send Connection: Upgrade and Upgrade: \(PeerStreamHandshake.protocolName)",
                          headers: [("Upgrade", PeerStreamHandshake.protocolName)])
        }
        guard let peer = PeerStreamHandshake.peerID(request.header("x-machdb-peer")) else {
            throw Problem(.invalidHeader, "\(PeerStreamHandshake.peerHeader) must carry the dialing node's Raft id")
        }
        let transport = cluster.transport
        responder.respond(Response(status: 101, headers: PeerStreamHandshake.answerHeaders, body: .upgrade { socket in
            transport.accept(from: peer, descriptor: socket.descriptor, leftover: socket.leftover, release: { socket.close() })
        }))
    }

    func raftSnapshot(_ request: Request, shard: Int, token: String, _ responder: MeteredResponder) throws(Problem) {
        guard let file = cluster.snapshotFile(shard: shard, token: token) else { throw Problem(.notFound, "no snapshot \(token)") }
        guard let offset = Int64(request.queryValue("offset") ?? "0"), offset >= 0,
              let length = Int(request.queryValue("length") ?? "1048576"), (1...(16 << 20)).contains(length) else {
            throw Problem(.invalidParameter, "offset must be >= 0 and length 1...16777216")
        }
        let path = request.path
        let server = cluster.snapshotServer
        let peer = PeerStreamHandshake.peerID(request.header("x-machdb-peer"))
        try offload {
            do throws(TransportError) {
                let chunk = try server.chunk(token: token, path: file.path, size: file.size, checksum: file.checksum, offset: offset,
                                             maxLength: length, peer: peer)
                responder.respond(Response(status: 200, headers: chunk.headers, body: .bytes(chunk.bytes)))
            } catch {
                let type: ProblemType = error.status == 416 ? .invalidParameter : error.status == 503 ? .notReady : .storageError
                responder.respond(Problem(type, "\(error)").response(instance: path))
            }
        }
    }

    /// `POST /internal/v1/cluster/join {"id", "url", "level"}`: admits a node. A standalone
    /// (Mach I) node first becomes a one-voter Raft group; a follower forwards to the leader.
    func clusterJoin(_ request: Request, _ responder: MeteredResponder) throws(Problem) {
        let body = try jsonBody(request, limit: 64 << 10, depth: 8)
        guard let id = body["id"]?.stringValue, Names.isValid(id), let url = body["url"]?.stringValue,
              url.hasPrefix("http://") || url.hasPrefix("https://") else {
            throw Problem(.invalidRequest, #"join takes {"id": "<node id>", "url": "http://host:port", "level": 1..5}"#)
        }
        let level = Int(body["level"]?.intValue ?? 1)
        guard (1...5).contains(level) else { throw Problem(.invalidRequest, "level must be 1...5") }
        guard id != configuration.nodeID else { throw Problem(.invalidRequest, "a node cannot join itself") }
        let member = Member(id: id, raftID: RaftID.of(id), url: url, level: level, joinedAtIndex: 0)
        // Another process claiming the id of a live member at another URL would take over its
        // directory entry (its Raft id follows from the name): refuse it. A member that moved
        // (restarted elsewhere) is not heard from at its old URL any more, and may rejoin.
        if let replica = cluster.replica, replica.status.isLeader,
           let existing = replica.status.members.first(where: { $0.id == id && $0.url != url }),
           let silence = existing.sinceContactMilliseconds,
           silence < UInt64(cluster.settings.failureTimeoutMilliseconds) {
            throw Problem(.nodeIDInUse, "node id \(id) belongs to a live member at \(existing.url); pick another --node-id")
        }
        let path = request.path
        try offload {
            let replica: Replica
            do {
                replica = try self.cluster.startRaft(bootstrap: true)
            } catch {
                return responder.respond(Problem(.storageError, "cannot start replication: \(error)").response(instance: path))
            }
            replica.addMember(member) { result in
                switch result {
                case .success:
                    var members = replica.status.members.map { Member(id: $0.id, raftID: $0.raftID, url: $0.url, level: $0.level, joinedAtIndex: 0) }
                    if !members.contains(where: { $0.raftID == member.raftID }) { members.append(member) }
                    responder.respond(ResponseBody.json(.object([
                        ("members", .array(members.map(\.json))),
                        ("leader", .string(replica.status.leaderID ?? self.configuration.nodeID)),
                    ])))
                case let .failure(.notLeader(url?)) where url != self.cluster.configuration.replica.url:
                    self.forward(request, to: url, responder)
                case let .failure(error):
                    responder.respond(Problem(.noLeader, "cannot admit \(id) now: \(error)").response(instance: path))
                }
            }
        }
    }

    // MARK: Admin

    /// `POST /admin/v1/shards/{id}/transfer-leader {"to": "n3"}`.
    func transferLeader(_ request: Request, shard: Int, _ responder: MeteredResponder) throws(Problem) {
        guard cluster.replica != nil else { throw Problem(.notInCluster, "a single node has no one to hand leadership to") }
        guard let replica = cluster.replica(shard: shard) else { throw Problem(.notFound, "this node holds no replica of shard \(shard)") }
        let body = try jsonBody(request, limit: 4 << 10, depth: 4)
        guard let target = body["to"]?.stringValue, Names.isValid(target) else {
            throw Problem(.invalidRequest, #"transfer-leader takes {"to": "<node id>"}"#)
        }
        let status = replica.status
        if status.leaderID == target {
            return responder.respond(ResponseBody.json(.object([("leader", .string(target))])))
        }
        if !status.isLeader {  // the leader decides, with the membership it knows
            guard let url = status.leaderURL else { throw Problem(.noLeader, "no leader known; retry") }
            return forward(request, to: url, responder)
        }
        guard let member = status.members.first(where: { $0.id == target && $0.isVoter }) else {
            throw Problem(.transferFailed, "\(target) is not a voter of shard \(shard)")
        }
        if member.priority == 0 && status.members.contains(where: { $0.isVoter && $0.priority > 0 && $0.id != target }) {
            throw Problem(.transferFailed, "\(target) holds a Load Manager's silent replica (priority 0): it does not lead while another voter can")
        }
        let path = request.path
        replica.transferLeadership(to: target) { result in
            switch result {
            case .success: responder.respond(ResponseBody.json(.object([("leader", .string(target))])))
            case let .failure(error):
                responder.respond(Problem(.transferFailed, "\(error)").response(instance: path))
            }
        }
    }
}
