import SQLite

/// Merges the pages one query returned from several shards into one page (the Load
/// Manager's scatter-gather, DESIGN §7): a sorted merge by document position, cut at the
/// limit, with one `next` cursor that every shard understands.
///
/// Each shard was asked for `limit` documents after the same cursor, with positions. The
/// first `limit` documents of all pages together are the first `limit` of the union (a
/// shard's documents beyond its page come after its last one). The merged `next` is the
/// position of the last document taken: positions name a place in the sort order, not in a
/// shard, so every shard continues right behind it.
public enum QueryMerge {
    /// One shard's answer: its documents in order with their positions (`pos`), and whether
    /// it has more after them.
    public struct ShardPage<Document: Sendable>: Sendable {
        public var documents: [(document: Document, position: String)]
        public var hasMore: Bool

        public init(documents: [(document: Document, position: String)], hasMore: Bool) {
            self.documents = documents
            self.hasMore = hasMore
        }
    }

    /// The merged page: documents in order, and the cursor for the next page (nil: last).
    /// Throws ``QueryError/invalidCursor(_:)`` for a position that is not one this query's
    /// sort issued.
    public static func merge<Document: Sendable>(_ pages: [ShardPage<Document>], query: DocumentQuery) throws(QueryError)
        -> (documents: [Document], next: String?)
    {
        let descending = query.sort.map(\.descending)
        var entries: [(document: Document, position: String, key: QueryCursor)] = []
        for page in pages {
            for (document, position) in page.documents {
                let key = try QueryCursor.decode(position, fingerprint: query.fingerprint, keyCount: query.sort.count)
                entries.append((document, position, key))
            }
        }
        // Stable: equal positions (impossible across shards: ids are unique) keep page order.
        let ordered = entries.enumerated().sorted { a, b in
            let order = compare(a.element.key, b.element.key, descending: descending)
            return order != 0 ? order < 0 : a.offset < b.offset
        }.map(\.element)
        let taken = ordered.prefix(query.limit)
        let more = ordered.count > query.limit || pages.contains { $0.hasMore }
        let next = more && taken.count == query.limit ? taken.last?.position : nil
        return (taken.map(\.document), next)
    }

    /// -1, 0 or 1: `a` before, at or after `b` in the query's order (rank, then value, per
    /// sort key, each ascending or descending; then id ascending) — the ORDER BY the store uses.
    static func compare(_ a: QueryCursor, _ b: QueryCursor, descending: [Bool]) -> Int {
        for (index, (x, y)) in zip(a.keys, b.keys).enumerated() {
            let flip = index < descending.count && descending[index] ? -1 : 1
            if x.rank != y.rank { return (x.rank < y.rank ? -1 : 1) * flip }
            let order = compare(x.value, y.value)
            if order != 0 { return order * flip }
        }
        if a.id == b.id { return 0 }
        return Array(a.id.utf8).lexicographicallyPrecedes(Array(b.id.utf8)) ? -1 : 1
    }

    /// SQLite's order for two values of one sort rank: NULLs equal, numbers numerically,
    /// text by bytes (BINARY collation).
    static func compare(_ x: SQLite.Value, _ y: SQLite.Value) -> Int {
        switch (x, y) {
        case (.null, .null): return 0
        case (.null, _): return -1
        case (_, .null): return 1
        case let (.integer(a), .integer(b)): return a == b ? 0 : a < b ? -1 : 1
        case let (.integer(a), .real(b)): return compare(Double(a), b)
        case let (.real(a), .integer(b)): return compare(a, Double(b))
        case let (.real(a), .real(b)): return compare(a, b)
        case let (.text(a), .text(b)):
            if a == b { return 0 }
            return Array(a.utf8).lexicographicallyPrecedes(Array(b.utf8)) ? -1 : 1
        // Mixed kinds within one rank do not occur (a rank admits one SQL kind family);
        // order them like SQLite does: numbers before text before blobs.
        case (.integer, _), (.real, _): return -1
        case (_, .integer), (_, .real): return 1
        case (.text, _): return -1
        case (_, .text): return 1
        default: return 0
        }
    }

    private static func compare(_ a: Double, _ b: Double) -> Int { a == b ? 0 : a < b ? -1 : 1 }
}
