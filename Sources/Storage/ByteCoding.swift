/// Appends the compact binary form of ``LogCommand``: unsigned LEB128 varints, zigzag
/// varints for signed values, and length-prefixed byte and UTF-8 strings.
struct ByteWriter {
    private(set) var bytes: [UInt8] = []

    init(capacity: Int = 64) { bytes.reserveCapacity(capacity) }

    mutating func write(_ value: UInt8) { bytes.append(value) }

    mutating func write(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    /// Zigzag: small magnitudes of either sign stay short.
    mutating func write(signed value: Int64) {
        write(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }

    mutating func write(bytes data: [UInt8]) {
        write(UInt64(data.count))
        bytes.append(contentsOf: data)
    }

    mutating func write(_ text: String) {
        write(UInt64(text.utf8.count))
        bytes.append(contentsOf: text.utf8)
    }
}

/// Reads what ``ByteWriter`` wrote. Malformed input (truncated, overlong varints, counts the
/// input cannot hold, invalid UTF-8) throws ``StorageError/invalidCommand(_:)``; it never traps
/// and never allocates more than the input justifies.
struct ByteReader {
    private let bytes: [UInt8]
    private var position = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    private var remaining: Int { bytes.count - position }

    private static func malformed(_ detail: String) -> StorageError { .invalidCommand("undecodable log command: \(detail)") }

    mutating func readUInt8() throws(StorageError) -> UInt8 {
        guard position < bytes.count else { throw Self.malformed("truncated") }
        defer { position += 1 }
        return bytes[position]
    }

    mutating func readUInt64() throws(StorageError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let byte = try readUInt8()
            if shift == 63 && byte > 1 { throw Self.malformed("varint overflows 64 bits") }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
            guard shift <= 63 else { throw Self.malformed("varint too long") }
        }
    }

    mutating func readSigned() throws(StorageError) -> Int64 {
        let raw = try readUInt64()
        return Int64(bitPattern: raw >> 1) ^ -Int64(bitPattern: raw & 1)
    }

    mutating func readBytes() throws(StorageError) -> [UInt8] {
        let count = try readUInt64()
        guard count <= UInt64(remaining) else { throw Self.malformed("byte string longer than the input") }
        defer { position += Int(count) }
        return Array(bytes[position..<position + Int(count)])
    }

    mutating func readString() throws(StorageError) -> String {
        let count = try readUInt64()
        guard count <= UInt64(remaining) else { throw Self.malformed("string longer than the input") }
        defer { position += Int(count) }
        guard let text = String(validating: bytes[position..<position + Int(count)], as: UTF8.self) else {
            throw Self.malformed("string is not UTF-8")
        }
        return text
    }

    /// An element count, each element needing at least `minimumSize` bytes.
    mutating func readCount(minimumSize: Int) throws(StorageError) -> Int {
        let count = try readUInt64()
        guard count <= UInt64(remaining / max(minimumSize, 1)) else { throw Self.malformed("count \(count) exceeds the input") }
        return Int(count)
    }

    func expectEnd() throws(StorageError) {
        guard remaining == 0 else { throw Self.malformed("\(remaining) trailing bytes") }
    }
}
