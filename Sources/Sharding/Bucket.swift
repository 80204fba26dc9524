/// Buckets: the a-priori shard label every document carries (DESIGN §2).
///
/// `bucket = 1 + (FNV-1a-64(UTF-8 bytes of the shard key) mod 1000)`. Deterministic and
/// stable across versions and platforms: a GET is routable from the id alone.
public enum Bucket {
    /// Number of buckets; shards own contiguous ranges of `1...count`.
    public static let count: UInt64 = 1000
    public static let range: ClosedRange<Int> = 1...Int(count)

    /// FNV-1a, 64-bit: offset basis 0xcbf29ce484222325, prime 0x100000001b3.
    public static func fnv1a64<S: Sequence>(_ bytes: S) -> UInt64 where S.Element == UInt8 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        return hash
    }

    /// The bucket (1...1000) of a shard key.
    public static func of(_ shardKey: String) -> Int {
        Int(1 + fnv1a64(shardKey.utf8) % count)
    }
}
