extension DocumentQuery {
    /// A validated path into a JSON document: keys `[A-Za-z0-9_-]+` separated by `.`, each
    /// optionally followed by array indexes `[N]` (`items[0].sku`). At most
    /// ``maxSegments`` segments (keys and indexes) and ``maxLength`` characters.
    public struct Path: Sendable, Hashable, CustomStringConvertible {
        public static let maxSegments = 16
        public static let maxLength = 256
        /// Largest array index accepted (9 digits).
        public static let maxIndex = 999_999_999

        public enum Segment: Sendable, Hashable {
            case key(String)
            case index(Int)
        }

        public let segments: [Segment]

        /// Parses `text`; the error says what is wrong and where (1-based character position).
        public init(parsing text: String) throws(QueryError) {
            let bytes = Array(text.utf8)
            guard !bytes.isEmpty else { throw .invalidQuery("path is empty") }
            guard text.count <= Path.maxLength else {
                throw .invalidQuery("path '\(text.prefix(32))…' is \(text.count) characters long; at most \(Path.maxLength) are allowed")
            }
            var segments: [Segment] = []
            var position = 0
            func fail(_ detail: String) -> QueryError { .invalidQuery("path '\(text)': \(detail)") }
            func describe(_ byte: UInt8) -> String {
                byte < 0x80 ? "'\(Character(Unicode.Scalar(byte)))'" : "a non-ASCII character"
            }
            while true {
                let keyStart = position
                while position < bytes.count && Path.isKeyByte(bytes[position]) { position += 1 }
                guard position > keyStart else {
                    if position == bytes.count { throw fail("expected a key after '.' at the end") }
                    throw fail("expected a key at character \(position + 1), found \(describe(bytes[position])) (keys are letters, digits, '_' and '-')")
                }
                segments.append(.key(String(decoding: bytes[keyStart..<position], as: UTF8.self)))
                while position < bytes.count && bytes[position] == UInt8(ascii: "[") {
                    let open = position
                    position += 1
                    let digitsStart = position
                    while position < bytes.count && (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[position]) { position += 1 }
                    guard position < bytes.count, bytes[position] == UInt8(ascii: "]") else {
                        throw fail("'[' at character \(open + 1) must be followed by digits and ']'")
                    }
                    guard position > digitsStart else { throw fail("empty array index at character \(open + 1)") }
                    guard position - digitsStart <= 9, let index = Int(String(decoding: bytes[digitsStart..<position], as: UTF8.self)) else {
                        throw fail("array index at character \(open + 1) is larger than \(Path.maxIndex)")
                    }
                    segments.append(.index(index))
                    position += 1
                }
                guard position < bytes.count else { break }
                guard bytes[position] == UInt8(ascii: ".") else {
                    throw fail("unexpected \(describe(bytes[position])) at character \(position + 1) (keys are letters, digits, '_' and '-'; separate them with '.')")
                }
                position += 1
            }
            guard segments.count <= Path.maxSegments else {
                throw fail("\(segments.count) segments (keys and array indexes); at most \(Path.maxSegments) are allowed")
            }
            self.segments = segments
        }

        static func isKeyByte(_ byte: UInt8) -> Bool {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"): true
            default: false
            }
        }

        /// The path as written by clients (`items[0].sku`).
        public var description: String {
            var text = ""
            for segment in segments {
                switch segment {
                case let .key(key): text += text.isEmpty ? key : "." + key
                case let .index(index): text += "[\(index)]"
                }
            }
            return text
        }

        /// The path in SQLite's JSON path syntax, as a SQL string literal: `'$."items"[0]."sku"'`.
        /// Safe to splice into SQL: keys hold only `[A-Za-z0-9_-]` (no quotes or backslashes).
        var sqlLiteral: String {
            var text = "'$"
            for segment in segments {
                switch segment {
                case let .key(key): text += ".\"" + key + "\""
                case let .index(index): text += "[\(index)]"
                }
            }
            return text + "'"
        }
    }
}
