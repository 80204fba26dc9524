import JSON
import Sharding
import SQLite

/// The position of the last document of a page: its sort values (each as the rank of its JSON
/// type and its SQL value, exactly as the query computed them) and its id.
///
/// Encoded for clients as base64url (no padding) of a small JSON text:
/// `{"f": "<fingerprint>", "k": [[rank, type, value], ...], "id": "<id>"}` where type is `n`
/// (NULL, no value), `i` (integer), `r` (real, as the 16 hex digits of its bits, so it comes
/// back exactly) or `t` (text). The fingerprint ties the cursor to one sort and filter.
struct QueryCursor: Sendable, Equatable {
    struct Key: Sendable, Equatable {
        /// ``SortRank`` of the value's JSON type.
        let rank: Int
        let value: SQLite.Value
    }

    let keys: [Key]
    let id: String

    /// Most bytes a cursor may have (a page's last sort values are usually short).
    static let maxEncodedLength = 64 * 1024

    func encoded(fingerprint: UInt64) -> String {
        var parts: [JSON] = []
        for key in keys {
            switch key.value {
            case .null, .blob: parts.append(.array([.int(key.rank), "n"]))
            case let .integer(value): parts.append(.array([.int(key.rank), "i", .int(value)]))
            case let .real(value): parts.append(.array([.int(key.rank), "r", .string(QueryCursor.hex(value.bitPattern))]))
            case let .text(value): parts.append(.array([.int(key.rank), "t", .string(value)]))
            }
        }
        let json = JSON.object([("f", .string(QueryCursor.hex(fingerprint))), ("k", .array(parts)), ("id", .string(id))])
        return Base64URL.encode(json.encoded())
    }

    /// Decodes a client's `after`; every way it can be wrong is ``QueryError/invalidCursor(_:)``.
    static func decode(_ text: String, fingerprint: UInt64, keyCount: Int) throws(QueryError) -> QueryCursor {
        guard text.utf8.count <= maxEncodedLength else { throw .invalidCursor("cursor is too long") }
        guard let bytes = Base64URL.decode(text) else { throw .invalidCursor("cursor is not base64url text issued by this server") }
        guard let json = try? JSON.parse(bytes, maxDepth: 3), json.kind == .object else {
            throw .invalidCursor("cursor is not one issued by this server (malformed content)")
        }
        guard json.count == 3, let issuedFor = json["f"]?.stringValue, let keysJSON = json["k"], keysJSON.kind == .array,
              let id = json["id"]?.stringValue, !id.isEmpty
        else { throw .invalidCursor("cursor is not one issued by this server (malformed content)") }
        guard issuedFor == hex(fingerprint) else {
            throw .invalidCursor("cursor was issued for a different sort or filter; start again without after")
        }
        guard keysJSON.count == keyCount else { throw .invalidCursor("cursor does not match the sort (\(keysJSON.count) keys, sort has \(keyCount))") }
        var keys: [Key] = []
        for element in keysJSON.elements {
            guard let key = decodeKey(element) else { throw .invalidCursor("cursor holds a malformed sort value") }
            keys.append(key)
        }
        return QueryCursor(keys: keys, id: id)
    }

    private static func decodeKey(_ element: JSON) -> Key? {
        guard element.kind == .array, (2...3).contains(element.count),
              let rank = element[0]?.intValue.map(Int.init), let rankKind = SortRank(rawValue: rank),
              let type = element[1]?.stringValue
        else { return nil }
        let value: SQLite.Value
        switch (type, element[2]) {
        case ("n", nil): value = .null
        case let ("i", number?) where number.kind == .integer: value = .integer(number.intValue!)
        case let ("r", bits?):
            guard let text = bits.stringValue, text.utf8.count == 16, let pattern = UInt64(text, radix: 16) else { return nil }
            value = .real(Double(bitPattern: pattern))
        case let ("t", string?) where string.kind == .string: value = .text(string.stringValue!)
        default: return nil
        }
        guard rankKind.admits(value) else { return nil }
        return Key(rank: rank, value: value)
    }

    static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}

extension DocumentQuery {
    /// FNV-1a-64 of a canonical text of the sort and the filter (conditions in a fixed order),
    /// so equal queries share cursors whatever the key order of their JSON.
    static func fingerprint(conditions: [Condition], sort: [SortKey]) -> UInt64 {
        var text = "machdb-query-v1\nsort:"
        for key in sort { text += (key.descending ? "-" : "+") + key.path.description + "," }
        text += "\nfilter:"
        var parts: [String] = []
        for condition in conditions {
            switch condition {
            case let .compare(path, comparison, value): parts.append("\(path) \(comparison.rawValue) \(canonical(value))")
            case let .oneOf(path, values): parts.append("\(path) in \(values.map(canonical).joined(separator: ","))")
            case let .exists(path, flag): parts.append("\(path) exists \(flag)")
            }
        }
        text += parts.sorted().joined(separator: "\n")
        return Bucket.fnv1a64(text.utf8)
    }

    private static func canonical(_ value: Value) -> String {
        switch value {
        case .null: "null"
        case let .bool(flag): flag ? "true" : "false"
        case let .integer(number): "i\(number)"
        case let .real(number): "r" + QueryCursor.hex(number.bitPattern)
        case let .string(string): "s" + JSON.string(string).text
        }
    }
}
