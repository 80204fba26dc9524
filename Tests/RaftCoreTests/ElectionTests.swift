import RaftCore
import XCTest

final class ElectionTests: XCTestCase {
    func testSingleNodeElectsItselfAndCommits() throws {
        let c = Cluster(seed: 1, voters: [1])
        XCTAssertEqual(c.awaitLeader(), 1)
        let p = try XCTUnwrap(c.propose(1, "a"))
        XCTAssertEqual(c.status(1).commit, p.index)
        XCTAssertEqual(c.appliedStrings(1), ["a"])
        c.assertSafe()
    }

    func testThreeNodesElectOneLeaderAndReplicate() {
        let c = Cluster(seed: 2, voters: [1, 2, 3])
        guard let leader = c.awaitLeader() else { return XCTFail("no leader") }
        XCTAssertEqual(c.upNodes.filter { $0.raw!.status.role == .leader }.count, 1)
        for i in 0..<5 { c.propose(leader, "v\(i)") }
        c.run(rounds: 3)
        for id in [NodeID(1), 2, 3] {
            XCTAssertEqual(c.appliedStrings(id), ["v0", "v1", "v2", "v3", "v4"], "node \(id)")
            XCTAssertEqual(c.status(id).leader, leader)
        }
        c.assertSafe()
    }

    func testLeaderCrashElectsAnotherThatKeepsCommittedEntries() {
        let c = Cluster(seed: 3, voters: [1, 2, 3])
        c.elect(1)
        c.propose(1, "before")
        c.crash(1)
        guard let next = c.awaitLeader(), next != 1 else { return XCTFail("no new leader") }
        c.propose(next, "after")
        c.restart(1)
        c.run(rounds: 5)
        for id in [NodeID(1), 2, 3] { XCTAssertEqual(c.appliedStrings(id), ["before", "after"], "node \(id)") }
        c.assertSafe()
    }

    func testRestartKeepsTermVoteAndCommit() {
        let c = Cluster(seed: 4, voters: [1, 2, 3])
        c.elect(2)
        c.propose(2, "x")
        c.run(rounds: 2)
        let before = c.status(3).hardState
        c.crash(3)
        c.restart(3)
        let after = c.status(3)
        XCTAssertEqual(after.term, before.term)
        XCTAssertEqual(after.hardState.vote, before.vote)
        XCTAssertGreaterThanOrEqual(after.commit, before.commit)
        c.assertSafe()
    }

    /// PreVote: a node cut off from the group campaigns in vain without bumping its term,
    /// and rejoining does not unseat the leader.
    func testPreVoteStopsRejoiningNodeFromDisrupting() {
        let c = Cluster(seed: 5, voters: [1, 2, 3])
        c.elect(1)
        c.propose(1, "a")
        let term = c.status(1).term
        c.isolate(3)
        c.run(rounds: 100)
        XCTAssertEqual(c.status(3).term, term, "pre-votes must not bump the term")
        XCTAssertNotEqual(c.status(3).role, .leader)
        c.heal()
        c.run(rounds: 20)
        XCTAssertEqual(c.status(1).role, .leader)
        XCTAssertEqual(c.status(1).term, term)
        XCTAssertEqual(c.status(3).leader, 1)
        c.propose(1, "b")
        XCTAssertEqual(c.appliedStrings(3), ["a", "b"])
        c.assertSafe()
    }

    /// The contrast: without PreVote and CheckQuorum, the same partition inflates the
    /// isolated node's term and its return forces a new election.
    func testWithoutPreVoteRejoiningNodeDisrupts() {
        let c = Cluster(seed: 6, voters: [1, 2, 3]) { cfg in
            cfg.preVote = false
            cfg.checkQuorum = false
        }
        c.elect(1)
        let term = c.status(1).term
        c.isolate(3)
        c.run(rounds: 100)
        XCTAssertGreaterThan(c.status(3).term, term + 2)
        c.heal()
        c.run(rounds: 30)
        XCTAssertGreaterThan(c.status(1).term, term, "the leader was unseated by the higher term")
        c.assertSafe()
    }

    /// CheckQuorum: a leader that hears from no quorum steps down within an election timeout.
    func testCheckQuorumLeaderStepsDownWhenIsolated() {
        let c = Cluster(seed: 7, voters: [1, 2, 3])
        c.elect(1)
        c.isolate(1)
        for _ in 0..<25 { c.tickAll() }
        XCTAssertEqual(c.status(1).role, .follower)
        c.deliverAll()
        c.run(rounds: 40)
        let leader = c.leader
        XCTAssertNotNil(leader)
        XCTAssertNotEqual(leader, 1)
        c.assertSafe()
    }

    /// The lease: a follower that hears from its leader ignores a vote request of a higher
    /// term (here forged as if from a node that just had a timeout).
    func testLeaseIgnoresVoteRequestsWhileLeaderIsAlive() throws {
        let c = Cluster(seed: 8, voters: [1, 2, 3])
        c.elect(1)
        let term = c.status(2).term
        let lastIndex = c.status(2).lastIndex
        try c.raw(2).step(Message(
            kind: .vote, from: 3, to: 2, term: term + 1, logTerm: term, index: lastIndex + 10))
        c.process(2)
        XCTAssertEqual(c.status(2).term, term)
        XCTAssertEqual(c.status(2).leader, 1)
        c.assertSafe()
    }

    func testStaleLogCannotWin() {
        let c = Cluster(seed: 9, voters: [1, 2, 3])
        c.elect(1)
        c.crash(3)
        c.propose(1, "only on 1 and 2")
        c.crash(1)
        c.restart(3)
        // 3 lacks a committed entry: only 2 can win.
        guard let leader = c.awaitLeader() else { return XCTFail("no leader") }
        XCTAssertEqual(leader, 2)
        c.assertSafe()
    }

    func testRandomizedTimeoutsComeFromTheSeed() throws {
        func timeouts(seed: UInt64) throws -> [Int] {
            var out: [Int] = []
            var config = Config(id: 1, randomSeed: seed)
            config.electionTick = 10
            let storage = MemoryLogStorage(bootstrap: ConfState(voters: [1, 2, 3]))
            let node = try RawNode(config: config, storage: storage)
            for _ in 0..<20 {
                out.append(node.status.electionTimeout)
                for _ in 0..<40 { node.tick() }
                _ = node.ready()
                node.advance(Ready())
            }
            return out
        }
        XCTAssertEqual(try timeouts(seed: 42), try timeouts(seed: 42))
        XCTAssertNotEqual(try timeouts(seed: 42), try timeouts(seed: 43))
        XCTAssertTrue(try timeouts(seed: 42).allSatisfy { (10..<20).contains($0) })
    }

    func testConfigValidation() {
        var c = Config(id: 1, randomSeed: 0)
        XCTAssertNoThrow(try c.validate())
        c.id = 0
        XCTAssertThrowsError(try c.validate())
        c = Config(id: 1, randomSeed: 0)
        c.heartbeatTick = 10
        XCTAssertThrowsError(try c.validate())
        c = Config(id: 1, randomSeed: 0)
        c.maxInflightMsgs = 0
        XCTAssertThrowsError(try c.validate())
        c = Config(id: 1, randomSeed: 0)
        c.priorityZeroTimeoutMultiplier = 2
        XCTAssertThrowsError(try c.validate())
        c = Config(id: 1, randomSeed: 0)
        c.applied = 5
        XCTAssertThrowsError(try RawNode(config: c, storage: MemoryLogStorage()))
    }
}
