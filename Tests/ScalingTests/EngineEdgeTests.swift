import Scaling
import XCTest

final class EngineEdgeTests: XCTestCase {
    /// The engine is a pure function: the same inputs give the same evaluation.
    func testSameInputsSameEvaluation() {
        var sim = Simulator(policy: .tiny, facts: .cluster(stage: 3, replicas: 1))
        sim.run(14, Load(latency: 4))
        let now = sim.now
        sim.run(1, Load(latency: 4))
        let before = sim.evaluations[13].evaluation.state
        let facts = ClusterFacts.cluster(stage: 3, replicas: 1)
        let first = ScalingPolicyEngine.evaluate(windows: sim.windows, now: now, facts: facts, state: before, policy: .tiny)
        let second = ScalingPolicyEngine.evaluate(windows: sim.windows, now: now, facts: facts, state: before, policy: .tiny)
        XCTAssertEqual(first, second)
        XCTAssertEqual(first, sim.last)
        XCTAssertEqual(first.proposals.map(\.kind), [.addNode])
    }

    /// If the caller's clock goes backwards, the cooldown counts as running and nothing is recommended.
    func testTimeGoingBackwardsRecommendsNothing() {
        var sim = Simulator(policy: .tiny, facts: .cluster(stage: 3, replicas: 1))
        sim.run(120, Load(latency: 4))
        XCTAssertEqual(sim.kinds, [.addNode, .addNode])
        let last = sim.state.lastRecommendation!
        for now in [last - 1, last - 100, 0] {
            let evaluation = ScalingPolicyEngine.evaluate(windows: sim.windows, now: now, facts: sim.facts, state: sim.state, policy: .tiny)
            XCTAssertEqual(evaluation.proposals, [], "now \(now)")
            XCTAssertFalse(evaluation.up, "now \(now)")
        }
    }

    /// After a recommendation the deciding windows restart, so a decision needs minimumRequests
    /// measured since.
    func testDecidingWindowsRestartAfterARecommendation() throws {
        var sim = Simulator(policy: .tiny, facts: .cluster(stage: 3, replicas: 1))
        sim.run(15, Load(latency: 4))
        let added = try XCTUnwrap(sim.proposals.first?.second)
        // Four seconds later: 80 requests measured since, too few to decide.
        while sim.now <= added + 4 { sim.run(1, Load(latency: 4)) }
        XCTAssertEqual(sim.last?.up, false)
        sim.run(1, Load(latency: 4))
        XCTAssertEqual(sim.last?.up, true)
        XCTAssertEqual(sim.state.upSince, added + 5)
    }
}
