import RaftCore

/// Every shard's group lives on the same nodes as the meta shard's (shard 1), with the same
/// voters, learners and attributes: a split moves no data, and the topology planner's roles
/// hold for every shard (docs/ARCHITECTURE.md, "Shards"). The leader of another shard brings
/// its configuration toward the meta shard's one change at a time, with this function.
public enum MembershipMirror {
    /// The configuration shard's group follows: the meta shard's, or for a moved shard its
    /// placement — every placed node that is a member of the cluster, a voter with its level
    /// and a priority of at least 1 (a moved shard's nodes are its Writer and Read Replicas).
    public static func target(meta: ConfState, placement: Set<NodeID>?) -> ConfState {
        guard let placement else { return meta }
        let placed = placement.filter { meta.isMember($0) }.sorted()
        guard !placed.isEmpty else { return meta }
        var attributes: [NodeID: NodeAttributes] = [:]
        for id in placed {
            var wanted = meta.attributes(of: id)
            wanted.priority = max(wanted.priority, 1)
            wanted.autoPromote = false
            attributes[id] = wanted
        }
        return ConfState(voters: placed, learners: [], attributes: attributes)
    }

    /// The next change that brings `current` closer to `target`, or nil when they agree.
    /// `caughtUp(id)` tells whether a member is live and current (a learner may be promoted; a
    /// voter counts toward the live majority a removal must keep); `leader` is never removed
    /// (it hands leadership off first: see `handOff`).
    public static func nextChange(from current: ConfState, to target: ConfState, leader: NodeID,
                           caughtUp: (NodeID) -> Bool) -> ConfChange? {
        guard !target.voters.isEmpty else { return nil }
        for id in target.members.sorted() where !current.isMember(id) {
            var attributes = target.attributes(of: id)
            attributes.autoPromote = false
            return .addLearner(id, attributes)
        }
        for id in target.voters.sorted() where current.isLearner(id) && caughtUp(id) {
            return .promote(id)
        }
        // Attributes before removals: a moved shard's placed voters may still carry priority 0
        // (a Load Manager's in the meta shard) and could not take leadership over.
        for id in current.members.sorted() where target.isMember(id) {
            var wanted = target.attributes(of: id)
            wanted.autoPromote = false
            var have = current.attributes(of: id)
            have.autoPromote = false
            if wanted != have { return .updateAttributes(id, wanted) }
        }
        // Nothing is removed before every target voter votes: the group never shrinks below
        // its new quorum while a move is under way.
        guard target.voters.allSatisfy(current.isVoter) else { return nil }
        let leaving = current.members.filter { $0 != leader && !target.isMember($0) }
            + target.learners.filter { current.isVoter($0) && $0 != leader }  // demoted in the meta shard: re-added as a learner next
        // Lagging (likely dead) members first: removing one shrinks the quorum; removing a
        // live voter while others are down could leave the group without a live majority.
        for id in leaving.sorted(by: { (caughtUp($0) ? 1 : 0, $0) < (caughtUp($1) ? 1 : 0, $1) }) {
            if current.isVoter(id) && caughtUp(id) {
                let after = current.voters.filter { $0 != id }
                guard after.count(where: { $0 == leader || caughtUp($0) }) >= after.count / 2 + 1 else { continue }
            }
            return .remove(id)
        }
        return nil
    }

    /// True when the leader itself is no longer (or no longer a voter) in the target
    /// configuration: once no other change is left (`nextChange` is nil), it hands leadership
    /// to a target voter before it can be removed.
    public static func handOff(from current: ConfState, to target: ConfState, leader: NodeID) -> Bool {
        !target.voters.isEmpty && !target.isVoter(leader) && current.voters.count > 1
            && target.voters.allSatisfy(current.isVoter)
    }
}
