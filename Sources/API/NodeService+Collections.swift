import JSON
import MicroHTTPD
import Sharding
import Storage
import Synchronization

/// Collections' shard key fields as last read from the store, valid while the store's
/// settings generation has not moved; at most `capacity` collections (then the oldest read
/// is not kept: the next lookup reads the store again).
final class ShardKeyCache: Sendable {
    static let capacity = 10_000
    private let state = Mutex<(generation: UInt64, keys: [String: String?])>((.max, [:]))

    func lookup(_ collection: String, generation: UInt64, read: () -> String?) -> String? {
        if let cached = state.withLock({ $0.generation == generation ? $0.keys[collection] : nil }) { return cached }
        let key = read()
        state.withLock { state in
            if state.generation != generation { state = (generation, [:]) }
            if state.keys.count < Self.capacity { state.keys[collection] = .some(key) }
        }
        return key
    }

    /// Collections cached now (for `/metrics`).
    var count: Int { state.withLock { $0.keys.count } }
}

extension NodeService {
    // MARK: Shard keys (docs/ARCHITECTURE.md, "Shard keys")

    /// The shard key field `collection` declared, as applied here (nil: the id is the key).
    func shardKeyField(of collection: String) -> String? {
        shardKeys.lookup(collection, generation: store.settingsGeneration) {
            (try? store.settings(of: collection))?.shardKey
        }
    }

    /// The system collection holding collections' settings is not for clients.
    func refuseReserved(_ collection: String) throws(Problem) {
        guard collection == CollectionSettings.collection else { return }
        throw Problem(.invalidCollection, "\(collection) is reserved; declare a collection's settings with PUT /v1/collections/{name}")
    }

    /// The id of a new document whose id the server picks: `<key value>:<random>` in a
    /// collection with a shard key (the value read from the document), else random.
    func serverChosenID(collection: String, body: [UInt8], isJSON: Bool) throws(Problem) -> String {
        let generated = DocumentID.generate()
        guard let key = shardKeyField(of: collection) else { return generated }
        guard isJSON, let value = (try? JSON.parse(body, maxDepth: configuration.maxJSONDepth))?[key]?.stringValue,
              Names.isValid(value) else {
            throw Problem(.shardKeyMismatch, "documents of \(collection) carry their shard key: a string field \(key) matching [A-Za-z0-9._~-]{1,128}")
        }
        return value + ":" + generated
    }

    /// Checks an operation against its collection's shard key rule: without a declaration an
    /// id never contains `:`; with one, an id is `<key value>:<id>`, and a document carries
    /// the same value in its key field, which no patch may change or remove (a document never
    /// changes bucket). Nothing is written when this throws.
    func checkShardKey(_ operation: WriteOperation) throws(Problem) {
        let collection = operation.collection
        try refuseReserved(collection)
        let value = Bucket.keyValue(of: operation.id).map(String.init)
        guard let key = shardKeyField(of: collection) else {
            if value != nil {
                throw Problem(.invalidID, "':' in a document id separates a shard key value; \(collection) declares no shard key")
            }
            return
        }
        guard let value else {
            throw Problem(.shardKeyMismatch, "ids in \(collection) are <\(key)>:<id> (like acme:cart-17): it declares the shard key \(key)")
        }
        func mismatch(_ what: String) -> Problem {
            Problem(.shardKeyMismatch, "\(what): documents of \(collection) carry \(key) = \"\(value)\", the prefix of their id")
        }
        switch operation {
        case let .put(_, _, _, body, isJSON, _):
            guard isJSON, let document = try? JSON.parse(body, maxDepth: configuration.maxJSONDepth), document.kind == .object else {
                throw mismatch("the document is not a JSON object")
            }
            guard document[key]?.stringValue == value else { throw mismatch("its field \(key) differs") }
        case let .patch(_, _, patch, _):
            guard let patch = try? JSON.parse(patch, maxDepth: configuration.maxJSONDepth), patch.kind == .object else {
                throw mismatch("a patch that is not an object replaces the document")
            }
            if let field = patch[key], field.stringValue != value { throw mismatch("the patch changes \(key)") }
        case .delete:
            break
        }
    }

    // MARK: PUT /v1/collections/{c}

    /// Declares a collection's shard key (`{"shard_key": "tenant"}`, or null for none): stored
    /// as the collection's settings document, through the normal write path. Allowed while the
    /// collection holds no document (409 `collection-not-empty` otherwise: its documents'
    /// buckets would no longer follow the rule); repeating the current declaration answers
    /// 200 and writes nothing.
    func declare(_ request: Request, collection: String, _ responder: MeteredResponder) throws(Problem) {
        let body = try jsonBody(request, limit: 4 << 10, depth: 4)
        guard body.kind == .object, body.members.allSatisfy({ $0.key == "shard_key" }), let field = body["shard_key"] else {
            throw Problem(.invalidRequest, #"the body is {"shard_key": "<field>"} or {"shard_key": null}"#)
        }
        let key: String?
        if field.kind == .null {
            key = nil
        } else {
            guard let name = field.stringValue, CollectionSettings.isValidField(name) else {
                throw Problem(.invalidRequest, "shard_key names a top-level field: [A-Za-z0-9_]{1,64}")
            }
            key = name
        }
        let current: CollectionSettings
        do { current = try store.settings(of: collection) } catch { throw problem(for: error) }
        let path = request.path
        // Counted across shards (some may live on other nodes), then written.
        let counting = Request(method: "GET", path: "/v1/collections", headers: [], query: [], body: [], receivedAt: request.receivedAt)
        try gatherCounts(counting) { result in
            do throws(Problem) {
                let count = try result.get().filter { $0.name == collection }.reduce(0) { $0 + $1.count }
                if current.shardKey == key {
                    return responder.respond(self.collectionJSON(collection, count: count, key: key, index: nil, status: 200))
                }
                guard count == 0 else {
                    throw Problem(.collectionNotEmpty, "\(collection) holds \(count) documents: its shard key can change only while it is empty")
                }
                let settings = CollectionSettings(shardKey: key)
                let operation = WriteOperation.put(collection: CollectionSettings.collection,
                                                   id: CollectionSettings.documentID(of: collection), contentType: "application/json",
                                                   body: settings.json.encoded(), isJSON: true, precondition: .none)
                try self.submit([operation], request: request, responder) { result in
                    if case let .failed(failure)? = result.outcomes.first { return self.problem(for: failure).response(instance: path) }
                    return self.collectionJSON(collection, count: 0, key: key, index: result.index, status: 200)
                }
            } catch {
                responder.respond(error.response(instance: path))
            }
        }
    }

    // MARK: GET /v1/collections

    /// Every collection holding live documents or declaring settings, by name, with its count
    /// and shard key (the system collection of settings is not listed). A node that does not
    /// hold every shard (some were moved to other nodes) counts its own and asks a holder of
    /// each other shard for that shard's buckets (`X-Machdb-Buckets`), then adds them up.
    func collections(_ request: Request, _ responder: MeteredResponder) throws(Problem) {
        let path = request.path
        try gatherCounts(request) { result in
            do throws(Problem) {
                responder.respond(try self.collectionsJSON(counts: try result.get()))
            } catch {
                responder.respond(error.response(instance: path))
            }
        }
    }

    /// Live documents per collection on this node, or across the cluster's shards when some
    /// were moved away from it (see `collections(_:_:)`); `done` may run on another thread.
    func gatherCounts(_ request: Request,
                      done: @escaping @Sendable (Result<[(name: String, count: Int)], Problem>) -> Void) throws(Problem) {
        if let buckets = try requestedBuckets(request) {
            return done(.success(try counted { () throws(StorageError) in try store.collections(buckets: buckets) }))
        }
        guard cluster.replica != nil, !holdsEveryShard, let map = cluster.maps.replicated else {
            return done(.success(try counted { () throws(StorageError) in try store.collections() }))
        }
        var local: [(name: String, count: Int)] = []
        var remote: [(shard: Int, url: String, buckets: ClosedRange<Int>)] = []
        for shard in map.shards {
            let buckets = shard.firstBucket...shard.lastBucket
            if store.shardTable[shard.id]?.isInitialized == true {
                local += try counted { () throws(StorageError) in try store.collections(buckets: buckets) }
                continue
            }
            let candidates = map.nodes.filter { shard.holders.contains($0.id) && $0.state == .active && $0.id != configuration.nodeID }
            var preferred = candidates.filter { $0.roles.contains(.replica) }.map(\.url)
            if preferred.isEmpty { preferred = shardReaders(holders: shard.holders, writer: shard.writer, in: map).map(\.url) }
            guard let url = gateway.leastOutstanding(preferred) ?? (shard.writer.flatMap { map.node($0) }?.url) else {
                throw Problem(.replicaUnavailable, "no node holding shard \(shard.id) is known; retry")
            }
            remote.append((shard.id, url, buckets))
        }
        let base = local
        let gather = Gather<Result<[(name: String, count: Int)], Problem>>(count: remote.count)
        let relayed = Request(method: "GET", path: "/v1/collections", headers: request.headers, query: [], body: [],
                              receivedAt: request.receivedAt)
        for (slot, part) in remote.enumerated() {
            relay(relayed, to: part.url, extraHeaders: [("X-Machdb-Buckets", "\(part.buckets.lowerBound)-\(part.buckets.upperBound)")]) { outcome in
                let answer: Result<[(name: String, count: Int)], Problem>
                switch outcome {
                case let .answered(.success(response)) where response.status == 200:
                    let items = (try? JSON.parse(response.body))?["collections"]?.elements ?? []
                    answer = .success(items.compactMap { item in
                        guard let name = item["name"]?.stringValue, let count = item["count"]?.intValue else { return nil }
                        return (name, Int(count))
                    })
                case .answered:
                    answer = .failure(Problem(.replicaUnavailable, "shard \(part.shard) did not answer its counts; retry"))
                case let .refused(problem):
                    answer = .failure(problem)
                }
                guard let all = gather.add(answer, at: slot) else { return }
                var counts = base
                for part in all {
                    switch part {
                    case let .success(items): counts += items
                    case let .failure(problem): return done(.failure(problem))
                    }
                }
                done(.success(counts))
            }
        }
    }

    private func counted(_ read: () throws(StorageError) -> [(name: String, count: Int)]) throws(Problem) -> [(name: String, count: Int)] {
        do { return try read() } catch { throw problem(for: error) }
    }

    /// The listing from counts (summed per name) and this node's declarations.
    func collectionsJSON(counts list: [(name: String, count: Int)]) throws(Problem) -> Response {
        var counts: [String: Int] = [:]
        for (name, count) in list where name != CollectionSettings.collection && count > 0 { counts[name, default: 0] += count }
        let declared: [String: CollectionSettings]
        do { declared = try store.declaredSettings().filter { $0.value.shardKey != nil } } catch { throw problem(for: error) }
        let names = Set(counts.keys).union(declared.keys).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        let items = names.map { name in
            var fields: [(String, JSON)] = [("name", .string(name)), ("count", .int(counts[name] ?? 0))]
            if let key = declared[name]?.shardKey { fields.append(("shard_key", .string(key))) }
            return JSON.object(fields)
        }
        return ResponseBody.json(.object([("collections", .array(items))]))
    }

    // MARK: GET /v1/collections/{c}

    /// A collection's live document count and shard key; 404 for one with neither.
    func collectionView(_ request: Request, collection: String, _ responder: MeteredResponder) throws(Problem) {
        let settings: CollectionSettings
        do { settings = try store.settings(of: collection) } catch { throw problem(for: error) }
        let path = request.path
        try gatherCounts(request) { result in
            switch result {
            case let .success(counts):
                let count = counts.filter { $0.name == collection }.reduce(0) { $0 + $1.count }
                guard count > 0 || settings.shardKey != nil else {
                    return responder.respond(Problem(.notFound, "collection \(collection) holds no document and declares nothing")
                        .response(instance: path))
                }
                responder.respond(self.collectionJSON(collection, count: count, key: settings.shardKey, index: nil, status: 200))
            case let .failure(problem):
                responder.respond(problem.response(instance: path))
            }
        }
    }

    func collectionJSON(_ name: String, count: Int, key: String?, index: UInt64?, status: Int) -> Response {
        var fields: [(String, JSON)] = [("name", .string(name)), ("count", .int(count)), ("shard_key", key.map(JSON.string) ?? .null)]
        var headers: [(name: String, value: String)] = []
        if let index {
            fields.append(("index", .int(index)))
            headers.append(("X-Machdb-Index", String(index)))
        }
        return ResponseBody.json(.object(fields), status: status, headers: headers)
    }
}
