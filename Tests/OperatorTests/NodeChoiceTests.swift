import JSON
import XCTest

@testable import machdb

/// Which node id a Docker-provisioned node gets, and when `--max-nodes` refuses one.
final class NodeChoiceTests: XCTestCase {
    static func container(_ name: String, node: String?, state: String = "running") -> ContainerSummary {
        var labels: [(String, JSON)] = [("io.machdb.managed", "true")]
        if let node { labels.append(("io.machdb.node", .string(node))) }
        return ContainerSummary(json: .object([
            ("Id", .string("id-\(name)")), ("Names", .array([.string("/\(name)")])), ("State", .string(state)),
            ("Labels", .object(labels)),
        ]))!
    }

    let settings = ContainerSpecTests.settings()  // network demo-net, prefix op, max 3

    func choose(_ containers: [ContainerSummary], reserved: Set<String> = [], next: Int = 1)
        -> Result<(node: String, nextIndex: Int), ProvisionRefusal>
    {
        DockerContainers.chooseNode(containers: containers, reserved: reserved, nextIndex: next, settings: settings)
    }

    func testFirstNodeOnAnEmptyDaemon() throws {
        let choice = try choose([]).get()
        XCTAssertEqual(choice.node, "op1")
        XCTAssertEqual(choice.nextIndex, 2)
    }

    func testIdsOfExistingContainersAndReservationsAreSkipped() throws {
        // A restarted operator (next index 1) finds op1 and op2 running and op3 reserved.
        let containers = [Self.container("demo-net-op1", node: "op1"), Self.container("demo-net-op2", node: "op2", state: "exited")]
        XCTAssertEqual(try choose(containers, reserved: ["op3"]).get().node, "op4")
        // A container holding the name without the node label still blocks the name.
        XCTAssertEqual(try choose([Self.container("demo-net-op1", node: nil)]).get().node, "op2")
        // The persisted index wins over lower free ids: ids are never reused.
        XCTAssertEqual(try choose([], next: 7).get().node, "op7")
    }

    func testMaxNodesCountsActiveContainersAndReservations() {
        let two = [Self.container("demo-net-op1", node: "op1"), Self.container("demo-net-op2", node: "op2", state: "created")]
        XCTAssertNoThrow(try choose(two).get())
        guard case let .failure(refusal) = choose(two, reserved: ["op3"]) else { return XCTFail("not refused at 3") }
        XCTAssertEqual(refusal.action, "skipped: max nodes")
        XCTAssertTrue(refusal.detail.contains("3 managed containers"), refusal.detail)
        // Exited containers do not count.
        let exited = two + [Self.container("demo-net-op3", node: "op3", state: "exited")]
        XCTAssertEqual(try choose(exited).get().node, "op4")
    }
}
