import Foundation
import RaftCore
import XCTest

/// Randomized simulation: many seeds, each a full schedule (`RandomSchedule`) of faults and
/// inputs, every `Ready` and every step checked by `SafetyChecker`: election safety (one
/// leader per term over all history), log matching, leader completeness, state machine
/// safety, commit only by a quorum of voters, learners never campaign and never count,
/// hard state monotonic across restarts, linearizable ReadIndex, early sends (a leader's
/// appends, out before its fsync; it may crash in between) depending on nothing unpersisted;
/// then a healed phase must make progress.
///
/// Environment: `RAFT_SIM_SEEDS=n` seeds (default 1200: about 30 s in a debug build on 2
/// cores), `RAFT_SIM_BASE_SEED=b` first seed, `RAFT_SIM_STEPS=n` steps per seed,
/// `RAFT_SIM_SEED=s` replays one seed and prints its trace.
final class SimulationTests: XCTestCase {
    static let defaultSeeds = 1_200
    static let defaultSteps = 1_500

    func testRandomSchedules() {
        let env = ProcessInfo.processInfo.environment
        let steps = env["RAFT_SIM_STEPS"].flatMap(Int.init) ?? Self.defaultSteps
        let seeds: [UInt64]
        let replay: Bool
        if let one = env["RAFT_SIM_SEED"].flatMap(UInt64.init) {
            seeds = [one]
            replay = true
        } else {
            let count = env["RAFT_SIM_SEEDS"].flatMap(Int.init) ?? Self.defaultSeeds
            let base = env["RAFT_SIM_BASE_SEED"].flatMap(UInt64.init) ?? 1
            seeds = (0..<UInt64(count)).map { base + $0 }
            replay = false
        }
        let clock = ContinuousClock()
        let started = clock.now
        var committed: UInt64 = 0
        var elections = 0
        var reads = 0
        var failures = 0
        var stats: [String: Int] = [:]
        for seed in seeds {
            let outcome = RandomSchedule(seed: seed, steps: steps, keepTrace: replay).run()
            committed += outcome.committed
            elections += outcome.elections
            reads += outcome.reads
            stats.merge(outcome.stats, uniquingKeysWith: +)
            if replay && outcome.violations.isEmpty {
                print(outcome.trace.joined(separator: "\n"))
            }
            if !outcome.violations.isEmpty {
                failures += 1
                var report = "seed \(seed) failed after \(outcome.steps) steps: \(outcome.violations.joined(separator: "; "))\n"
                let stepsVar = steps == Self.defaultSteps ? "" : "RAFT_SIM_STEPS=\(steps) "
                report += "replay: RAFT_SIM_SEED=\(seed) \(stepsVar)swift test --filter RaftCoreTests.SimulationTests"
                if replay { report += "\n" + outcome.trace.joined(separator: "\n") }
                XCTFail(report)
                if failures >= 3 { break }
            }
        }
        let elapsed = clock.now - started
        print("raft simulation: \(seeds.count) seeds × \(steps) steps in \(elapsed): \(committed) entries committed, \(elections) elections, \(reads) reads answered")
        print("  " + stats.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", "))
    }
}
