/// The checksum of a snapshot file: 64-bit FNV-1a over its bytes. It catches corruption and
/// truncation in transit or on disk; it is not a defence against a malicious peer (the cluster
/// token is).
public enum SnapshotChecksum {
    public static let initial: UInt64 = 0xcbf2_9ce4_8422_2325
    static let prime: UInt64 = 0x0000_0100_0000_01b3

    /// Folds `bytes` into a running checksum (start from `initial`).
    public static func update(_ checksum: UInt64, _ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var hash = checksum
        for byte in bytes {
            hash ^= UInt64(byte)
            hash &*= prime
        }
        return hash
    }

    public static func update(_ checksum: UInt64, _ bytes: [UInt8]) -> UInt64 {
        bytes.withUnsafeBytes { update(checksum, $0) }
    }

    /// The checksum of `bytes`.
    public static func of(_ bytes: [UInt8]) -> UInt64 { update(initial, bytes) }

    /// The size and checksum of the file at `path` (read in 1 MiB pieces).
    public static func ofFile(path: String) throws(TransportError) -> (size: Int64, checksum: UInt64) {
        let file = try PosixFile.open(path, mode: .read)
        var checksum = initial
        var offset: Int64 = 0
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let count = try file.read(into: &buffer, at: offset)
            if count == 0 { break }
            checksum = buffer.withUnsafeBytes { update(checksum, UnsafeRawBufferPointer(rebasing: $0[..<count])) }
            offset += Int64(count)
        }
        return (offset, checksum)
    }

    /// 16 lowercase hex digits, as in `X-Machdb-Snapshot-Checksum`.
    public static func hex(_ checksum: UInt64) -> String {
        let digits = String(checksum, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    /// Parses `hex(_:)`'s output (1...16 hex digits, either case).
    public static func parse(_ text: String) -> UInt64? {
        guard (1...16).contains(text.utf8.count) else { return nil }
        return UInt64(text, radix: 16)
    }
}
