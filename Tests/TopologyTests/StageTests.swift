import Topology
import XCTest

/// Sequential joins, one row per Mach stage (DESIGN §4 table).
final class StageTests: XCTestCase {
    struct Expected {
        var id: String
        var roles: [NodeRole]
        var membership: Membership
        var priority: Int
        var primary = false
    }

    static let W: [NodeRole] = [.writer]
    static let R: [NodeRole] = [.replica]
    static let LM: [NodeRole] = [.loadManager]

    static func writer(_ id: String = "n1", _ roles: [NodeRole] = W) -> Expected {
        Expected(id: id, roles: roles, membership: .voter, priority: 1)
    }
    static func replica(_ id: String) -> Expected { Expected(id: id, roles: R, membership: .voter, priority: 1) }
    static func lm(_ id: String, _ membership: Membership, primary: Bool = true) -> Expected {
        Expected(id: id, roles: LM, membership: membership, priority: 0, primary: primary)
    }

    static let rows: [(stage: Int, name: String, nodes: [Expected], splits: Int)] = [
        (1, "Mach I", [Expected(id: "n1", roles: [.writer, .replica, .loadManager], membership: .voter, priority: 1, primary: true)], 0),
        (2, "Mach II", [writer("n1", [.writer, .replica]), lm("n2", .learner)], 0),
        (3, "Mach III", [writer(), replica("n2"), lm("n3", .voter)], 0),
        (4, "Mach IV", [writer(), replica("n2"), replica("n3"), lm("n4", .voter)], 0),
        (5, "Mach V", [writer(), replica("n2"), replica("n3"), replica("n4"), lm("n5", .voter)], 0),
        (6, "Mach VI", [writer(), replica("n2"), replica("n3"), replica("n4"), replica("n5"), lm("n6", .learner)], 0),
        (7, "Mach VII",
         [writer(), replica("n2"), replica("n3"), replica("n4"), replica("n5"), lm("n6", .learner, primary: false),
          lm("n7", .learner)], 1),
        (8, "Mach VIII",
         [writer(), replica("n2"), replica("n3"), replica("n4"), replica("n5"), lm("n6", .learner, primary: false),
          lm("n7", .learner, primary: false), lm("n8", .learner)], 2),
    ]

    func testEveryStageBySequentialJoins() {
        for row in Self.rows {
            let sim = Simulator.stage(row.stage)
            let context = "stage \(row.stage)"
            XCTAssertEqual(sim.map.stage, row.stage, context)
            XCTAssertEqual(sim.map.stageName, row.name, context)
            XCTAssertEqual(sim.map.nodes.map(\.id), row.nodes.map(\.id), context)
            XCTAssertEqual(sim.writer, "n1", context)
            for expected in row.nodes {
                let node = sim.map.node(expected.id)
                let member = sim.member(expected.id)
                XCTAssertEqual(node?.roles, expected.roles, "\(context) \(expected.id) roles")
                XCTAssertEqual(node?.state, .active, "\(context) \(expected.id) state")
                XCTAssertEqual(node?.primaryLoadManager, expected.primary, "\(context) \(expected.id) primary LM")
                XCTAssertEqual(member?.membership, expected.membership, "\(context) \(expected.id) membership")
                XCTAssertEqual(member?.priority, expected.priority, "\(context) \(expected.id) priority")
            }
            XCTAssertEqual(sim.recommendations(.splitShard).count, row.splits, context)
            XCTAssertTrue(sim.recommendations(.splitShard).allSatisfy { $0.target == "shard 1" }, context)
            XCTAssertTrue(sim.recommendations(.replaceNode).isEmpty, context)
            XCTAssertEqual(sim.map.shards[0].voters, row.nodes.filter { $0.membership == .voter }.map(\.id).sorted(), context)
            XCTAssertEqual(sim.map.shards[0].learners, row.nodes.filter { $0.membership == .learner }.map(\.id).sorted(), context)
        }
    }

    /// Right after a join (before it catches up) the newcomer is the primary LM at once.
    func testNewcomerIsPrimaryLoadManagerBeforeCatchingUp() {
        for stage in 1...8 {
            var sim = Simulator.stage(stage)
            let id = "n\(stage + 1)"
            sim.join(id)
            sim.converge(catchUp: false)
            XCTAssertEqual(sim.primaryLoadManager, id, "stage \(stage)")
            XCTAssertEqual(sim.roles(id), [.loadManager], "stage \(stage)")
            XCTAssertEqual(sim.member(id)?.membership, .learner, "stage \(stage)")
            XCTAssertEqual(sim.member(id)?.priority, 0, "stage \(stage)")
        }
    }

    /// Mach II never promotes, not even a caught-up learner.
    func testMachTwoKeepsTheSecondNodeALearner() {
        var sim = Simulator.stage(2)
        sim.catchUp()
        let plan = sim.plan()
        XCTAssertEqual(plan.actions, [])
        XCTAssertEqual(sim.member("n2")?.membership, .learner)
    }

    func testStageNames() {
        let rows: [(Int, String)] = [
            (0, "Mach 0"), (1, "Mach I"), (2, "Mach II"), (3, "Mach III"), (4, "Mach IV"), (5, "Mach V"),
            (6, "Mach VI"), (7, "Mach VII"), (8, "Mach VIII"), (9, "Mach IX"), (14, "Mach XIV"), (40, "Mach XL"),
        ]
        for (stage, name) in rows {
            let nodes = (0..<stage).map {
                MapNode(id: "n\($0)", url: "", level: 1, roles: [], state: .active, joinOrder: UInt64($0 + 1),
                        primaryLoadManager: false)
            }
            let map = ClusterMap(version: 1, nodes: nodes + [MapNode(id: "x", url: "", level: 1, roles: [], state: .failed,
                                 joinOrder: 99, primaryLoadManager: false)],
                                 shards: [], recommendations: [], nextJoinOrder: 100, nextRecommendationSeq: 1)
            XCTAssertEqual(map.stage, stage)
            XCTAssertEqual(map.stageName, name)
        }
    }
}
