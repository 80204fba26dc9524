import RaftCore
import Topology
import XCTest

/// The pure part of a shard move (docs/ARCHITECTURE.md, "Moving a shard"): from a group's
/// configuration to its target, one change at a time, the way a shard's leader walks it.
final class MembershipMirrorTests: XCTestCase {
    let lm = NodeAttributes(level: 1, priority: 0, autoPromote: false)
    let normal = NodeAttributes(level: 1, priority: 1, autoPromote: false)

    /// Mach VI's meta shard: n1..n5 voters (n3..n5 Load Managers' priority 0), n6 a learner.
    var meta: ConfState {
        var attributes: [NodeID: NodeAttributes] = [:]
        for id in 1...6 as ClosedRange<NodeID> { attributes[id] = id <= 2 ? normal : lm }
        return ConfState(voters: [1, 2, 3, 4, 5], learners: [6], attributes: attributes)
    }

    func testWithoutAPlacementTheTargetIsTheMetaShard() {
        XCTAssertEqual(MembershipMirror.target(meta: meta, placement: nil), meta)
    }

    func testAPlacementMakesEveryPlacedMemberAVoterThatCanLead() {
        let target = MembershipMirror.target(meta: meta, placement: [4, 5, 6, 99])
        XCTAssertEqual(target.voters, [4, 5, 6], "99 is not in the cluster: ignored")
        XCTAssertEqual(target.learners, [])
        for id in target.voters { XCTAssertGreaterThanOrEqual(target.attributes(of: id).priority, 1) }
        XCTAssertEqual(MembershipMirror.target(meta: meta, placement: [99]), meta, "nothing placeable: stay")
    }

    /// Walks a group from `start` to `target` with leader `leader`, as the shard's leader
    /// does (`RaftLoop.reconcileMembership`); checks every step; returns the end state.
    func walk(from start: ConfState, to target: ConfState, leader: NodeID, caughtUp: (NodeID) -> Bool = { _ in true })
        -> (conf: ConfState, leader: NodeID, steps: [String]) {
        var conf = start, leader = leader, steps: [String] = []
        for _ in 0..<100 {
            if let change = MembershipMirror.nextChange(from: conf, to: target, leader: leader, caughtUp: caughtUp) {
                XCTAssertFalse(change.kind == .remove && change.nodeID == leader, "the leader is never removed while it leads")
                if change.kind == .remove {
                    XCTAssertTrue(target.voters.allSatisfy(conf.isVoter), "nothing removed before every target voter votes")
                }
                conf = conf.applying(change)
                XCTAssertFalse(conf.voters.isEmpty)
                steps.append("\(change.kind) \(change.nodeID)")
            } else if MembershipMirror.handOff(from: conf, to: target, leader: leader) {
                let next = conf.voters.first { $0 != leader && target.isVoter($0) }
                XCTAssertNotNil(next, "a target voter to hand leadership to")
                XCTAssertGreaterThan(conf.attributes(of: next!).priority, 0, "the new leader may lead")
                leader = next!
                steps.append("transfer \(leader)")
            } else {
                return (conf, leader, steps)
            }
        }
        XCTFail("did not converge: \(steps)")
        return (conf, leader, steps)
    }

    func testAMoveAddsPromotesHandsOverThenRemoves() {
        let group = meta  // a split child starts with the meta shard's configuration
        let target = MembershipMirror.target(meta: meta, placement: [4, 5, 6])
        let (conf, leader, steps) = walk(from: group, to: target, leader: 2)
        XCTAssertEqual(conf.voters, [4, 5, 6])
        XCTAssertEqual(conf.learners, [])
        XCTAssertTrue([4, 5, 6].contains(leader))
        for id in conf.voters { XCTAssertEqual(conf.attributes(of: id).priority, 1) }
        let promote = steps.firstIndex(of: "promote 6")!, firstRemove = steps.firstIndex { $0.hasPrefix("remove") }!
        let transfer = steps.firstIndex { $0.hasPrefix("transfer") }!
        XCTAssertLessThan(promote, firstRemove)
        XCTAssertLessThan(steps.firstIndex(of: "updateAttributes 4")!, transfer, "placed voters may lead before the hand-off")
        XCTAssertEqual(steps.filter { $0.hasPrefix("remove") }.count, 3, steps.description)
    }

    func testAMoveToNewNodesAddsThemAsLearnersFirst() {
        var attributes: [NodeID: NodeAttributes] = [:]
        for id in 1...6 as ClosedRange<NodeID> { attributes[id] = normal }
        let meta = ConfState(voters: [1, 2, 3], learners: [4, 5, 6], attributes: attributes)
        let group = ConfState(voters: [1, 2, 3], learners: [], attributes: attributes)  // 4..6 joined after the split
        let target = MembershipMirror.target(meta: meta, placement: [4, 5, 6])
        let (conf, _, steps) = walk(from: group, to: target, leader: 1)
        XCTAssertEqual(conf.voters, [4, 5, 6])
        XCTAssertEqual(Array(steps.prefix(3)), ["addLearner 4", "addLearner 5", "addLearner 6"])
    }

    /// A placed node that never catches up (it failed mid-move): it stays a learner and no
    /// old member is removed — the group keeps its quorum until the move can finish.
    func testAMoveWaitsForALaggingNodeAndRemovesNothing() {
        let target = MembershipMirror.target(meta: meta, placement: [4, 5, 6])
        let (conf, leader, steps) = walk(from: meta, to: target, leader: 1, caughtUp: { $0 != 6 })
        XCTAssertEqual(conf.voters, [1, 2, 3, 4, 5], steps.description)
        XCTAssertEqual(conf.learners, [6])
        XCTAssertEqual(leader, 1)
        XCTAssertFalse(steps.contains { $0.hasPrefix("remove") })
        // Once it caught up, the move completes from where it stopped.
        let (done, _, _) = walk(from: conf, to: target, leader: leader)
        XCTAssertEqual(done.voters, [4, 5, 6])
    }

    /// Old voters down during a move (found by `MultiShardTests.testRandomHistories`): the
    /// dead leave first, and a live voter is never removed while that would leave the
    /// group without a live majority.
    func testAMoveRemovesDeadMembersFirstAndKeepsALiveMajority() {
        var attributes: [NodeID: NodeAttributes] = [:]
        for id in 1...8 as ClosedRange<NodeID> { attributes[id] = normal }
        // Mid-move: old voters 1..5 (4 and 5 dead), placed 6..8 already voters.
        let conf = ConfState(voters: [1, 2, 3, 4, 5, 6, 7, 8], learners: [], attributes: attributes)
        let target = ConfState(voters: [6, 7, 8], learners: [], attributes: attributes)
        let live: Set<NodeID> = [1, 2, 3, 6, 7, 8]
        XCTAssertEqual(MembershipMirror.nextChange(from: conf, to: target, leader: 1, caughtUp: live.contains), .remove(4))
        let noDeadRemovable = ConfState(voters: [1, 2, 3, 4, 5, 6, 7], learners: [], attributes: attributes)
        let sevenTarget = ConfState(voters: [1, 6, 7], learners: [], attributes: attributes)
        let change = MembershipMirror.nextChange(from: noDeadRemovable, to: sevenTarget, leader: 1,
                                                 caughtUp: Set<NodeID>([1, 2, 3, 6]).contains)
        XCTAssertEqual(change, .remove(4), "a dead member goes before any live one")
        // Placed voters 2 and 3 down: neither live old voter may go (2 live of 4 voters).
        let waiting = ConfState(voters: [1, 2, 3, 4, 5], learners: [], attributes: attributes)
        let three = ConfState(voters: [1, 2, 3], learners: [], attributes: attributes)
        XCTAssertNil(MembershipMirror.nextChange(from: waiting, to: three, leader: 1, caughtUp: Set<NodeID>([1, 4, 5]).contains))
        XCTAssertEqual(MembershipMirror.nextChange(from: waiting, to: three, leader: 1, caughtUp: Set<NodeID>([1, 2, 4, 5]).contains),
                       .remove(4), "with 2 back: 1, 2, 5 of 4 voters")
    }
}
