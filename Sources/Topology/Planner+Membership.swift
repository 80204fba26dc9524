extension Round {
    /// Rules 1, 2 and the `split_shard` part of 6: who is in the map, in which state.
    mutating func syncMembership() {
        nodes = nodes.filter { observed[$0.id] != nil }.enumerated()
            .sorted { ($0.element.joinOrder, $0.offset) < ($1.element.joinOrder, $1.offset) }.map(\.element)
        for index in nodes.indices {
            let seen = observation(nodes[index].id)
            let state = Self.state(of: seen)
            if state == .failed, nodes[index].state != .failed {
                let id = nodes[index].id
                let roles = nodes[index].roles.map(\.rawValue).joined(separator: "+")
                let reason = roles.isEmpty ? "\(id) stopped answering" : "\(id) (\(roles)) stopped answering"
                made.append((.replaceNode, id, reason))
            }
            nodes[index].url = seen.url
            nodes[index].level = MapNode.clampLevel(seen.level)
            nodes[index].state = state
        }
        var activeBefore = activeCount
        let known = Set(nodes.map(\.id))
        for seen in observations where !known.contains(seen.id) {
            let state = Self.state(of: seen)
            nodes.append(
                MapNode(
                    id: seen.id, url: seen.url, level: MapNode.clampLevel(seen.level), roles: [], state: state,
                    joinOrder: nextJoinOrder, primaryLoadManager: false))
            nextJoinOrder += 1
            if activeBefore >= 2 + maxReplicas {
                let shard = previous.shards.first?.id ?? ShardEntry.unsharded.id
                made.append(
                    (.splitShard, "shard \(shard)",
                     "shard \(shard) has max_replicas=\(maxReplicas) Read Replicas; split it to scale further"))
            }
            if state == .active { activeBefore += 1 }
        }
    }

    /// Rule 2: leaving wins over alive; not alive is failed.
    static func state(of seen: Observation) -> NodeState {
        seen.leaving ? .leaving : seen.alive ? .active : .failed
    }
}
