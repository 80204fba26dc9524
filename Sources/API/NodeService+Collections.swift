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
        let current: CollectionSettings, count: Int
        do {
            current = try store.settings(of: collection)
            count = try store.collections().first { $0.name == collection }?.count ?? 0
        } catch {
            throw problem(for: error)
        }
        let path = request.path
        if current.shardKey == key {
            return responder.respond(collectionJSON(collection, count: count, key: key, index: nil, status: 200))
        }
        guard count == 0 else {
            throw Problem(.collectionNotEmpty, "\(collection) holds \(count) documents: its shard key can change only while it is empty")
        }
        let settings = CollectionSettings(shardKey: key)
        let operation = WriteOperation.put(collection: CollectionSettings.collection, id: CollectionSettings.documentID(of: collection),
                                           contentType: "application/json",
                                           body: settings.json.encoded(), isJSON: true, precondition: .none)
        try submit([operation], request: request, responder) { result in
            if case let .failed(failure)? = result.outcomes.first { return self.problem(for: failure).response(instance: path) }
            return self.collectionJSON(collection, count: 0, key: key, index: result.index, status: 200)
        }
    }

    // MARK: GET /v1/collections/{c}

    /// A collection's live document count and shard key; 404 for one with neither.
    func collectionView(_ collection: String, path: String) throws(Problem) -> Response {
        let settings: CollectionSettings, count: Int
        do {
            settings = try store.settings(of: collection)
            count = try store.collections().first { $0.name == collection }?.count ?? 0
        } catch {
            throw problem(for: error)
        }
        guard count > 0 || settings.shardKey != nil else {
            throw Problem(.notFound, "collection \(collection) holds no document and declares nothing")
        }
        return collectionJSON(collection, count: count, key: settings.shardKey, index: nil, status: 200)
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
