import JSON
import MicroHTTPD
import Sharding
import Storage
import Sync

extension NodeService {
    /// `POST /v1/_bulk`: every operation validated first (one bad operation rejects the whole
    /// request, nothing written), then one command: one index, one durable commit.
    func bulk(_ request: Request, _ responder: MeteredResponder) throws(Problem) {
        // Documents sit three levels down ({"ops":[{"doc": ...}]}). Parse with room to spare so
        // a too-deep document is reported against its operation; each is checked below.
        let body = try jsonBody(request, limit: Int.max, depth: max(configuration.maxJSONDepth + 3, 512))
        guard body.kind == .object, let ops = body["ops"], ops.kind == .array, body.count == 1 else {
            throw Problem(.invalidBulk, #"the body must be {"ops": [...]}"#)
        }
        guard ops.count <= configuration.maxBulkOperations else {
            throw Problem(.tooManyOperations, "a bulk request takes at most \(configuration.maxBulkOperations) operations")
        }
        guard ops.count > 0 else { throw Problem(.invalidBulk, "ops is empty") }
        var operations: [WriteOperation] = []
        operations.reserveCapacity(ops.count)
        for (n, op) in ops.elements.enumerated() {
            do {
                let operation = try bulkOperation(op)
                try checkShardKey(operation)
                operations.append(operation)
            } catch {
                throw Problem(.invalidBulk, "ops[\(n)]: \(error.detail)")
            }
        }
        let path = request.path
        let parts = shardParts(operations)
        if parts.count > 1 && isAccepting {
            return bulkAcrossShards(operations, parts: parts, request: request, responder)
        }
        try submit(operations, request: request, responder) { result in
            let items = result.outcomes.map { self.bulkItem($0, index: nil, path: path) }
            return ResponseBody.json(.object([("index", .int(result.index)), ("results", .array(items))]),
                                     headers: [("X-Machdb-Index", String(result.index))])
        }
    }

    /// One result of a bulk request; `index` (of the shard's command) when the request spanned shards.
    private func bulkItem(_ outcome: WriteOutcome, index: UInt64?, path: String) -> JSON {
        switch outcome {
        case let .written(w):
            var members: [(String, JSON)] = [
                ("status", .int(w.created ? 201 : 200)), ("collection", .string(w.collection)),
                ("id", .string(w.id)), ("rev", .int(w.rev)), ("bucket", .int(w.bucket)),
            ]
            if w.deleted { members.append(("deleted", .bool(true))) }
            if let index { members.append(("index", .int(index))) }
            return .object(members)
        case let .failed(failure):
            let problem = self.problem(for: failure)
            return .object([("status", .int(problem.type.status)), ("error", problem.json(instance: path))])
        }
    }

    /// The operations' positions grouped by the shard owning their bucket, in first-seen
    /// order (one part when the node is standalone or every operation is in one shard).
    private func shardParts(_ operations: [WriteOperation]) -> [[Int]] {
        guard cluster.replica != nil else { return [Array(operations.indices)] }
        let table = store.shardTable  // read once, not per operation
        var order: [Int] = []
        var parts: [Int: [Int]] = [:]
        for (position, operation) in operations.enumerated() {
            let shard = shardID(bucket: Bucket.of(operation.id), table: table)
            if parts[shard] == nil { order.append(shard) }
            parts[shard, default: []].append(position)
        }
        return order.map { parts[$0]! }
    }

    /// A bulk request spanning shards: one command per shard, proposed at once; each is
    /// atomic and durable on its own, the request as a whole is not (docs/API.md, "Bulk").
    /// Results in request order, each success with its shard command's `index`; the
    /// operations of a shard whose command failed carry that failure (503 `write-timeout`:
    /// may or may not have happened; other 503s: not applied). `index` and `X-Machdb-Index`
    /// name the command of the shard of the first operation.
    private func bulkAcrossShards(_ operations: [WriteOperation], parts: [[Int]], request: Request,
                                  _ responder: MeteredResponder) {
        let path = request.path
        let timestamp = wallClockMilliseconds()
        let gather = Gather<ProposeAnswer>(count: parts.count)
        for (slot, positions) in parts.enumerated() {
            let command = WriteCommand(operations: positions.map { operations[$0] }, timestampMilliseconds: timestamp)
            proposed(command, request: request, allowRedirect: false) { answer in
                guard let answers = gather.add(answer, at: slot) else { return }
                var items = [JSON](repeating: .null, count: operations.count)
                var firstIndex: UInt64?
                for (part, answer) in answers.enumerated() {
                    switch answer {
                    case let .applied(result, _):
                        if part == 0 { firstIndex = result.index }
                        for (offset, position) in parts[part].enumerated() where offset < result.outcomes.count {
                            items[position] = self.bulkItem(result.outcomes[offset], index: result.index, path: path)
                        }
                    case let .refused(problem, _):
                        for position in parts[part] {
                            items[position] = .object([("status", .int(problem.type.status)), ("error", problem.json(instance: path))])
                        }
                    case .redirect:
                        break  // not asked for (allowRedirect: false)
                    }
                }
                let fields: [(String, JSON)] = [("index", firstIndex.map { .int($0) } ?? .null), ("results", .array(items))]
                responder.respond(ResponseBody.json(.object(fields),
                                                    headers: firstIndex.map { [("X-Machdb-Index", String($0))] } ?? []))
            }
        }
    }


    private func bulkOperation(_ op: JSON) throws(Problem) -> WriteOperation {
        guard op.kind == .object else { throw Problem(.invalidBulk, "an operation must be an object") }
        let allowed: Set<String> = ["op", "collection", "id", "doc", "patch", "if_match", "if_none_match"]
        if let unknown = op.members.first(where: { !allowed.contains($0.key) }) {
            throw Problem(.invalidBulk, "unknown field \(unknown.key)")
        }
        guard let kind = op["op"]?.stringValue else { throw Problem(.invalidBulk, "op must be put, create, patch or delete") }
        guard let collection = op["collection"]?.stringValue, Names.isValid(collection) else {
            throw Problem(.invalidBulk, "collection must match [A-Za-z0-9._~-]{1,128}")
        }
        func id() throws(Problem) -> String {
            guard let id = op["id"]?.stringValue, Names.isValidDocumentID(id) else {
                throw Problem(.invalidBulk, "id must match [A-Za-z0-9._~-]{1,128} (or <shard key>:<id>)")
            }
            return id
        }
        func precondition(allowAbsent: Bool) throws(Problem) -> Precondition {
            let ifMatch = op["if_match"], ifNoneMatch = op["if_none_match"]
            if ifMatch != nil && ifNoneMatch != nil { throw Problem(.invalidBulk, "use either if_match or if_none_match") }
            if let ifMatch {
                if let rev = ifMatch.intValue, rev > 0 { return .ifMatch([UInt64(rev)]) }
                if let text = ifMatch.stringValue {
                    if text == "*" { return .ifExists }
                    if let rev = UInt64(text.trimmingCharacters(in: "\"")) { return .ifMatch([rev]) }
                }
                throw Problem(.invalidBulk, #"if_match must be a revision (3 or "3") or "*""#)
            }
            if let ifNoneMatch {
                guard allowAbsent, ifNoneMatch.stringValue == "*" else { throw Problem(.invalidBulk, #"if_none_match supports only "*" on put"#) }
                return .ifAbsent
            }
            return .none
        }
        func document(_ field: String) throws(Problem) -> [UInt8] {
            guard let doc = op[field] else { throw Problem(.invalidBulk, "\(field) is required") }
            let encoded = doc.encoded()
            let depth = encoded.withUnsafeBytes { JSON.nestingDepth($0, stopAbove: configuration.maxJSONDepth) }
            guard depth <= configuration.maxJSONDepth else {
                throw Problem(.invalidBulk, "\(field) nests deeper than \(configuration.maxJSONDepth) levels")
            }
            return encoded
        }
        switch kind {
        case "put":
            return .put(collection: collection, id: try id(), contentType: "application/json", body: try document("doc"),
                        isJSON: true, precondition: try precondition(allowAbsent: true))
        case "create":
            if op["id"] != nil || op["if_match"] != nil || op["if_none_match"] != nil {
                throw Problem(.invalidBulk, "create takes no id or conditions (the server picks the id)")
            }
            let body = try document("doc")
            return .put(collection: collection, id: try serverChosenID(collection: collection, body: body, isJSON: true),
                        contentType: "application/json", body: body, isJSON: true, precondition: .ifAbsent)
        case "patch":
            return .patch(collection: collection, id: try id(), patch: try document("patch"),
                          precondition: try precondition(allowAbsent: false))
        case "delete":
            return .delete(collection: collection, id: try id(), precondition: try precondition(allowAbsent: false))
        default:
            throw Problem(.invalidBulk, "op must be put, create, patch or delete, not \(kind)")
        }
    }
}

private extension String {
    func trimmingCharacters(in set: String) -> String {
        var slice = self[...]
        while let first = slice.first, set.contains(first) { slice = slice.dropFirst() }
        while let last = slice.last, set.contains(last) { slice = slice.dropLast() }
        return String(slice)
    }
}
