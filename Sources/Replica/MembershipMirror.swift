import RaftCore

/// Every shard's group lives on the same nodes as the meta shard's (shard 1), with the same
/// voters, learners and attributes: a split moves no data, and the topology planner's roles
/// hold for every shard (docs/ARCHITECTURE.md, "Shards"). The leader of another shard brings
/// its configuration toward the meta shard's one change at a time, with this function.
enum MembershipMirror {
    /// The configuration shard's group follows: the meta shard's, or for a moved shard its
    /// placement — every placed node that is a member of the cluster, a voter with its level
    /// and a priority of at least 1 (a moved shard's nodes are its Writer and Read Replicas).
    static func target(meta: ConfState, placement: Set<NodeID>?) -> ConfState {
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
    /// `caughtUp(id)` tells whether a learner may be promoted; `leader` is never removed
    /// (it hands leadership off first: see `handOff`).
    static func nextChange(from current: ConfState, to target: ConfState, leader: NodeID,
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
        for id in current.members.sorted() where id != leader && !target.isMember(id) {
            return .remove(id)
        }
        for id in target.learners.sorted() where current.isVoter(id) && id != leader {
            return .remove(id)  // demoted in the meta shard: re-added as a learner next
        }
        return nil
    }

    /// True when the leader itself is no longer (or no longer a voter) in the target
    /// configuration: once no other change is left (`nextChange` is nil), it hands leadership
    /// to a target voter before it can be removed.
    static func handOff(from current: ConfState, to target: ConfState, leader: NodeID) -> Bool {
        !target.voters.isEmpty && !target.isVoter(leader) && current.voters.count > 1
            && target.voters.allSatisfy(current.isVoter)
    }
}
