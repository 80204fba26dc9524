import Topology
import XCTest

/// The failure rows of DESIGN §4, at every stage 2...7.
final class FailureTests: XCTestCase {
    enum Victim: String { case writer, readReplica, loadManager }

    /// Writer, non-writer Read Replicas and primary LM right after the failure and again after
    /// the victim was removed.
    struct Shape: Equatable {
        var writer: String?
        var replicas: [String]
        var primary: String?
    }

    struct Row {
        var stage: Int
        var victim: Victim
        var id: String
        var reason: String
        var now: Shape
        /// `setPriority(_, 0)` expected right after the failure (a Read Replica turned LM).
        var silenced: String?
        /// nil when the quorum guard forbids removing the victim.
        var afterRemoval: Shape?
    }

    static func shape(_ writer: String?, _ replicas: [String], _ primary: String?) -> Shape {
        Shape(writer: writer, replicas: replicas, primary: primary)
    }

    static let rows: [Row] = [
        // Writer lost: Raft elects among the live voters (none at Mach II).
        Row(stage: 2, victim: .writer, id: "n1", reason: "n1 (writer+replica) stopped answering",
            now: shape(nil, [], "n2"), afterRemoval: nil),
        Row(stage: 3, victim: .writer, id: "n1", reason: "n1 (writer) stopped answering",
            now: shape("n2", [], "n3"), afterRemoval: shape("n2", [], "n3")),
        Row(stage: 4, victim: .writer, id: "n1", reason: "n1 (writer) stopped answering",
            now: shape("n2", ["n3"], "n4"), afterRemoval: shape("n2", ["n3"], "n4")),
        Row(stage: 5, victim: .writer, id: "n1", reason: "n1 (writer) stopped answering",
            now: shape("n2", ["n3", "n4"], "n5"), afterRemoval: shape("n2", ["n3", "n4"], "n5")),
        Row(stage: 6, victim: .writer, id: "n1", reason: "n1 (writer) stopped answering",
            now: shape("n2", ["n3", "n4", "n5"], "n6"), afterRemoval: shape("n2", ["n3", "n4", "n5"], "n6")),
        Row(stage: 7, victim: .writer, id: "n1", reason: "n1 (writer) stopped answering",
            now: shape("n2", ["n3", "n4", "n5"], "n7"), afterRemoval: shape("n2", ["n3", "n4", "n5", "n6"], "n7")),
        // Read Replica lost (the oldest one); at Mach III the writer serves reads again.
        Row(stage: 3, victim: .readReplica, id: "n2", reason: "n2 (replica) stopped answering",
            now: shape("n1", [], "n3"), afterRemoval: shape("n1", [], "n3")),
        Row(stage: 4, victim: .readReplica, id: "n2", reason: "n2 (replica) stopped answering",
            now: shape("n1", ["n3"], "n4"), afterRemoval: shape("n1", ["n3"], "n4")),
        Row(stage: 5, victim: .readReplica, id: "n2", reason: "n2 (replica) stopped answering",
            now: shape("n1", ["n3", "n4"], "n5"), afterRemoval: shape("n1", ["n3", "n4"], "n5")),
        Row(stage: 6, victim: .readReplica, id: "n2", reason: "n2 (replica) stopped answering",
            now: shape("n1", ["n3", "n4", "n5"], "n6"), afterRemoval: shape("n1", ["n3", "n4", "n5"], "n6")),
        Row(stage: 7, victim: .readReplica, id: "n2", reason: "n2 (replica) stopped answering",
            now: shape("n1", ["n3", "n4", "n5"], "n7"), afterRemoval: shape("n1", ["n3", "n4", "n5", "n6"], "n7")),
        // LM lost: the newest other node (a Read Replica up to Mach VI) takes over.
        Row(stage: 2, victim: .loadManager, id: "n2", reason: "n2 (load_manager) stopped answering",
            now: shape("n1", [], "n1"), afterRemoval: shape("n1", [], "n1")),
        Row(stage: 3, victim: .loadManager, id: "n3", reason: "n3 (load_manager) stopped answering",
            now: shape("n1", [], "n2"), silenced: "n2", afterRemoval: shape("n1", [], "n2")),
        Row(stage: 4, victim: .loadManager, id: "n4", reason: "n4 (load_manager) stopped answering",
            now: shape("n1", ["n2"], "n3"), silenced: "n3", afterRemoval: shape("n1", ["n2"], "n3")),
        Row(stage: 5, victim: .loadManager, id: "n5", reason: "n5 (load_manager) stopped answering",
            now: shape("n1", ["n2", "n3"], "n4"), silenced: "n4", afterRemoval: shape("n1", ["n2", "n3"], "n4")),
        Row(stage: 6, victim: .loadManager, id: "n6", reason: "n6 (load_manager) stopped answering",
            now: shape("n1", ["n2", "n3", "n4"], "n5"), silenced: "n5", afterRemoval: shape("n1", ["n2", "n3", "n4"], "n5")),
        Row(stage: 7, victim: .loadManager, id: "n7", reason: "n7 (load_manager) stopped answering",
            now: shape("n1", ["n2", "n3", "n4", "n5"], "n6"), afterRemoval: shape("n1", ["n2", "n3", "n4", "n5"], "n6")),
    ]

    func testFailureRows() {
        for row in Self.rows {
            let context = "stage \(row.stage), \(row.victim) \(row.id) lost"
            var sim = Simulator.stage(row.stage)
            let versionBefore = sim.map.version
            sim.fail(row.id)

            let plan = sim.plan()
            XCTAssertEqual(plan.map.version, versionBefore + 1, context)
            XCTAssertEqual(current(sim), row.now, context)
            XCTAssertEqual(sim.map.node(row.id)?.state, .failed, context)
            XCTAssertEqual(sim.map.node(row.id)?.roles, [], context)
            let replace = sim.recommendations(.replaceNode)
            XCTAssertEqual(replace.map(\.target), [row.id], context)
            XCTAssertEqual(replace.first?.reason, row.reason, context)
            XCTAssertEqual(replace.first?.stage, row.stage - 1, context)
            XCTAssertEqual(replace.first?.mapVersion, plan.map.version, context)
            if let silenced = row.silenced {
                XCTAssertTrue(plan.actions.contains(.setPriority(silenced, 0)), "\(context): \(plan.actions)")
                XCTAssertEqual(sim.roles(silenced), [.loadManager], context)
            }
            XCTAssertFalse(plan.actions.contains(.remove(row.id)), "\(context): removed before remove_after")

            // The same observations again: nothing new.
            let again = sim.plan()
            XCTAssertEqual(again.map.version, plan.map.version, context)
            XCTAssertEqual(sim.recommendations(.replaceNode).count, 1, context)

            sim.converge()
            XCTAssertEqual(current(sim), row.now, context)
            XCTAssertNotNil(sim.member(row.id), context)

            sim.elapse(sim.policy.removeAfterMilliseconds)
            sim.converge()
            XCTAssertEqual(sim.recommendations(.replaceNode).count, 1, context)
            if let after = row.afterRemoval {
                XCTAssertNil(sim.member(row.id), context)
                XCTAssertNil(sim.map.node(row.id), context)
                XCTAssertEqual(current(sim), after, context)
                XCTAssertEqual(sim.map.stage, row.stage - 1, context)
            } else {
                XCTAssertNotNil(sim.member(row.id), "\(context): removed against the quorum guard")
            }
        }
    }

    /// A failed node that comes back is active again, with its old roles once caught up, and
    /// nothing more is recommended.
    func testComebackRestoresTheShape() {
        for stage in 2...7 {
            for victim in Set(["n2", "n\(stage)"]).sorted() {
                let context = "stage \(stage), \(victim) back"
                var sim = Simulator.stage(stage)
                let before = sim.map.nodes.map { ($0.id, $0.roles, $0.primaryLoadManager) }
                sim.fail(victim)
                sim.converge()
                XCTAssertEqual(sim.map.node(victim)?.state, .failed, context)
                sim.recover(victim)
                let plan = sim.plan()
                XCTAssertEqual(plan.map.node(victim)?.state, .active, context)
                sim.converge()
                let after = sim.map.nodes.map { ($0.id, $0.roles, $0.primaryLoadManager) }
                XCTAssertTrue(before.elementsEqual(after) { $0 == $1 }, "\(context): \(before) != \(after)")
                XCTAssertEqual(sim.recommendations(.replaceNode).map(\.target), [victim], context)
            }
        }
    }

    /// Mach III, the writer comes back after a new leader took over: it becomes a Read Replica.
    func testOldWriterComesBackAsReadReplica() {
        var sim = Simulator.stage(3)
        sim.fail("n1")
        sim.converge()
        XCTAssertEqual(sim.writer, "n2")
        sim.recover("n1")
        sim.converge()
        XCTAssertEqual(sim.writer, "n2")
        XCTAssertEqual(sim.roles("n1"), [.replica])
        XCTAssertEqual(sim.roles("n2"), [.writer])
        XCTAssertEqual(sim.primaryLoadManager, "n3")
        XCTAssertEqual(sim.recommendations(.replaceNode).count, 1)
    }

    private func current(_ sim: Simulator) -> Shape {
        Shape(writer: sim.writer, replicas: sim.readReplicas, primary: sim.primaryLoadManager)
    }
}
