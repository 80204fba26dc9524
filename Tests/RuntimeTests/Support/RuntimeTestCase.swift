import Foundation
import PeerTransport
import XCTest

/// A test with a formed three-node cluster (`cluster`), stopped afterwards; on failure every
/// node's log and transport counters are printed. The seed is printed first:
/// `RUNTIME_TEST_SEED=<seed>` replays the seeded choices (election jitter, dropped and
/// duplicated frames) — thread timing still varies.
class RuntimeTestCase: XCTestCase {
    var cluster: RuntimeCluster!

    override func setUpWithError() throws {
        let seed = ProcessInfo.processInfo.environment["RUNTIME_TEST_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 1...UInt64.max)
        print("\(name): seed \(seed)")
        cluster = try RuntimeCluster(seed: seed)
        let started = Date()
        do {
            try cluster.form()
        } catch {
            print(cluster.dump())
            cluster.stop()
            throw error
        }
        print("\(name): cluster formed in \(String(format: "%.2f", Date().timeIntervalSince(started))) s")
    }

    override func tearDown() {
        // Correct nodes never send a malformed frame: a receiver dropping a stream for one
        // means bytes were lost, injected or misread on the way.
        for node in cluster?.nodes ?? [] {
            for line in node.logs.all where line.contains("dropping the stream") {
                XCTFail("\(node.name): \(line)")
            }
        }
        if let run = testRun, run.failureCount + run.unexpectedExceptionCount > 0, let cluster {
            print(cluster.dump())
        }
        cluster?.stop()
        cluster = nil
    }

    /// Fails with the first problems `convergenceProblems` found.
    func assertConverged(_ ledgers: [Ledger], file: StaticString = #filePath, line: UInt = #line) throws {
        let problems = try cluster.convergenceProblems(ledgers)
        XCTAssertTrue(problems.isEmpty, "\(problems.count) problems:\n" + problems.prefix(20).joined(separator: "\n"), file: file, line: line)
    }

    /// Lets `seconds` of wall time pass (for load under a fault): the only plain sleep.
    func letTimePass(_ seconds: Double) { usleep(UInt32(seconds * 1_000_000)) }
}
