import JSON
import LoadManager
import Scaling
import XCTest

final class LoadHistoryTests: XCTestCase {
    private var byKind: [RequestKind: LatencyWindows] = Dictionary(uniqueKeysWithValues: RequestKind.allCases.map { ($0, LatencyWindows()) })
    private var all = LatencyWindows()

    private func record(_ kind: RequestKind, second: UInt64, seconds: Double, timedOut: Bool = false) {
        all.record(second: second, seconds: seconds, kind: kind, timedOut: timedOut)
        byKind[kind]?.record(second: second, seconds: seconds, kind: kind, timedOut: timedOut)
    }

    /// Second s ended at 1,000,000 + (s + 1) × 1000 ms.
    private static func endedAt(_ second: UInt64) -> Int64 { 1_000_000 + Int64(second + 1) * 1_000 }

    func testEachEndedSecondIsSampledOnceWithItsOwnFigures() {
        var history = LoadHistory()
        record(.write, second: 2, seconds: 0.002)
        record(.write, second: 2, seconds: 0.004)
        record(.write, second: 2, seconds: 0.006, timedOut: true)
        record(.read, second: 3, seconds: 0.001)
        record(.read, second: 4, seconds: 0.5)  // second 4 is under way: not sampled yet
        history.catchUp(before: 4, all: all, byKind: byKind, endedAt: Self.endedAt)
        history.catchUp(before: 4, all: all, byKind: byKind, endedAt: Self.endedAt)
        let samples = history.samples(after: 0)
        XCTAssertEqual(samples.map(\.second), [0, 1, 2, 3])
        XCTAssertEqual(samples.map(\.endedAtMilliseconds), [1_001_000, 1_002_000, 1_003_000, 1_004_000])
        XCTAssertEqual(samples[2].all.requests, 3)
        XCTAssertEqual(samples[2].all.timeouts, 1)
        XCTAssertEqual(samples[2].byKind[.write]?.requests, 3)
        XCTAssertEqual(samples[2].byKind[.read]?.requests, 0)
        XCTAssertEqual(samples[2].all.averageSeconds, 0.004, accuracy: 1e-9)
        XCTAssertEqual(samples[3].all.reads, 1)
        XCTAssertEqual(samples[1].all.requests, 0)
        history.catchUp(before: 5, all: all, byKind: byKind, endedAt: Self.endedAt)
        XCTAssertEqual(history.samples(after: 1_004_000).map(\.second), [4])
        XCTAssertEqual(history.samples(after: 1_004_000).first?.all.p50 ?? 0, 0.5, accuracy: 0.5 * 0.05)
    }

    func testTheRingKeepsTheNewestCapacitySamplesOldestFirst() {
        var history = LoadHistory(capacity: 5)
        history.catchUp(before: 7, all: all, byKind: byKind, endedAt: Self.endedAt)
        history.catchUp(before: 12, all: all, byKind: byKind, endedAt: Self.endedAt)
        XCTAssertEqual(history.count, 5)
        XCTAssertEqual(history.samples(after: 0).map(\.second), [7, 8, 9, 10, 11])
        XCTAssertEqual(history.samples(after: Self.endedAt(9)).map(\.second), [10, 11])
    }

    func testSecondsNoLongerInThePerSecondRingAreSkipped() {
        all = LatencyWindows(fineSeconds: 10, coarseMinutes: 2)
        var history = LoadHistory()
        history.catchUp(before: 50, all: all, byKind: byKind, endedAt: Self.endedAt)
        XCTAssertEqual(history.samples(after: 0).map(\.second), Array(41..<50))
    }

    func testJSONLeavesOutClassesWithoutRequests() throws {
        var history = LoadHistory()
        record(.query, second: 1, seconds: 0.25)
        history.catchUp(before: 2, all: all, byKind: byKind, endedAt: Self.endedAt)
        let samples = history.samples(after: 0)
        XCTAssertEqual(samples[0].json.text, #"{"at":1001000,"all":{"requests":0}}"#)
        let busy = samples[1].json
        XCTAssertEqual(busy["at"]?.intValue, 1_002_000)
        XCTAssertEqual(busy["all"]?["queries"]?.intValue, 1)
        XCTAssertEqual(busy["query"]?["requests"]?.intValue, 1)
        XCTAssertNil(busy["read"])
        XCTAssertNil(busy["write"])
        XCTAssertEqual(busy["query"]?["p99_seconds"]?.doubleValue ?? 0, 0.25, accuracy: 0.25 * 0.05)
    }
}
