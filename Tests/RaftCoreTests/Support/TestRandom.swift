import RaftCore

/// The simulation's seeded random source (SplitMix64); never the system generator.
struct TestRandom: RandomNumberGenerator {
    private var source: SplitMix64

    init(seed: UInt64) { source = SplitMix64(seed: seed) }

    mutating func next() -> UInt64 { source.next() }

    mutating func below(_ n: Int) -> Int {
        precondition(n > 0)
        return Int(next() % UInt64(n))
    }

    /// True with probability `percent`/100.
    mutating func percent(_ percent: Int) -> Bool { below(100) < percent }

    mutating func pick<T>(_ items: [T]) -> T? {
        items.isEmpty ? nil : items[below(items.count)]
    }
}

/// FNV-1a over 64-bit words; the simulated state machine's digest.
func mix(_ hash: UInt64, _ value: UInt64) -> UInt64 {
    var h = hash == 0 ? 0xcbf2_9ce4_8422_2325 : hash
    for i in 0..<8 {
        h ^= (value >> (8 * UInt64(i))) & 0xFF
        h &*= 0x0000_0100_0000_01b3
    }
    return h
}

func digest(_ bytes: [UInt8]) -> UInt64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in bytes {
        h ^= UInt64(b)
        h &*= 0x0000_0100_0000_01b3
    }
    return h
}

func uint64Bytes(_ v: UInt64) -> [UInt8] {
    (0..<8).map { UInt8(truncatingIfNeeded: v >> (8 * UInt64($0))) }
}

func uint64(from bytes: ArraySlice<UInt8>) -> UInt64 {
    var v: UInt64 = 0
    for (i, b) in bytes.enumerated() { v |= UInt64(b) << (8 * UInt64(i)) }
    return v
}
