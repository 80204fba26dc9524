/// Buckets: the a-priori shard label every document carries (DESIGN §2).
///
/// `bucket = 1 + (FNV-1a-64(UTF-8 bytes of the shard key) mod 1000)`. Deterministic and
/// stable across versions and platforms: a GET is routable from the id alone.
///
/// The shard key of a document is its id, or — in a collection that declares a shard key
/// field (docs/ARCHITECTURE.md, "Shard keys") — the part of the id before its `:`, which
/// equals that field's value: `acme:cart-17` is in bucket `Bucket.of("acme")`. Ids of
/// collections without a declaration never contain `:` (the API refuses it), so their rule
/// is unchanged.
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

    /// The separator between a shard key value and the rest of a document id.
    public static let keySeparator = UInt8(ascii: ":")

    /// The bucket (1...1000) of a document id: the bucket of its shard key (see the type).
    public static func of(_ id: String) -> Int {
        let utf8 = id.utf8
        guard let colon = utf8.firstIndex(of: keySeparator) else { return ofKey(id) }
        return Int(1 + fnv1a64(utf8[..<colon]) % count)
    }

    /// The bucket of a shard key value.
    public static func ofKey(_ value: String) -> Int {
        Int(1 + fnv1a64(value.utf8) % count)
    }

    /// The shard key value a document id names (the part before its `:`), or nil for an id
    /// without one.
    public static func keyValue(of id: String) -> Substring? {
        guard let colon = id.firstIndex(of: ":") else { return nil }
        return id[..<colon]
    }
}
