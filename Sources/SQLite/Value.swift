/// A SQLite value of one of the five storage classes, for binding and reading dynamically.
public enum Value: Sendable, Hashable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])
}

/// The storage class of a column value in the current row (`sqlite3_column_type`).
public enum ColumnType: Sendable, Equatable {
    case integer, real, text, blob, null
}

extension Value: CustomStringConvertible {
    /// A short, log-friendly rendering: long text is cut, blobs are shown by size only.
    public var description: String {
        switch self {
        case .null: "NULL"
        case let .integer(value): String(value)
        case let .real(value): String(value)
        case let .text(value): Value.quote(value)
        case let .blob(bytes): "<blob \(bytes.count) bytes>"
        }
    }

    /// Most characters of a text value shown in a description.
    static let maxTextShown = 48

    /// `text` as a SQL literal, cut after ``maxTextShown`` characters.
    static func quote(_ text: String) -> String {
        let shown = text.prefix(maxTextShown)
        var quoted = "'"
        for character in shown { quoted += character == "'" ? "''" : String(character) }
        quoted += "'"
        if shown.endIndex < text.endIndex { quoted += "…(\(text.utf8.count) bytes)" }
        return quoted
    }
}
