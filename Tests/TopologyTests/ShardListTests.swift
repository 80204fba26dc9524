import Topology
import XCTest

/// How the map's shard list is composed while shards split and move (`ShardList.compose`).
final class ShardListTests: XCTestCase {
    func entry(_ id: Int, _ first: Int, _ last: Int, version: UInt64, writer: String? = "n1", voters: [String] = ["n1", "n2", "n3"],
               learners: [String] = [], placement: ShardPlacement? = nil) -> ShardEntry {
        ShardEntry(id: id, firstBucket: first, lastBucket: last, writer: writer, voters: voters, learners: learners,
                   version: version, placement: placement)
    }

    func testAShardHeldElsewhereIsTakenFromItsLeadersReport() {
        let meta = entry(1, 1, 499, version: 2)
        let moved = entry(500, 500, 1000, version: 2, writer: "n5", voters: ["n4", "n5", "n6"],
                          placement: ShardPlacement(nodes: ["n4", "n5", "n6"], version: 2))
        let reported = entry(500, 500, 1000, version: 2, writer: "n6", voters: ["n4", "n5", "n6"])
        let out = ShardList.compose(local: [meta], reported: [reported], previous: [meta, moved], requests: [:])
        XCTAssertEqual(out.shards.map(\.id), [1, 500])
        XCTAssertEqual(out.shards[1].writer, "n6")
        XCTAssertEqual(out.shards[1].placement, moved.placement, "the placement stays")
        XCTAssertFalse(out.shards[1].moving)
        // Neither held nor reported (a new meta leader, before the first report): kept as it was.
        XCTAssertEqual(ShardList.compose(local: [meta], reported: [], previous: [meta, moved], requests: [:]).shards, [meta, moved])
    }

    func testAFinishedPlacementCarriesOverASplitToBothHalves() {
        let placement = ShardPlacement(nodes: ["n4", "n5", "n6"], version: 2)
        let before = entry(500, 500, 1000, version: 2, voters: ["n4", "n5", "n6"], placement: placement)
        let parent = entry(500, 500, 749, version: 3, voters: ["n4", "n5", "n6"])
        let child = entry(750, 750, 1000, version: 3, voters: ["n4", "n5", "n6"])
        let out = ShardList.compose(local: [], reported: [parent, child], previous: [entry(1, 1, 499, version: 2), before], requests: [:])
        XCTAssertEqual(out.shards.map(\.id), [1, 500, 750])
        XCTAssertEqual(out.shards[1].placement, ShardPlacement(nodes: placement.nodes, version: 3))
        XCTAssertEqual(out.shards[2].placement, ShardPlacement(nodes: placement.nodes, version: 3))
        XCTAssertEqual(out.cancelled, [])
    }

    func testASplitDuringAMoveCancelsIt() {
        let moving = entry(500, 500, 1000, version: 2, voters: ["n1", "n2", "n3", "n4"],
                           placement: ShardPlacement(nodes: ["n4", "n5", "n6"], version: 2))
        XCTAssertTrue(moving.moving)
        let parent = entry(500, 500, 749, version: 3, voters: ["n1", "n2", "n3", "n4"])
        let child = entry(750, 750, 1000, version: 3, voters: ["n1", "n2", "n3", "n4"])
        let out = ShardList.compose(local: [parent, child], reported: [], previous: [moving], requests: [:])
        XCTAssertNil(out.shards[0].placement)
        XCTAssertNil(out.shards[1].placement)
        XCTAssertEqual(out.cancelled.sorted(), [500, 750])
    }

    func testARequestIsWrittenInAtItsVersionOnly() {
        let shard = entry(500, 500, 1000, version: 2)
        let wanted = ShardPlacement(nodes: ["n6", "n4", "n5"], version: 2)
        var out = ShardList.compose(local: [shard], reported: [], previous: [shard], requests: [500: wanted])
        XCTAssertEqual(out.shards[0].placement?.nodes, ["n4", "n5", "n6"])
        XCTAssertTrue(out.shards[0].moving)
        out = ShardList.compose(local: [entry(500, 500, 749, version: 3)], reported: [], previous: [shard], requests: [500: wanted])
        XCTAssertNil(out.shards[0].placement)
        XCTAssertEqual(out.stale, [500])
    }

    func testAnOverlappedPreviousEntryIsDropped() {
        let old = entry(500, 500, 1000, version: 2)
        let newer = entry(500, 500, 749, version: 3)
        let child = entry(750, 750, 1000, version: 3)
        let out = ShardList.compose(local: [newer], reported: [child], previous: [old], requests: [:])
        XCTAssertEqual(out.shards.map { [$0.firstBucket, $0.lastBucket] }, [[500, 749], [750, 1000]])
    }

    func node(_ id: String, _ state: NodeState, order: UInt64) -> MapNode {
        MapNode(id: id, url: "http://\(id)", level: 1, roles: [], state: state, joinOrder: order, primaryLoadManager: false)
    }

    /// Figure 7 on 8 nodes: shard 500 lives on n5..n8; n5 was removed (down too long), n7
    /// leaves, n6 merely failed (it may come back: kept).
    func testARemovedOrLeavingPlacedNodeIsReplacedByTheLeastLoadedActiveNode() {
        let nodes = [node("n1", .active, order: 1), node("n2", .active, order: 2), node("n3", .active, order: 3),
                     node("n4", .active, order: 4), node("n6", .failed, order: 6),
                     node("n7", .leaving, order: 7), node("n8", .active, order: 8)]
        let shards = [entry(1, 1, 499, version: 2),
                      entry(500, 500, 749, version: 3, voters: ["n5", "n6", "n7", "n8"],
                            placement: ShardPlacement(nodes: ["n5", "n6", "n7", "n8"], version: 3)),
                      entry(750, 750, 1000, version: 3, voters: ["n1", "n2", "n3"],
                            placement: ShardPlacement(nodes: ["n1", "n2", "n3"], version: 3))]
        let out = ShardList.repaired(shards, nodes: nodes)
        XCTAssertEqual(out.shards[1].placement?.nodes, ["n4", "n6", "n8", "n1"].sorted(), "n4 holds no placed shard; then n1 (oldest)")
        XCTAssertEqual(out.replaced.map(\.lost), ["n5", "n7"])
        XCTAssertEqual(out.shards[1].placement?.version, 3)
        XCTAssertTrue(out.shards[1].moving)
        XCTAssertEqual(out.shards[2].placement, shards[2].placement, "an intact placement stays")
        XCTAssertNil(out.shards[0].placement)
        // Nobody to take over: the placement keeps its node.
        let few = [node("n1", .active, order: 1), node("n2", .leaving, order: 2)]
        let kept = ShardList.repaired([entry(500, 500, 1000, version: 2, placement: ShardPlacement(nodes: ["n1", "n2"], version: 2))],
                                      nodes: few)
        XCTAssertEqual(kept.shards[0].placement?.nodes, ["n1", "n2"])
        XCTAssertTrue(kept.replaced.isEmpty)
        // Gone from the map with nobody to take over: the shard lives on the node left.
        let shrunk = ShardList.repaired(kept.shards, nodes: [node("n1", .active, order: 1)])
        XCTAssertEqual(shrunk.shards[0].placement?.nodes, ["n1"])
        XCTAssertEqual(shrunk.replaced.map(\.lost), ["n2"])
        XCTAssertNil(shrunk.replaced.first?.by)
    }
}
