import Topology
import XCTest

/// Rule 5g: a `remove` never leaves the new configuration without a live majority.
final class QuorumGuardTests: XCTestCase {
    struct Row {
        var stage: Int
        var dead: [String]
        var leaving: [String]
        var removes: [String]
    }

    static let rows: [Row] = [
        Row(stage: 3, dead: ["n2", "n3"], leaving: [], removes: []),
        Row(stage: 3, dead: ["n2"], leaving: [], removes: ["n2"]),
        Row(stage: 3, dead: ["n2"], leaving: ["n3"], removes: ["n2"]),
        Row(stage: 4, dead: ["n3"], leaving: ["n2"], removes: ["n2", "n3"]),
        Row(stage: 4, dead: ["n2", "n3"], leaving: [], removes: ["n2", "n3"]),  // 2 of 3, then 2 of 2
        Row(stage: 5, dead: ["n4", "n5"], leaving: [], removes: ["n4", "n5"]),
        Row(stage: 5, dead: ["n3", "n4", "n5"], leaving: [], removes: []),
        Row(stage: 2, dead: ["n2"], leaving: [], removes: ["n2"]),  // a learner: always allowed
        Row(stage: 7, dead: ["n5", "n6", "n7"], leaving: [], removes: ["n5", "n6", "n7"]),
        Row(stage: 1, dead: [], leaving: ["n1"], removes: []),  // the leader is never removed
    ]

    func testRemovalsRespectTheQuorum() {
        for row in Self.rows {
            var sim = Simulator.stage(row.stage)
            for id in row.dead {
                let index = sim.index(id)!
                sim.members[index].alive = false
                sim.members[index].downFor = sim.policy.removeAfterMilliseconds
            }
            for id in row.leaving { sim.leave(id) }
            let plan = sim.plan()
            let removes = plan.actions.compactMap { action -> String? in
                if case let .remove(id) = action { return id } else { return nil }
            }
            XCTAssertEqual(removes, row.removes, "\(row): \(plan.actions)")
        }
    }

    /// Down for less than `removeAfterMilliseconds`: never removed.
    func testNotRemovedBeforeTheDeadline() {
        var sim = Simulator.stage(5)
        sim.fail("n3")
        sim.elapse(sim.policy.removeAfterMilliseconds - 2)
        XCTAssertFalse(sim.plan().actions.contains(.remove("n3")))
        sim.elapse(1)
        XCTAssertTrue(sim.plan().actions.contains(.remove("n3")))
    }
}
