import SQLite

/// A query compiled to SQL over `documents`: every value is a bound parameter; only validated
/// paths (``DocumentQuery/Path/sqlLiteral``) and fixed keywords are spliced into the text, so
/// queries of the same shape share one cached statement.
struct CompiledQuery {
    let sql: String
    let arguments: [SQLite.Value]
    let sortKeyCount: Int

    /// Result columns; sort key `i` adds its rank at `sortBase + 2i` and its value after it.
    enum Column {
        static let id: Int32 = 0
        static let rev: Int32 = 1
        static let bucket: Int32 = 2
        static let contentType: Int32 = 3
        static let json: Int32 = 4
        static let updatedAt: Int32 = 5
        static let writeIndex: Int32 = 6
        static let sortBase: Int32 = 7
    }

    /// The sort values of the current row, for a cursor.
    func sortValues(of statement: Statement) -> [QueryCursor.Key] {
        (0..<sortKeyCount).map { key in
            let column = Column.sortBase + Int32(2 * key)
            return QueryCursor.Key(rank: statement.int(at: column), value: statement.value(at: column + 1))
        }
    }
}

extension DocumentQuery {
    /// The SQL for one page: live JSON documents of `collection` matching every condition,
    /// after the cursor, in (sort keys..., id) order, `limit + 1` rows (the extra one only tells
    /// that another page exists).
    /// `buckets`: only documents of those buckets (one shard's part of a scatter-gather).
    func compile(collection: String, buckets: ClosedRange<Int>? = nil) -> CompiledQuery {
        var builder = SQLBuilder()
        let collectionParameter = builder.bind(.text(collection))
        var columns = "id, rev, bucket, content_type, json, updated_at, write_index"
        for (position, key) in sort.enumerated() {
            columns += ", \(SQLBuilder.rank(key.path)) AS r\(position), \(SQLBuilder.extract(key.path)) AS v\(position)"
        }
        var predicates = ["collection = \(collectionParameter)", "deleted = 0", "json IS NOT NULL"]
        if let buckets {
            predicates.append("bucket BETWEEN \(builder.bind(.integer(Int64(buckets.lowerBound)))) AND \(builder.bind(.integer(Int64(buckets.upperBound))))")
        }
        for condition in conditions { predicates.append(builder.predicate(condition)) }
        if let cursor { predicates.append(builder.keyset(after: cursor, sort: sort)) }
        var order: [String] = []
        for (position, key) in sort.enumerated() {
            let direction = key.descending ? "DESC" : "ASC"
            order.append("r\(position) \(direction)")
            order.append("v\(position) \(direction)")
        }
        order.append("id ASC")
        let limitParameter = builder.bind(.integer(Int64(limit + 1)))
        let sql = "SELECT \(columns) FROM documents WHERE \(predicates.joined(separator: " AND ")) ORDER BY \(order.joined(separator: ", ")) LIMIT \(limitParameter)"
        return CompiledQuery(sql: sql, arguments: builder.arguments, sortKeyCount: sort.count)
    }
}

/// Collects bound arguments and writes the SQL for conditions.
struct SQLBuilder {
    private(set) var arguments: [SQLite.Value] = []

    /// Appends `value` and returns its numbered parameter (`?3`), usable several times.
    mutating func bind(_ value: SQLite.Value) -> String {
        arguments.append(value)
        return "?\(arguments.count)"
    }

    static func type(_ path: DocumentQuery.Path) -> String { "json_type(json, \(path.sqlLiteral))" }
    static func extract(_ path: DocumentQuery.Path) -> String { "json_extract(json, \(path.sqlLiteral))" }

    /// The ``SortRank`` of the value at `path`.
    static func rank(_ path: DocumentQuery.Path) -> String {
        "CASE \(type(path)) WHEN 'null' THEN \(SortRank.null.rawValue) WHEN 'false' THEN \(SortRank.boolean.rawValue) "
            + "WHEN 'true' THEN \(SortRank.boolean.rawValue) WHEN 'integer' THEN \(SortRank.number.rawValue) "
            + "WHEN 'real' THEN \(SortRank.number.rawValue) WHEN 'text' THEN \(SortRank.string.rawValue) "
            + "WHEN 'array' THEN \(SortRank.array.rawValue) WHEN 'object' THEN \(SortRank.object.rawValue) "
            + "ELSE \(SortRank.missing.rawValue) END"
    }

    /// A predicate that is never NULL: 1 when the document matches, else 0.
    mutating func predicate(_ condition: DocumentQuery.Condition) -> String {
        switch condition {
        case let .compare(path, .ne, value):
            return "NOT coalesce(\(equal(path, value)), 0)"
        case let .compare(path, .eq, value):
            return "coalesce(\(equal(path, value)), 0)"
        case let .compare(path, comparison, value):
            let symbol = switch comparison {
            case .lt: "<"
            case .lte: "<="
            case .gt: ">"
            default: ">="
            }
            // Only numbers and strings reach here (validated); other types never match.
            return "coalesce(\(typeGuard(path, value)) AND \(Self.extract(path)) \(symbol) \(bind(sqlValue(value))), 0)"
        case let .oneOf(path, values):
            var alternatives: [String] = []
            var literals: [String] = []
            var numbers: [String] = []
            var strings: [String] = []
            for value in values {
                switch value {
                case .null: literals.append("'null'")
                case let .bool(flag): literals.append(flag ? "'true'" : "'false'")
                case .integer, .real: numbers.append(bind(sqlValue(value)))
                case .string: strings.append(bind(sqlValue(value)))
                }
            }
            if !literals.isEmpty { alternatives.append("\(Self.type(path)) IN (\(literals.joined(separator: ", ")))") }
            if !numbers.isEmpty {
                alternatives.append("(\(Self.type(path)) IN ('integer', 'real') AND \(Self.extract(path)) IN (\(numbers.joined(separator: ", "))))")
            }
            if !strings.isEmpty {
                alternatives.append("(\(Self.type(path)) = 'text' AND \(Self.extract(path)) IN (\(strings.joined(separator: ", "))))")
            }
            return "coalesce(\(alternatives.joined(separator: " OR ")), 0)"
        case let .exists(path, flag):
            return "\(Self.type(path)) IS \(flag ? "NOT NULL" : "NULL")"
        }
    }

    /// Type-exact equality (may be NULL when the path is missing: callers coalesce).
    /// `json_type` keeps `true` from matching 1 and JSON null from matching a missing path.
    private mutating func equal(_ path: DocumentQuery.Path, _ value: DocumentQuery.Value) -> String {
        switch value {
        case .null: "\(Self.type(path)) = 'null'"
        case let .bool(flag): "\(Self.type(path)) = '\(flag ? "true" : "false")'"
        case .integer, .real, .string: "(\(typeGuard(path, value)) AND \(Self.extract(path)) = \(bind(sqlValue(value))))"
        }
    }

    private func typeGuard(_ path: DocumentQuery.Path, _ value: DocumentQuery.Value) -> String {
        switch value {
        case .string: "\(Self.type(path)) = 'text'"
        default: "\(Self.type(path)) IN ('integer', 'real')"
        }
    }

    private func sqlValue(_ value: DocumentQuery.Value) -> SQLite.Value {
        switch value {
        case .null: .null
        case let .bool(flag): .integer(flag ? 1 : 0)
        case let .integer(number): .integer(number)
        case let .real(number): .real(number)
        case let .string(text): .text(text)
        }
    }

    /// Rows strictly after `cursor` in the order (rank₁, value₁, ..., id), each component
    /// ascending or descending as its key: the usual expansion
    /// `c₁ > x₁ OR (c₁ IS x₁ AND c₂ > x₂) OR ...`. `IS` makes equal NULL values equal; a
    /// comparison with NULL is NULL, i.e. false here, which is right: within one rank all
    /// values are NULL or none are.
    mutating func keyset(after cursor: QueryCursor, sort: [DocumentQuery.SortKey]) -> String {
        var components: [(expression: String, descending: Bool, parameter: String)] = []
        for (key, position) in zip(cursor.keys, sort) {
            components.append((Self.rank(position.path), position.descending, bind(.integer(Int64(key.rank)))))
            components.append((Self.extract(position.path), position.descending, bind(key.value)))
        }
        components.append(("id", false, bind(.text(cursor.id))))
        var alternatives: [String] = []
        for index in components.indices {
            var terms = components[..<index].map { "\($0.expression) IS \($0.parameter)" }
            let component = components[index]
            terms.append("\(component.expression) \(component.descending ? "<" : ">") \(component.parameter)")
            alternatives.append("(" + terms.joined(separator: " AND ") + ")")
        }
        return "(" + alternatives.joined(separator: " OR ") + ")"
    }
}
