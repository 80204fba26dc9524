import JSON

extension DocumentQuery {
    /// Parses and validates a query body:
    /// `{"filter": {...}, "sort": ["-total", "name"], "limit": 50, "after": "<cursor>"}`, every
    /// key optional (`"after": null` means no cursor, as the last page's `next` is null).
    public static func parse(_ body: JSON) throws(QueryError) -> DocumentQuery {
        guard body.kind == .object else {
            throw .invalidQuery("the query must be a JSON object with optional keys filter, sort, limit and after")
        }
        var conditions: [Condition] = []
        var sort: [SortKey] = []
        var limit = defaultLimit
        var after: String? = nil
        for (key, value) in body.members {
            switch key {
            case "filter": conditions = try parseFilter(value)
            case "sort": sort = try parseSort(value)
            case "limit":
                guard value.kind == .integer, let number = value.intValue, limitRange.contains(Int(clamping: number)) else {
                    throw .invalidQuery("limit must be an integer from 1 to 1000, got \(kindName(value))")
                }
                limit = Int(number)
            case "after":
                if value.isNull { continue }
                guard let text = value.stringValue else {
                    throw .invalidCursor("after must be a string (the next cursor of a previous page), got \(kindName(value))")
                }
                after = text
            default:
                throw .invalidQuery("unknown key '\(key)' (expected filter, sort, limit or after)")
            }
        }
        return try DocumentQuery(conditions: conditions, sort: sort, limit: limit, after: after)
    }

    private static func parseFilter(_ filter: JSON) throws(QueryError) -> [Condition] {
        guard filter.kind == .object else {
            throw .invalidQuery("filter must be an object mapping paths to values or operator objects, got \(kindName(filter))")
        }
        var conditions: [Condition] = []
        for (key, spec) in filter.members {
            let path = try Path(parsing: key)
            guard spec.kind == .object else {
                conditions.append(.compare(path, .eq, try scalar(spec, path: path, operator: nil)))
                continue
            }
            guard spec.count > 0 else {
                throw .invalidQuery("filter for '\(path)' is an empty operator object (use eq, ne, lt, lte, gt, gte, in or exists)")
            }
            for (name, operand) in spec.members {
                if let comparison = Comparison(rawValue: name) {
                    let value = try scalar(operand, path: path, operator: name)
                    switch (comparison, value) {
                    case (.eq, _), (.ne, _), (_, .integer), (_, .real), (_, .string): break
                    default:
                        throw .invalidQuery("operator '\(name)' on '\(path)' needs a number or a string, got \(kindName(operand))")
                    }
                    conditions.append(.compare(path, comparison, value))
                } else if name == "in" {
                    guard operand.kind == .array, (1...maxInValues).contains(operand.count) else {
                        let got = operand.kind == .array ? "\(operand.count) values" : kindName(operand)
                        throw .invalidQuery("operator 'in' on '\(path)' needs an array of 1 to \(maxInValues) values, got \(got)")
                    }
                    var values: [Value] = []
                    for element in operand.elements { values.append(try scalar(element, path: path, operator: "in")) }
                    conditions.append(.oneOf(path, values))
                } else if name == "exists" {
                    guard let flag = operand.boolValue else {
                        throw .invalidQuery("operator 'exists' on '\(path)' needs true or false, got \(kindName(operand))")
                    }
                    conditions.append(.exists(path, flag))
                } else {
                    throw .invalidQuery("unknown operator '\(name)' for '\(path)' (expected eq, ne, lt, lte, gt, gte, in or exists)")
                }
            }
        }
        return conditions
    }

    private static func scalar(_ value: JSON, path: Path, operator name: String?) throws(QueryError) -> Value {
        switch value.kind {
        case .null: return .null
        case .bool: return .bool(value.boolValue ?? false)
        case .integer: return .integer(value.intValue ?? 0)
        case .real: return .real(value.doubleValue ?? 0)
        case .string: return .string(value.stringValue ?? "")
        case .array, .object:
            let subject = name.map { "operator '\($0)' on '\(path)'" } ?? "filter value for '\(path)'"
            throw .invalidQuery("\(subject) must be a string, number, boolean or null, got \(kindName(value))")
        }
    }

    private static func parseSort(_ sort: JSON) throws(QueryError) -> [SortKey] {
        guard sort.kind == .array else {
            throw .invalidQuery("sort must be an array of up to \(maxSortKeys) paths, each optionally prefixed with '-' for descending, got \(kindName(sort))")
        }
        guard sort.count <= maxSortKeys else {
            throw .invalidQuery("sort has \(sort.count) keys; at most \(maxSortKeys) are allowed")
        }
        var keys: [SortKey] = []
        for (position, element) in sort.elements.enumerated() {
            guard let text = element.stringValue else {
                throw .invalidQuery("sort key \(position) must be a string like \"path\" or \"-path\", got \(kindName(element))")
            }
            let descending = text.hasPrefix("-")
            keys.append(SortKey(path: try Path(parsing: descending ? String(text.dropFirst()) : text), descending: descending))
        }
        return keys
    }

    private static func kindName(_ value: JSON) -> String {
        switch value.kind {
        case .object: "an object"
        case .array: "an array"
        case .string: "a string"
        case .integer, .real: "the number \(value)"
        case .bool: value.boolValue == true ? "true" : "false"
        case .null: "null"
        }
    }
}
