import CJansson

extension JSON {
    /// Checks that `bytes` is one JSON value that `parse` would accept, without building a
    /// tree. The common shape — ASCII text, strings without `\u` escapes, plain numbers, objects
    /// of at most 64 members — is checked by a non-allocating scanner; anything else, and every
    /// rejection, is decided by `parse`, so `validate` accepts and rejects exactly what `parse`
    /// does, with the same errors. (Building the tree cost a fifth of the write path's CPU.)
    public static func validate(_ bytes: UnsafeRawBufferPointer, maxDepth: Int = defaultMaxDepth) throws(JSONError) {
        var scanner = FastScanner(bytes: bytes, maxDepth: maxDepth)
        if scanner.run() { return }
        _ = try parse(bytes, maxDepth: maxDepth)
    }

    public static func validate(_ bytes: [UInt8], maxDepth: Int = defaultMaxDepth) throws(JSONError) {
        let result: Result<Void, JSONError> = bytes.withUnsafeBytes { raw in
            Result { () throws(JSONError) in try validate(raw, maxDepth: maxDepth) }
        }
        try result.get()
    }
}

/// The fast path of `JSON.validate`: true only when the text is certainly valid; false means
/// "not sure" (unusual or invalid), never "invalid".
private struct FastScanner {
    let bytes: UnsafeRawBufferPointer
    let maxDepth: Int
    var position = 0
    var depth = 0
    /// Hashes of the member names of every open object, innermost last.
    var keyHashes: [UInt64] = []
    var objectStarts: [Int] = []

    init(bytes: UnsafeRawBufferPointer, maxDepth: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
        keyHashes.reserveCapacity(32)
        objectStarts.reserveCapacity(8)
    }

    mutating func run() -> Bool {
        skipSpace()
        guard value() else { return false }
        skipSpace()
        return position == bytes.count
    }

    private var current: UInt8? { position < bytes.count ? bytes[position] : nil }

    private mutating func skipSpace() {
        while let byte = current, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { position += 1 }
    }

    private mutating func value() -> Bool {
        guard let byte = current else { return false }
        switch byte {
        case UInt8(ascii: "{"): return object()
        case UInt8(ascii: "["): return array()
        case UInt8(ascii: "\""): return string(hash: nil)
        case UInt8(ascii: "t"): return literal("true")
        case UInt8(ascii: "f"): return literal("false")
        case UInt8(ascii: "n"): return literal("null")
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return number()
        default: return false
        }
    }

    private mutating func literal(_ word: StaticString) -> Bool {
        let count = word.utf8CodeUnitCount
        guard position + count <= bytes.count else { return false }
        for i in 0..<count where bytes[position + i] != word.utf8Start[i] { return false }
        position += count
        return true
    }

    /// Plain numbers only: `-?(0|[1-9][0-9]*)(\.[0-9]+)?` with at most 15 digits (always exact
    /// in jansson's int64 and double). Exponents and longer numbers go to jansson.
    private mutating func number() -> Bool {
        var digits = 0
        if current == UInt8(ascii: "-") { position += 1 }
        guard let first = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else { return false }
        position += 1
        digits += 1
        if first != UInt8(ascii: "0") {
            while let byte = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) { position += 1; digits += 1 }
        }
        if current == UInt8(ascii: ".") {
            position += 1
            guard let byte = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return false }
            while let byte = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) { position += 1; digits += 1 }
        }
        if let byte = current, byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") { return false }
        return digits <= 15
    }

    /// ASCII strings with simple escapes; `hash` receives FNV-1a of the raw bytes (for keys).
    private mutating func string(hash: UnsafeMutablePointer<UInt64>?) -> Bool {
        position += 1  // opening quote
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        while let byte = current {
            position += 1
            switch byte {
            case UInt8(ascii: "\""):
                hash?.pointee = h
                return true
            case UInt8(ascii: "\\"):
                guard hash == nil, let escaped = current else { return false }  // escaped keys: jansson compares decoded names
                switch escaped {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                     UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    position += 1
                default:
                    return false  // \u escapes (NUL, surrogates) are jansson's to judge
                }
            case 0..<0x20, 0x80...0xFF:
                return false  // control characters are invalid; non-ASCII needs UTF-8 validation
            default:
                h ^= UInt64(byte)
                h &*= 0x0000_0100_0000_01b3
            }
        }
        return false
    }

    private mutating func object() -> Bool {
        depth += 1
        guard depth <= maxDepth else { return false }
        position += 1
        objectStarts.append(keyHashes.count)
        defer {
            keyHashes.removeSubrange(objectStarts.removeLast()...)
            depth -= 1
        }
        skipSpace()
        if current == UInt8(ascii: "}") { position += 1; return true }
        while true {
            guard current == UInt8(ascii: "\"") else { return false }
            var hash: UInt64 = 0
            guard string(hash: &hash) else { return false }
            let start = objectStarts[objectStarts.count - 1]
            if keyHashes.count - start >= 64 || keyHashes[start...].contains(hash) { return false }  // large object, or maybe a duplicate
            keyHashes.append(hash)
            skipSpace()
            guard current == UInt8(ascii: ":") else { return false }
            position += 1
            skipSpace()
            guard value() else { return false }
            skipSpace()
            guard let byte = current else { return false }
            position += 1
            if byte == UInt8(ascii: "}") { return true }
            guard byte == UInt8(ascii: ","), true else { return false }
            skipSpace()
        }
    }

    private mutating func array() -> Bool {
        depth += 1
        guard depth <= maxDepth else { return false }
        defer { depth -= 1 }
        position += 1
        skipSpace()
        if current == UInt8(ascii: "]") { position += 1; return true }
        while true {
            guard value() else { return false }
            skipSpace()
            guard let byte = current else { return false }
            position += 1
            if byte == UInt8(ascii: "]") { return true }
            guard byte == UInt8(ascii: ",") else { return false }
            skipSpace()
        }
    }
}
