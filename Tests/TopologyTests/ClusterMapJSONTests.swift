import JSON
import Topology
import XCTest

final class ClusterMapJSONTests: XCTestCase {
    /// Maps from the scenarios: every stage, failures, departures, a bigger leader.
    func scenarioMaps() -> [ClusterMap] {
        var maps: [ClusterMap] = [.empty, .initial(founder: "n1", url: "http://n1:7000", level: 3)]
        for stage in 1...8 { maps.append(Simulator.stage(stage).map) }
        var failed = Simulator.stage(5)
        failed.fail("n1")
        failed.converge()
        maps.append(failed.map)
        failed.elapse(60_000)
        failed.converge()
        maps.append(failed.map)
        var leaving = Simulator.stage(3)
        leaving.leave("n1")
        leaving.plan()
        maps.append(leaving.map)
        var bigger = Simulator.stage(3)
        bigger.join("n4", level: 5)
        bigger.converge()
        maps.append(bigger.map)
        var moved = Simulator.stage(6).map
        moved.shards[0].lastBucket = 500
        moved.shards.append(ShardEntry(id: 501, firstBucket: 501, lastBucket: 1000, writer: "n5", voters: ["n4", "n5", "n6"],
                                       learners: [], version: 2, placement: ShardPlacement(nodes: ["n6", "n5", "n4"], version: 2)))
        maps.append(moved)
        return maps
    }

    func testRoundTrip() throws {
        for map in scenarioMaps() {
            XCTAssertEqual(try ClusterMap(json: map.json), map)
            XCTAssertEqual(try ClusterMap(json: JSON.parse(map.json.text)), map, map.json.text)
        }
    }

    func testLayout() throws {
        var sim = Simulator.stage(3)
        sim.fail("n2")
        sim.plan()
        let expected = try JSON.parse(
            """
            {"version":\(sim.map.version),"stage":"Mach II","stage_number":2,
             "nodes":[
              {"id":"n1","url":"http://n1:7000","level":2,"roles":["writer","replica"],"state":"active","join_order":1,"primary_load_manager":false},
              {"id":"n2","url":"http://n2:7000","level":2,"roles":[],"state":"failed","join_order":2,"primary_load_manager":false},
              {"id":"n3","url":"http://n3:7000","level":2,"roles":["load_manager"],"state":"active","join_order":3,"primary_load_manager":true}],
             "shards":[{"id":1,"buckets":[1,1000],"version":1,"writer":"n1","voters":["n1","n2","n3"],"learners":[]}],
             "recommendations":[{"seq":1,"kind":"replace_node","target":"n2","reason":"n2 (replica) stopped answering","stage":2,"map_version":\(sim.map.version)}],
             "next_join_order":4,"next_recommendation_seq":2,"settings":null}
            """)
        XCTAssertEqual(sim.map.json, expected, sim.map.json.text)
        XCTAssertEqual(ClusterMap.empty.json["shards"]?.count, 0)
        XCTAssertEqual(ClusterMap.empty.json["stage"]?.stringValue, "Mach 0")
    }

    /// The cluster-wide settings ride in the map; a map without them (written before they
    /// existed) reads as nil, and bad values name their path.
    func testSettingsRoundTripAndValidation() throws {
        var map = Simulator.stage(3).map
        XCTAssertNil(try ClusterMap(json: map.json.setting("settings", to: nil)).settings)
        let settings = ClusterSettings(maxVoters: 5, maxReplicas: 2, failureTimeoutMilliseconds: 1_500,
                                       removeAfterMilliseconds: 60_000, scalingPolicy: ["cooldown_seconds": 30])
        map.settings = settings
        XCTAssertEqual(try ClusterMap(json: JSON.parse(map.json.text)), map)
        XCTAssertEqual(map.json["settings"]?["max_replicas"]?.intValue, 2)
        let bad = map.json.setting("settings", to: settings.json.setting("max_voters", to: "5"))
        XCTAssertThrowsError(try ClusterMap(json: bad)) { XCTAssertTrue("\($0)".contains("settings.max_voters")) }
        // Updates: any subset; unknown keys and non-integers refused; ranges are validate()'s.
        let updated = try settings.updating(topology: ["max_replicas": 3, "remove_after_ms": 0])
        XCTAssertEqual(updated.maxReplicas, 3)
        XCTAssertEqual(updated.removeAfterMilliseconds, 0)
        XCTAssertEqual(updated.maxVoters, 5)
        XCTAssertNoThrow(try updated.validate())
        XCTAssertThrowsError(try settings.updating(topology: ["bogus": 1]))
        XCTAssertThrowsError(try settings.updating(topology: ["max_voters": 5.0]))
        XCTAssertThrowsError(try settings.updating(topology: ["remove_after_ms": -1]))
        XCTAssertThrowsError(try settings.updating(topology: ["max_replicas": 5]).validate())
        XCTAssertThrowsError(try settings.updating(topology: ["failure_timeout_ms": 199]).validate())
        XCTAssertEqual(settings.topologyPolicy(TopologyPolicy()).maxReplicas, 2)
        XCTAssertEqual(settings.topologyPolicy(TopologyPolicy()).removeAfterMilliseconds, 60_000)
    }

    func testExtraKeysIgnoredAndRolesCanonicalized() throws {
        let map = Simulator.stage(2).map
        var node = map.json["nodes"]![0]!.setting("roles", to: ["replica", "writer"]).setting("live", to: true)
        node = node.setting("extra", to: ["x": 1])
        let json = map.json.setting("nodes", to: [node, map.json["nodes"]![1]!]).setting("policy", to: [:])
        XCTAssertEqual(try ClusterMap(json: json), map)
    }

    func testNodesAreSortedByJoinOrder() throws {
        let map = Simulator.stage(3).map
        let nodes = map.json["nodes"]!.elements
        let json = map.json.setting("nodes", to: .array(nodes.reversed()))
        XCTAssertEqual(try ClusterMap(json: json), map)
    }

    func testRejections() throws {
        let base = Simulator.stage(3).map.json
        let node = base["nodes"]![0]!
        let shard = base["shards"]![0]!
        func withNode(_ key: String, _ value: JSON?) -> JSON {
            base.setting("nodes", to: [node.setting(key, to: value)])
        }
        func withShard(_ key: String, _ value: JSON?) -> JSON {
            base.setting("shards", to: [shard.setting(key, to: value)])
        }
        let recommendation: JSON = [
            "seq": 1, "kind": "replace_node", "target": nil, "reason": "r", "stage": 1, "map_version": 2,
        ]
        let rows: [(String, JSON)] = [
            ("not an object", [1, 2]),
            ("no version", base.setting("version", to: nil)),
            ("negative version", base.setting("version", to: -1)),
            ("string version", base.setting("version", to: "3")),
            ("no nodes", base.setting("nodes", to: nil)),
            ("nodes not an array", base.setting("nodes", to: ["a": 1])),
            ("node not an object", base.setting("nodes", to: ["n1"])),
            ("no next_join_order", base.setting("next_join_order", to: nil)),
            ("no next_recommendation_seq", base.setting("next_recommendation_seq", to: nil)),
            ("no shards", base.setting("shards", to: nil)),
            ("no recommendations", base.setting("recommendations", to: nil)),
            ("level 0", withNode("level", 0)),
            ("level 6", withNode("level", 6)),
            ("level real", withNode("level", 2.5)),
            ("unknown role", withNode("roles", ["boss"])),
            ("duplicate role", withNode("roles", ["writer", "writer"])),
            ("unknown state", withNode("state", "gone")),
            ("no id", withNode("id", nil)),
            ("no url", withNode("url", nil)),
            ("bad primary flag", withNode("primary_load_manager", "yes")),
            ("negative join order", withNode("join_order", -3)),
            ("duplicate ids", base.setting("nodes", to: [node, node])),
            ("bad buckets", withShard("buckets", [1])),
            ("reversed buckets", withShard("buckets", [10, 1])),
            ("writer not a string", withShard("writer", 1)),
            ("voters not strings", withShard("voters", [1])),
            ("no learners", withShard("learners", nil)),
            ("unknown kind", base.setting("recommendations", to: [recommendation.setting("kind", to: "reboot")])),
            ("no reason", base.setting("recommendations", to: [recommendation.setting("reason", to: nil)])),
            ("negative stage", base.setting("recommendations", to: [recommendation.setting("stage", to: -1)])),
        ]
        for (name, json) in rows {
            XCTAssertThrowsError(try ClusterMap(json: json), name) { error in
                guard case .invalidMap = error as? TopologyError else { return XCTFail("\(name): \(error)") }
            }
        }
        XCTAssertNoThrow(try ClusterMap(json: base.setting("recommendations", to: [recommendation])))
    }

    func testErrorsNameThePath() {
        let base = Simulator.stage(2).map.json
        let json = base.setting("nodes", to: [base["nodes"]![0]!, base["nodes"]![1]!.setting("level", to: 9)])
        XCTAssertThrowsError(try ClusterMap(json: json)) { error in
            XCTAssertEqual("\(error)", "invalid cluster map: nodes[1].level: expected an integer in 1...5")
        }
    }
}
