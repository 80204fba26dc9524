import Scaling
import XCTest

final class OscillationTests: XCTestCase {
    /// Load alternating between slow (5 s) and fast (0.1 s) phases, deaf to added nodes, never
    /// makes the policy flap: recommendations are at least a cooldown apart, and a removal never
    /// follows a scale-up within the down cooldown. With 60 s phases the fast phase never holds
    /// a low mean for the sustain, so nothing is ever removed.
    func testOscillatingLoadDoesNotFlap() {
        let rows: [(slow: Int, fast: Int, removes: Bool)] = [
            (60, 60, false),
            (300, 300, true),
            (60, 240, true),
        ]
        for row in rows {
            let policy = ScalingPolicy.tiny
            var sim = Simulator(policy: policy, facts: .cluster(stage: 5, replicas: 3, maxReplicas: 100))
            sim.run(3_600) { moment in
                Load(latency: moment.t % (row.slow + row.fast) < row.slow ? 5 : 0.1)
            }
            let label = "slow \(row.slow) s / fast \(row.fast) s: \(sim.proposals.map { ($0.proposal.kind.rawValue, $0.second - sim.start) })"
            XCTAssertFalse(sim.proposals.isEmpty, label)
            for (earlier, later) in zip(sim.proposals, sim.proposals.dropFirst()) {
                XCTAssertGreaterThanOrEqual(Int(later.second - earlier.second), policy.cooldownSeconds, label)
                if earlier.proposal.kind.isScaleUp, later.proposal.kind == .removeNode {
                    XCTAssertGreaterThanOrEqual(Int(later.second - earlier.second), policy.downCooldownSeconds, label)
                }
            }
            XCTAssertLessThanOrEqual(sim.proposals.count, 3_600 / policy.cooldownSeconds + 1, label)
            XCTAssertEqual(!sim.times(.removeNode).isEmpty, row.removes, label)
            XCTAssertTrue(sim.facts.stage >= policy.minimumNodes, label)
        }
    }
}
