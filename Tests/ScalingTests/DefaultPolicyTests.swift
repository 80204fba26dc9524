import Scaling
import XCTest

/// The design's own policy over simulated hours.
final class DefaultPolicyTests: XCTestCase {
    /// Latency rising slowly from 0.2 s to 6 s over two hours: one add_node, 60 s after the
    /// hour's mean first exceeds 3 s; no scale-down while it was low (three nodes is the minimum).
    func testSlowRampScalesUpOnceAfterTheHourMeanCrosses() throws {
        func ramp(_ t: Int) -> Double { 0.2 + 5.8 * Double(t) / 7_200 }
        var sim = Simulator(policy: ScalingPolicy(), facts: .cluster(stage: 3, replicas: 1))
        sim.run(7_200) { moment in Load(latency: ramp(moment.t) / Double(1 + moment.nodesAdded)) }
        XCTAssertEqual(sim.kinds, [.addNode])
        XCTAssertTrue(sim.surgingSeconds.isEmpty)
        let crossed = try XCTUnwrap(sim.evaluations.first { $0.evaluation.up }?.second)
        let added = try XCTUnwrap(sim.proposals.first?.second)
        XCTAssertEqual(added, crossed + 60)
        // Independently: the mean over the minutes overlapping the last hour crosses 3 s there.
        func hourMean(endingAt second: UInt64) -> Double {
            let first = max(sim.start, (second - 3_599) / 60 * 60)
            let seconds = (first...second).map { ramp(Int($0 - sim.start)) }
            return seconds.reduce(0, +) / Double(seconds.count)
        }
        XCTAssertGreaterThan(hourMean(endingAt: crossed), 3)
        XCTAssertLessThanOrEqual(hourMean(endingAt: crossed - 1), 3)
        let proposal = try XCTUnwrap(sim.proposals.first?.proposal)
        XCTAssertGreaterThan(try XCTUnwrap(proposal.evidence["average_seconds_3600"]), 3)
        XCTAssertEqual(proposal.evidence["requests_3600"].map { $0 >= 72_000 }, true)
        // Down held while the mean was low, but three nodes is the minimum.
        XCTAssertTrue(sim.evaluations.prefix(600).dropFirst(10).allSatisfy(\.evaluation.down))
    }

    /// A step from 0.2 s to 4 s after an hour: a surge at first (no scale-out), then, once the
    /// surge is over and the new level has held a minute, one add_node that halves latency.
    func testStepChangeOverHours() throws {
        var sim = Simulator(policy: ScalingPolicy(), facts: .cluster(stage: 3, replicas: 1))
        sim.run(4 * 3_600) { moment in
            Load(latency: moment.t < 3_600 ? 0.2 : 4 / Double(1 + moment.nodesAdded))
        }
        XCTAssertEqual(sim.kinds, [.addNode])
        let surging = sim.surgingSeconds.map { Int($0 - sim.start) }
        XCTAssertEqual(surging.first.map { (3_600...3_610).contains($0) }, true, "\(surging.prefix(3))")
        let added = try XCTUnwrap(sim.times(.addNode).first)
        XCTAssertGreaterThanOrEqual(added, surging.last! + 60)
        XCTAssertLessThan(added, 3_600 + 1_800, "fast up")
        XCTAssertEqual(sim.last?.up, false)
        XCTAssertEqual(sim.last?.down, false)
    }
}
