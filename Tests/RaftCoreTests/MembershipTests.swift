import RaftCore
import XCTest

final class MembershipTests: XCTestCase {
    /// A new node joins as a learner, catches up, and is promoted automatically.
    func testLearnerCatchesUpAndIsPromotedAutomatically() throws {
        let c = Cluster(seed: 21, voters: [1, 2, 3]) { cfg in cfg.promotionLag = 2 }
        c.elect(1)
        for i in 0..<10 { c.propose(1, "e\(i)") }
        try c.raw(1).proposeConfChange(.addLearner(4))
        c.addNode(4)
        c.process(1)
        c.deliverAll()
        XCTAssertTrue(c.status(1).confState.isVoter(4) || c.status(1).confState.isLearner(4))
        c.run(upTo: 20) { c.status(1).confState.isVoter(4) }
        XCTAssertTrue(c.status(1).confState.isVoter(4), "promoted")
        XCTAssertEqual(c.appliedStrings(4).count, 10)
        c.run(rounds: 3)
        XCTAssertTrue(c.status(4).appliedConfState.isVoter(4))
        XCTAssertEqual(c.status(1).confState.quorum, 3)
        c.assertSafe()
    }

    func testLearnerWithoutAutoPromotionStaysLearnerUntilPromoted() throws {
        let c = Cluster(seed: 22, voters: [1, 2, 3])
        c.elect(1)
        try c.raw(1).proposeConfChange(.addLearner(4, NodeAttributes(autoPromote: false)))
        c.addNode(4)
        c.process(1)
        c.run(rounds: 30)
        XCTAssertTrue(c.status(1).confState.isLearner(4))
        try c.raw(1).proposeConfChange(.promote(4))
        c.process(1)
        c.run(rounds: 3)
        XCTAssertTrue(c.status(4).confState.isVoter(4))
        c.assertSafe()
    }

    /// Learners never campaign, never vote in a leader's count, never count for commit.
    func testLearnersNeverCampaignOrCount() throws {
        let c = Cluster(
            seed: 23, voters: [1, 2, 3], learners: [4, 5],
            attributes: [4: NodeAttributes(autoPromote: false), 5: NodeAttributes(autoPromote: false)])
        c.elect(1)
        c.propose(1, "a")
        // With two voters down, the learners cannot make a quorum: nothing commits...
        c.crash(2)
        c.crash(3)
        let commit = c.status(1).commit
        _ = try? c.raw(1).propose(Array("stuck".utf8))
        c.process(1)
        c.run(rounds: 5)
        XCTAssertEqual(c.status(4).commit, commit)
        // ... and when the leader dies too, the learners never campaign.
        c.crash(1)
        c.run(rounds: 200)
        for id in [NodeID(4), 5] {
            XCTAssertEqual(c.status(id).role, .follower)
            XCTAssertEqual(c.nodes[id]!.lastHardState.vote, 0)
        }
        XCTAssertThrowsError(try c.raw(4).campaign()) { error in
            XCTAssertEqual(error as? RaftError, .notVoter)
        }
        c.assertSafe()
    }

    func testRemoveFollowerShrinksQuorum() throws {
        let c = Cluster(seed: 24, voters: [1, 2, 3])
        c.elect(1)
        try c.raw(1).proposeConfChange(.remove(3))
        c.process(1)
        c.deliverAll()
        c.run(rounds: 2)
        c.crash(3)
        XCTAssertEqual(c.status(1).confState.voters, [1, 2])
        c.propose(1, "two voters")
        XCTAssertEqual(c.appliedStrings(2), ["two voters"])
        c.assertSafe()
    }

    /// A leader that removes itself keeps leading until the removal commits, then steps
    /// down and hands over; the rest carry on.
    func testRemoveLeader() throws {
        let c = Cluster(seed: 25, voters: [1, 2, 3])
        c.elect(1)
        c.propose(1, "a")
        try c.raw(1).proposeConfChange(.remove(1))
        c.process(1)
        c.deliverAll()
        XCTAssertNotEqual(c.status(1).role, .leader)
        guard let leader = c.awaitLeader(rounds: 50), leader != 1 else { return XCTFail("no new leader") }
        XCTAssertEqual(c.status(leader).confState.voters, [2, 3])
        c.propose(leader, "b")
        c.run(rounds: 50)
        XCTAssertNotEqual(c.status(1).role, .leader)
        XCTAssertEqual(c.appliedStrings(leader), ["a", "b"])
        c.assertSafe()
    }

    func testOneConfChangeAtATime() throws {
        let c = Cluster(seed: 26, voters: [1, 2, 3])
        c.elect(1)
        c.isolate(2)
        c.isolate(3)
        try c.raw(1).proposeConfChange(.addLearner(4))
        c.process(1)
        XCTAssertThrowsError(try c.raw(1).proposeConfChange(.addLearner(5))) { error in
            guard case .confChangePending = error as? RaftError else { return XCTFail("\(error)") }
        }
        c.heal()
        c.deliverAll()
        c.run(rounds: 2)
        XCTAssertNoThrow(try c.raw(1).proposeConfChange(.addLearner(5)))
        XCTAssertThrowsError(try RawNode(config: Config(id: 9, randomSeed: 1), storage: MemoryLogStorage()).proposeConfChange(.addLearner(5)))
        c.assertSafe()
    }

    func testInvalidChangesAreRefused() {
        let c = Cluster(seed: 27, voters: [1, 2, 3])
        c.elect(1)
        let raw = c.raw(1)
        for change in [ConfChange.addVoter(2), .addLearner(3), .remove(7), .promote(2),
                       .addLearner(8, NodeAttributes(level: 9)), .addLearner(0)] {
            XCTAssertThrowsError(try raw.proposeConfChange(change), "\(change)") { error in
                guard case .invalidConfChange = error as? RaftError else { return XCTFail("\(error)") }
            }
        }
        let single = Cluster(seed: 28, voters: [1])
        single.elect(1)
        XCTAssertThrowsError(try single.raw(1).proposeConfChange(.remove(1)))
    }

    func testAddVoterDirectly() throws {
        let c = Cluster(seed: 29, voters: [1, 2, 3])
        c.elect(1)
        c.propose(1, "a")
        try c.raw(1).proposeConfChange(.addVoter(4, NodeAttributes(level: 2)))
        c.addNode(4)
        c.process(1)
        c.run(rounds: 5)
        XCTAssertEqual(c.status(4).confState.voters, [1, 2, 3, 4])
        XCTAssertEqual(c.status(4).confState.attributes(of: 4).level, 2)
        XCTAssertEqual(c.appliedStrings(4), ["a"])
        c.assertSafe()
    }

    /// A configuration takes effect when appended, and is undone if its entry is
    /// overwritten by a new leader.
    func testUncommittedConfChangeIsRolledBackWithTheLog() throws {
        let c = Cluster(seed: 30, voters: [1, 2, 3, 4, 5]) { cfg in cfg.transferToHigherLevel = false }
        c.elect(1)
        c.partition([1, 2], [3, 4, 5])
        try c.raw(1).proposeConfChange(.remove(5))
        c.process(1)
        c.deliverAll()
        XCTAssertEqual(c.status(2).confState.voters, [1, 2, 3, 4], "in force once in the log")
        XCTAssertEqual(c.status(2).appliedConfState.voters, [1, 2, 3, 4, 5], "not yet committed")
        c.crash(1)
        c.heal()
        guard let leader = c.awaitLeader(), leader != 2 else { return XCTFail("expected a leader from 3, 4, 5") }
        c.propose(leader, "overwrites")
        c.run(rounds: 3)
        XCTAssertEqual(c.status(2).confState.voters, [1, 2, 3, 4, 5], "rolled back")
        XCTAssertEqual(c.appliedStrings(2), ["overwrites"])
        c.assertSafe()
    }
}
