extension ClusterMap {
    /// Nodes whose replica is only a Load Manager's silent one and that the planner does not
    /// need now (docs/ARCHITECTURE.md, "Throttled silent replica"): they catch up at the
    /// cluster's `silentReplicaBytesPerSecond`, the others at full speed.
    ///
    /// Silent: an active node whose only role is Load Manager, a learner of the meta shard and
    /// a voter of no shard. Needed, and so never silent: the primary Load Manager once three
    /// nodes are active while voters are fewer than `maxVoters` (the planner promotes it next),
    /// a node of a higher level than the Writer's (a bigger Writer to be), and every node while
    /// a meta shard voter is failed or leaving (the planner is about to move roles onto others).
    /// A node the planner wants as a Read Replica has no role while it catches up: not silent.
    ///
    /// `joining`: members the map does not list yet (id -> level). The planner will enter each
    /// as the primary Load Manager with a learner replica, so the same rules decide.
    public func silentReplicas(maxVoters: Int, joining: [String: Int] = [:]) -> Set<String> {
        guard let meta = shards.first(where: { $0.id == 1 }) else { return [] }
        if nodes.contains(where: { meta.voters.contains($0.id) && $0.state != .active }) { return [] }
        let active = nodes.count { $0.state == .active }
        let writerLevel = meta.writer.flatMap { node($0) }?.level ?? MapNode.clampLevel(5)
        var silent: Set<String> = []
        for node in nodes where node.state == .active && node.roles == [.loadManager] && meta.learners.contains(node.id) {
            if shards.contains(where: { $0.voters.contains(node.id) }) { continue }
            if node.primaryLoadManager && active >= 3 && meta.voters.count < maxVoters { continue }
            if node.level > writerLevel { continue }
            silent.insert(node.id)
        }
        let promotesNewcomer = active + 1 >= 3 && meta.voters.count < maxVoters
        for (id, level) in joining where node(id) == nil && !promotesNewcomer && MapNode.clampLevel(level) <= writerLevel {
            silent.insert(id)
        }
        return silent
    }
}
