extension Round {
    /// Rule 5: the Raft actions, most urgent first (the controller executes the first feasible one).
    func actions() -> [Action] {
        var actions: [Action] = []
        var quorum = QuorumGuard(observations: observations)
        var voters = observations.count { $0.membership == .voter }
        var promoted: Set<String> = []
        let leaderLeaving = leader?.leaving ?? false

        // a. Graceful leave.
        for node in nodes where node.state == .leaving {
            let seen = observation(node.id)
            if seen.isLeader {
                guard seen.alive else { continue }
                if let target = transferTarget(from: seen.id) {
                    actions.append(.transferLeadership(to: target))
                } else if voters < maxVoters, let learner = handoverLearner(from: seen.id) {
                    actions.append(.promote(learner))
                    promoted.insert(learner)
                    voters += 1
                }
            } else if quorum.admitRemoval(of: seen, writer: writer) {
                actions.append(.remove(seen.id))
            }
        }

        // b. Removal of dead nodes.
        for node in nodes where node.state == .failed {
            let seen = observation(node.id)
            if seen.downForMilliseconds >= removeAfter, quorum.admitRemoval(of: seen, writer: writer) {
                actions.append(.remove(seen.id))
            }
        }

        // c. Priorities.
        let bigger = biggerWriter()
        for node in nodes where node.state == .active {
            let seen = observation(node.id)
            let lmOnly = node.has(.loadManager) && !node.has(.writer) && !node.has(.replica)
            let desired = lmOnly && node.id != bigger ? 0 : 1
            if seen.alive, seen.priority != desired { actions.append(.setPriority(node.id, desired)) }
        }

        // d. Promotions.
        var order: [String] = []
        if let bigger, activeCount >= 2 { order.append(bigger) }
        if activeCount > 2 {
            order += nodes.filter { $0.state == .active && $0.id != primaryLoadManager }.map(\.id)
            if let primaryLoadManager { order.append(primaryLoadManager) }
        }
        for id in order where voters < maxVoters && !promoted.contains(id) && isPromotable(id) {
            actions.append(.promote(id))
            promoted.insert(id)
            voters += 1
        }

        // e. Bigger leader.
        if let bigger, let leader, !leaderLeaving {
            let seen = observation(bigger)
            if seen.membership == .voter, seen.priority >= 1, seen.id != leader.id {
                actions.append(.transferLeadership(to: bigger))
            }
        }
        return actions
    }

    /// An alive, active, caught-up learner (never failed, leaving or lagging).
    func isPromotable(_ id: String) -> Bool {
        guard let node = nodes.first(where: { $0.id == id }), node.state == .active else { return false }
        let seen = observation(id)
        return seen.membership == .learner && seen.alive && seen.caughtUp && !seen.leaving
    }

    /// Rule 5e: the alive, active, caught-up node with the highest level above the writer's
    /// (ties: oldest), or nil.
    func biggerWriter() -> String? {
        guard let writer, let writerNode = nodes.first(where: { $0.id == writer }) else { return nil }
        return nodes.filter { node in
            let seen = observation(node.id)
            return node.id != writer && node.state == .active && seen.alive && seen.caughtUp
                && node.level > writerNode.level
        }
        .min { ($1.level, $0.joinOrder) < ($0.level, $1.joinOrder) }?.id
    }

    /// Rule 5a: where a leaving leader hands over: an alive caught-up voter that is not leaving,
    /// priority >= 1 first, then highest level, then oldest.
    func transferTarget(from leaving: String) -> String? {
        nodes.filter { node in
            let seen = observation(node.id)
            return node.id != leaving && seen.membership == .voter && seen.alive && seen.caughtUp && !seen.leaving
        }
        .min { rank($0) < rank($1) }?.id
    }

    /// The learner promoted so that a leaving leader without voters to hand over to gets one:
    /// alive, caught up, not leaving; highest level, then oldest.
    func handoverLearner(from leaving: String) -> String? {
        nodes.filter { $0.id != leaving && isPromotable($0.id) }.min { rank($0) < rank($1) }?.id
    }

    /// Sort key for hand-over candidates: electable first, then bigger, then older.
    func rank(_ node: MapNode) -> (Int, Int, UInt64) {
        (observation(node.id).priority >= 1 ? 0 : 1, -node.level, node.joinOrder)
    }
}

/// Rule 5g: admits a `remove` only while the shrunk configuration keeps a live majority.
///
/// Removals are applied to the guard's configuration as they are admitted, so a sequence of
/// admitted removals is safe when executed in order.
struct QuorumGuard {
    var voters: Set<String>
    var aliveVoters: Set<String>

    init(observations: [Observation]) {
        let voting = observations.filter { $0.membership == .voter }
        voters = Set(voting.map(\.id))
        aliveVoters = Set(voting.filter(\.alive).map(\.id))
    }

    /// Whether `seen` may be removed now; records the removal when it may.
    ///
    /// Never the leader or a live writer; learners always; a live voter only when leaving; a voter
    /// only if at least one voter remains and the alive remaining voters are a majority of them.
    mutating func admitRemoval(of seen: Observation, writer: String?) -> Bool {
        guard !seen.isLeader, !(seen.alive && seen.id == writer) else { return false }
        guard voters.contains(seen.id) else { return true }
        guard !seen.alive || seen.leaving else { return false }
        let remaining = voters.count - 1
        let aliveRemaining = aliveVoters.count - (aliveVoters.contains(seen.id) ? 1 : 0)
        guard remaining >= 1, aliveRemaining >= remaining / 2 + 1 else { return false }
        voters.remove(seen.id)
        aliveVoters.remove(seen.id)
        return true
    }
}
