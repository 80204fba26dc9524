import Topology
import XCTest

/// A bigger node arrives: promote it, make it electable, hand leadership over (DESIGN §6).
final class BiggerLeaderTests: XCTestCase {
    func testBiggerNodeTakesOverAtMachThree() {
        var sim = Simulator.stage(3)
        sim.join("n4", level: 5)
        sim.converge(catchUp: false)
        XCTAssertEqual(sim.primaryLoadManager, "n4")
        XCTAssertEqual(sim.writer, "n1")

        sim.catchUp()
        let plan = sim.plan()
        XCTAssertEqual(plan.actions, [.setPriority("n4", 1), .promote("n4")])
        XCTAssertEqual(sim.roles("n4"), [.loadManager], "keeps the LM role until it leads")

        sim.converge()
        let start = sim.executed.firstIndex(of: .setPriority("n4", 1))
        XCTAssertNotNil(start)
        let tail = Array(sim.executed[(start ?? 0)...])
        XCTAssertEqual(tail.prefix(3), [.setPriority("n4", 1), .promote("n4"), .transferLeadership(to: "n4")])
        XCTAssertEqual(sim.leader, "n4")
        XCTAssertEqual(sim.writer, "n4")
        XCTAssertEqual(sim.roles("n4"), [.writer])
        XCTAssertEqual(sim.primaryLoadManager, "n3")
        XCTAssertEqual(sim.roles("n3"), [.loadManager])
        XCTAssertEqual(sim.member("n3")?.priority, 0)
        XCTAssertEqual(sim.readReplicas, ["n1", "n2"])
        XCTAssertEqual(sim.member("n1")?.priority, 1)
        XCTAssertEqual(sim.member("n4")?.priority, 1)
        XCTAssertEqual(sim.map.shards[0].voters, ["n1", "n2", "n3", "n4"])
    }

    /// Rows: (founder level, joiner level, stage it joins at, expected leader after convergence).
    func testBiggerLeaderRows() {
        let rows: [(levels: [Int], joiner: Int, leader: String)] = [
            ([2, 2, 2], 2, "n1"),  // equal level: no transfer
            ([3, 2, 2], 2, "n1"),  // smaller: no transfer
            ([2, 2, 2], 3, "n4"),
            ([2, 4, 2], 5, "n4"),  // n2 is already bigger; the biggest wins
            ([2, 4, 2], 3, "n2"),  // n2 (level 4) beats the newcomer
            ([1, 3, 3], 2, "n2"),  // tie between n2 and n3: the oldest
        ]
        for row in rows {
            var sim = Simulator.stage(3, levels: row.levels)
            sim.join("n4", level: row.joiner)
            sim.converge()
            XCTAssertEqual(sim.writer, row.leader, "\(row)")
            XCTAssertEqual(sim.leader, row.leader, "\(row)")
            XCTAssertEqual(sim.map.stage, 4)
        }
    }

    /// Mach II: a bigger second node is promoted despite the Mach II rule so it can lead.
    func testBiggerSecondNodeLeadsAtMachTwo() {
        var sim = Simulator.stage(1)
        sim.join("n2", level: 4)
        sim.converge()
        XCTAssertEqual(sim.writer, "n2")
        XCTAssertEqual(sim.roles("n2"), [.writer, .replica])
        XCTAssertEqual(sim.roles("n1"), [.loadManager])
        XCTAssertEqual(sim.member("n1")?.priority, 0)
        XCTAssertEqual(sim.map.shards[0].voters, ["n1", "n2"])
    }

    /// A bigger node that cannot become a voter (voters full) is never handed leadership.
    func testBiggerLearnerBeyondMaxVotersIsNotTransferredTo() {
        var sim = Simulator.stage(5)
        sim.join("n6", level: 5)
        sim.converge()
        XCTAssertEqual(sim.writer, "n1")
        XCTAssertEqual(sim.member("n6")?.membership, .learner)
        XCTAssertFalse(sim.executed.contains(.transferLeadership(to: "n6")))
    }
}
