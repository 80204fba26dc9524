import Topology
import XCTest

/// Graceful departures: an operator asks a node to leave.
final class DepartureTests: XCTestCase {
    struct Row {
        var stage: Int
        var leaver: String
        var firstAction: Action
        var writer: String
        var replicas: [String]
        var primary: String
        var voters: [String]
    }

    static let rows: [Row] = [
        Row(stage: 4, leaver: "n2", firstAction: .remove("n2"), writer: "n1", replicas: ["n3"], primary: "n4",
            voters: ["n1", "n3", "n4"]),
        // The LM leaves: the newest Read Replica takes over and is silenced.
        Row(stage: 4, leaver: "n4", firstAction: .remove("n4"), writer: "n1", replicas: ["n2"], primary: "n3",
            voters: ["n1", "n2", "n3"]),
        Row(stage: 3, leaver: "n3", firstAction: .remove("n3"), writer: "n1", replicas: [], primary: "n2",
            voters: ["n1", "n2"]),
        // The writer leaves: leadership moves first, then it is removed.
        Row(stage: 3, leaver: "n1", firstAction: .transferLeadership(to: "n2"), writer: "n2", replicas: [],
            primary: "n3", voters: ["n2", "n3"]),
        Row(stage: 5, leaver: "n1", firstAction: .transferLeadership(to: "n2"), writer: "n2", replicas: ["n3", "n4"],
            primary: "n5", voters: ["n2", "n3", "n4", "n5"]),
        // Mach II: the learner is promoted first so there is someone to hand over to.
        Row(stage: 2, leaver: "n1", firstAction: .promote("n2"), writer: "n2", replicas: [], primary: "n2",
            voters: ["n2"]),
        Row(stage: 2, leaver: "n2", firstAction: .remove("n2"), writer: "n1", replicas: [], primary: "n1",
            voters: ["n1"]),
        Row(stage: 7, leaver: "n6", firstAction: .remove("n6"), writer: "n1", replicas: ["n2", "n3", "n4", "n5"],
            primary: "n7", voters: ["n1", "n2", "n3", "n4", "n5"]),
    ]

    func testGracefulDepartures() {
        for row in Self.rows {
            let context = "stage \(row.stage), \(row.leaver) leaves"
            var sim = Simulator.stage(row.stage)
            sim.leave(row.leaver)
            let plan = sim.plan()
            XCTAssertEqual(plan.actions.first, row.firstAction, "\(context): \(plan.actions)")
            XCTAssertEqual(sim.map.node(row.leaver)?.state, .leaving, context)
            if row.leaver == sim.leader {
                XCTAssertEqual(sim.writer, row.leaver, "\(context): still the writer until it hands over")
                XCTAssertFalse(plan.actions.contains(.remove(row.leaver)), context)
            } else {
                XCTAssertEqual(sim.roles(row.leaver), [], context)
            }
            sim.converge()
            XCTAssertNil(sim.member(row.leaver), context)
            XCTAssertNil(sim.map.node(row.leaver), context)
            XCTAssertEqual(sim.writer, row.writer, context)
            XCTAssertEqual(sim.readReplicas, row.replicas, context)
            XCTAssertEqual(sim.primaryLoadManager, row.primary, context)
            XCTAssertEqual(sim.map.shards[0].voters, row.voters, context)
            XCTAssertTrue(sim.recommendations(.replaceNode).isEmpty, context)
            XCTAssertEqual(sim.map.stage, row.stage - 1, context)
        }
    }

    /// The LM of Mach IV leaves: the newest Read Replica gets priority 0 before the removal.
    func testLeavingLoadManagerHandsTheRoleToTheNewestReadReplica() {
        var sim = Simulator.stage(4)
        sim.leave("n4")
        let plan = sim.plan()
        XCTAssertEqual(plan.actions, [.remove("n4"), .setPriority("n3", 0)])
        XCTAssertEqual(sim.roles("n3"), [.loadManager])
        XCTAssertTrue(sim.map.node("n3")?.primaryLoadManager ?? false)
    }

    /// Mach I: the only node cannot leave; nothing is emitted and it keeps serving.
    func testSoleNodeCannotLeave() {
        var sim = Simulator.stage(1)
        sim.leave("n1")
        let plan = sim.plan()
        XCTAssertEqual(plan.actions, [])
        XCTAssertEqual(sim.roles("n1"), [.writer, .replica, .loadManager])
        XCTAssertEqual(sim.map.stage, 0)
    }
}
