import Topology
import XCTest

final class WriterPlacementTests: XCTestCase {
    func testASecondShardLedByTheSameNodeMovesToAnIdleVoter() {
        let target = WriterPlacement.target(shard: 2, leaders: [1: "n1", 2: "n1"], candidates: ["n1", "n2", "n3"])
        XCTAssertEqual(target, "n2")
    }

    func testWritersAlreadyApartStay() {
        XCTAssertNil(WriterPlacement.target(shard: 2, leaders: [1: "n1", 2: "n2"], candidates: ["n1", "n2", "n3"]))
    }

    func testShardOneIsThePlannersAndNeverMovedHere() {
        XCTAssertNil(WriterPlacement.target(shard: 1, leaders: [1: "n1", 2: "n1"], candidates: ["n2"]))
    }

    func testNoElectableCandidateMeansStay() {
        // Mach II: the only other member is a learner (not a candidate).
        XCTAssertNil(WriterPlacement.target(shard: 2, leaders: [1: "n1", 2: "n1"], candidates: ["n1"]))
    }

    func testFourShardsOnThreeNodesSpreadWithoutPingPong() {
        var leaders = [1: "n1", 2: "n1", 3: "n1", 4: "n1"]
        let candidates = ["n1", "n2", "n3"]
        for _ in 0..<10 {
            var moved = false
            for shard in 2...4 {
                if let to = WriterPlacement.target(shard: shard, leaders: leaders, candidates: candidates) {
                    leaders[shard] = to
                    moved = true
                }
            }
            if !moved { break }
        }
        let counts = Dictionary(grouping: leaders.values, by: { $0 }).mapValues(\.count)
        XCTAssertEqual(counts.values.max(), 2)
        XCTAssertEqual(Set(leaders.values), ["n1", "n2", "n3"])
        for shard in 2...4 { XCTAssertNil(WriterPlacement.target(shard: shard, leaders: leaders, candidates: candidates)) }
    }
}
