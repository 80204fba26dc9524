import Sharding
import XCTest

final class BucketTests: XCTestCase {
    /// Published FNV-1a-64 test vectors (Fowler/Noll/Vo reference suite).
    func testFNV1a64Vectors() {
        XCTAssertEqual(Bucket.fnv1a64(Array("".utf8)), 0xcbf2_9ce4_8422_2325)
        XCTAssertEqual(Bucket.fnv1a64(Array("a".utf8)), 0xaf63_dc4c_8601_ec8c)
        XCTAssertEqual(Bucket.fnv1a64(Array("foobar".utf8)), 0x8594_4171_f739_67e8)
    }

    /// Fixed bucket vectors: changing these breaks routing of every stored document.
    func testBucketVectors() {
        XCTAssertEqual(Bucket.of(""), Int(1 + 0xcbf2_9ce4_8422_2325 % 1000 as UInt64))
        XCTAssertEqual(Bucket.of("a"), Int(1 + 0xaf63_dc4c_8601_ec8c % 1000 as UInt64))
        XCTAssertEqual(Bucket.of("foobar"), Int(1 + 0x8594_4171_f739_67e8 % 1000 as UInt64))
        XCTAssertEqual(Bucket.of("cart-1"), Bucket.of("cart-1"))
    }

    func testBucketsCoverTheRange() {
        var seen = Set<Int>()
        for i in 0..<20_000 { seen.insert(Bucket.of("doc-\(i)")) }
        XCTAssertEqual(seen.min(), 1)
        XCTAssertEqual(seen.max(), 1000)
        XCTAssertEqual(seen.count, 1000)
    }

    /// An id `<key>:<rest>` (a collection with a shard key) is in its key's bucket; an id
    /// without ':' keeps the id rule.
    func testAKeyedIDIsInItsKeysBucket() {
        XCTAssertEqual(Bucket.of("acme:cart-17"), Bucket.of("acme"))
        XCTAssertEqual(Bucket.of("acme:cart-17"), Bucket.ofKey("acme"))
        XCTAssertEqual(Bucket.of("acme:x:y"), Bucket.of("acme"))
        XCTAssertEqual(Bucket.of(":x"), Bucket.of(""))
        XCTAssertEqual(Bucket.keyValue(of: "acme:cart-17"), "acme")
        XCTAssertNil(Bucket.keyValue(of: "cart-17"))
        var buckets = Set<Int>()
        for i in 0..<50 { buckets.insert(Bucket.of("globex:cart-\(i)")) }
        XCTAssertEqual(buckets, [Bucket.ofKey("globex")])
    }
}
