import Foundation
import Glibc
import XCTest

/// Seeded simulation of the online split (docs/ARCHITECTURE.md, "Shards"), issue 11's
/// required test: a split entry racing write proposals, leader changes, partitions, crashes
/// and a lagging member that sees the child group's traffic before it applied the split.
/// Every node is a real `Store` with one `RaftStore` per group on a temporary SQLite file
/// (on /dev/shm when there is one), so the real split, apply and refusal code runs; only the
/// network, the clock and the request routing are simulated (`SplitSim/`). Checked after
/// every `Ready` and every step, per group (`SplitSimChecker`): one leader per term, the same
/// committed entries on every node, the same documents in the group's range at the same
/// applied index, descriptors as the applied splits say, no write applied outside its
/// group's range or refused inside it, no request written twice (in the parent and the
/// child), every acknowledged write present once on every node that applied past it. Then
/// the faults heal: every group must take a write and every node converge.
///
/// Environment: `SPLIT_SIM_SEEDS=n` seeds (default 100: about 15 s in a release build on 2
/// cores), `SPLIT_SIM_BASE_SEED=b` first seed, `SPLIT_SIM_STEPS=n` steps per seed,
/// `SPLIT_SIM_SEED=s` replays one seed and prints its trace, `SPLIT_SIM_INJECT=name` breaks a
/// rule on purpose (`SplitSimulation.Injection`).
final class SplitSimulationTests: XCTestCase {
    static let defaultSeeds = 100
    static let defaultSteps = 300

    func testRandomSplitSchedules() throws {
        let env = ProcessInfo.processInfo.environment
        let steps = env["SPLIT_SIM_STEPS"].flatMap(Int.init) ?? Self.defaultSteps
        let injection = env["SPLIT_SIM_INJECT"].flatMap(SplitSimulation.Injection.init(rawValue:))
        let seeds: [UInt64]
        let replay: Bool
        if let one = env["SPLIT_SIM_SEED"].flatMap(UInt64.init) {
            seeds = [one]
            replay = true
        } else {
            let count = env["SPLIT_SIM_SEEDS"].flatMap(Int.init) ?? Self.defaultSeeds
            let base = env["SPLIT_SIM_BASE_SEED"].flatMap(UInt64.init) ?? 1
            seeds = (0..<UInt64(count)).map { base + $0 }
            replay = false
        }
        let root = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp"
        let clock = ContinuousClock()
        let started = clock.now
        var failures = 0
        var stats: [String: Int] = [:]
        for seed in seeds {
            var template = Array("\(root)/machdb-split-sim-XXXXXX".utf8CString)
            let created = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
            let directory = String(cString: try XCTUnwrap(created))
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let simulation = SplitSimulation(seed: seed, steps: steps, directory: directory, keepTrace: replay, injection: injection)
            let outcome = simulation.run()
            stats.merge(outcome.stats, uniquingKeysWith: +)
            if replay { print(outcome.trace.joined(separator: "\n")) }
            if !outcome.violations.isEmpty {
                failures += 1
                var report = "seed \(seed) failed at step \(outcome.steps): \(outcome.violations.joined(separator: "; "))\n"
                var vars = steps == Self.defaultSteps ? "" : "SPLIT_SIM_STEPS=\(steps) "
                if let injection { vars += "SPLIT_SIM_INJECT=\(injection.rawValue) " }
                report += "replay: SPLIT_SIM_SEED=\(seed) \(vars)swift test -c release --skip-build -Xswiftc -enable-testing --filter StorageTests.SplitSimulationTests"
                XCTFail(report)
                if failures >= 3 { break }
            }
        }
        let elapsed = clock.now - started
        print("split simulation: \(seeds.count) seeds × \(steps) steps in \(elapsed)")
        print("  " + stats.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", "))
    }
}
