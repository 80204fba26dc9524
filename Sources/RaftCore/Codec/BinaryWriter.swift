/// Appends the compact binary form used by `encoded()`: unsigned LEB128 varints and
/// length-prefixed byte strings.
struct BinaryWriter {
    var bytes: [UInt8] = []

    init(capacity: Int = 64) { bytes.reserveCapacity(capacity) }

    mutating func write(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    mutating func write(_ value: UInt8) { bytes.append(value) }

    mutating func write(_ value: Bool) { bytes.append(value ? 1 : 0) }

    mutating func write(bytes data: [UInt8]) {
        write(UInt64(data.count))
        bytes.append(contentsOf: data)
    }
}
