import RaftCore
import XCTest

final class TransferTests: XCTestCase {
    private func cluster(seed: UInt64) -> Cluster {
        Cluster(seed: seed, voters: [1, 2, 3]) { c in
            c.transferToHigherLevel = false
        }
    }

    func testTransferToCaughtUpVoterIsImmediate() throws {
        let c = cluster(seed: 11)
        c.elect(1)
        c.propose(1, "a")
        let term = c.status(1).term
        try c.raw(1).transferLeadership(to: 3)
        c.process(1)
        c.deliverAll()
        // No election timeout had to pass: TimeoutNow made 3 campaign at once.
        XCTAssertEqual(c.status(3).role, .leader)
        XCTAssertEqual(c.status(3).term, term + 1)
        XCTAssertEqual(c.status(1).role, .follower)
        XCTAssertEqual(c.status(1).leader, 3)
        c.propose(3, "b")
        XCTAssertEqual(c.appliedStrings(1), ["a", "b"])
        c.assertSafe()
    }

    /// The target lags: the leader first catches it up (refusing proposals meanwhile), then
    /// hands over.
    func testTransferToLaggingVoterCatchesItUpFirst() throws {
        let c = cluster(seed: 12)
        c.elect(1)
        c.isolate(3)
        for i in 0..<20 { c.propose(1, "e\(i)") }
        XCTAssertLessThan(c.status(3).lastIndex, c.status(1).lastIndex)
        try c.raw(1).transferLeadership(to: 3)
        c.process(1)
        XCTAssertEqual(c.status(1).transferee, 3)
        XCTAssertThrowsError(try c.raw(1).propose(Array("refused".utf8))) { error in
            XCTAssertEqual(error as? RaftError, .transferInProgress(to: 3))
        }
        XCTAssertEqual(c.status(1).role, .leader, "no timeoutNow before the target caught up")
        c.heal()
        c.run(upTo: 8) { c.status(3).role == .leader }
        XCTAssertEqual(c.status(3).role, .leader)
        XCTAssertEqual(c.appliedStrings(3).count, 20)
        c.assertSafe()
    }

    /// A transfer whose target never catches up is abandoned after the timeout; the leader
    /// keeps leading and accepts proposals again.
    func testTransferAbortsAfterTimeout() throws {
        let c = Cluster(seed: 13, voters: [1, 2, 3]) { cfg in
            cfg.transferToHigherLevel = false
            cfg.transferTimeoutTicks = 15
        }
        c.elect(1)
        c.crash(3)
        c.propose(1, "a")
        try c.raw(1).transferLeadership(to: 3)
        c.process(1)
        for _ in 0..<14 {
            c.tickAll()
            c.deliverAll()
        }
        XCTAssertEqual(c.status(1).transferee, 3)
        c.tickAll()
        c.deliverAll()
        XCTAssertNil(c.status(1).transferee)
        XCTAssertEqual(c.status(1).role, .leader)
        XCTAssertNotNil(c.propose(1, "accepted again"))
        c.assertSafe()
    }

    func testTransferTargetsMustBeElectableVoters() throws {
        let c = Cluster(
            seed: 14, voters: [1, 2, 3], learners: [4],
            attributes: [3: NodeAttributes(level: 1, priority: 0), 4: NodeAttributes(autoPromote: false)]
        ) { cfg in cfg.transferToHigherLevel = false }
        c.elect(1)
        XCTAssertThrowsError(try c.raw(1).transferLeadership(to: 4))  // learner
        XCTAssertThrowsError(try c.raw(1).transferLeadership(to: 3))  // priority 0
        XCTAssertThrowsError(try c.raw(1).transferLeadership(to: 9))  // stranger
        XCTAssertThrowsError(try c.raw(2).transferLeadership(to: 1)) { error in
            XCTAssertEqual(error as? RaftError, .notLeader(leader: 1))
        }
        XCTAssertNil(c.status(1).transferee)
        c.assertSafe()
    }
}
