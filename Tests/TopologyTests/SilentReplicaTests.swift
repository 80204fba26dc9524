import Topology
import XCTest

/// Which Load Managers catch up throttled (`ClusterMap.silentReplicas`): only nodes the
/// planner does not need, checked against the planner itself.
final class SilentReplicaTests: XCTestCase {
    /// After each join (the new node not caught up yet), the nodes called silent are ones the
    /// planner would leave as they are even if they were caught up: never promoted, never
    /// given another role.
    func testSilentNodesAreOnesThePlannerDoesNotNeed() {
        for maxVoters in [3, 5] {
            var policy = TopologyPolicy()
            policy.maxVoters = maxVoters
            policy.maxReplicas = min(2, maxVoters - 1)
            for stage in 2...8 {
                var sim = Simulator.stage(stage - 1, policy: policy)
                sim.join("n\(stage)")
                sim.converge(catchUp: false)
                let silent = sim.map.silentReplicas(maxVoters: maxVoters)
                var caught = sim
                caught.catchUp()
                let plan = Planner.plan(map: caught.map, observations: caught.observations, workload: Workload(), policy: policy)
                for id in silent {
                    XCTAssertFalse(plan.actions.contains(.promote(id)), "stage \(stage), max voters \(maxVoters): \(id) silent but promoted")
                    XCTAssertEqual(plan.map.node(id)?.roles, [.loadManager], "stage \(stage): \(id) silent but given a role")
                }
                switch stage {
                case 2: XCTAssertEqual(silent, ["n2"], "Mach II's Load Manager is a silent learner")
                case 3: XCTAssertEqual(silent, [], "Mach III's Load Manager is promoted to a voter")
                default: break
                }
                if stage > maxVoters + 1 { XCTAssertFalse(silent.isEmpty, "stage \(stage): learners past max voters catch up silently") }
            }
        }
    }

    func testALostVoterLiftsTheThrottleForEveryone() {
        var policy = TopologyPolicy()
        policy.maxVoters = 3
        policy.maxReplicas = 2
        var sim = Simulator.stage(5, policy: policy)
        XCTAssertFalse(sim.map.silentReplicas(maxVoters: 3).isEmpty)
        sim.fail("n2")
        sim.plan()
        XCTAssertEqual(sim.map.silentReplicas(maxVoters: 3), [])
    }

    func testABiggerNodeIsNeverSilent() {
        var sim = Simulator.stage(1)
        sim.join("n2", level: 4)
        sim.converge(catchUp: false)
        XCTAssertEqual(sim.map.silentReplicas(maxVoters: 5), [], "a bigger Writer to be catches up at full speed")
    }

    /// A member the map does not list yet enters as the primary Load Manager: silent in
    /// Mach II, needed (promoted next) from Mach III.
    func testJoiningMembersFollowTheSameRules() {
        let mach1 = Simulator.stage(1).map
        XCTAssertEqual(mach1.silentReplicas(maxVoters: 5, joining: ["n2": 2]), ["n2"])
        XCTAssertEqual(mach1.silentReplicas(maxVoters: 5, joining: ["n2": 5]), [], "a bigger node is needed")
        let mach2 = Simulator.stage(2).map
        XCTAssertEqual(mach2.silentReplicas(maxVoters: 5, joining: ["n3": 2]), ["n2"], "n3 will be promoted; n2 still silent until the map says otherwise")
        XCTAssertEqual(mach2.silentReplicas(maxVoters: 5, joining: ["n1": 2]), ["n2"], "a listed node is not joining")
    }
}
