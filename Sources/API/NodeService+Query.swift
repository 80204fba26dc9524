import Cluster
import Curl
import JSON
import MicroHTTPD
import Sharding
import Storage
import Synchronization

extension NodeService {
    /// `POST /v1/collections/{c}/query`: validated on the I/O thread, run on a worker.
    func query(_ request: Request, collection: String, _ responder: MeteredResponder) throws(Problem) {
        let body = try jsonBody(request, limit: configuration.maxQueryBodyBytes, depth: configuration.maxJSONDepth)
        let parsed: DocumentQuery
        do {
            parsed = try DocumentQuery.parse(body)
        } catch {
            switch error {
            case let .invalidQuery(detail): throw Problem(.invalidQuery, detail)
            case let .invalidCursor(detail): throw Problem(.invalidCursor, detail)
            }
        }
        let path = request.path
        guard request.queryValue("partial").map({ ["allow", "deny"].contains($0) }) ?? true else {
            throw Problem(.invalidParameter, "partial must be allow or deny")
        }
        let keyed = keyBucket(parsed, collection: collection)
        if let shards = queryTargets(request, bucket: keyed) {
            return scatter(request, query: parsed, to: shards, responder)
        }
        // Asked by a Load Manager that merges pages from several shards: with positions, and
        // the shard's buckets when this node holds others too. A query for one shard key
        // value reads that value's bucket only.
        let positions = request.header(Self.positionsHeader) == "true"
        let requested = try requestedBuckets(request)
        let buckets = keyed.flatMap { requested?.contains($0) ?? true ? $0...$0 : nil } ?? requested
        try checkHolds(buckets ?? Bucket.range)
        let run: @Sendable () -> Void = {
            do throws(StorageError) {
                let page = try self.store.query(collection: collection, parsed, positions: positions, buckets: buckets)
                responder.respond(Response(status: 200, contentType: "application/json", body: Self.render(page)))
            } catch {
                responder.respond(self.problem(for: error).response(instance: path))
            }
        }
        try whenConsistent(request, responder, bucket: keyed) {
            if !self.workers.submit(run) {
                responder.respond(Problem(.overloaded, "too many queries queued").response(instance: path))
            }
        }
    }

    /// The one bucket a query of a collection with a shard key can match: its filter has
    /// `<key> eq "<value>"`, and every document of that value is in the value's bucket
    /// (docs/ARCHITECTURE.md, "Shard keys"). Nil otherwise.
    func keyBucket(_ query: DocumentQuery, collection: String) -> Int? {
        guard let key = shardKeyField(of: collection) else { return nil }
        for condition in query.conditions {
            if case let .compare(path, .eq, .string(value)) = condition, path.segments == [.key(key)] {
                return Bucket.ofKey(value)
            }
        }
        return nil
    }

    /// A JSON request body (query, bulk): JSON media type (or none), bounded size, valid, bounded depth.
    func jsonBody(_ request: Request, limit: Int, depth: Int) throws(Problem) -> JSON {
        if let media = Headers.mediaType(request.header("content-type")), !Headers.isJSON(media) {
            throw Problem(.unsupportedMediaType, "this endpoint takes application/json")
        }
        guard request.body.count <= limit else {
            throw Problem(.bodyTooLarge, "this endpoint takes at most \(limit) bytes")
        }
        do {
            return try JSON.parse(request.body, maxDepth: depth)
        } catch {
            throw problem(for: error, invalid: .invalidJSON)
        }
    }

    /// The page as JSON, embedding each stored document's text as is (no re-encoding).
    static func render(_ page: QueryPage) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(64 + page.documents.reduce(0) { $0 + $1.body.count + 96 })
        out.append(contentsOf: #"{"docs":["#.utf8)
        for (n, document) in page.documents.enumerated() {
            if n > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: #"{"id":"#.utf8)
            JSON.appendString(document.id, into: &out)
            out.append(contentsOf: #","rev":\#(document.rev),"bucket":\#(document.bucket),"updated_at":\#(document.updatedAt),"#.utf8)
            if let positions = page.positions {
                out.append(contentsOf: #""pos":"#.utf8)
                JSON.appendString(positions[n], into: &out)
                out.append(UInt8(ascii: ","))
            }
            out.append(contentsOf: #""doc":"#.utf8)
            out.append(contentsOf: document.body)
            out.append(UInt8(ascii: "}"))
        }
        out.append(contentsOf: #"],"count":\#(page.documents.count),"next":"#.utf8)
        if let next = page.next { JSON.appendString(next, into: &out) } else { out.append(contentsOf: "null".utf8) }
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// Internal request header: answer a query with each document's position (`pos`).
    static let positionsHeader = "x-machdb-positions"
    /// Internal request header: answer a query from these buckets only (`first-last`).
    static let bucketsHeader = "x-machdb-buckets"

    func requestedBuckets(_ request: Request) throws(Problem) -> ClosedRange<Int>? {
        guard let value = request.header(Self.bucketsHeader) else { return nil }
        let parts = value.split(separator: "-").compactMap { Int($0) }
        guard parts.count == 2, Bucket.range.contains(parts[0]), Bucket.range.contains(parts[1]), parts[0] <= parts[1] else {
            throw Problem(.invalidHeader, "X-Machdb-Buckets must be first-last within 1-1000")
        }
        return parts[0]...parts[1]
    }

    /// A query answered here must find every document of `buckets` here: refused while this
    /// node holds no (caught-up) group for part of them (it joined after a split and waits for
    /// a shard's snapshot).
    func checkHolds(_ buckets: ClosedRange<Int>) throws(Problem) {
        guard cluster.replica != nil else { return }
        let held = store.shardTable.shards.values.compactMap(\.buckets).filter { $0.overlaps(buckets) }
        let covered = held.reduce(0) { $0 + $1.clamped(to: buckets).count }
        guard covered >= buckets.count else {
            throw Problem(.replicaUnavailable, "this node does not hold every shard of buckets \(buckets.lowerBound)-\(buckets.upperBound) yet; retry")
        }
    }

    /// Where a relayed query goes: to the Read Replica chosen for reads when it holds every
    /// shard (the common case: every shard lives on the same nodes), else to one replica per
    /// shard (the least busy), each asked for its shard's buckets only; nil to run it here
    /// (a single node, a Read Replica, a request another node routed).
    /// `bucket`: the one bucket the query can match (a shard key value, see `keyBucket`):
    /// only its shard is asked.
    /// A Read Replica that does not hold every shard asked for (some were moved to other
    /// nodes) scatters too, to itself for what it holds.
    func queryTargets(_ request: Request, bucket: Int? = nil) -> [QueryTarget]? {
        let map = cluster.maps.map
        let shards = map.shards.filter { bucket == nil || ($0.firstBucket...$0.lastBucket).contains(bucket!) }
        let holdsAll = shards.allSatisfy { store.shardTable[$0.id]?.isInitialized == true }
        let forwarded = request.header("x-machdb-forwarded") != nil
        guard let single = readProxyTarget(request)
            ?? (cluster.replica != nil && !forwarded && !holdsAll ? cluster.configuration.replica.url : nil) else { return nil }
        guard map.shards.count > 1 else { return [QueryTarget(shard: map.shards.first?.id ?? 1, url: single, buckets: nil)] }
        if let node = map.nodes.first(where: { $0.url == single }), shards.allSatisfy({ $0.holders.contains(node.id) }) {
            return [QueryTarget(shard: shards.count == 1 ? shards[0].id : 0, url: single, buckets: nil)]
        }
        var targets: [QueryTarget] = []
        for shard in shards {
            let members = shard.holders
            var replicas = map.nodes.filter { members.contains($0.id) && $0.state == .active && $0.roles.contains(.replica) }
                .map(\.url)
            if replicas.isEmpty { replicas = shardReaders(holders: members, writer: shard.writer, in: map).map(\.url) }
            let writer = shard.writer.flatMap { map.node($0) }?.url
            if let target = gateway.leastOutstanding(replicas) ?? writer {
                targets.append(QueryTarget(shard: shard.id, url: target, buckets: shard.firstBucket...shard.lastBucket))
            }
        }
        return targets.isEmpty ? [QueryTarget(shard: 1, url: single, buckets: nil)] : targets
    }

    /// Scatter-gather: the query goes to every shard at once (with positions), the pages are
    /// merged in sort order and cut at the limit, with one `next` for all shards. A shard that
    /// does not answer fails the query (503 `replica-unavailable`, naming it) unless the client
    /// sent `partial=allow`: then the answer holds what the others returned, with
    /// `"partial": true` and the missing shards.
    func scatter(_ request: Request, query: DocumentQuery, to targets: [QueryTarget],
                 _ responder: MeteredResponder) {
        let path = request.path
        let session = request.header("x-machdb-min-index") == nil && request.queryValue("consistency") != "eventual"
        let gather = Gather<ShardAnswer>(count: targets.count)
        for (slot, target) in targets.enumerated() {
            var headers = [("X-Machdb-Positions", "true")]
            if let buckets = target.buckets { headers.append(("X-Machdb-Buckets", "\(buckets.lowerBound)-\(buckets.upperBound)")) }
            // Each leg waits for what this node saw of its own shard (indexes of different
            // shards do not compare); a leg spanning every shard, for the highest.
            let minIndex = session ? sessionIndex(bucket: target.buckets?.lowerBound) : nil
            relay(request, to: target.url, minIndex: minIndex, extraHeaders: headers) { [self] outcome in
                let answer: ShardAnswer
                switch outcome {
                case let .answered(.success(response)) where response.status == 200:
                    answer = .page(response.body)
                case let .answered(.success(response)):
                    answer = .error(response)  // the shard's own 4xx/5xx: passed on as is
                case let .answered(.failure(error)):
                    answer = .missing(target.shard, error.message)
                case let .refused(problem):
                    answer = .refused(problem)
                }
                guard let all = gather.add(answer, at: slot) else { return }
                responder.respond(merge(all, shards: targets.map(\.shard), query: query, request: request, path: path))
            }
        }
    }

    private func merge(_ answers: [ShardAnswer], shards: [Int], query: DocumentQuery, request: Request,
                       path: String) -> Response {
        var pages: [QueryMerge.ShardPage<JSON>] = []
        var missing: [(shard: Int, reason: String)] = []
        for (slot, answer) in answers.enumerated() {
            switch answer {
            case let .page(body):
                guard let page = try? JSON.parse(body, maxDepth: configuration.maxJSONDepth + 4) else {
                    missing.append((shards[slot], "unreadable answer"))
                    continue
                }
                let documents = (page["docs"]?.elements ?? []).map { doc in
                    (document: doc.setting("pos", to: nil), position: doc["pos"]?.stringValue ?? "")
                }
                pages.append(QueryMerge.ShardPage(documents: documents, hasMore: !(page["next"]?.isNull ?? true)))
            case let .error(response):
                // A client error (bad cursor, ...) is the same on every shard: pass it on.
                return Response(status: response.status, headers: response.headers.filter {
                    ["content-type", "retry-after", "x-machdb-served-by"].contains($0.name)
                }, body: .bytes(response.body))
            case let .missing(shard, reason):
                missing.append((shard, reason))
            case let .refused(problem):
                return problem.response(instance: path)
            }
        }
        if !missing.isEmpty && request.queryValue("partial") != "allow" {
            let names = missing.map { "shard \($0.shard) (\($0.reason))" }.joined(separator: ", ")
            return Problem(.replicaUnavailable, "no answer from \(names); retry, or send partial=allow").response(instance: path)
        }
        let merged: (documents: [JSON], next: String?)
        do {
            merged = try QueryMerge.merge(pages, query: query)
        } catch {
            return Problem(.internalError, "shard pages do not merge: \(error)").response(instance: path)
        }
        var fields: [(String, JSON)] = [
            ("docs", .array(merged.documents)), ("count", .int(merged.documents.count)),
            ("next", merged.next.map { .string($0) } ?? .null),
        ]
        if !missing.isEmpty {
            fields.append(("partial", true))
            fields.append(("missing_shards", .array(missing.map { .int($0.shard) })))
        }
        return ResponseBody.json(.object(fields))
    }
}

/// One leg of a relayed query: the node, and the buckets it is asked for (nil: all).
struct QueryTarget: Sendable {
    let shard: Int
    let url: String
    let buckets: ClosedRange<Int>?
}

/// What one shard's leg of a scatter-gather query came back with.
enum ShardAnswer: Sendable {
    case page([UInt8])
    case error(ClientResponse)
    case missing(Int, String)
    case refused(Problem)
}

/// Collects one answer per slot (a shard's page, a shard's part of a bulk request, a group's
/// read index); the last one to arrive gets them all, in slot order.
final class Gather<Answer: Sendable>: Sendable {
    private let answers: Mutex<[Answer?]>

    init(count: Int) { answers = Mutex(Array(repeating: nil, count: count)) }

    /// Stores `answer`; returns every answer once the last one is in.
    func add(_ answer: Answer, at slot: Int) -> [Answer]? {
        answers.withLock { all in
            all[slot] = answer
            let done = all.compactMap { $0 }
            return done.count == all.count ? done : nil
        }
    }
}
