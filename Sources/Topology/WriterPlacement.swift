/// Where each shard's Writer (its Raft leader) should be: on different nodes when it can
/// (docs/ARCHITECTURE.md, "Shards"). Shard 1's Writer is the topology planner's (Smart Raft
/// prefers the bigger node); another shard's leader hands its leadership to an electable
/// voter that leads fewer shards, when that would spread the Writers.
public enum WriterPlacement {
    /// The node shard `shard`'s leadership should move to, or nil to stay.
    ///
    /// - `leaders`: who leads each shard (as known; a shard without a known leader is absent).
    /// - `candidates`: the shard's voters that may lead (priority above 0, caught up, alive),
    ///   in preference order.
    public static func target(shard: Int, leaders: [Int: String], candidates: [String]) -> String? {
        guard shard != 1, let current = leaders[shard] else { return nil }
        var led: [String: Int] = [:]
        for (_, node) in leaders { led[node, default: 0] += 1 }
        let mine = led[current] ?? 0
        var best: (node: String, count: Int)?
        for node in candidates where node != current {
            let count = led[node] ?? 0
            if count + 1 < mine, best == nil || count < best!.count { best = (node, count) }
        }
        return best?.node
    }
}
