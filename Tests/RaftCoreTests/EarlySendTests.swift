import RaftCore
import XCTest

/// Which messages may leave before their `Ready` is persisted (`Ready.earlyMessages`): a
/// leader's appends only, and only when they reveal nothing that `Ready` makes durable.
final class EarlySendTests: XCTestCase {
    /// Every `Ready` the cluster processes from now on, with the node's stored last index
    /// just before it persisted that `Ready`.
    private final class Recorder {
        struct Seen {
            var node: NodeID
            var ready: Ready
            var storedLastIndex: UInt64
        }

        var seen: [Seen] = []

        init(_ cluster: Cluster) {
            cluster.beforePersist = { [unowned self] node, ready in
                self.seen.append(Seen(node: node.id, ready: ready, storedLastIndex: (try? node.storage.lastIndex()) ?? 0))
                return false
            }
        }

        func readys(of id: NodeID) -> [Ready] { seen.filter { $0.node == id }.map(\.ready) }
    }

    private func kinds(_ messages: [Message]) -> Set<Message.Kind> { Set(messages.map(\.kind)) }

    func testLeaderSendsItsAppendsEarly() throws {
        let c = Cluster(seed: 61, voters: [1, 2, 3])
        c.elect(1)
        let recorder = Recorder(c)
        let p = try c.raw(1).propose(Array("x".utf8))
        c.process(1)

        let rd = try XCTUnwrap(recorder.readys(of: 1).first)
        XCTAssertEqual(rd.entries.map(\.index), [p.index])
        XCTAssertEqual(rd.earlyMessages.map(\.to).sorted(), [2, 3])
        for m in rd.earlyMessages {
            XCTAssertEqual(m.kind, .append)
            XCTAssertEqual(m.entries.map(\.index), [p.index])
            XCTAssertLessThan(m.commit, p.index, "nothing unpersisted is revealed as committed")
        }
        XCTAssertFalse(rd.messages.contains { $0.kind == .append }, "no append waits for the leader's fsync")

        c.deliverAll()
        XCTAssertEqual(c.appliedStrings(1), ["x"])
        // The appends telling followers the new commit index cover only persisted entries:
        // they leave early too.
        let commitNews = recorder.readys(of: 1).dropFirst().flatMap(\.earlyMessages)
        XCTAssertTrue(commitNews.contains { $0.kind == .append && $0.commit == p.index })
        c.run(rounds: 2)
        for id in [NodeID(2), 3] { XCTAssertEqual(c.appliedStrings(id), ["x"], "node \(id)") }
        c.assertSafe()
    }

    func testFollowerAcknowledgementsWaitForPersist() throws {
        let c = Cluster(seed: 62, voters: [1, 2, 3])
        c.elect(1)
        let recorder = Recorder(c)
        c.propose(1, "x")
        for id in [NodeID(2), 3] {
            let readys = recorder.readys(of: id)
            XCTAssertFalse(readys.isEmpty, "node \(id) saw the append")
            XCTAssertTrue(readys.allSatisfy(\.earlyMessages.isEmpty), "node \(id) sent something early")
            XCTAssertTrue(readys.flatMap(\.messages).contains { $0.kind == .appendResponse && !$0.reject })
        }
        c.assertSafe()
    }

    /// A candidate persists its term and its vote for itself before asking anyone; voters
    /// persist theirs before answering. Pre-votes (which persist nothing) wait as well.
    func testElectionMessagesWaitForPersist() throws {
        for preVote in [false, true] {
            let c = Cluster(seed: 63, voters: [1, 2, 3]) { cfg in
                cfg.preVote = preVote
                cfg.checkQuorum = false  // no leader lease: node 3 answers at once
            }
            c.elect(1)
            let recorder = Recorder(c)
            c.crash(1)
            try c.raw(2).campaign()
            c.process(2)
            let request = try XCTUnwrap(recorder.readys(of: 2).first)
            let asked: Message.Kind = preVote ? .preVote : .vote
            XCTAssertEqual(request.earlyMessages, [], "preVote \(preVote)")
            XCTAssertEqual(kinds(request.messages), [asked], "preVote \(preVote)")
            if !preVote {
                XCTAssertEqual(request.hardState?.vote, 2)
                XCTAssertTrue(request.mustSync)
            }
            c.deliverAll()
            XCTAssertEqual(c.status(2).role, .leader, "preVote \(preVote)")
            let answers = recorder.readys(of: 3).flatMap(\.messages).map(\.kind)
            XCTAssertTrue(answers.contains(.voteResponse), "preVote \(preVote)")
            XCTAssertTrue(recorder.readys(of: 3).allSatisfy(\.earlyMessages.isEmpty), "preVote \(preVote)")
            // The new leader's first appends go early: its term and vote are durable by now.
            let won = try XCTUnwrap(recorder.readys(of: 2).first { $0.softState?.role == .leader })
            XCTAssertTrue(won.earlyMessages.contains { $0.kind == .append && $0.to == 3 }, "preVote \(preVote)")
            c.assertSafe()
        }
    }

    /// Heartbeats and snapshots stay in `messages` (no gain in sending them early; the
    /// runtime reports a snapshot after sending `messages`).
    func testHeartbeatsAndSnapshotsWaitForPersist() throws {
        let c = Cluster(seed: 64, voters: [1, 2, 3])
        c.elect(1)
        c.crash(3)
        for i in 0..<10 { c.propose(1, "e\(i)") }
        let node = try XCTUnwrap(c.nodes[1])
        try node.storage.createSnapshot(
            index: node.applied, confState: c.raw(1).confState,
            data: SimSnapshotData(index: node.applied, hash: node.stateHash).bytes)
        try node.storage.compact(upTo: node.applied)
        let recorder = Recorder(c)
        c.restart(3)
        c.run(upTo: 20) { c.nodes[3]!.applied == node.applied }
        XCTAssertEqual(c.nodes[3]!.applied, node.applied)
        let leaderReadys = recorder.readys(of: 1)
        XCTAssertTrue(leaderReadys.flatMap(\.messages).contains { $0.kind == .snapshot })
        XCTAssertTrue(leaderReadys.flatMap(\.messages).contains { $0.kind == .heartbeat })
        XCTAssertEqual(kinds(leaderReadys.flatMap(\.earlyMessages)).subtracting([.append]), [])
        c.assertSafe()
    }

    /// A single voter becomes candidate and leader in one `Ready` and commits each entry as
    /// it appends it: its appends to a learner wait until its term, and the commit index
    /// they carry, are durable.
    func testSingleVoterAppendsWaitForItsTermAndCommit() throws {
        let c = Cluster(seed: 65, voters: [1], learners: [2]) { $0.promotionLag = 1_000 }
        let recorder = Recorder(c)
        try c.raw(1).campaign()
        c.process(1)
        let won = try XCTUnwrap(recorder.readys(of: 1).first)
        XCTAssertEqual(won.softState?.role, .leader)
        XCTAssertNotNil(won.hardState)
        XCTAssertEqual(won.earlyMessages, [], "neither its term nor its committed noop is durable yet")
        XCTAssertTrue(won.messages.contains { $0.kind == .append && $0.to == 2 })
        c.deliverAll()

        for i in 0..<5 {
            let p = try c.raw(1).propose(Array("v\(i)".utf8))
            c.process(1)
            c.deliverAll()
            XCTAssertEqual(c.status(1).commit, p.index)
        }
        XCTAssertGreaterThan(recorder.seen.count, 5)
        for seen in recorder.seen where seen.node == 1 {
            for m in seen.ready.earlyMessages {
                XCTAssertLessThanOrEqual(m.commit, seen.storedLastIndex, "commit \(m.commit) revealed before it was persisted")
            }
            if let last = seen.ready.entries.last {
                XCTAssertFalse(seen.ready.earlyMessages.contains { $0.commit >= last.index })
            }
        }
        XCTAssertEqual(c.appliedStrings(2), (0..<5).map { "v\($0)" })
        c.assertSafe()
    }

    /// The leader's appends reach the followers, then it dies before persisting them: a new
    /// leader that holds them commits them, and the old leader catches up after restarting.
    func testLeaderCrashAfterEarlySendKeepsEntriesFollowersHold() throws {
        let c = Cluster(seed: 66, voters: [1, 2, 3])
        let p = try crashLeaderAfterEarlySend(c)
        XCTAssertEqual(c.crashesBeforePersist, 1)
        XCTAssertLessThan(try c.nodes[1]!.storage.lastIndex(), p.index, "the leader never persisted b")
        c.deliverAll()
        for id in [NodeID(2), 3] {
            XCTAssertEqual(try c.nodes[id]!.storage.term(at: p.index), p.term, "node \(id) holds b")
            XCTAssertLessThan(c.status(id).commit, p.index, "b is not committed yet")
        }
        c.beforePersist = nil
        guard let next = c.awaitLeader(), next != 1 else { return XCTFail("no new leader") }
        c.restart(1)
        c.run(rounds: 5)
        for id in [NodeID(1), 2, 3] { XCTAssertEqual(c.appliedStrings(id), ["a", "b"], "node \(id)") }
        c.assertSafe()
    }

    /// Same crash, but only one follower got the append: the entry the leader lost is not
    /// committed, and a leader elected without it overwrites it.
    func testLeaderCrashAfterEarlySendLosesUncommittedEntry() throws {
        let c = Cluster(seed: 67, voters: [1, 2, 3]) { $0.preVote = false }
        let p = try crashLeaderAfterEarlySend(c)
        let toThree = try XCTUnwrap(c.network.firstIndex { $0.message.to == 3 && $0.message.kind == .append })
        c.drop(at: toThree)
        c.deliverAll()
        XCTAssertEqual(try c.nodes[2]!.storage.term(at: p.index), p.term)
        XCTAssertLessThan(try c.nodes[3]!.storage.lastIndex(), p.index)
        c.beforePersist = nil
        // Node 1 restarts without b and votes for 3; 2 (which holds b) refuses.
        c.restart(1)
        c.elect(3)
        c.propose(3, "c")
        c.run(rounds: 3)
        for id in [NodeID(1), 2, 3] { XCTAssertEqual(c.appliedStrings(id), ["a", "c"], "node \(id)") }
        c.assertSafe()
    }

    /// Node 1 leads and commits "a", then sends its append of "b" early and crashes before
    /// persisting it; returns where "b" landed.
    private func crashLeaderAfterEarlySend(_ c: Cluster) throws -> LogPosition {
        c.elect(1)
        c.propose(1, "a")
        crashAtNextEarlySend(c, of: 1)
        let p = try c.raw(1).propose(Array("b".utf8))
        c.process(1)
        XCTAssertFalse(c.nodes[1]!.isUp)
        return p
    }

    private func crashAtNextEarlySend(_ c: Cluster, of id: NodeID) {
        var armed = true
        c.beforePersist = { node, ready in
            guard armed, node.id == id, !ready.earlyMessages.isEmpty else { return false }
            armed = false
            return true
        }
    }
}
