import Topology
import XCTest

/// Corners of the planning rules that the stage tables do not reach.
final class PlannerEdgeTests: XCTestCase {
    func observation(
        _ id: String, level: Int = 2, alive: Bool = true, down: UInt64 = 0, membership: Membership = .voter,
        priority: Int = 1, caughtUp: Bool = true, leader: Bool = false, leaving: Bool = false
    ) -> Observation {
        Observation(
            id: id, url: "http://\(id)", level: level, alive: alive, downForMilliseconds: down, membership: membership,
            priority: priority, caughtUp: caughtUp, isLeader: leader, leaving: leaving)
    }

    /// A leader that has no map yet builds one from the observations, shard 1 included.
    func testEmptyMapIsBuiltFromObservations() {
        let observations = [
            observation("a", leader: true), observation("b"), observation("c", membership: .learner, priority: 0),
        ]
        let plan = planChecked(.empty, observations)
        XCTAssertEqual(plan.map.version, 1)
        XCTAssertEqual(plan.map.nodes.map(\.id), ["a", "b", "c"])
        XCTAssertEqual(plan.map.nodes.map(\.joinOrder), [1, 2, 3])
        XCTAssertEqual(plan.map.nextJoinOrder, 4)
        XCTAssertEqual(plan.map.shards, [ShardEntry(id: 1, firstBucket: 1, lastBucket: 1000, writer: "a",
                                                    voters: ["a", "b"], learners: ["c"])])
        XCTAssertEqual(plan.map.node("b")?.roles, [.replica])
        XCTAssertEqual(plan.map.node("c")?.roles, [.loadManager])
        XCTAssertEqual(plan.actions, [.promote("c")])
    }

    func testDuplicateObservationsFirstWins() {
        let observations = [observation("a", leader: true), observation("b", level: 3), observation("b", level: 5)]
        let plan = planChecked(.initial(founder: "a", url: "http://a", level: 2), observations)
        XCTAssertEqual(plan.map.nodes.count, 2)
        XCTAssertEqual(plan.map.node("b")?.level, 3)
    }

    func testUrlAndLevelFollowTheObservation() {
        let map = ClusterMap.initial(founder: "a", url: "http://old", level: 2)
        let plan = planChecked(map, [observation("a", level: 9, leader: true)])
        XCTAssertEqual(plan.map.node("a")?.url, "http://a")
        XCTAssertEqual(plan.map.node("a")?.level, 5)
        XCTAssertEqual(plan.map.version, 2)
    }

    /// Without an observed leader the previous writer stays while it is not failed.
    func testWriterKeptWithoutObservedLeader() {
        var sim = Simulator.stage(3)
        var observations = sim.observations.map { var o = $0; o.isLeader = false; return o }
        var plan = planChecked(sim.map, observations)
        XCTAssertEqual(plan.map.shards[0].writer, "n1")
        XCTAssertEqual(plan.map.version, sim.map.version)
        XCTAssertFalse(plan.actions.contains { if case .transferLeadership = $0 { true } else { false } })
        observations[0].alive = false
        plan = planChecked(sim.map, observations)
        XCTAssertNil(plan.map.shards[0].writer)
        XCTAssertEqual(plan.map.nodes(with: .writer), [])
        sim.map = plan.map
    }

    /// Recommendations are bounded; the oldest are dropped and seq keeps counting.
    func testRecommendationHistoryIsBounded() {
        var policy = TopologyPolicy()
        policy.recommendationHistory = 3
        policy.removeAfterMilliseconds = 1_000_000
        var sim = Simulator.stage(5, policy: policy)
        for round in 0..<4 {
            sim.fail("n2")
            sim.converge()
            sim.recover("n2")
            sim.converge()
            XCTAssertEqual(sim.recommendations(.replaceNode).count, min(round + 1, 3))
        }
        XCTAssertEqual(sim.map.recommendations.map(\.seq), [2, 3, 4])
        XCTAssertEqual(sim.map.nextRecommendationSeq, 5)
    }

    /// split_shard once per node entering at or beyond 2 + max_replicas active nodes.
    func testSplitRecommendationPerEnteringNode() {
        var policy = TopologyPolicy()
        policy.maxVoters = 3
        policy.maxReplicas = 1
        var sim = Simulator.stage(3, policy: policy)
        XCTAssertTrue(sim.recommendations(.splitShard).isEmpty)
        sim.join("n4")
        sim.converge()
        let split = sim.recommendations(.splitShard)
        XCTAssertEqual(split.map(\.target), ["shard 1"])
        XCTAssertEqual(split.first?.reason, "shard 1 has max_replicas=1 Read Replicas; split it to scale further")
        XCTAssertEqual(split.first?.stage, 4)
        XCTAssertEqual(sim.roles("n3"), [.loadManager], "a secondary LM once the replica slot is full")
        XCTAssertEqual(sim.readReplicas, ["n2"])
        XCTAssertEqual(sim.map.shards[0].voters, ["n1", "n2", "n3"])
    }

    /// A node that enters already failed records no replace_node.
    func testNodeEnteringFailedRecordsNothing() {
        let map = ClusterMap.initial(founder: "a", url: "http://a", level: 2)
        let plan = planChecked(map, [observation("a", leader: true),
                                     observation("b", alive: false, down: 5, membership: .learner, priority: 0)])
        XCTAssertEqual(plan.map.node("b")?.state, .failed)
        XCTAssertEqual(plan.map.recommendations, [])
        XCTAssertEqual(plan.map.node("a")?.roles, [.writer, .replica, .loadManager])
    }

    /// A lagging voter is no Read Replica; the writer serves reads meanwhile.
    func testLaggingVoterIsNoReadReplica() {
        var sim = Simulator.stage(3)
        sim.members[sim.index("n2")!].caughtUp = false
        let plan = sim.plan()
        XCTAssertEqual(plan.map.node("n2")?.roles, [])
        XCTAssertEqual(plan.map.node("n1")?.roles, [.writer, .replica])
        XCTAssertEqual(plan.actions, [])
    }
}
