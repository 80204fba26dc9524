import Foundation
import JSON
import Scaling
import RaftCore
import XCTest

/// Every observation kept, for the exact answer a window should give.
private struct Reference {
    struct Observation {
        let second: UInt64
        let latency: Double
        let kind: RequestKind
        let timedOut: Bool
    }

    var observations: [Observation] = []

    /// The observations `LatencyWindows.stats` covers: (now − window, now] for a per-second
    /// window, every overlapping whole minute for a longer one.
    func covered(window: Int, now: UInt64, fineSeconds: Int = 120) -> [Observation] {
        let first = now + 1 >= UInt64(window) ? now + 1 - UInt64(window) : 0
        if window <= fineSeconds { return observations.filter { $0.second >= first && $0.second <= now } }
        return observations.filter { $0.second / 60 >= first / 60 && $0.second / 60 <= now / 60 }
    }
}

final class LatencyWindowsTests: XCTestCase {
    private func check(_ stats: WindowStats, against expected: [Reference.Observation], _ label: String) {
        XCTAssertEqual(stats.requests, expected.count, label)
        XCTAssertEqual(stats.reads, expected.filter { $0.kind == .read }.count, label)
        XCTAssertEqual(stats.writes, expected.filter { $0.kind == .write }.count, label)
        XCTAssertEqual(stats.queries, expected.filter { $0.kind == .query }.count, label)
        XCTAssertEqual(stats.timeouts, expected.filter(\.timedOut).count, label)
        let average = expected.isEmpty ? 0 : expected.map(\.latency).reduce(0, +) / Double(expected.count)
        XCTAssertEqual(stats.averageSeconds, average, accuracy: 1e-9, label)
        if !expected.isEmpty {
            XCTAssertEqual(stats.timeoutRate, Double(stats.timeouts) / Double(expected.count), accuracy: 1e-12, label)
            XCTAssertEqual(stats.readFraction + stats.writeFraction, 1, accuracy: 1e-12, label)
        }
    }

    /// Exact counts and means over per-second and per-minute windows, against a model that
    /// keeps every observation; the traffic varies per second and has quiet gaps.
    func testWindowsMatchReference() {
        var windows = LatencyWindows()
        var reference = Reference()
        let start: UInt64 = 500_000
        for second in start..<(start + 4_000) {
            let offset = Int(second - start)
            if offset % 700 < 45 { continue }  // quiet stretches
            for i in 0..<(offset % 7 + 1) {
                let kind = RequestKind.allCases[(offset + i) % 3]
                let latency = 0.001 * Double((offset * 31 + i * 17) % 997 + 1)
                let timedOut = (offset + i) % 50 == 0
                windows.record(second: second, seconds: latency, kind: kind, timedOut: timedOut)
                reference.observations.append(.init(second: second, latency: latency, kind: kind, timedOut: timedOut))
            }
            guard offset % 97 == 0 || offset == 3_999 else { continue }
            for window in [1, 10, 60, 119, 120, 121, 300, 1_800, 3_600] {
                let stats = windows.stats(windowSeconds: window, now: second)
                XCTAssertEqual(stats.windowSeconds, window)
                check(stats, against: reference.covered(window: window, now: second), "window \(window) at +\(offset)")
            }
        }
    }

    /// A per-minute window covers every minute it overlaps: exactly 3600 s at the end of a
    /// minute, 3601...3659 s otherwise.
    func testCoarseWindowRoundsUpToWholeMinutes() {
        let start: UInt64 = 60 * 10_000
        let rows: [(now: UInt64, window: Int, requests: Int)] = [
            (start + 7_199, 3_600, 36_000),  // second 59 of its minute: exactly 60 minutes
            (start + 7_140, 3_600, 36_010),  // second 0: 60 full minutes and 1 second
            (start + 7_169, 3_600, 36_300),  // second 29: 60 minutes and 30 seconds
            (start + 7_199, 121, 1_800),  // 3 minutes
            (start + 7_199, 120, 1_200),  // per-second: exact
            (start + 7_199, 7_200, 36_600),  // longer than the ring: the 61 minutes it holds
        ]
        var windows = LatencyWindows()
        for second in start..<(start + 7_200) {
            for _ in 0..<10 { windows.record(second: second, seconds: 0.5, kind: .read, timedOut: false) }
            for row in rows where row.now == second {
                let stats = windows.stats(windowSeconds: row.window, now: row.now)
                XCTAssertEqual(stats.requests, row.requests, "\(row)")
                XCTAssertEqual(stats.averageSeconds, 0.5, accuracy: 1e-12)
                XCTAssertEqual(stats.readFraction, 1)
            }
        }
        XCTAssertEqual(windows.longestWindowSeconds, 3_600)
    }

    /// Slots are reused after gaps of any length; nothing stale is counted and nothing older
    /// than a slot's current second is accepted.
    func testRingReuseAfterGaps() {
        let rows: [(gap: UInt64, fine: Int, coarse: Int)] = [
            // gap between the two bursts, then requests seen by 60-s and 3600-s windows at the end
            (1, 20, 20), (59, 20, 20), (60, 10, 20), (119, 10, 20), (120, 10, 20), (121, 10, 20),
            (3_600, 10, 20), (3_658, 10, 20), (3_659, 10, 10), (61 * 60, 10, 10), (1_000_000, 10, 10),
        ]
        for row in rows {
            var windows = LatencyWindows()
            let first: UInt64 = 7_200
            for _ in 0..<10 { windows.record(second: first, seconds: 1, kind: .write, timedOut: true) }
            let second = first + row.gap
            for _ in 0..<10 { windows.record(second: second, seconds: 2, kind: .read, timedOut: false) }
            let fine = windows.stats(windowSeconds: 60, now: second)
            let coarse = windows.stats(windowSeconds: 3_600, now: second)
            XCTAssertEqual(fine.requests, row.fine, "gap \(row.gap)")
            XCTAssertEqual(coarse.requests, row.coarse, "gap \(row.gap)")
            XCTAssertEqual(fine.timeouts, fine.requests - 10, "gap \(row.gap)")
            // The old burst is gone from a slot the new one reused: asking about the past finds nothing there.
            if row.gap % 120 == 0 {
                XCTAssertEqual(windows.stats(windowSeconds: 1, now: first).requests, 0, "gap \(row.gap)")
                // A late observation for the overwritten second is dropped.
                windows.record(second: first, seconds: 1, kind: .read, timedOut: false)
                XCTAssertEqual(windows.stats(windowSeconds: 1, now: second).requests, 10)
                XCTAssertEqual(windows.stats(windowSeconds: 1, now: first).requests, 0)
            }
        }
    }

    /// A window ending before any traffic, or of length 0, is empty and all zero.
    func testEmptyWindows() {
        var windows = LatencyWindows()
        let empty = windows.stats(windowSeconds: 60, now: 0)
        XCTAssertEqual(empty.requests, 0)
        XCTAssertEqual([empty.averageSeconds, empty.p50, empty.p95, empty.p99, empty.timeoutRate, empty.readFraction, empty.writeFraction], [0, 0, 0, 0, 0, 0, 0])
        windows.record(second: 100, seconds: 1, kind: .read, timedOut: false)
        XCTAssertEqual(windows.stats(windowSeconds: 0, now: 100).requests, 0)
        XCTAssertEqual(windows.stats(windowSeconds: -5, now: 100).requests, 0)
        XCTAssertEqual(windows.stats(windowSeconds: 10, now: 99).requests, 0)
        XCTAssertEqual(windows.stats(windowSeconds: 10, now: 110).requests, 0)
        XCTAssertEqual(windows.stats(windowSeconds: 11, now: 110).requests, 1)
        // Windows reaching back before second 0 start at 0.
        XCTAssertEqual(windows.stats(windowSeconds: 3_600, now: 100).requests, 1)
    }

    /// NaN and negative latencies count as 0 s; huge ones are capped, so the mean stays finite.
    func testOddLatencies() {
        var windows = LatencyWindows()
        windows.record(second: 5, seconds: .nan, kind: .read, timedOut: false)
        windows.record(second: 5, seconds: -3, kind: .read, timedOut: false)
        windows.record(second: 5, seconds: .infinity, kind: .read, timedOut: true)
        let stats = windows.stats(windowSeconds: 10, now: 5)
        XCTAssertEqual(stats.requests, 3)
        XCTAssertEqual(stats.averageSeconds, LatencyWindows.maximumLatencySeconds / 3, accuracy: 1e-9)
        XCTAssertTrue(stats.p99.isFinite)
        XCTAssertGreaterThan(stats.p99, 119)
    }

    /// p50/p95/p99 are within 5 % of the true order statistic for several distributions.
    func testPercentilesWithinFivePercent() {
        let distributions: [(name: String, sample: (inout SplitMix64) -> Double)] = [
            ("constant 250 ms", { _ in 0.25 }),
            ("uniform 1 ms...2 s", { Double.random(in: 0.001...2, using: &$0) }),
            ("log-uniform 100 µs...100 s", { 1e-4 * pow(10, Double.random(in: 0...6, using: &$0)) }),
            ("exponential mean 200 ms", { -0.2 * log1p(-Double.random(in: 0..<1, using: &$0)) }),
            ("bimodal 5 ms / 3 s", { Double.random(in: 0..<1, using: &$0) < 0.9 ? 0.005 : 3 }),
        ]
        for (index, distribution) in distributions.enumerated() {
            var generator = SplitMix64(seed: 42 + UInt64(index))
            var windows = LatencyWindows()
            var samples: [Double] = []
            for second in UInt64(1_000)..<1_100 {
                for _ in 0..<500 {
                    let value = distribution.sample(&generator)
                    samples.append(value)
                    windows.record(second: second, seconds: value, kind: .query, timedOut: false)
                }
            }
            samples.sort()
            for window in [100, 3_600] {
                let stats = windows.stats(windowSeconds: window, now: 1_099)
                XCTAssertEqual(stats.requests, samples.count)
                for (quantile, estimate) in [(0.50, stats.p50), (0.95, stats.p95), (0.99, stats.p99)] {
                    let rank = Int((quantile * Double(samples.count)).rounded(.up))
                    let truth = samples[rank - 1]
                    XCTAssertLessThanOrEqual(
                        abs(estimate - truth) / truth, 0.05, "\(distribution.name) p\(Int(quantile * 100)): \(estimate) vs \(truth)")
                }
            }
        }
    }

    /// Storage is allocated once: a million records over hours leave it unchanged.
    func testMemoryIsBounded() {
        var windows = LatencyWindows()
        XCTAssertEqual(LatencyWindows.bytesPerBucket, 740)
        XCTAssertEqual(windows.storageBytes, 181 * 740)
        XCTAssertEqual(windows.storageBytes, 133_940)
        let before = windows.storageBytes
        var second: UInt64 = 0
        for i in 0..<1_000_000 {
            if i % 100 == 0 { second += 1 }
            windows.record(
                second: second, seconds: Double(i % 1_000) * 0.001, kind: RequestKind.allCases[i % 3], timedOut: i % 99 == 0)
        }
        XCTAssertEqual(windows.storageBytes, before)
        XCTAssertEqual(MemoryLayout<LatencyWindows>.size, MemoryLayout.size(ofValue: LatencyWindows()))
        XCTAssertEqual(windows.stats(windowSeconds: 60, now: second).requests, 6_000)
        XCTAssertEqual(LatencyWindows(fineSeconds: 10, coarseMinutes: 5).storageBytes, 15 * 740)
    }

    func testStatsJSON() throws {
        var windows = LatencyWindows()
        for i in 0..<10 { windows.record(second: 9, seconds: 0.1, kind: i < 8 ? .read : .write, timedOut: i == 0) }
        let json = windows.stats(windowSeconds: 10, now: 9).json
        XCTAssertEqual(json["window_seconds"]?.intValue, 10)
        XCTAssertEqual(json["requests"]?.intValue, 10)
        XCTAssertEqual(json["reads"]?.intValue, 8)
        XCTAssertEqual(json["writes"]?.intValue, 2)
        XCTAssertEqual(json["timeouts"]?.intValue, 1)
        XCTAssertEqual(try XCTUnwrap(json["timeout_rate"]?.doubleValue), 0.1, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(json["read_fraction"]?.doubleValue), 0.8, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(json["p50_seconds"]?.doubleValue), 0.1, accuracy: 0.005)
        XCTAssertEqual(Set(json.members.map(\.key)).count, 13)
    }
}

