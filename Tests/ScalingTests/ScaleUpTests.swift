import JSON
import Scaling
import XCTest

final class ScaleUpTests: XCTestCase {
    /// Latency climbing from 0.1 s to 5 s: one add_node once the mean stays above 3 s; the new
    /// node halves the latency, so there is no second one.
    func testGradualRiseAddsExactlyOneNode() throws {
        func demand(_ t: Int) -> Double { 0.1 + 4.9 * Double(min(t, 300)) / 300 }
        var sim = Simulator(policy: .tiny, facts: .cluster(stage: 3, replicas: 1))
        sim.run(600) { moment in Load(latency: demand(moment.t) / Double(1 + moment.nodesAdded)) }
        XCTAssertEqual(sim.kinds, [.addNode])
        XCTAssertTrue(sim.surgingSeconds.isEmpty)
        let (second, proposal) = try XCTUnwrap(sim.proposals.first)
        XCTAssertEqual(proposal.target, Proposal.Target(level: 2, joinURL: "http://n1.test:7000"))
        XCTAssertEqual(proposal.stage, "Mach 3")
        XCTAssertEqual(proposal.stageNumber, 3)
        let average = try XCTUnwrap(proposal.evidence["average_seconds_60"])
        XCTAssertGreaterThan(average, 3)
        XCTAssertEqual(proposal.evidence["sustained_seconds"], 10)
        XCTAssertEqual(proposal.evidence["requests_60"], 1_200)
        XCTAssertTrue(proposal.reason.hasPrefix("Mean response time "), proposal.reason)
        XCTAssertTrue(proposal.reason.contains("add a level 2 node"), proposal.reason)
        // The mean over the 60 s window crossed 3 s ten seconds earlier, and not before.
        let crossed = try XCTUnwrap(sim.evaluations.first { $0.evaluation.up }?.second)
        XCTAssertEqual(second, crossed + 10)
        func mean(endingAt t: Int) -> Double { (t - 59...t).map(demand).reduce(0, +) / 60 }
        let t = Int(crossed - sim.start)
        XCTAssertGreaterThan(mean(endingAt: t), 3)
        XCTAssertLessThanOrEqual(mean(endingAt: t - 1), 3)
    }

    /// Latency wandering between 0.2 s and 1 s is neither slow enough to grow nor fast enough to shrink.
    func testFlatLoadRecommendsNothing() {
        for policy in [ScalingPolicy.tiny, ScalingPolicy()] {
            var sim = Simulator(policy: policy, facts: .cluster(stage: 5, replicas: 3))
            sim.run(3_600) { moment in
                let phase = Double((moment.t + 20) % 40) / 20  // 0..<2, starting at the top
                return Load(latency: 0.2 + 0.8 * (phase < 1 ? phase : 2 - phase))
            }
            XCTAssertEqual(sim.kinds, [], "\(policy)")
            XCTAssertTrue(sim.surgingSeconds.isEmpty)
            XCTAssertFalse(sim.evaluations.contains { $0.evaluation.up || $0.evaluation.down })
        }
    }

    /// More than 1 % timeouts over the timeout window scales up although the mean is low.
    func testTimeoutsScaleUpWithALowAverage() throws {
        var sim = Simulator(policy: .tiny, facts: .cluster(stage: 5, replicas: 3))
        sim.run(300) { moment in Load(latency: 0.6, timeoutFraction: moment.nodesAdded == 0 ? 0.02 : 0) }
        XCTAssertEqual(sim.kinds, [.addNode])
        let proposal = try XCTUnwrap(sim.proposals.first?.proposal)
        XCTAssertEqual(try XCTUnwrap(proposal.evidence["timeout_rate_30"]), 0.02, accuracy: 0.001)
        XCTAssertEqual(try XCTUnwrap(proposal.evidence["average_seconds_60"]), 0.6, accuracy: 0.001)
        XCTAssertTrue(proposal.reason.contains("timed out"), proposal.reason)
        // 1 % exactly is not above the threshold.
        var edge = Simulator(policy: .tiny, facts: .cluster(stage: 3, replicas: 1))
        edge.run(300, Load(requestsPerSecond: 100, latency: 0.6, timeoutFraction: 0.01))
        XCTAssertEqual(edge.kinds, [])
    }

    /// Fewer than minimumRequests in the window decides nothing, however slow.
    func testTooLittleTrafficDecidesNothing() {
        let rows: [Load] = [
            Load(requestsPerSecond: 1, latency: 10, timeoutFraction: 0.5),  // 60 requests in the up window
            Load(requestsPerSecond: 1, latency: 0.01),  // would be a scale-down
        ]
        for load in rows {
            var sim = Simulator(policy: .tiny, facts: .cluster(stage: 6, replicas: 4, maxReplicas: 8))
            sim.run(900, load)
            XCTAssertEqual(sim.kinds, [], "\(load)")
            XCTAssertFalse(sim.evaluations.contains { $0.evaluation.up || $0.evaluation.down }, "\(load)")
        }
        // Two requests a second (120 in the window) is enough.
        var sim = Simulator(policy: .tiny, facts: .cluster(stage: 6, replicas: 4, maxReplicas: 8))
        sim.run(900, Load(requestsPerSecond: 2, latency: 10))
        XCTAssertFalse(sim.kinds.isEmpty)
    }

    /// Reads (and queries, which count as reads) scale out with replicas, then by splitting.
    func testReadHeavyAddsReplicasThenSplits() throws {
        let rows: [(replicas: Int, maxReplicas: Int, kind: RecommendationKind, target: Proposal.Target)] = [
            (1, 4, .addNode, .init(level: 3, joinURL: "http://n1.test:7000")),
            (3, 4, .addNode, .init(level: 3, joinURL: "http://n1.test:7000")),
            (4, 4, .splitShard, .init(shard: 1, at: 501, joinURL: "http://n1.test:7000")),
            (6, 4, .splitShard, .init(shard: 1, at: 501, joinURL: "http://n1.test:7000")),
        ]
        for row in rows {
            var sim = Simulator(
                policy: .tiny, facts: .cluster(stage: row.replicas + 2, replicas: row.replicas, maxReplicas: row.maxReplicas, level: 3))
            sim.applyProposals = false
            sim.run(120, Load(latency: 4, readFraction: 0.75, queryFraction: 0.20))
            let proposal = try XCTUnwrap(sim.proposals.first?.proposal, "\(row)")
            XCTAssertEqual(sim.last?.workload, .readIntensive)
            XCTAssertEqual(proposal.kind, row.kind, "\(row)")
            XCTAssertEqual(proposal.target, row.target, "\(row)")
            XCTAssertEqual(try XCTUnwrap(proposal.evidence["read_fraction"]), 0.95, accuracy: 0.001)
            XCTAssertEqual(sim.proposals.count, 2, "one per cooldown: \(sim.times(row.kind))")
        }
    }

    /// Writes scale the leader up a level at a time, then split at the top level.
    func testWriteHeavyGrowsTheLeaderThenSplits() throws {
        let rows: [(level: Int, kind: RecommendationKind, target: Proposal.Target)] = [
            (1, .biggerLeader, .init(level: 2, joinURL: "http://n1.test:7000")),
            (4, .biggerLeader, .init(level: 5, joinURL: "http://n1.test:7000")),
            (5, .splitShard, .init(shard: 1, at: 501, joinURL: "http://n1.test:7000")),
        ]
        for row in rows {
            var sim = Simulator(policy: .tiny, facts: .cluster(stage: 4, replicas: 2, level: row.level))
            sim.applyProposals = false
            sim.run(60, Load(latency: 4, readFraction: 0.1))
            let proposal = try XCTUnwrap(sim.proposals.first?.proposal, "\(row)")
            XCTAssertEqual(sim.last?.workload, .writeIntensive)
            XCTAssertEqual(proposal.kind, row.kind, "\(row)")
            XCTAssertEqual(proposal.target, row.target, "\(row)")
            XCTAssertEqual(try XCTUnwrap(proposal.evidence["write_fraction"]), 0.9, accuracy: 0.001)
            XCTAssertTrue(proposal.reason.contains("write-intensive"), proposal.reason)
        }
        // Applied, the proposals climb to level 5 and then split, one per cooldown.
        var sim = Simulator(policy: .tiny, facts: .cluster(stage: 4, replicas: 2, level: 3))
        sim.run(400, Load(latency: 4, readFraction: 0.1))
        XCTAssertEqual(Array(sim.kinds.prefix(3)), [.biggerLeader, .biggerLeader, .splitShard])
        XCTAssertEqual(sim.facts.leaderLevel, 5)
        XCTAssertEqual(sim.proposals.map(\.proposal.target.level).prefix(2), [4, 5])
    }

    /// A shard that cannot usefully be split (one hot bucket) gets no split recommendation.
    func testNoSplitIsRecommendedForAHotBucket() {
        var read = Simulator(policy: .tiny, facts: .cluster(stage: 6, replicas: 4, maxReplicas: 4, splitAt: nil))
        read.run(300, Load(latency: 4, readFraction: 0.95))
        XCTAssertEqual(read.kinds, [])
        var write = Simulator(policy: .tiny, facts: .cluster(stage: 4, replicas: 2, level: 5, splitAt: nil))
        write.run(300, Load(latency: 4, readFraction: 0.1))
        XCTAssertEqual(write.kinds, [])
    }

    func testProposalAndEvaluationJSON() throws {
        var sim = Simulator(policy: .tiny, facts: .cluster(stage: 3, replicas: 1))
        sim.run(60, Load(latency: 4))
        let (second, proposal) = try XCTUnwrap(sim.proposals.first)
        let json = try JSON.parse(proposal.json.text)
        XCTAssertEqual(json["kind"]?.stringValue, "add_node")
        XCTAssertEqual(json["stage"]?.stringValue, "Mach 3")
        XCTAssertEqual(json["stage_number"]?.intValue, 3)
        XCTAssertEqual(json["reason"]?.stringValue, proposal.reason)
        XCTAssertEqual(json["target"], JSON.object([("level", .int(2)), ("join_url", .string("http://n1.test:7000"))]))
        XCTAssertEqual(json["evidence"]?.count, proposal.evidence.count)
        XCTAssertEqual(json["evidence"]?["average_seconds_60"]?.doubleValue, proposal.evidence["average_seconds_60"])
        XCTAssertEqual(Proposal.Target(node: "n4").json, JSON.object([("node", .string("n4"))]))
        XCTAssertEqual(Proposal.Target().json.count, 0)

        let evaluation = try XCTUnwrap(sim.evaluations.first { $0.second == second }?.evaluation)
        let view = evaluation.json
        XCTAssertEqual(view["proposals"]?.count, 1)
        XCTAssertEqual(view["up"]?.boolValue, true)
        XCTAssertEqual(view["surging"]?.boolValue, false)
        XCTAssertEqual(view["workload"]?.stringValue, "balanced")
        XCTAssertEqual(view["state"]?["last_recommendation"]?.intValue, Int64(second))
        XCTAssertEqual(view["state"]?["last_recommendation_kind"]?.stringValue, "add_node")
        XCTAssertEqual(view["state"]?["up_since"]?.isNull, true)
        XCTAssertEqual(view["surges"]?.count, 0)
        XCTAssertEqual(view["state"]?["surge_episode"]?.isNull, true)
        XCTAssertEqual(
            RecommendationKind.allCases.map(\.rawValue), ["add_node", "remove_node", "replace_node", "bigger_leader", "split_shard", "surge"])
        XCTAssertEqual(RecommendationKind.allCases.filter(\.isInformational), [.surge])
    }
}
