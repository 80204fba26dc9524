/// A query over the live JSON documents of a collection (API.md §Query): conditions ANDed,
/// up to four sort keys with the id as the final tie-breaker, a page size, and optionally the
/// position after which the page starts.
///
/// Build one with ``parse(_:)`` (from the request body) or ``init(conditions:sort:limit:after:)``;
/// both validate everything, including the cursor.
public struct DocumentQuery: Sendable, Equatable {
    public static let defaultLimit = 100
    public static let limitRange = 1...1000
    public static let maxSortKeys = 4
    public static let maxInValues = 100

    /// All must hold.
    public let conditions: [Condition]
    /// Sort keys, most significant first; ties (and an empty list) order by id ascending.
    public let sort: [SortKey]
    /// Page size.
    public let limit: Int
    /// The decoded `after` cursor.
    let cursor: QueryCursor?
    /// Identifies the sort and filter; a cursor carries it and must match.
    let fingerprint: UInt64

    /// A comparable JSON scalar.
    public enum Value: Sendable, Equatable {
        case null
        case bool(Bool)
        case integer(Int64)
        case real(Double)
        case string(String)
    }

    public enum Comparison: String, Sendable, Equatable, CaseIterable {
        case eq, ne, lt, lte, gt, gte
    }

    public enum Condition: Sendable, Equatable {
        /// `eq` and `ne` take any scalar; the ordering comparisons a number or a string.
        /// `ne` also matches documents without the path.
        case compare(Path, Comparison, Value)
        /// Equal to one of the values (non-empty, at most ``DocumentQuery/maxInValues``).
        case oneOf(Path, [Value])
        /// The path is present (even as JSON null) or absent.
        case exists(Path, Bool)

        public var path: Path {
            switch self {
            case let .compare(path, _, _), let .oneOf(path, _), let .exists(path, _): path
            }
        }
    }

    public struct SortKey: Sendable, Equatable {
        public let path: Path
        public let descending: Bool

        public init(path: Path, descending: Bool = false) {
            self.path = path
            self.descending = descending
        }
    }

    /// Validates the parts and decodes `after` (a previous page's `next`).
    public init(conditions: [Condition] = [], sort: [SortKey] = [], limit: Int = DocumentQuery.defaultLimit,
                after: String? = nil) throws(QueryError)
    {
        guard DocumentQuery.limitRange.contains(limit) else {
            throw .invalidQuery("limit must be an integer from 1 to 1000 (got \(limit))")
        }
        guard sort.count <= DocumentQuery.maxSortKeys else {
            throw .invalidQuery("sort has \(sort.count) keys; at most \(DocumentQuery.maxSortKeys) are allowed")
        }
        for condition in conditions {
            switch condition {
            case let .compare(path, comparison, value):
                switch (comparison, value) {
                case (.eq, _), (.ne, _), (_, .integer), (_, .real), (_, .string): break
                default:
                    throw .invalidQuery("operator '\(comparison.rawValue)' on '\(path)' needs a number or a string")
                }
            case let .oneOf(path, values):
                guard (1...DocumentQuery.maxInValues).contains(values.count) else {
                    throw .invalidQuery("operator 'in' on '\(path)' needs 1 to \(DocumentQuery.maxInValues) values (got \(values.count))")
                }
            case .exists: break
            }
        }
        self.conditions = conditions
        self.sort = sort
        self.limit = limit
        self.fingerprint = DocumentQuery.fingerprint(conditions: conditions, sort: sort)
        self.cursor = try after.map { text throws(QueryError) in
            try QueryCursor.decode(text, fingerprint: DocumentQuery.fingerprint(conditions: conditions, sort: sort), keyCount: sort.count)
        }
    }
}

/// Why a query was refused; the detail is shown to the client (problem `detail`).
public enum QueryError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Malformed query body: unknown key or operator, bad path, sort or limit.
    case invalidQuery(String)
    /// An `after` that is not a cursor issued for this sort and filter.
    case invalidCursor(String)

    public var description: String {
        switch self {
        case let .invalidQuery(detail): "invalid query: \(detail)"
        case let .invalidCursor(detail): "invalid cursor: \(detail)"
        }
    }
}

/// One page of query results.
public struct QueryPage: Sendable {
    /// Matching documents in sort order (at most the query's limit).
    public let documents: [StoredDocument]
    /// The cursor for the next page (`after`), or nil when this page is the last.
    public let next: String?
    /// When asked for: each document's position, a cursor naming exactly it (`after` it
    /// continues right behind it). Positions do not depend on the shard that holds the
    /// document, so pages of one query from several shards can be merged (``QueryMerge``).
    public let positions: [String]?

    public init(documents: [StoredDocument], next: String?, positions: [String]? = nil) {
        self.documents = documents
        self.next = next
        self.positions = positions
    }
}
