import Foundation
import Replica
import XCTest

/// A healthy three-node cluster: election, replication, forwarding, and a leader under a flood.
final class ReplicationTests: RuntimeTestCase {
    func testElectionAndReplication() throws {
        let leader = try cluster.stableLeader()
        for node in cluster.nodes {
            let status = node.status
            XCTAssertEqual(status.leaderID, leader.name, node.name)
            XCTAssertEqual(status.members.filter(\.isVoter).count, 3, "\(node.name): three voters")
            XCTAssertEqual(status.members.filter(\.isLearner).count, 0, node.name)
            XCTAssertEqual(status.role == .leader, node === leader)
        }

        let ledger = Ledger(prefix: "w")
        let window = DispatchSemaphore(value: 32)
        for seq in 1...300 {
            guard window.wait(timeout: .now() + 10) == .success else { return XCTFail("writes stopped being answered") }
            ledger.propose(seq, at: leader.replica, named: leader.name) { window.signal() }
        }
        try waitFor("every write answered", seconds: 10) { ledger.pending == 0 }
        let acked = ledger.acked
        XCTAssertEqual(acked.count, 300, ledger.summary)
        let indices = (1...300).compactMap { acked[$0] }
        XCTAssertEqual(indices, indices.sorted(), "writes proposed in order take increasing indices")
        XCTAssertEqual(Set(indices).count, indices.count)
        try assertConverged([ledger])

        // A follower refuses to propose, and says who leads.
        let follower = try XCTUnwrap(cluster.nodes.first { $0 !== leader })
        ledger.propose(1_000, at: follower.replica, named: follower.name)
        try waitFor("the follower's refusal", seconds: 5) { ledger.pending == 0 }
        guard case let .failed(error)? = ledger.all[1_000] else { return XCTFail("\(String(describing: ledger.all[1_000]))") }
        XCTAssertEqual(error, .notLeader(leaderURL: leader.url))

        for follower in cluster.nodes where follower !== leader {
            let statistics = try XCTUnwrap(leader.transport.statistics.peers[follower.raftID])
            XCTAssertTrue(statistics.connected, "\(leader.name) → \(follower.name)")
            XCTAssertGreaterThan(statistics.sentMessages, 0)
            XCTAssertGreaterThan(statistics.sentBytes, 300 * 10, "the writes went over the stream (many entries per message)")
            XCTAssertEqual(statistics.reconnects, 0, "\(leader.name) → \(follower.name): the stream stayed up")
        }
    }

    func testForwardedWritesAreServedByTheLeader() throws {
        let leader = try cluster.stableLeader()
        let followers = cluster.nodes.filter { $0 !== leader }
        let ledger = Ledger(prefix: "f")
        for (offset, follower) in followers.enumerated() {
            for k in 1...100 { ledger.forward(offset * 1_000 + k, from: follower.replica, to: leader.raftID) }
        }
        try waitFor("every forwarded write answered", seconds: 10) { ledger.pending == 0 }
        let all = ledger.all
        XCTAssertEqual(ledger.acked.count, 200, ledger.summary)
        for (seq, status) in all {
            guard case let .acked(_, servedBy) = status else { continue }
            XCTAssertEqual(servedBy, leader.name, "write \(seq) names the leader that applied it")
        }
        try waitFor("no forwarded write left waiting (published status)", seconds: 2) {
            followers.allSatisfy { $0.status.forwardedWaiting == 0 }
        }

        // Forwarded to a follower: it answers at once that it does not lead; nothing happens.
        ledger.forward(10_001, from: followers[0].replica, to: followers[1].raftID)
        // Forwarded to a node that is not a peer: certainly not sent.
        ledger.forward(10_002, from: followers[0].replica, to: 424_242)
        try waitFor("the refusals", seconds: 5) { ledger.pending == 0 }
        guard case let .failed(misdirected)? = ledger.all[10_001], case let .failed(unknown)? = ledger.all[10_002] else {
            return XCTFail("\(String(describing: ledger.all[10_001])), \(String(describing: ledger.all[10_002]))")
        }
        XCTAssertEqual(misdirected, .notLeader(leaderURL: leader.url))
        XCTAssertEqual(unknown, .notSent)
        try assertConverged([ledger])
    }

    func testSaturatedLeaderKeepsItsFollowers() throws {
        let leader = try cluster.stableLeader()
        let term = leader.replica.leader.term
        let monitor = LeaderMonitor(targets: cluster.targets)
        let ledger = Ledger(prefix: "s", padding: 512)
        // As fast as the leader takes them, 2,000 in flight, for several election timeouts
        // (at most 400 ms here), and thousands of writes at least.
        let window = DispatchSemaphore(value: 2_000)
        let started = Date()
        var count = 0
        while count < 4_000 || Date().timeIntervalSince(started) < 2.5 {
            guard window.wait(timeout: .now() + 10) == .success else { return XCTFail("writes stopped being answered") }
            count += 1
            ledger.propose(count, at: leader.replica, named: leader.name) { window.signal() }
        }
        try waitFor("every write answered", seconds: 30) { ledger.pending == 0 }
        let seconds = Date().timeIntervalSince(started)
        monitor.stop()
        print("\(name): \(count) writes in \(String(format: "%.2f", seconds)) s; \(ledger.summary)")

        XCTAssertEqual(ledger.acked.count, count, ledger.summary)
        XCTAssertEqual(monitor.leaders, [term: [leader.name]], "no election while the leader is busy")
        for node in cluster.nodes {
            XCTAssertEqual(monitor.terms[node.name], [term], "\(node.name) stayed in term \(term)")
            XCTAssertEqual(node.status.peerMessagesDropped, 0, "\(node.name): the peer lane never overflowed")
        }
        try assertConverged([ledger])
    }
}
