import Topology
import XCTest

final class PolicyTests: XCTestCase {
    func testValidate() {
        let rows: [(voters: Int, replicas: Int, history: Int, valid: Bool)] = [
            (5, 4, 32, true), (3, 2, 1, true), (2, 1, 1, true), (6, 3, 10, true),
            (5, 5, 32, false), (5, 0, 32, false), (1, 1, 32, false), (0, 1, 32, false), (5, 4, 0, false),
            (1, 0, 32, false),
        ]
        for row in rows {
            var policy = TopologyPolicy()
            policy.maxVoters = row.voters
            policy.maxReplicas = row.replicas
            policy.recommendationHistory = row.history
            do {
                try policy.validate()
                XCTAssertTrue(row.valid, "\(row) accepted")
            } catch {
                XCTAssertFalse(row.valid, "\(row) rejected: \(error)")
                guard case .invalidPolicy = error else { return XCTFail("\(error)") }
            }
        }
    }

    func testDefaults() throws {
        let policy = TopologyPolicy()
        XCTAssertEqual(policy.maxVoters, 5)
        XCTAssertEqual(policy.maxReplicas, 4)
        XCTAssertEqual(policy.removeAfterMilliseconds, 30_000)
        XCTAssertEqual(policy.recommendationHistory, 32)
        try policy.validate()
    }

    /// Smaller policies still converge to the expected shapes.
    func testSmallPolicyStages() {
        var policy = TopologyPolicy()
        policy.maxVoters = 3
        policy.maxReplicas = 2
        let sim = Simulator.stage(6, policy: policy)
        XCTAssertEqual(sim.map.shards[0].voters, ["n1", "n2", "n3"])
        XCTAssertEqual(sim.readReplicas, ["n2", "n3"])
        XCTAssertEqual(sim.primaryLoadManager, "n6")
        XCTAssertEqual(sim.roles("n4"), [.loadManager])
        XCTAssertEqual(sim.roles("n5"), [.loadManager])
        XCTAssertEqual(sim.recommendations(.splitShard).count, 2)
    }
}
