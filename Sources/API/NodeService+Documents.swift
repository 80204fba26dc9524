import Cluster
import Foundation
import JSON
import MicroHTTPD
import Sharding
import Replica
import Storage
import Sync

extension NodeService {
    // MARK: Writes

    func put(_ request: Request, collection: String, id: String, _ responder: MeteredResponder) throws(Problem) {
        let precondition = try Headers.precondition(request, allowIfNoneMatch: true)
        let (contentType, isJSON) = try validatedBody(request)
        let operation = WriteOperation.put(collection: collection, id: id, contentType: contentType, body: request.body,
                                           isJSON: isJSON, precondition: precondition)
        try checkShardKey(operation)
        try submit([operation], request: request, responder) { result in
            self.singleWriteResponse(result, path: request.path)
        }
    }

    func create(_ request: Request, collection: String, _ responder: MeteredResponder) throws(Problem) {
        if request.header("if-match") != nil || request.header("if-none-match") != nil {
            throw Problem(.invalidHeader, "a POST creates a new document: conditional headers do not apply")
        }
        let (contentType, isJSON) = try validatedBody(request)
        let id = try serverChosenID(collection: collection, body: request.body, isJSON: isJSON)
        let operation = WriteOperation.put(collection: collection, id: id, contentType: contentType, body: request.body,
                                           isJSON: isJSON, precondition: .ifAbsent)
        try checkShardKey(operation)
        try submit([operation], request: request, responder) { result in
            self.singleWriteResponse(result, path: request.path + "/" + id)
        }
    }

    func patch(_ request: Request, collection: String, id: String, _ responder: MeteredResponder) throws(Problem) {
        guard Headers.mediaType(request.header("content-type")) == "application/merge-patch+json" else {
            throw Problem(.unsupportedMediaType, "PATCH takes a JSON merge patch (Content-Type: application/merge-patch+json)")
        }
        let precondition = try Headers.precondition(request, allowIfNoneMatch: false)
        do {
            try JSON.validate(request.body, maxDepth: configuration.maxJSONDepth)
        } catch {
            throw problem(for: error, invalid: .invalidPatch)
        }
        let operation = WriteOperation.patch(collection: collection, id: id, patch: request.body, precondition: precondition)
        try checkShardKey(operation)
        try submit([operation], request: request, responder) { result in
            self.singleWriteResponse(result, path: request.path)
        }
    }

    func delete(_ request: Request, collection: String, id: String, _ responder: MeteredResponder) throws(Problem) {
        let precondition = try Headers.precondition(request, allowIfNoneMatch: false)
        let operation = WriteOperation.delete(collection: collection, id: id, precondition: precondition)
        try checkShardKey(operation)
        try submit([operation], request: request, responder) { result in
            self.singleWriteResponse(result, path: request.path)
        }
    }

    /// Hands a command to the write path — the store's group commit (standalone) or the Raft
    /// log — and answers with `render` once it is durable. A follower forwards the request to
    /// the leader (or redirects, when the client asks with `X-Machdb-Redirect: true`).
    func submit(_ operations: [WriteOperation], request: Request, _ responder: MeteredResponder,
                render: @escaping @Sendable (CommandResult) -> Response) throws(Problem) {
        guard isAccepting else {
            // Stopping: a member of a group hands the write to the leader instead of failing it.
            if let leader = cluster.replica?.status.leaderURL, leader != cluster.configuration.replica.url {
                return forward(request, to: leader, responder)
            }
            throw Problem(.notReady, "node is shutting down")
        }
        let command = WriteCommand(operations: operations, timestampMilliseconds: wallClockMilliseconds())
        let path = request.path
        switch cluster.mode {
        case .switching:
            throw Problem(.notReady, "node is starting replication; retry")
        case .standalone:
            let queued = store.submit(command) { result in
                switch result {
                case let .success(commandResult): responder.respond(render(commandResult))
                case let .failure(error): responder.respond(self.problem(for: error).response(instance: path))
                }
            }
            guard queued else { throw Problem(.overloaded, "write queue is full (\(store.statistics.queueCapacity) commands)") }
        case .raft:
            propose(command, request: request, responder, render: render)
        }
    }

    /// Proposes through Raft and answers the client: see `proposed(_:request:allowRedirect:answer:)`.
    func propose(_ command: WriteCommand, request: Request, _ responder: MeteredResponder,
                 render: @escaping @Sendable (CommandResult) -> Response) {
        proposed(command, request: request) { answer in
            switch answer {
            case let .applied(result, servedBy):
                var response = render(result)
                if let servedBy { response.addHeader("X-Machdb-Served-By", servedBy) }
                responder.respond(response)
            case let .refused(problem, notApplied):
                var response = problem.response(instance: request.path)
                if notApplied { response.addHeader(Self.notAppliedHeader, "true") }
                responder.respond(response)
            case let .redirect(location):
                responder.respond(Response(status: 307, headers: [("Location", location), ("Content-Length", "0")]))
            }
        }
    }

    /// What became of a proposal: applied (with the leader that applied it, when another
    /// node did), refused (`notApplied`: certainly nothing happened), or to be sent to the
    /// leader (`X-Machdb-Redirect: true`).
    enum ProposeAnswer: Sendable {
        case applied(CommandResult, servedBy: String?)
        case refused(Problem, notApplied: Bool)
        case redirect(String)
    }

    /// Proposes through Raft: at this node when it leads, else at the leader over the peer
    /// stream (the answer carries the leader's result; docs/ARCHITECTURE.md, "The gateway hop").
    /// Without a leader (election, transfer, a leader that just died) the write waits in a
    /// bounded buffer (`--leaderless-buffer` writes at once) for up to `--leaderless-wait` after
    /// it arrived, retrying, instead of failing at once; past either bound it gets 503
    /// `no-leader` with `X-Machdb-Not-Applied` (nothing happened). A write is retried only
    /// when it certainly did not apply; otherwise 503 `write-timeout`.
    ///
    /// The write goes to the group of the shard that owns its bucket (docs/ARCHITECTURE.md,
    /// "Shards"). A group that no longer owns it answers `shard-mismatch` (nothing happened):
    /// the write is routed again once this node applied the split, within the same wait.
    ///
    /// `owner`: a shard this node holds no data of yet, and its leader, as another node named
    /// them in a shard-mismatch answer: the write is sent there directly.
    func proposed(_ command: WriteCommand, request: Request, allowRedirect: Bool = true, waiting: Bool = false,
                  owner: ShardOwner? = nil, answer: @escaping @Sendable (ProposeAnswer) -> Void) {
        let path = request.path
        let deadline = request.receivedAt + UInt64(configuration.leaderlessWaitMilliseconds) * 1_000_000
        @Sendable func leave() { if waiting { leaderlessWaiting.subtract(1, ordering: .relaxed) } }
        /// Tries again later, counted in the leaderless buffer; false when past its bounds.
        @Sendable func again(after milliseconds: Int, owner: ShardOwner? = nil) -> Bool {
            guard monotonicNanoseconds() < deadline else { return false }
            if !waiting {
                guard leaderlessWaiting.add(1, ordering: .relaxed).newValue <= configuration.leaderlessWriteBuffer else {
                    leaderlessWaiting.subtract(1, ordering: .relaxed)
                    return false
                }
            }
            DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(milliseconds)) {
                self.proposed(command, request: request, allowRedirect: allowRedirect, waiting: true, owner: owner, answer: answer)
            }
            return true
        }
        @Sendable func refuse(_ problem: Problem, notApplied: Bool) {
            leave()
            answer(.refused(problem, notApplied: notApplied))
        }
        @Sendable func noLeader() { refuse(Problem(.noLeader, "no leader elected in time; retry"), notApplied: true) }
        /// Answers a failure; `notLeader`/`notSent`/`shardMismatch` (nothing happened) wait for a leader.
        @Sendable func failed(_ error: ReplicaError) {
            switch error {
            case let .shardMismatch(_, owner?) where store.shardTable[owner.shard.id]?.isInitialized != true:
                // The bucket moved to a shard whose data this node has not received yet: send
                // the write to that shard's leader (at once: nothing happened).
                if !again(after: 0, owner: owner) { noLeader() }
            case .notLeader, .notSent, .shardMismatch:
                if !again(after: 20) { noLeader() }
            case .timeout:
                refuse(Problem(.writeTimeout, "the write was not applied in time; it may or may not have happened"), notApplied: false)
            case let .overloaded(what):
                refuse(Problem(.overloaded, what), notApplied: true)
            case .stopped:
                refuse(Problem(.notReady, "node is shutting down"), notApplied: true)
            default:
                refuse(Problem(.storageError, "\(error)"), notApplied: false)
            }
        }
        // A shard this node holds no replica of (moved to other nodes, or its data not
        // received yet): to its Writer as the map names it.
        let local = owner == nil ? self.replica(for: command) : nil
        let owner = owner ?? (local == nil ? mapOwner(for: command) : nil)
        // Sent to another node's shard: through shard 1's group (its registry waits for the reply).
        guard let replica = owner == nil ? local : cluster.replica else {
            // This node holds no group for the bucket yet (it joined after a split and waits
            // for the shard's snapshot): like a leaderless wait.
            if !again(after: 50) { noLeader() }
            return
        }
        let leadership = owner.map { Leadership(leader: $0.leader) } ?? replica.leader
        if leadership.isSelf {
            return replica.propose(command) { result in
                switch result {
                case let .success(commandResult):
                    leave()
                    answer(.applied(commandResult, servedBy: nil))
                case let .failure(error):
                    failed(error)
                }
            }
        }
        guard let leader = leadership.leader else {
            if !again(after: 50) { noLeader() }
            return
        }
        if allowRedirect, request.header("x-machdb-redirect")?.lowercased() == "true", let url = leadership.leaderURL {
            leave()
            return answer(.redirect(url + path + Self.queryString(request.query)))
        }
        let gateway = self.gateway, target = leadership.leaderURL ?? String(leader)
        let slotDeadline = request.receivedAt + UInt64(configuration.requestDeadlineMilliseconds) * 1_000_000
        gateway.acquire(target: target, priority: .write, deadline: slotDeadline, start: { [self] in
            replica.forward(command, to: leader, shard: owner?.shard.id) { result in
                gateway.release(target: target)
                switch result {
                case let .success(forwarded):
                    leave()
                    self.observed.record(shard: owner?.shard.id ?? replica.configuration.shard, index: forwarded.result.index)  // reads relayed later must see it
                    answer(.applied(forwarded.result, servedBy: forwarded.servedBy))
                case let .failure(error):
                    failed(error)
                }
            }
        }, refuse: { refusal in
            switch refusal {
            case let .overloaded(seconds):
                refuse(Problem(.overloaded, "too many writes waiting for the leader", headers: [("Retry-After", String(seconds))]),
                       notApplied: true)
            case .deadlineExceeded: refuse(Problem(.deadlineExceeded, "the write waited past its deadline for the leader"), notApplied: true)
            case .closed: refuse(Problem(.notReady, "node is shutting down"), notApplied: true)
            }
        })
    }

    /// This node's replica of the shard owning the command's bucket (every operation of a
    /// command routed here belongs to one shard): by the ranges this node applied, else — a
    /// node that joined after a split and still waits for that shard's snapshot — by the
    /// replicated map, whose shard's group here is empty but knows its leader (the write is
    /// forwarded to it). Nil when this node has no group for the bucket at all yet.
    func replica(for command: WriteCommand) -> Replica? {
        guard let first = command.operations.first else { return cluster.replica }
        let bucket = Bucket.of(first.id)
        if let shard = store.shardTable.shard(for: bucket) { return cluster.replica(shard: shard.id) }
        guard let listed = cluster.maps.map.shards.first(where: { $0.firstBucket <= bucket && bucket <= $0.lastBucket }) else {
            return nil
        }
        return cluster.replica(shard: listed.id)
    }

    /// The shard owning the command's bucket and its Writer, as the replicated map lists them
    /// (for a shard this node holds no replica of); nil when unknown or this node itself.
    func mapOwner(for command: WriteCommand) -> ShardOwner? {
        guard let first = command.operations.first, let map = cluster.maps.replicated,
              let entry = shardEntry(bucket: Bucket.of(first.id), in: map), let writer = entry.writer,
              writer != configuration.nodeID else { return nil }
        return ShardOwner(shard: ShardDescriptor(id: entry.id, firstBucket: entry.firstBucket, lastBucket: entry.lastBucket,
                                                 version: entry.version),
                          leader: RaftID.of(writer))
    }

    /// The answer to a one-operation write.
    func singleWriteResponse(_ result: CommandResult, path: String) -> Response {
        guard let outcome = result.outcomes.first else {
            return Problem(.internalError, "write produced no outcome").response(instance: path)
        }
        switch outcome {
        case let .written(written):
            var headers: [(name: String, value: String)] = [
                ("ETag", ResponseBody.etag(written.rev)), ("X-Machdb-Index", String(result.index)),
            ]
            if written.created {
                headers.append(("Location", "/v1/collections/\(written.collection)/docs/\(written.id)"))
            }
            return Response(status: written.created ? 201 : 200, contentType: "application/json",
                            body: ResponseBody.writeResult(written, index: result.index), headers: headers)
        case let .failed(failure):
            var response = problem(for: failure).response(instance: path)
            response.addHeader("X-Machdb-Index", String(result.index))
            return response
        }
    }

    func problem(for failure: WriteFailure) -> Problem {
        switch failure {
        case .notFound: Problem(.notFound, "no such document")
        case let .preconditionFailed(current):
            Problem(.preconditionFailed, current.map { "the document is at rev \($0)" } ?? "the document does not exist")
        case .notJSON: Problem(.notJSON, "the stored document is not JSON; replace it with PUT")
        case .patchResultTooDeep: Problem(.jsonTooDeep, "the patched document would nest deeper than \(configuration.maxJSONDepth) levels")
        }
    }

    func problem(for error: StorageError) -> Problem {
        switch error {
        case .queryTimeout: return Problem(.queryTimeout, "the query ran past its time limit; narrow the filter")
        case .closed: return Problem(.notReady, "node is shutting down")
        case let .invalidCommand(detail): return Problem(.invalidPatch, detail)
        default:
            logger.error("storage failed", metadata: ["error": "\(error)"])
            return Problem(.storageError, "the store could not complete the request; nothing was changed")
        }
    }

    func problem(for error: JSONError, invalid: ProblemType) -> Problem {
        switch error {
        case .tooDeep(let limit): Problem(.jsonTooDeep, "JSON may nest at most \(limit) levels")
        case .invalid: Problem(invalid, "\(error)")
        }
    }

    /// The content type to store and whether the body is JSON (validated if so).
    private func validatedBody(_ request: Request) throws(Problem) -> (String, Bool) {
        let contentType = request.header("content-type") ?? "application/json"
        guard let media = Headers.mediaType(contentType), !media.isEmpty else {
            throw Problem(.invalidHeader, "Content-Type is empty")
        }
        guard Headers.isJSON(media) else { return (contentType, false) }
        do {
            try JSON.validate(request.body, maxDepth: configuration.maxJSONDepth)
        } catch {
            throw problem(for: error, invalid: .invalidJSON)
        }
        return (contentType, true)
    }

    // MARK: Reads

    func read(_ request: Request, collection: String, id: String, _ responder: MeteredResponder) throws(Problem) {
        if cluster.replica != nil, store.shardTable.shard(for: Bucket.of(id)) == nil {
            // Routed here while this node holds no replica of the document's shard (it was
            // moved away, or its snapshot has not arrived): never answer from missing data.
            throw Problem(.replicaUnavailable, "this node holds no replica of the shard of bucket \(Bucket.of(id)); retry")
        }
        let ifNoneMatch = try request.header("if-none-match").map { value throws(Problem) in
            try Headers.tagList(value, header: "If-None-Match")
        }
        let path = request.path
        try whenConsistent(request, responder, bucket: Bucket.of(id)) {
            responder.respond(self.documentResponse(collection: collection, id: id, ifNoneMatch: ifNoneMatch, path: path))
        }
    }

    /// Runs `read` when the request's consistency allows: `eventual` at once; `session` (the
    /// default) once `X-Machdb-Min-Index` is applied; `strong` once the Raft read index
    /// (confirmed by the leader's quorum) is applied here. Indexes are per shard: a document
    /// read (`bucket`) waits on its shard's group; a query on every group this node holds
    /// (`session`: each one up to the index, or up to all it knows committed when that is
    /// lower — indexes of different shards do not compare; docs/API.md, "Shards").
    func whenConsistent(_ request: Request, _ responder: MeteredResponder, bucket: Int? = nil,
                        read: @escaping @Sendable () -> Void) throws(Problem) {
        let consistency = request.queryValue("consistency") ?? "session"
        guard ["eventual", "session", "strong"].contains(consistency) else {
            throw Problem(.invalidParameter, "consistency must be eventual, session or strong")
        }
        let groups = readGroups(bucket: bucket)
        if consistency == "strong", !groups.isEmpty {
            let path = request.path
            let gather = Gather<Problem?>(count: groups.count)  // nil: confirmed
            for (slot, replica) in groups.enumerated() {
                replica.readIndex(timeoutMilliseconds: configuration.readWaitMilliseconds) { result in
                    let answer: Problem? = switch result {
                    case .success: nil
                    case .failure(.notLeader), .failure(.timeout): Problem(.noLeader, "no leader confirmed the read in time; retry")
                    case let .failure(error): Problem(.overloaded, "\(error)")
                    }
                    guard let all = gather.add(answer, at: slot) else { return }
                    if let problem = all.compactMap({ $0 }).first { return responder.respond(problem.response(instance: path)) }
                    if !self.workers.submit(read) {
                        responder.respond(Problem(.overloaded, "too many reads waiting").response(instance: path))
                    }
                }
            }
            return
        }
        try whenApplied(request, responder, bucket: bucket, groups: groups, read: read)
    }

    /// The groups a read depends on: the bucket's shard, or every group held here.
    func readGroups(bucket: Int?) -> [Replica] {
        guard let bucket else { return cluster.replicas }
        guard let shard = store.shardTable.shard(for: bucket) else { return cluster.replica.map { [$0] } ?? [] }
        return cluster.replica(shard: shard.id).map { [$0] } ?? []
    }

    /// Runs `read` once this node has applied the request's `X-Machdb-Min-Index` (at once when
    /// there is none or it is reached; else parked, bounded, and run on a worker — never on the
    /// applying thread). Past `--read-wait`: 504 index-not-reached.
    func whenApplied(_ request: Request, _ responder: MeteredResponder, bucket: Int? = nil, groups: [Replica] = [],
                     read: @escaping @Sendable () -> Void) throws(Problem) {
        guard let minIndex = try minimumIndex(request) else { return read() }
        if groups.count > 1 {
            return try whenAppliedEverywhere(minIndex, request, responder, groups: groups, read: read)
        }
        let deadline = monotonicNanoseconds() + UInt64(configuration.readWaitMilliseconds) * 1_000_000
        if try !waitThenRead(minIndex, shard: groups.first?.configuration.shard ?? 1, bucket: bucket, deadline: deadline,
                             path: request.path, responder, read: read) {
            read()
        }
    }

    /// Waits until shard `shard` applied `index`, then reads — unless the bucket's shard is
    /// another one by then (this node applied a split while the read waited: a child shard's
    /// indexes start at the split's own index, above the parent's before it), in which case it
    /// waits on that one. Returns false when the index was reached already (read at once).
    private func waitThenRead(_ index: UInt64, shard: Int, bucket: Int?, deadline: UInt64, path: String,
                              _ responder: MeteredResponder, read: @escaping @Sendable () -> Void) throws(Problem) -> Bool {
        let registration = waiters(shard: shard).wait(for: index, deadline: deadline) { reached in
            guard reached else {
                responder.respond(Problem(.indexNotReached, "this node has not applied index \(index) yet").response(instance: path))
                return
            }
            let now = self.readGroups(bucket: bucket).first?.configuration.shard ?? shard
            do throws(Problem) {
                if now != shard, try self.waitThenRead(index, shard: now, bucket: bucket, deadline: deadline, path: path,
                                                       responder, read: read) {
                    return  // parked again, on the shard that owns the bucket now
                }
            } catch {
                return responder.respond(error.response(instance: path))
            }
            if !self.workers.submit(read) {
                responder.respond(Problem(.overloaded, "too many reads waiting").response(instance: path))
            }
        }
        switch registration {
        case .reached:
            let now = readGroups(bucket: bucket).first?.configuration.shard ?? shard
            if now != shard { return try waitThenRead(index, shard: now, bucket: bucket, deadline: deadline, path: path, responder, read: read) }
            return false
        case .waiting: return true
        case .full: throw Problem(.overloaded, "too many reads waiting for an index")
        }
    }

    /// `X-Machdb-Min-Index` for a read spanning several groups: each group up to the index,
    /// or up to its known commit index when that is lower.
    private func whenAppliedEverywhere(_ minIndex: UInt64, _ request: Request, _ responder: MeteredResponder,
                                       groups: [Replica], read: @escaping @Sendable () -> Void) throws(Problem) {
        let path = request.path
        let deadline = monotonicNanoseconds() + UInt64(configuration.readWaitMilliseconds) * 1_000_000
        let gather = Gather<Bool>(count: groups.count)
        @Sendable func arrived(_ slot: Int, reached: Bool) {
            guard let all = gather.add(reached, at: slot) else { return }
            if all.contains(false) {
                return responder.respond(Problem(.indexNotReached, "this node has not applied index \(minIndex) yet")
                    .response(instance: path))
            }
            if !self.workers.submit(read) {
                responder.respond(Problem(.overloaded, "too many reads waiting").response(instance: path))
            }
        }
        for (slot, replica) in groups.enumerated() {
            let shard = replica.configuration.shard
            let target = min(minIndex, max(replica.status.commit, store.appliedIndex(shard: shard)))
            switch waiters(shard: shard).wait(for: target, deadline: deadline, callback: { arrived(slot, reached: $0) }) {
            case .reached: arrived(slot, reached: true)
            case .waiting: break
            case .full: arrived(slot, reached: false)
            }
        }
    }

    func documentResponse(collection: String, id: String, ifNoneMatch: Headers.TagList?, path: String) -> Response {
        let document: StoredDocument?
        do {
            document = try store.document(collection: collection, id: id)
        } catch {
            return problem(for: error).response(instance: path)
        }
        guard let document else { return Problem(.notFound, "no such document").response(instance: path) }
        let etag = ResponseBody.etag(document.rev)
        let notModified: Bool
        switch ifNoneMatch {
        case .none: notModified = false
        case .any: notModified = true
        case let .tags(strong, weak): notModified = strong.contains(document.rev) || weak.contains(document.rev)
        }
        if notModified {
            return Response(status: 304, headers: [("ETag", etag)])
        }
        return Response(status: 200, contentType: document.contentType, body: document.body, headers: [
            ("ETag", etag),
            ("X-Machdb-Rev", String(document.rev)),
            ("X-Machdb-Bucket", String(document.bucket)),
            ("X-Machdb-Index", String(document.writeIndex)),
            ("Last-Modified", HTTPDate.format(millisecondsSinceEpoch: document.updatedAt)),
        ])
    }

    func minimumIndex(_ request: Request) throws(Problem) -> UInt64? {
        guard let value = request.header("x-machdb-min-index") else { return nil }
        guard let index = UInt64(value.trimmingSpaces) else {
            throw Problem(.invalidHeader, "X-Machdb-Min-Index must be a non-negative integer")
        }
        return index
    }
}

/// Server-chosen document ids: 20 characters of `[0-9a-z]`, time-ordered (9 characters of
/// milliseconds in base 36, then 11 random ones).
enum DocumentID {
    private static let alphabet: [Character] = Array("0123456789abcdefghijklmnopqrstuvwxyz")

    static func generate() -> String {
        var result = ""
        var millis = UInt64(max(0, wallClockMilliseconds()))
        var timePart: [Character] = []
        for _ in 0..<9 {
            timePart.append(alphabet[Int(millis % 36)])
            millis /= 36
        }
        result.append(contentsOf: timePart.reversed())
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<11 { result.append(alphabet[Int(generator.next(upperBound: UInt64(36)))]) }
        return result
    }
}
