import RaftCore
import XCTest

final class SnapshotTests: XCTestCase {
    private func snapshotAndCompact(_ c: Cluster, _ id: NodeID) throws {
        let node = c.nodes[id]!
        try node.storage.createSnapshot(
            index: node.applied, confState: c.raw(id).confState,
            data: SimSnapshotData(index: node.applied, hash: node.stateHash).bytes)
        try node.storage.compact(upTo: node.applied)
    }

    /// A follower that missed compacted entries receives InstallSnapshot, then the rest.
    func testLaggingFollowerGetsSnapshotAfterCompaction() throws {
        let c = Cluster(seed: 41, voters: [1, 2, 3])
        c.elect(1)
        c.crash(3)
        for i in 0..<30 { c.propose(1, "e\(i)") }
        try snapshotAndCompact(c, 1)
        c.propose(1, "after snapshot")
        XCTAssertGreaterThan(try c.nodes[1]!.storage.firstIndex(), 2)
        c.restart(3)
        c.run(rounds: 5)
        XCTAssertEqual(c.nodes[3]!.stateHash, c.nodes[1]!.stateHash)
        XCTAssertEqual(c.nodes[3]!.applied, c.nodes[1]!.applied)
        let snap = try c.nodes[3]!.storage.snapshot()
        XCTAssertGreaterThan(snap.metadata.index, 30)
        XCTAssertEqual(snap.metadata.confState.voters, [1, 2, 3])
        XCTAssertEqual(c.appliedStrings(3), ["after snapshot"], "entries before the snapshot came inside it")
        c.assertSafe()
    }

    /// A brand-new learner joins a group whose log was compacted.
    func testNewMemberJoinsThroughSnapshot() throws {
        let c = Cluster(seed: 42, voters: [1, 2, 3]) { cfg in cfg.promotionLag = 0 }
        c.elect(1)
        for i in 0..<10 { c.propose(1, "e\(i)") }
        c.run(rounds: 2)
        for id in [NodeID(1), 2, 3] { try snapshotAndCompact(c, id) }
        try c.raw(1).proposeConfChange(.addLearner(4))
        c.addNode(4)
        c.process(1)
        c.run(upTo: 30) { c.status(1).confState.isVoter(4) && c.nodes[4]!.applied == c.nodes[1]!.applied }
        XCTAssertEqual(c.nodes[4]!.stateHash, c.nodes[1]!.stateHash)
        XCTAssertTrue(c.status(1).confState.isVoter(4))
        // The learner restored the configuration from the snapshot plus the later change.
        XCTAssertEqual(c.status(4).confState.voters, [1, 2, 3, 4])
        c.assertSafe()
    }

    /// A failed snapshot transfer is retried.
    func testFailedSnapshotIsRetried() throws {
        let c = Cluster(seed: 43, voters: [1, 2, 3])
        c.elect(1)
        c.crash(3)
        for i in 0..<5 { c.propose(1, "e\(i)") }
        try snapshotAndCompact(c, 1)
        c.restart(3)
        c.cut.insert(Cluster.Link(from: 1, to: 3))
        c.run(rounds: 3)
        XCTAssertLessThan(c.nodes[3]!.applied, c.nodes[1]!.applied)
        c.heal()
        c.run(rounds: 10)
        XCTAssertEqual(c.nodes[3]!.applied, c.nodes[1]!.applied)
        c.assertSafe()
    }

    /// An application that restarts from its latest snapshot (`Config.applied` at the
    /// snapshot) gets every later committed entry again, configuration changes included.
    func testRestartFromSnapshotRedeliversLaterEntries() throws {
        let c = Cluster(seed: 44, voters: [1, 2, 3])
        c.elect(1)
        for i in 0..<5 { c.propose(1, "a\(i)") }
        c.run(rounds: 2)
        try snapshotAndCompact(c, 2)
        try c.raw(1).proposeConfChange(.addLearner(4, NodeAttributes(autoPromote: false)))
        c.addNode(4)
        c.process(1)
        for i in 0..<3 { c.propose(1, "b\(i)") }
        c.run(rounds: 2)
        let before = c.nodes[2]!.stateHash
        c.crash(2)
        c.nodes[2]!.appliedData = []
        c.restart(2, fromSnapshot: true)
        XCTAssertEqual(c.nodes[2]!.stateHash, before)
        XCTAssertEqual(c.appliedStrings(2), ["b0", "b1", "b2"])
        XCTAssertTrue(c.status(2).appliedConfState.isLearner(4))
        c.assertSafe()
    }
}
