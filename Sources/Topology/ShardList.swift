/// How the meta shard's leader composes the map's shard list (docs/ARCHITECTURE.md, "Moving a
/// shard"): pure, so its rules are tested on their own.
public enum ShardList {
    /// - `local`: the shards this node holds, with their ranges as applied here (and their
    ///   Writer and members as known here, or as their leader reported).
    /// - `reported`: shards this node holds no replica of, as their leaders reported them.
    /// - `previous`: the map's list before; a shard neither held nor reported keeps its entry
    ///   unless a newer one overlaps its range.
    /// - `requests`: moves asked, by shard id, each at the shard version it was asked at.
    ///
    /// Placements carry over a split of a shard that finished moving (to both halves, at the
    /// new version) and are cancelled by a split during a move. A request at the shard's
    /// current version is written in; one at an older version is stale.
    public static func compose(local: [ShardEntry], reported: [ShardEntry], previous: [ShardEntry],
                               requests: [Int: ShardPlacement]) -> (shards: [ShardEntry], cancelled: [Int], stale: [Int]) {
        var entries: [Int: ShardEntry] = [:]
        for entry in local { entries[entry.id] = entry }
        for entry in reported where entries[entry.id] == nil && entry.id != 1 { entries[entry.id] = entry }
        for entry in previous where entries[entry.id] == nil {
            let range = entry.firstBucket...entry.lastBucket
            if !entries.values.contains(where: { ($0.firstBucket...$0.lastBucket).overlaps(range) }) { entries[entry.id] = entry }
        }
        var result = entries.values.sorted { $0.firstBucket < $1.firstBucket }
        var cancelled: [Int] = []
        for i in result.indices where result[i].id != 1 {
            let id = result[i].id, first = result[i].firstBucket
            // The shard as the map knew it, or — a new shard — the one it was split from.
            let before = previous.first { $0.id == id } ?? previous.first { $0.firstBucket <= first && first <= $0.lastBucket }
            guard let before, let placement = before.placement else { continue }
            if placement.version == result[i].version {
                result[i].placement = placement
            } else if !before.moving {
                result[i].placement = ShardPlacement(nodes: placement.nodes, version: result[i].version)
            } else {
                result[i].placement = nil
                cancelled.append(id)
            }
        }
        var stale: [Int] = []
        for (id, wanted) in requests.sorted(by: { $0.key < $1.key }) {
            guard let i = result.firstIndex(where: { $0.id == id }) else { continue }
            if result[i].version == wanted.version {
                result[i].placement = wanted
            } else {
                stale.append(id)
            }
        }
        return (result, cancelled, stale)
    }
}

extension ShardList {
    /// Per-shard failure and departure rules: a moved shard whose placement names a node that
    /// is leaving or left the map (removed after `--remove-after` down, as the planner does
    /// with a dead node; a node merely failed may come back, and copying a shard is not free)
    /// gets an active node outside the placement instead —
    /// the one holding the fewest placed shards, then the oldest — so the shard's leader walks
    /// its group back to full strength (add, catch up, promote, remove the lost one). With no
    /// replacement available, a leaving node stays placed until it is gone from the map; then
    /// the placement shrinks to the nodes left (else the move could never finish, and the
    /// shard never split again). Returns the shards and the replacements made (shard, lost
    /// node, new node or nil).
    public static func repaired(_ shards: [ShardEntry], nodes: [MapNode])
        -> (shards: [ShardEntry], replaced: [(shard: Int, lost: String, by: String?)]) {
        var result = shards
        var replaced: [(shard: Int, lost: String, by: String?)] = []
        let byID = Dictionary(nodes.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        func placedCount(_ id: String) -> Int { result.count { $0.placement?.nodes.contains(id) == true } }
        for i in result.indices {
            guard var placement = result[i].placement else { continue }
            for lost in placement.nodes where byID[lost] == nil || byID[lost]?.state == .leaving {
                let candidates = nodes.filter { $0.state == .active && !placement.nodes.contains($0.id) }
                    .sorted { (placedCount($0.id), $0.joinOrder) < (placedCount($1.id), $1.joinOrder) }
                guard let by = candidates.first else {
                    // Gone from the map for good: the shard lives on the placed nodes left.
                    if byID[lost] == nil, placement.nodes.count > 1 {
                        placement = ShardPlacement(nodes: placement.nodes.filter { $0 != lost }, version: placement.version)
                        result[i].placement = placement
                        replaced.append((result[i].id, lost, nil))
                    }
                    continue
                }
                placement = ShardPlacement(nodes: placement.nodes.filter { $0 != lost } + [by.id], version: placement.version)
                result[i].placement = placement
                replaced.append((result[i].id, lost, by.id))
            }
        }
        return (result, replaced)
    }
}
