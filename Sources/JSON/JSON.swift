import CJansson
import CShims

/// An immutable JSON value backed by a jansson `json_t`; the value owns one reference and
/// releases it when the last copy goes away.
///
/// Values are never mutated after construction (every builder makes a fresh tree), so sharing
/// one across threads is safe: jansson's reference counts are atomic.
public struct JSON: @unchecked Sendable {
    final class Box {
        let raw: UnsafeMutablePointer<json_t>
        /// Takes over one reference the caller owns.
        init(owning raw: UnsafeMutablePointer<json_t>) { self.raw = raw }
        deinit { machdb_json_decref(raw) }
    }

    let box: Box

    /// Wraps a pointer whose reference the caller hands over (a "new reference" in jansson terms).
    init(owning raw: UnsafeMutablePointer<json_t>) { box = Box(owning: raw) }

    /// Wraps a borrowed pointer (jansson's "borrowed reference"): takes a reference of its own.
    init(borrowing raw: UnsafeMutablePointer<json_t>) {
        box = Box(owning: machdb_json_incref(raw)!)
    }

    var raw: UnsafeMutablePointer<json_t> { box.raw }

    /// The JSON type of the value.
    public enum Kind: Sendable, Equatable {
        case object, array, string, integer, real, bool, null
    }

    public var kind: Kind {
        switch raw.pointee.type {
        case JSON_OBJECT: .object
        case JSON_ARRAY: .array
        case JSON_STRING: .string
        case JSON_INTEGER: .integer
        case JSON_REAL: .real
        case JSON_TRUE, JSON_FALSE: .bool
        default: .null
        }
    }
}

/// Why a JSON text was rejected.
public enum JSONError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Not valid JSON; `position` is the byte offset where jansson gave up.
    case invalid(message: String, line: Int, column: Int, position: Int)
    /// Nested deeper than the allowed number of arrays/objects.
    case tooDeep(limit: Int)

    public var description: String {
        switch self {
        case let .invalid(message, line, column, _): "\(message) (line \(line), column \(column))"
        case let .tooDeep(limit): "JSON nested deeper than \(limit) levels"
        }
    }
}
