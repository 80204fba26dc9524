import Scaling
import XCTest

final class BucketCountsTests: XCTestCase {
    func testCountsOverTheWindow() {
        var counts = BucketCounts()
        XCTAssertEqual(counts.storageBytes, 240_480)
        // Minute m: bucket 1 once, bucket 500 (m % 5) times.
        for minute in UInt64(100)..<200 {
            counts.record(bucket: 1, minute: minute)
            for _ in 0..<(minute % 5) { counts.record(bucket: 500, minute: minute) }
        }
        counts.record(bucket: 1000, minute: 199)
        let rows: [(now: UInt64, bucket1: Int, bucket500: Int, bucket1000: Int)] = [
            (199, 60, (140..<200).reduce(0) { $0 + Int($1 % 5) }, 1),
            // The ring has moved on: minutes 100...139 were reused by 160...199.
            (150, 11, (140...150).reduce(0) { $0 + Int($1 % 5) }, 0),
            (258, 1, 4, 1),  // only minute 199 is left in minutes 199...258
            (259, 0, 0, 0),
        ]
        for row in rows {
            let result = counts.counts(now: row.now)
            XCTAssertEqual(result.count, 1000)
            XCTAssertEqual(result[0], row.bucket1, "\(row)")
            XCTAssertEqual(result[499], row.bucket500, "\(row)")
            XCTAssertEqual(result[999], row.bucket1000, "\(row)")
            XCTAssertEqual(result.reduce(0, +), row.bucket1 + row.bucket500 + row.bucket1000, "\(row)")
        }
        XCTAssertEqual(counts.storageBytes, 240_480)
    }

    func testOutOfRangeBucketsAndStaleMinutesAreIgnored() {
        var counts = BucketCounts(minutes: 10)
        for bucket in [0, -1, 1001, Int.max, Int.min] { counts.record(bucket: bucket, minute: 5) }
        XCTAssertEqual(counts.counts(now: 5).reduce(0, +), 0)
        counts.record(bucket: 7, minute: 25)
        counts.record(bucket: 7, minute: 15)  // same slot, older: dropped
        counts.record(bucket: 7, minute: 5)  // same slot, older: dropped
        XCTAssertEqual(counts.counts(now: 25)[6], 1)
        XCTAssertEqual(counts.counts(now: 15)[6], 0)
        counts.record(bucket: 7, minute: 35)  // same slot, newer: resets it
        XCTAssertEqual(counts.counts(now: 35)[6], 1)
        XCTAssertEqual(counts.counts(now: 0).reduce(0, +), 0)
    }

    func testTopOrdersByCountThenBucket() {
        var counts = BucketCounts()
        let traffic: [(bucket: Int, count: Int)] = [(3, 5), (9, 7), (2, 5), (700, 1), (1000, 7)]
        for (bucket, count) in traffic {
            for _ in 0..<count { counts.record(bucket: bucket, minute: 42) }
        }
        let rows: [(n: Int, expected: [Int])] = [
            (0, []), (-1, []), (1, [9]), (2, [9, 1000]), (4, [9, 1000, 2, 3]), (5, [9, 1000, 2, 3, 700]),
            (50, [9, 1000, 2, 3, 700]),
        ]
        for row in rows {
            XCTAssertEqual(counts.top(row.n, now: 42).map(\.bucket), row.expected, "top \(row.n)")
        }
        XCTAssertEqual(counts.top(2, now: 42).map(\.count), [7, 7])
        XCTAssertEqual(counts.top(5, now: 102).count, 0)
    }
}
