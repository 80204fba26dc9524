/// Reads what `BinaryWriter` wrote, refusing truncated, overlong or oversized input with
/// `RaftError.decoding` (never trapping, never allocating more than the input justifies).
struct BinaryReader {
    private let bytes: [UInt8]
    private var position = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var remaining: Int { bytes.count - position }
    var isAtEnd: Bool { position == bytes.count }

    mutating func readUInt64() throws(RaftError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard position < bytes.count else { throw .decoding("truncated varint") }
            let b = bytes[position]
            position += 1
            if shift == 63 && b > 1 { throw .decoding("varint overflows 64 bits") }
            result |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 { return result }
            shift += 7
            guard shift <= 63 else { throw .decoding("varint too long") }
        }
    }

    mutating func readUInt8() throws(RaftError) -> UInt8 {
        guard position < bytes.count else { throw .decoding("truncated byte") }
        defer { position += 1 }
        return bytes[position]
    }

    mutating func readBool() throws(RaftError) -> Bool {
        switch try readUInt8() {
        case 0: return false
        case 1: return true
        case let b: throw .decoding("bad boolean \(b)")
        }
    }

    mutating func readBytes() throws(RaftError) -> [UInt8] {
        let n = try readUInt64()
        guard n <= UInt64(remaining) else { throw .decoding("byte string longer than the input") }
        let result = Array(bytes[position..<position + Int(n)])
        position += Int(n)
        return result
    }

    /// Reads an element count, checking each element needs at least `minSize` bytes.
    mutating func readCount(minSize: Int) throws(RaftError) -> Int {
        let n = try readUInt64()
        guard n <= UInt64(remaining / max(minSize, 1)) else { throw .decoding("count \(n) exceeds the input") }
        return Int(n)
    }

    func expectEnd() throws(RaftError) {
        guard isAtEnd else { throw .decoding("\(remaining) trailing bytes") }
    }
}
