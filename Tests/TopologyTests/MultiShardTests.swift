import RaftCore
import Topology
import XCTest

/// The planning of multi-shard stages: the topology planner (shard 1), the shard list, the
/// walk of each group and the Writer spread together, through `ShardedSimulator`, with the
/// per-shard invariants checked after every round.
final class MultiShardTests: XCTestCase {
    /// Mach V (two Read Replicas at most, a dead node removed after 1 s), split at 501, then
    /// three more nodes: Figure 7's starting point, before the move.
    static func eightNodesTwoShards() -> ShardedSimulator {
        var policy = TopologyPolicy()
        policy.maxReplicas = 2
        policy.removeAfterMilliseconds = 1_000
        var sim = ShardedSimulator(.stage(5, policy: policy))
        sim.split(1, at: 501)
        sim.converge()
        for id in ["n6", "n7", "n8"] {
            sim.meta.join(id)
            sim.converge()
        }
        return sim
    }

    /// Mach IV split in two: both shards on the same four nodes, their Writers apart, the
    /// Read Replica reading both.
    func testTwoShardsOnFourNodes() {
        var sim = ShardedSimulator(.stage(4))
        sim.split(1, at: 501)
        sim.converge()
        XCTAssertEqual(sim.map.shards.map(\.id), [1, 501])
        let writers = [sim.entry(1)!.writer, sim.entry(501)!.writer]
        XCTAssertNotNil(writers[0])
        XCTAssertNotNil(writers[1])
        XCTAssertNotEqual(writers[0], writers[1], "the two Writers share a node")
        XCTAssertEqual(sim.entry(501)!.voters, sim.entry(1)!.voters, "an unmoved shard lives where the meta shard does")
        XCTAssertEqual(sim.entry(501)!.learners, sim.entry(1)!.learners)
        for id in [1, 501] { XCTAssertFalse(sim.readers(id).isEmpty, "shard \(id) has no Read Replica") }
        XCTAssertEqual(sim.map.stage, 4)
    }

    /// Figure 7 on eight nodes: Mach V (two Read Replicas at most), split, three new nodes,
    /// the new shard moved onto them: it has its own Writer and two Read Replicas there, and
    /// the old nodes no longer hold it.
    func testFigureSevenOnEightNodes() {
        var sim = Self.eightNodesTwoShards()
        XCTAssertEqual(sim.map.stage, 8)
        sim.move(501, to: ["n6", "n7", "n8"])
        sim.converge()
        let moved = sim.entry(501)!
        XCTAssertEqual(moved.voters, ["n6", "n7", "n8"])
        XCTAssertEqual(moved.learners, [])
        XCTAssertFalse(moved.moving)
        XCTAssertTrue(["n6", "n7", "n8"].contains(moved.writer!), "the moved shard's Writer is on its own nodes")
        XCTAssertEqual(sim.readers(501).count, 2)
        let meta = sim.entry(1)!
        XCTAssertFalse(["n6", "n7", "n8"].contains(meta.writer!), "shard 1's Writer stayed on the old nodes")
        XCTAssertFalse(sim.readers(1).isEmpty)
        XCTAssertTrue(Set(sim.readers(1)).isDisjoint(with: sim.readers(501)), "each shard has Read Replicas of its own")
        XCTAssertEqual(sim.group(501)!.conf.members.map(ShardedSimulator.name).sorted(), ["n6", "n7", "n8"])
        // The walk: every placed node added and promoted before any old member left.
        let steps = sim.steps.filter { $0.hasPrefix("501:") }
        let lastPromote = steps.lastIndex { $0.contains("promote") }!
        let firstRemove = steps.firstIndex { $0.contains("remove") }!
        XCTAssertLessThan(lastPromote, firstRemove, steps.description)
    }

    /// The Writer of the second shard fails: its group elects another voter at once; the
    /// dead node is removed from every group once the planner removes it, and the Writers end
    /// apart again on the three nodes left.
    func testAFailedWriterOfOneShard() {
        var policy = TopologyPolicy()
        policy.removeAfterMilliseconds = 1_000
        var sim = ShardedSimulator(.stage(4, policy: policy))
        sim.split(1, at: 501)
        sim.converge()
        let victim = sim.entry(501)!.writer!
        XCTAssertNotEqual(victim, sim.entry(1)!.writer)
        sim.fail(victim)
        sim.round()
        let next = sim.entry(501)!.writer
        XCTAssertNotNil(next, "shard 501 has no Writer after its Writer failed")
        XCTAssertNotEqual(next, victim)
        XCTAssertEqual(sim.meta.recommendations(.replaceNode, target: victim).count, 1)
        sim.meta.elapse(2_000)
        sim.converge()
        for id in [1, 501] {
            XCTAssertFalse(sim.entry(id)!.voters.contains(victim), "shard \(id) still counts the removed node")
            XCTAssertFalse(sim.group(id).map { $0.conf.isMember(ShardedSimulator.raftID(victim)) } ?? false)
        }
        XCTAssertNotEqual(sim.entry(1)!.writer, sim.entry(501)!.writer, "Writers apart again")
    }

    /// A move loses one of its placed nodes half way (added as a learner, never caught up):
    /// the group keeps every old member and its quorum; once the planner removes the dead
    /// node, another node takes its place in the placement and the move completes.
    func testAMoveInterruptedByAFailure() {
        var sim = Self.eightNodesTwoShards()
        let oldVoters = sim.entry(501)!.voters
        sim.move(501, to: ["n6", "n7", "n8"])
        XCTAssertTrue(sim.run { $0.group(501)!.conf.isLearner(7) })
        sim.fail("n7")
        for _ in 0..<20 { sim.round() }
        let stalled = sim.entry(501)!
        XCTAssertTrue(stalled.moving)
        XCTAssertTrue(Set(oldVoters).isSubset(of: stalled.voters), "a member left before the move could finish")
        XCTAssertNotNil(stalled.writer, "the stalled move lost the Writer")
        XCTAssertFalse(sim.steps.contains { $0.hasPrefix("501:") && $0.contains("remove") })
        sim.meta.elapse(2_000)
        sim.converge()
        let done = sim.entry(501)!
        XCTAssertFalse(done.moving)
        XCTAssertEqual(done.voters.count, 3)
        XCTAssertTrue(done.voters.contains("n6") && done.voters.contains("n8"))
        XCTAssertFalse(done.voters.contains("n7"))
        XCTAssertEqual(done.placement?.nodes, done.voters)
        XCTAssertTrue(done.voters.contains(done.writer!))
    }

    /// The leader of a moving shard fails before it handed leadership over: another old voter
    /// takes over and finishes the walk.
    func testAMoveWhoseLeaderFails() {
        var sim = Self.eightNodesTwoShards()
        sim.move(501, to: ["n6", "n7", "n8"])
        XCTAssertTrue(sim.run { $0.group(501)!.conf.isVoter(6) })
        let leader = sim.entry(501)!.writer!
        XCTAssertFalse(["n6", "n7", "n8"].contains(leader))
        sim.fail(leader)
        sim.meta.elapse(2_000)
        sim.converge()
        let done = sim.entry(501)!
        XCTAssertEqual(done.voters, ["n6", "n7", "n8"])
        XCTAssertFalse(done.moving)
        XCTAssertTrue(done.voters.contains(done.writer!))
    }

    /// Random joins, failures (of a minority of every group), recoveries, splits and moves: the
    /// per-shard invariants hold after every round, and once nothing fails any more every
    /// shard ends with a Writer and no move is left half done.
    func testRandomHistories() {
        let seeds = UInt64(ProcessInfo.processInfo.environment["SHARD_PLAN_SEEDS"].flatMap(Int.init) ?? 150)
        for seed in 1...seeds {
            var random = SplitMix64(seed: seed)
            var policy = TopologyPolicy()
            policy.maxReplicas = 2
            policy.removeAfterMilliseconds = 1_000
            var sim = ShardedSimulator(.stage(3, policy: policy))
            var next = 4
            for _ in 0..<40 {
                switch random.next() % 8 {
                case 0 where next <= 9:
                    sim.meta.join("n\(next)")
                    next += 1
                case 1:
                    // A failure no group cannot survive: every group keeps a live majority
                    // (losing one is losing the shard, whatever the planner does).
                    let live = sim.meta.members.filter(\.alive).map(\.id)
                    if let victim = live.randomElement(using: &random), sim.survives(victim) { sim.fail(victim) }
                case 2:
                    if let dead = sim.meta.members.first(where: { !$0.alive }) { sim.meta.recover(dead.id) }
                case 3:
                    let shards = sim.map.shards.filter { $0.lastBucket > $0.firstBucket && !$0.moving }
                    if sim.map.shards.count < 4, let shard = shards.randomElement(using: &random) {
                        sim.split(shard.id, at: shard.firstBucket + 1 + Int(random.next() % UInt64(shard.lastBucket - shard.firstBucket)))
                    }
                case 4:
                    let live = sim.map.nodes.filter { $0.state == .active }.map(\.id)
                    if let shard = sim.map.shards.filter({ $0.id != 1 && !$0.moving }).randomElement(using: &random), live.count >= 3 {
                        sim.move(shard.id, to: Array(live.shuffled(using: &random).prefix(3)))
                    }
                case 5:
                    sim.meta.elapse(600)
                default:
                    break
                }
                for _ in 0..<3 { sim.round() }
                if testRun?.failureCount ?? 0 > 0 { return XCTFail("seed \(seed)") }
            }
            for member in sim.meta.members where !member.alive { sim.meta.recover(member.id) }
            sim.converge()
            for shard in sim.map.shards {
                XCTAssertNotNil(shard.writer, "seed \(seed): shard \(shard.id) ends without a Writer")
                XCTAssertFalse(shard.moving, "seed \(seed): shard \(shard.id) still moving: \(shard), group \(String(describing: sim.group(shard.id))), nodes \(sim.map.nodes.map { "\($0.id):\($0.state)" }), steps \(sim.steps.suffix(10))")
            }
            if testRun?.failureCount ?? 0 > 0 { return XCTFail("seed \(seed)") }
        }
    }
}
