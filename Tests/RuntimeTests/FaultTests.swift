import Foundation
import PeerTransport
import Replica
import XCTest

/// Faults injected at the transport under a steady write load: whatever happens, a leader is
/// elected again, at most one leader per term, every acknowledged write ends up on every node
/// and nothing acknowledged is lost; a write that certainly failed is nowhere.
final class FaultTests: RuntimeTestCase {
    /// Writes (through the leader, every third forwarded by a follower not in `avoid`), injects
    /// the fault, waits until `until` holds (and at least `minimumSeconds` passed), heals,
    /// writes a little more, stops and checks convergence.
    @discardableResult
    private func survive(_ what: String, padding: Int = 0, avoid: Set<String> = [], minimumSeconds: Double = 1,
                         seconds: Double = 10, inject: () -> Void, until: (Ledger) -> Bool = { _ in true }) throws -> Ledger {
        let ledger = Ledger(prefix: "w", padding: padding)
        let writer = Writer(ledger: ledger, targets: cluster.targets)
        let monitor = LeaderMonitor(targets: cluster.targets)
        writer.start()
        try waitFor("writes before the fault", seconds: 5) { ledger.acked.count >= 20 }
        let before = ledger.acked.count
        writer.avoid = avoid
        inject()
        let started = Date()
        try waitFor("\(what): the fault to take effect (\(ledger.summary))", seconds: seconds) {
            Date().timeIntervalSince(started) >= minimumSeconds && until(ledger)
        }
        let during = ledger.acked.count - before
        cluster.heal()
        writer.avoid = []
        let healed = ledger.acked.count
        try waitFor("writes after healing", seconds: 10) { ledger.acked.count >= healed + 20 }
        let attempted = try writer.stop()
        monitor.stop()
        print("\(name): \(what): \(attempted) writes, \(during) acknowledged under the fault; \(ledger.summary)")
        XCTAssertEqual(monitor.violations, [:], "at most one leader per term")
        try assertConverged([ledger])
        return ledger
    }

    func testDroppedMessages() throws {
        try survive("20% of message frames dropped", minimumSeconds: 1.5, inject: { cluster.inject { $0.dropRate = 0.2 } },
                    until: { $0.acked.count >= 150 })
    }

    func testDuplicatedMessages() throws {
        try survive("20% of message frames duplicated", minimumSeconds: 1.5,
                    inject: { cluster.inject { $0.duplicateRate = 0.2 } }, until: { $0.acked.count >= 150 })
    }

    func testDelayedLinks() throws {
        try survive("20 ms before every write to a peer", minimumSeconds: 1.5,
                    inject: { cluster.inject { $0.delayMilliseconds = 20 } }, until: { $0.acked.count >= 150 })
    }

    func testPartitionedFollowerCatchesUp() throws {
        let leader = try cluster.stableLeader()
        let follower = try XCTUnwrap(cluster.nodes.first { $0 !== leader })
        try survive("\(follower.name) partitioned", avoid: [follower.name], inject: { cluster.partition(follower) }, until: { _ in
            leader.status.commit > follower.status.applied + 100  // it falls behind while cut off
        })
        XCTAssertTrue(leader.leads, "a partitioned follower does not disturb the leader (pre-vote)")
    }

    func testFollowerThatStopsReadingCatchesUp() throws {
        let leader = try cluster.stableLeader()
        let follower = try XCTUnwrap(cluster.nodes.first { $0 !== leader })
        let others = Set(cluster.nodes.filter { $0 !== follower }.map(\.raftID))
        let before = try XCTUnwrap(leader.transport.statistics.peers[follower.raftID])
        var stall: String?
        // Large documents fill the socket buffers quickly: the leader's writes to the follower
        // block, time out, and the link breaks and reconnects while the follower stalls.
        try survive("\(follower.name) stops reading", padding: 32 << 10, avoid: [follower.name], seconds: 15,
                    inject: { follower.faults.stopReading = others }, until: { _ in
                        guard let now = leader.transport.statistics.peers[follower.raftID], now.failures > before.failures else {
                            return false
                        }
                        stall = stall ?? now.lastError
                        return leader.status.commit > follower.status.applied + 50
                    })
        XCTAssertTrue(stall?.contains("not reading") ?? false, "the leader's write timed out: \(stall ?? "no error")")
        let after = try XCTUnwrap(leader.transport.statistics.peers[follower.raftID])
        XCTAssertGreaterThan(after.reconnects, before.reconnects, "the link came back")
        XCTAssertTrue(after.connected)
    }

    func testIsolatedLeaderIsReplacedAndAcknowledgesNothing() throws {
        let old = try cluster.stableLeader()
        let term = old.replica.leader.term
        let ledger = Ledger(prefix: "w")
        let writer = Writer(ledger: ledger, targets: cluster.targets)
        let monitor = LeaderMonitor(targets: cluster.targets)
        writer.start()
        try waitFor("writes before the partition", seconds: 5) { ledger.acked.count >= 20 }

        writer.avoid = [old.name]
        cluster.partition(old)
        let isolated = Ledger(prefix: "isolated")
        for seq in 1...20 { isolated.propose(seq, at: old.replica, named: old.name) }
        var successor: RuntimeNode?
        try waitFor("a new leader among the others", seconds: 5) {
            successor = cluster.nodes.first { $0 !== old && $0.leads && $0.replica.leader.term > term }
            return successor != nil
        }
        let newLeader = successor!
        try waitFor("the old leader to step down (check quorum)", seconds: 3) { !old.leads }
        let acknowledged = ledger.acked.count
        try waitFor("writes through the new leader", seconds: 5) { ledger.acked.count >= acknowledged + 50 }
        try waitFor("the isolated proposals to end", seconds: 5) { isolated.pending == 0 }
        XCTAssertEqual(isolated.acked, [:], "a leader cut off from its quorum acknowledges nothing: \(isolated.summary)")

        cluster.heal()
        try waitFor("the old leader to follow the new one", seconds: 10) {
            old.replica.leader.leader == newLeader.raftID && old.replica.leader.term == newLeader.replica.leader.term
        }
        writer.avoid = []
        try writer.stop()
        monitor.stop()
        print("\(name): \(old.name) isolated in term \(term), \(newLeader.name) leads in term \(newLeader.replica.leader.term); "
              + "\(ledger.summary); isolated: \(isolated.summary)")
        XCTAssertEqual(monitor.violations, [:], "at most one leader per term")
        try assertConverged([ledger, isolated])
        for seq in isolated.all.keys {
            for node in cluster.nodes {
                XCTAssertNil(try node.store.document(collection: Ledger.collection, id: isolated.key(seq)),
                             "\(isolated.key(seq)) never left the old leader, so it is nowhere (\(node.name))")
            }
        }
    }
}
