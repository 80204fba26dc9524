import SQLite

extension Store {
    /// The live document, or nil when absent or deleted. Reads the latest committed state
    /// without waiting for the writer.
    public func document(collection: String, id: String) throws(StorageError) -> StoredDocument? {
        try readers.withReader { reader throws(StorageError) in
            try sqlite { () throws(SQLite.Error) in
                let statement = reader.pointRead
                defer { statement.reset() }
                try statement.bind(collection, at: 1)
                try statement.bind(id, at: 2)
                guard try statement.step() else { return nil }
                let isJSON = !statement.isNull(at: 3)
                return StoredDocument(
                    collection: collection, id: id,
                    rev: UInt64(statement.int64(at: 0)),
                    bucket: statement.int(at: 1),
                    contentType: statement.text(at: 2),
                    body: isJSON ? statement.textBytes(at: 3) : statement.blob(at: 4),
                    isJSON: isJSON,
                    updatedAt: statement.int64(at: 5),
                    writeIndex: UInt64(statement.int64(at: 6)))
            }
        }
    }

    /// Collections holding at least one live document, sorted by name (bytewise).
    public func collections() throws(StorageError) -> [(name: String, count: Int)] {
        try readers.withReader { reader throws(StorageError) in
            try sqlite { () throws(SQLite.Error) in
                let statement = try reader.connection.cached("SELECT name, count FROM collections WHERE count > 0 ORDER BY name")
                defer { statement.reset() }
                var result: [(name: String, count: Int)] = []
                while try statement.step() { result.append((statement.text(at: 0), statement.int(at: 1))) }
                return result
            }
        }
    }

    /// Live documents per collection among the documents of `buckets` (counted, not read from
    /// the per-collection counts: for a node asked for one shard's part).
    public func collections(buckets: ClosedRange<Int>) throws(StorageError) -> [(name: String, count: Int)] {
        try readers.withReader { reader throws(StorageError) in
            try sqlite { () throws(SQLite.Error) in
                let statement = try reader.connection.cached("""
                    SELECT collection, count(*) FROM documents WHERE deleted = 0 AND bucket BETWEEN ?1 AND ?2
                    GROUP BY collection ORDER BY collection
                    """)
                defer { statement.reset() }
                try statement.bind(buckets.lowerBound, at: 1)
                try statement.bind(buckets.upperBound, at: 2)
                var result: [(name: String, count: Int)] = []
                while try statement.step() { result.append((statement.text(at: 0), statement.int(at: 1))) }
                return result
            }
        }
    }

    /// One page of the live JSON documents of `collection` that match `query`, in its sort
    /// order. Throws ``StorageError/queryTimeout`` past `queryTimeoutMilliseconds`.
    /// With `positions`, the page also carries each document's position (for merging pages
    /// from several shards). `buckets`: only documents of those buckets.
    public func query(collection: String, _ query: DocumentQuery, positions: Bool = false,
                      buckets: ClosedRange<Int>? = nil) throws(StorageError) -> QueryPage {
        let compiled = query.compile(collection: collection, buckets: buckets)
        let timeout = configuration.queryTimeoutMilliseconds
        return try readers.withReader { reader throws(StorageError) in
            try reader.withDeadline(milliseconds: timeout) { () throws(StorageError) in
                try sqlite { () throws(SQLite.Error) in try run(compiled, query, collection, positions: positions, on: reader.connection) }
            }
        }
    }

    private func run(_ compiled: CompiledQuery, _ query: DocumentQuery, _ collection: String, positions wanted: Bool,
                     on connection: Connection) throws(SQLite.Error) -> QueryPage
    {
        let statement = try connection.cached(compiled.sql)
        defer { statement.reset() }
        try statement.bind(compiled.arguments)
        var documents: [StoredDocument] = []
        documents.reserveCapacity(min(query.limit, 128))
        var more = false
        var lastKeys: [QueryCursor.Key] = []
        var positions: [String] = []
        while try statement.step() {
            guard documents.count < query.limit else {
                more = true
                break
            }
            documents.append(StoredDocument(
                collection: collection,
                id: statement.text(at: CompiledQuery.Column.id),
                rev: UInt64(statement.int64(at: CompiledQuery.Column.rev)),
                bucket: statement.int(at: CompiledQuery.Column.bucket),
                contentType: statement.text(at: CompiledQuery.Column.contentType),
                body: statement.textBytes(at: CompiledQuery.Column.json),
                isJSON: true,
                updatedAt: statement.int64(at: CompiledQuery.Column.updatedAt),
                writeIndex: UInt64(statement.int64(at: CompiledQuery.Column.writeIndex))))
            if documents.count == query.limit {
                lastKeys = compiled.sortValues(of: statement)
            }
            if wanted {
                positions.append(QueryCursor(keys: compiled.sortValues(of: statement), id: documents[documents.count - 1].id)
                    .encoded(fingerprint: query.fingerprint))
            }
        }
        guard more, let last = documents.last else {
            return QueryPage(documents: documents, next: nil, positions: wanted ? positions : nil)
        }
        let cursor = QueryCursor(keys: lastKeys, id: last.id)
        return QueryPage(documents: documents, next: cursor.encoded(fingerprint: query.fingerprint),
                         positions: wanted ? positions : nil)
    }
}
