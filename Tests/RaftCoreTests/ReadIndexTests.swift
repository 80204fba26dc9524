import RaftCore
import XCTest

final class ReadIndexTests: XCTestCase {
    func testReadIndexAtLeaderNeedsAHeartbeatQuorum() throws {
        let c = Cluster(seed: 31, voters: [1, 2, 3])
        c.elect(1)
        c.propose(1, "a")
        let commit = c.status(1).commit
        try c.raw(1).readIndex(context: [7])
        c.process(1)
        XCTAssertTrue(c.nodes[1]!.readStates.isEmpty, "not before the heartbeat round")
        c.deliverAll()
        XCTAssertEqual(c.nodes[1]!.readStates, [ReadState(index: commit, context: [7])])
        c.assertSafe()
    }

    func testReadIndexThroughFollower() throws {
        let c = Cluster(seed: 32, voters: [1, 2, 3])
        c.elect(1)
        c.propose(1, "a")
        try c.raw(3).readIndex(context: [1, 2, 3])
        c.process(3)
        c.deliverAll()
        XCTAssertEqual(c.nodes[3]!.readStates, [ReadState(index: c.status(1).commit, context: [1, 2, 3])])
        c.assertSafe()
    }

    /// A leader cut off from its followers cannot confirm leadership: no answer.
    func testPartitionedLeaderDoesNotAnswer() throws {
        let c = Cluster(seed: 33, voters: [1, 2, 3])
        c.elect(1)
        c.isolate(1)
        try c.raw(1).readIndex(context: [9])
        c.process(1)
        c.run(rounds: 5)
        XCTAssertTrue(c.nodes[1]!.readStates.isEmpty)
        c.assertSafe()
    }

    func testSingleVoterAnswersAtOnceAndFollowerWithoutLeaderRefuses() throws {
        let c = Cluster(seed: 34, voters: [1])
        c.elect(1)
        try c.raw(1).readIndex(context: [1])
        c.process(1)
        XCTAssertEqual(c.nodes[1]!.readStates.map(\.index), [c.status(1).commit])

        let d = Cluster(seed: 35, voters: [1, 2, 3])
        XCTAssertThrowsError(try d.raw(2).readIndex(context: [1])) { error in
            XCTAssertEqual(error as? RaftError, .notLeader(leader: nil))
        }
    }

    /// A new leader answers only after committing an entry of its own term, so its commit
    /// index covers everything committed before.
    func testNewLeaderWaitsForItsFirstCommit() throws {
        // No leases, so 2 can be elected right after 1 dies.
        let c = Cluster(seed: 36, voters: [1, 2, 3]) { cfg in cfg.checkQuorum = false }
        c.elect(1)
        c.propose(1, "a")
        c.crash(1)
        try c.raw(2).campaign()
        c.process(2)
        // Deliver the vote exchange only: 2 leads but its no-op is not committed yet.
        while c.status(2).role != .leader, !c.network.isEmpty {
            c.deliver(at: 0)
        }
        XCTAssertEqual(c.status(2).role, .leader)
        try c.raw(2).readIndex(context: [5])
        c.process(2)
        XCTAssertTrue(c.nodes[2]!.readStates.isEmpty)
        c.deliverAll()
        c.run(rounds: 2)
        let states = c.nodes[2]!.readStates
        XCTAssertEqual(states.count, 1)
        XCTAssertEqual(states.first?.index, c.status(2).commit)
        XCTAssertEqual(c.appliedStrings(2), ["a"])
        c.assertSafe()
    }

    func testLearnerCanReadThroughTheLeader() throws {
        let c = Cluster(seed: 37, voters: [1, 2, 3], learners: [4], attributes: [4: NodeAttributes(autoPromote: false)])
        c.elect(1)
        c.propose(1, "a")
        try c.raw(4).readIndex(context: [4])
        c.process(4)
        c.deliverAll()
        XCTAssertEqual(c.nodes[4]!.readStates.map(\.index), [c.status(1).commit])
        c.assertSafe()
    }
}
