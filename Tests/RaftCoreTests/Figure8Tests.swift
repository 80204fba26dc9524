import RaftCore
import XCTest

/// The Raft paper's Figure 8, replayed step by step: an entry of an old term that reaches a
/// majority must not count as committed, or a later leader can overwrite it.
final class Figure8Tests: XCTestCase {
    func testOldTermEntryOnAMajorityIsNotCommittedByCounting() throws {
        let c = Cluster(seed: 81, voters: [1, 2, 3, 4, 5]) { cfg in
            cfg.checkQuorum = false
            cfg.preVote = false
            cfg.maxSizePerMsg = 1  // one entry per append
            cfg.transferToHigherLevel = false
        }
        c.elect(1)
        let base = c.status(1).lastIndex  // everyone holds the log up to here

        // (a) Leader 1 replicates X to 2 only, then crashes.
        c.partition([1, 2], [3, 4, 5])
        c.propose(1, "X")
        XCTAssertEqual(c.status(2).lastIndex, base + 1)
        c.crash(1)
        c.heal()

        // (b) 5 wins with 3 and 4; its no-op (a different entry at base+1) stays on 5 alone.
        c.isolate(2)
        try c.raw(5).campaign()
        c.process(5)
        while c.status(5).role != .leader, !c.network.isEmpty { c.deliver(at: 0) }
        XCTAssertEqual(c.status(5).role, .leader)
        XCTAssertEqual(c.status(5).lastIndex, base + 1)
        c.crash(5)
        c.network.removeAll()
        c.heal()

        // (c) 1 returns and wins (its X is the newest entry around); it copies X to 3 and 4,
        // which makes X present on a majority — but its own no-op never arrives.
        c.restart(1)
        // Delivers everything except appends carrying the new leader's own entries to a node
        // that already holds X.
        func deliverFiltered() {
            var n = 0
            while !c.network.isEmpty && n < 1_000 {
                n += 1
                let m = c.network[0].message
                let leaderTerm = c.status(1).term
                let carriesNewTerm = m.kind == .append && m.entries.contains { $0.term == leaderTerm }
                if carriesNewTerm, let target = c.nodes[m.to]?.raw, target.status.lastIndex >= base + 1 {
                    c.drop(at: 0)
                } else {
                    c.deliver(at: 0)
                }
            }
        }
        // 3 and 4 voted for 5 in the term 1 first tries: it may take two campaigns.
        for _ in 0..<3 where c.status(1).role != .leader {
            try c.raw(1).campaign()
            c.process(1)
            deliverFiltered()
        }
        for _ in 0..<5 {
            c.tick(1)
            deliverFiltered()
        }
        XCTAssertEqual(c.status(1).role, .leader)
        XCTAssertEqual(c.status(3).lastIndex, base + 1)
        XCTAssertEqual(c.status(4).lastIndex, base + 1)
        XCTAssertLessThan(c.status(1).commit, base + 1, "X (an old term's entry) must not commit by counting")

        // (d) 1 crashes; 5 returns, wins with 3 and 4 (its entry at base+1 has a newer term)
        // and overwrites X — which is fine only because X never committed.
        c.crash(1)
        c.network.removeAll()
        c.restart(5)
        for _ in 0..<3 where c.status(5).role != .leader {
            try c.raw(5).campaign()
            c.process(5)
            c.deliverAll()
        }
        XCTAssertEqual(c.status(5).role, .leader)
        XCTAssertEqual(c.checker.leaderOfTerm[c.status(5).term], 5)
        c.run(rounds: 5)
        c.assertSafe()
    }
}
