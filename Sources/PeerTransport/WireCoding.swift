/// The byte layout of peer-stream payloads: fixed-width little-endian integers, and byte
/// strings, strings and string pairs prefixed with a u32 length. Frames use it, and so do the
/// payloads of calls and replies that the layers above define (forwarded writes, relays).
public enum Wire {
    public static func append(_ value: UInt8, to buffer: inout [UInt8]) { buffer.append(value) }

    public static func append(_ value: UInt16, to buffer: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { buffer.append(contentsOf: $0) }
    }

    public static func append(_ value: UInt32, to buffer: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { buffer.append(contentsOf: $0) }
    }

    public static func append(_ value: UInt64, to buffer: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { buffer.append(contentsOf: $0) }
    }

    public static func append(bytes: [UInt8], to buffer: inout [UInt8]) {
        append(UInt32(bytes.count), to: &buffer)
        buffer.append(contentsOf: bytes)
    }

    public static func append(_ text: String, to buffer: inout [UInt8]) {
        append(UInt32(text.utf8.count), to: &buffer)
        buffer.append(contentsOf: text.utf8)
    }

    public static func append(pairs: [(name: String, value: String)], to buffer: inout [UInt8]) {
        append(UInt32(pairs.count), to: &buffer)
        for (name, value) in pairs {
            append(name, to: &buffer)
            append(value, to: &buffer)
        }
    }

    /// Reads what `append` wrote; every read returns nil when the input is too short or
    /// malformed (never traps, never allocates more than the input justifies).
    public struct Reader {
        private let data: ArraySlice<UInt8>
        private var position: Int

        public init(_ bytes: ArraySlice<UInt8>) {
            data = bytes
            position = bytes.startIndex
        }

        public init(_ bytes: [UInt8], from offset: Int = 0) { self.init(bytes[offset...]) }

        public var atEnd: Bool { position == data.endIndex }

        /// Everything not read yet.
        public mutating func rest() -> [UInt8] {
            defer { position = data.endIndex }
            return Array(data[position...])
        }

        public mutating func u8() -> UInt8? { integer(UInt8.self) }
        public mutating func u16() -> UInt16? { integer(UInt16.self) }
        public mutating func u32() -> UInt32? { integer(UInt32.self) }
        public mutating func u64() -> UInt64? { integer(UInt64.self) }

        public mutating func bytes() -> [UInt8]? {
            guard let count = u32().map(Int.init), data.endIndex - position >= count else { return nil }
            defer { position += count }
            return Array(data[position..<position + count])
        }

        public mutating func string() -> String? {
            guard let count = u32().map(Int.init), data.endIndex - position >= count else { return nil }
            defer { position += count }
            return String(validating: data[position..<position + count], as: UTF8.self)
        }

        public mutating func pairs() -> [(name: String, value: String)]? {
            guard let count = u32().map(Int.init), count <= (data.endIndex - position) / 8 else { return nil }
            var out: [(name: String, value: String)] = []
            out.reserveCapacity(count)
            for _ in 0..<count {
                guard let name = string(), let value = string() else { return nil }
                out.append((name, value))
            }
            return out
        }

        private mutating func integer<T: FixedWidthInteger>(_: T.Type) -> T? {
            let size = MemoryLayout<T>.size
            guard data.endIndex - position >= size else { return nil }
            var value: T = 0
            for i in 0..<size { value |= T(data[position + i]) << (8 * i) }
            position += size
            return value
        }
    }
}
