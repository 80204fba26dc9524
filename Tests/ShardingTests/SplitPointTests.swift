import Sharding
import XCTest

final class SplitPointTests: XCTestCase {
    func testNoLoadSplitsAtTheMiddle() {
        XCTAssertEqual(SplitPoint.choose(range: 1...1000) { _ in 0 }, .at(bucket: 501, balance: 0))
        XCTAssertEqual(SplitPoint.choose(range: 501...1000) { _ in 0 }, .at(bucket: 751, balance: 0))
    }

    func testUniformLoadSplitsAtTheMiddle() {
        XCTAssertEqual(SplitPoint.choose(range: 1...1000) { _ in 7 }, .at(bucket: 501, balance: 0))
    }

    func testSkewedLoadMovesTheBoundaryTowardsTheLoad() {
        // Buckets 1...100 carry 10 each (1000), 101...1000 carry 1 each (900): the balanced
        // boundary lies inside the hot hundred, far left of the middle.
        let choice = SplitPoint.choose(range: 1...1000) { $0 <= 100 ? 10 : 1 }
        guard case let .at(bucket, balance) = choice else { return XCTFail("\(choice)") }
        XCTAssertEqual(bucket, 96)  // left 950, right 50 + 900 = 950
        XCTAssertEqual(balance, 0, accuracy: 1e-9)
    }

    func testAHotBucketCannotBeSplit() {
        let choice = SplitPoint.choose(range: 1...1000) { $0 == 321 ? 5_000 : 1 }
        guard case let .hotBucket(bucket, share) = choice else { return XCTFail("\(choice)") }
        XCTAssertEqual(bucket, 321)
        XCTAssertGreaterThan(share, 0.8)
    }

    func testTwoHotBucketsSplitBetweenThem() {
        let choice = SplitPoint.choose(range: 1...1000) { $0 == 100 || $0 == 900 ? 1_000 : 0 }
        guard case let .at(bucket, balance) = choice else { return XCTFail("\(choice)") }
        XCTAssertTrue((101...900).contains(bucket), "\(bucket)")
        XCTAssertEqual(balance, 0, accuracy: 1e-9)
    }

    func testASingleBucketRangeIsTooSmall() {
        XCTAssertEqual(SplitPoint.choose(range: 7...7) { _ in 1 }, .tooSmall)
    }

    func testDescriptorSplitAndRefusals() {
        let whole = ShardDescriptor.whole
        XCTAssertNil(whole.refusesSplit(at: 500))
        XCTAssertNotNil(whole.refusesSplit(at: 1))     // the new shard would take everything
        XCTAssertNotNil(whole.refusesSplit(at: 1001))  // outside
        let (parent, child) = whole.split(at: 500)
        XCTAssertEqual(parent, ShardDescriptor(id: 1, firstBucket: 1, lastBucket: 499, version: 2))
        XCTAssertEqual(child, ShardDescriptor(id: 500, firstBucket: 500, lastBucket: 1000, version: 2))
        XCTAssertFalse(parent.overlaps(child))
        XCTAssertTrue(whole.overlaps(child))
        XCTAssertFalse(ShardDescriptor.uninitialized(3).overlaps(whole))
    }

    func testTableRoutesByNewestDescriptorAndNeverDowngrades() {
        var table = ShardTable()
        XCTAssertEqual(table.shard(for: 700)?.id, 1)
        let (parent, child) = ShardDescriptor.whole.split(at: 500)
        XCTAssertTrue(table.merge(child))
        XCTAssertEqual(table.shard(for: 700)?.id, 500)  // newer than the stale whole range
        XCTAssertEqual(table.shard(for: 100)?.id, 1)
        XCTAssertTrue(table.merge(parent))
        XCTAssertFalse(table.merge(.whole))  // older: ignored
        XCTAssertEqual(table[1], parent)
        XCTAssertEqual(table.sorted.map(\.id), [1, 500])
    }
}

final class SplitPointEdgeTests: XCTestCase {
    func testAHotBucketBesideAsMuchOtherLoadIsSplitOff() {
        // The last bucket carries 48 %, the rest is spread: the best boundary puts it on its
        // side with as much load on the other: a useful split.
        let choice = SplitPoint.choose(range: 1...1000) { $0 == 1000 ? 920 : 1 }
        XCTAssertEqual(choice, .at(bucket: 960, balance: 1.0 / 1919))  // 959 left, 40 + 920 right
        // The same bucket in the middle cannot be isolated so well (37 %): refused.
        guard case .hotBucket(600, _) = SplitPoint.choose(range: 1...1000, counts: { $0 == 600 ? 920 : 1 }) else {
            return XCTFail("a hot bucket in the middle is not split")
        }
    }
}
