import CJansson
import CShims

extension JSON {
    /// Default nesting limit for untrusted input.
    public static let defaultMaxDepth = 64

    /// Parses one JSON value (any type at top level; duplicate object keys are rejected).
    /// Nesting is checked before jansson sees the text, so hostile depth costs O(n) and no recursion.
    public static func parse(_ bytes: UnsafeRawBufferPointer, maxDepth: Int = defaultMaxDepth) throws(JSONError) -> JSON {
        guard nestingDepth(bytes, stopAbove: maxDepth) <= maxDepth else { throw .tooDeep(limit: maxDepth) }
        var error = json_error_t()
        let flags = JSON_DECODE_ANY | JSON_REJECT_DUPLICATES
        let base = bytes.baseAddress?.assumingMemoryBound(to: CChar.self)
        let empty: CChar = 0
        let parsed: UnsafeMutablePointer<json_t>? = withUnsafePointer(to: empty) { emptyPtr in
            json_loadb(base ?? emptyPtr, bytes.count, size_t(flags), &error)
        }
        guard let parsed else {
            let message = withUnsafeBytes(of: error.text) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            throw .invalid(message: message, line: Int(error.line), column: Int(error.column), position: Int(error.position))
        }
        return JSON(owning: parsed)
    }

    /// Parses from an array of bytes.
    public static func parse(_ bytes: [UInt8], maxDepth: Int = defaultMaxDepth) throws(JSONError) -> JSON {
        let result: Result<JSON, JSONError> = bytes.withUnsafeBytes { raw in
            Result { () throws(JSONError) in try parse(raw, maxDepth: maxDepth) }
        }
        return try result.get()
    }

    /// Parses from a string.
    public static func parse(_ text: String, maxDepth: Int = defaultMaxDepth) throws(JSONError) -> JSON {
        try parse(Array(text.utf8), maxDepth: maxDepth)
    }

    /// Maximum nesting of arrays and objects in a JSON text, ignoring brackets inside strings.
    /// Scanning stops early once the depth passes `stopAbove`. Does not validate the text.
    public static func nestingDepth(_ bytes: UnsafeRawBufferPointer, stopAbove: Int = .max) -> Int {
        var depth = 0, maxDepth = 0
        var inString = false, escaped = false
        for byte in bytes {
            if inString {
                if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") { inString = false }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                depth += 1
                if depth > maxDepth {
                    maxDepth = depth
                    if maxDepth > stopAbove { return maxDepth }
                }
            case UInt8(ascii: "]"), UInt8(ascii: "}"): depth -= 1
            default: break
            }
        }
        return maxDepth
    }
}
