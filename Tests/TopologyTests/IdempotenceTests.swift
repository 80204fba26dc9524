import Topology
import XCTest

/// Planning twice with the same observations changes nothing the second time.
final class IdempotenceTests: XCTestCase {
    func testConvergedStagesAreFixedPoints() {
        for stage in 1...8 {
            var sim = Simulator.stage(stage)
            let map = sim.map
            let plan = sim.plan()
            XCTAssertEqual(plan.map, map, "stage \(stage)")
            XCTAssertEqual(plan.actions, [], "stage \(stage)")
        }
    }

    func testPendingChangesAreRecordedOnce() {
        let events: [(String, (inout Simulator) -> Void)] = [
            ("fail n2", { $0.fail("n2") }),
            ("fail n1", { $0.fail("n1") }),
            ("leave n3", { $0.leave("n3") }),
            ("join n6", { $0.join("n6") }),
            ("join n6 big", { $0.join("n6", level: 5); $0.catchUp() }),
        ]
        for (name, event) in events {
            var sim = Simulator.stage(5)
            event(&sim)
            let first = sim.plan()
            let recommendations = first.map.recommendations
            for _ in 0..<3 {
                let again = sim.plan()
                XCTAssertEqual(again.map.version, first.map.version, name)
                XCTAssertEqual(again.map.recommendations, recommendations, name)
                XCTAssertEqual(again.actions, first.actions, name)
            }
        }
    }

    func testNoObservationsChangesNothing() {
        let sim = Simulator.stage(3)
        let plan = planChecked(sim.map, [])
        XCTAssertEqual(plan.map, sim.map)
        XCTAssertEqual(plan.actions, [])
        XCTAssertEqual(planChecked(.empty, []).map, .empty)
    }
}
