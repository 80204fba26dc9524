import Scaling
import XCTest

final class ScaleDownTests: XCTestCase {
    /// Low latency for long removes nodes one per cooldown down to minimumNodes, never below,
    /// and never while a replica lags.
    func testLowLatencyRemovesNodesDownToTheMinimum() throws {
        let rows: [(stage: Int, lagging: Bool, removed: [String])] = [
            (5, false, ["n5", "n4"]),
            (4, false, ["n4"]),
            (3, false, []),
            (2, false, []),
            (6, true, []),
        ]
        for row in rows {
            var sim = Simulator(policy: .tiny, facts: .cluster(stage: row.stage, replicas: max(0, row.stage - 2), lagging: row.lagging))
            sim.run(600, Load(latency: 0.1))
            XCTAssertEqual(sim.proposals.compactMap(\.proposal.target.node), row.removed, "\(row)")
            XCTAssertEqual(Set(sim.kinds), row.removed.isEmpty ? [] : [.removeNode], "\(row)")
            XCTAssertEqual(sim.facts.stage, row.lagging ? row.stage : min(row.stage, 3), "\(row)")
            XCTAssertEqual(sim.last?.down, true, "the condition holds throughout: \(row)")
            let times = sim.times(.removeNode)
            for (earlier, later) in zip(times, times.dropFirst()) {
                XCTAssertGreaterThanOrEqual(later - earlier, ScalingPolicy.tiny.cooldownSeconds)
            }
            if let first = sim.proposals.first?.proposal {
                XCTAssertLessThan(try XCTUnwrap(first.evidence["down_average_seconds_60"]), 0.5)
                XCTAssertTrue(first.reason.contains("remove n\(row.stage)"), first.reason)
            }
        }
    }

    /// A held scale-down keeps its timer: when the lag clears, the removal follows at once.
    func testLagHoldsTheRemovalUntilItClears() throws {
        var sim = Simulator(policy: .tiny, facts: .cluster(stage: 5, replicas: 3, lagging: true))
        sim.run(200, Load(latency: 0.1))
        XCTAssertEqual(sim.kinds, [])
        sim.facts.anyReplicaLagging = false
        let cleared = sim.now
        sim.run(10, Load(latency: 0.1))
        XCTAssertEqual(sim.proposals.map(\.second), [cleared])
        // No removable node named by the caller: nothing.
        var unnamed = Simulator(policy: .tiny, facts: .cluster(stage: 5, replicas: 3))
        unnamed.facts.removableNode = nil
        unnamed.applyProposals = false
        unnamed.run(300, Load(latency: 0.1))
        XCTAssertEqual(unnamed.kinds, [])
    }

    /// After a scale-up, no scale-down for downCooldownSeconds even when latency falls at once.
    func testNoScaleDownWithinTheDownCooldownAfterAnUp() throws {
        for downCooldown in [120, 200, 0] {
            var policy = ScalingPolicy.tiny
            policy.downCooldownSeconds = downCooldown
            var sim = Simulator(policy: policy, facts: .cluster(stage: 4, replicas: 2))
            sim.run(600) { moment in Load(latency: moment.nodesAdded == 0 ? 4 : 0.1) }
            XCTAssertEqual(Array(sim.kinds.prefix(2)), [.addNode, .removeNode], "\(downCooldown)")
            let added = try XCTUnwrap(sim.times(.addNode).first)
            let removed = try XCTUnwrap(sim.times(.removeNode).first)
            // Whichever is longer binds: the down cooldown, or the general cooldown.
            XCTAssertEqual(removed - added, max(downCooldown, policy.cooldownSeconds), "\(downCooldown)")
        }
    }
}
