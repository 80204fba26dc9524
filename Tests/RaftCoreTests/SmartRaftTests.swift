import RaftCore
import XCTest

final class SmartRaftTests: XCTestCase {
    private let levels: [NodeID: NodeAttributes] = [
        1: NodeAttributes(level: 1), 2: NodeAttributes(level: 3), 3: NodeAttributes(level: 5),
    ]

    func testElectionTimeoutsAreStaggeredByLevel() {
        let c = Cluster(seed: 51, voters: [1, 2, 3, 4], attributes: levels.merging([4: NodeAttributes(level: 5, priority: 0)]) { a, _ in a })
        c.run(rounds: 1)  // every node has applied the bootstrap configuration
        for _ in 0..<20 {
            for node in c.upNodes { node.raw!.tick() }
            XCTAssertTrue((10..<20).contains(c.status(3).electionTimeout))  // level 5
            XCTAssertTrue((15..<25).contains(c.status(2).electionTimeout))  // level 3
            XCTAssertTrue((20..<30).contains(c.status(1).electionTimeout))  // level 1
            XCTAssertTrue((40..<50).contains(c.status(4).electionTimeout))  // priority 0
            c.processAll()
            c.network.removeAll()
        }
    }

    func testHighestLevelVoterEndsUpLeading() {
        let c = Cluster(seed: 52, voters: [1, 2, 3], attributes: levels)
        c.run(upTo: 200) { c.leader == 3 }
        XCTAssertEqual(c.leader, 3)
        // Whoever else gets to lead hands over to the highest level.
        XCTAssertNoThrow(try c.raw(3).transferLeadership(to: 1))
        c.process(3)
        c.deliverAll()
        XCTAssertEqual(c.leader, 1)
        c.propose(1, "a")
        c.run(upTo: 50) { c.leader == 3 }
        XCTAssertEqual(c.leader, 3)
        XCTAssertEqual(c.appliedStrings(3), ["a"])
        // The best one left leads while 3 is down; 3 takes over again once back.
        c.crash(3)
        c.run(upTo: 200) { c.leader == 2 }
        XCTAssertEqual(c.leader, 2)
        c.propose(2, "b")
        c.restart(3)
        c.run(upTo: 100) { c.leader == 3 }
        XCTAssertEqual(c.leader, 3)
        XCTAssertEqual(c.appliedStrings(3), ["a", "b"])
        c.assertSafe()
    }

    func testHandOffCanBeTurnedOff() {
        let c = Cluster(seed: 53, voters: [1, 2, 3], attributes: levels) { cfg in cfg.transferToHigherLevel = false }
        c.elect(1)
        c.run(rounds: 100)
        XCTAssertEqual(c.leader, 1)
        c.assertSafe()
    }

    /// A priority-0 voter (an LM's silent replica) never leads while another voter can.
    func testPriorityZeroNeverLeadsWhileAnotherVoterCan() {
        let c = Cluster(seed: 54, voters: [1, 2, 3], attributes: [3: NodeAttributes(level: 5, priority: 0)])
        for round in 0..<8 {
            guard let leader = c.awaitLeader() else { return XCTFail("no leader in round \(round)") }
            XCTAssertNotEqual(leader, 3)
            c.propose(leader, "r\(round)")
            c.crash(leader)
            c.run(rounds: 5)
            c.restart(leader)
        }
        XCTAssertFalse(c.checker.leaderOfTerm.values.contains(3), "3 led some term")
        c.assertSafe()
    }

    /// When the only voters left with a quorum have priority 0, one of them leads — after
    /// the long timeout — and hands leadership back once a normal voter returns.
    func testPriorityZeroLeadsWhenNoOtherVoterIsAlive() {
        let zero = NodeAttributes(level: 1, priority: 0)
        let c = Cluster(seed: 55, voters: [1, 2, 3], attributes: [2: zero, 3: zero]) { cfg in
            cfg.transferToHigherLevel = false  // a priority-0 leader hands off regardless
        }
        guard c.awaitLeader() == 1 else { return XCTFail("1 should lead") }
        c.propose(1, "a")
        c.crash(1)
        var ticks = 0
        while c.leader == nil && ticks < 200 {
            c.tickAll()
            c.deliverAll()
            ticks += 1
        }
        guard let stand_in = c.leader else { return XCTFail("no leader") }
        XCTAssertTrue([2, 3].contains(stand_in))
        XCTAssertGreaterThanOrEqual(ticks, 40, "priority 0 waits at least 4 election timeouts")
        c.propose(stand_in, "b")
        c.restart(1)
        c.run(upTo: 100) { c.leader == 1 }
        XCTAssertEqual(c.leader, 1)
        XCTAssertEqual(c.appliedStrings(1), ["a", "b"])
        c.assertSafe()
    }

    /// Even forced into leadership, a priority-0 voter hands it to a caught-up normal voter.
    func testForcedPriorityZeroLeaderHandsOff() {
        let c = Cluster(seed: 56, voters: [1, 2, 3], attributes: [3: NodeAttributes(priority: 0)]) { cfg in
            cfg.transferToHigherLevel = false
        }
        c.elect(3)
        c.run(upTo: 30) { c.leader != nil && c.leader != 3 }
        XCTAssertNotEqual(c.leader, 3)
        XCTAssertNotNil(c.leader)
        c.assertSafe()
    }

    /// Levels are replicated configuration: changing one moves leadership.
    func testLevelChangeThroughConfiguration() throws {
        let c = Cluster(seed: 57, voters: [1, 2, 3])
        c.elect(1)
        try c.raw(1).proposeConfChange(.updateAttributes(2, NodeAttributes(level: 4)))
        c.process(1)
        c.run(upTo: 60) { c.leader == 2 }
        XCTAssertEqual(c.leader, 2)
        XCTAssertEqual(c.status(3).confState.attributes(of: 2).level, 4)
        c.assertSafe()
    }
}
