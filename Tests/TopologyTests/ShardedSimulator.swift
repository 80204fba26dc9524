import RaftCore
import Topology
import XCTest

/// A cluster of several shards, each its own Raft group, driven by the same pure decisions as
/// the running nodes (docs/ARCHITECTURE.md, "Shards" and "Moving a shard"):
/// - shard 1 (the meta shard) by the topology planner, through `Simulator`;
/// - the map's shard list by `ShardList.compose` and `ShardList.repaired`, as the meta
///   shard's leader composes it;
/// - every other shard's membership by `MembershipMirror`, one change per round, as its
///   leader walks it, and its Writer by `WriterPlacement`.
/// Changes take effect at once; a learner added in one round is caught up from the next (when
/// alive). Every round checks the per-shard invariants (`checkShards`).
struct ShardedSimulator {
    struct Group {
        var id: Int
        var first: Int
        var last: Int
        var version: UInt64
        var conf: ConfState
        var leader: String?
        var caughtUp: Set<String>
    }

    var meta: Simulator
    /// The shards other than 1, by first bucket.
    var groups: [Group] = []
    /// Moves asked and not yet written into the map (shard id -> placement).
    var requests: [Int: ShardPlacement] = [:]
    /// Every membership change, hand-off and Writer transfer, as "shard: what".
    var steps: [String] = []

    init(_ meta: Simulator) { self.meta = meta }

    static func raftID(_ id: String) -> NodeID { NodeID(id.dropFirst())! }
    static func name(_ id: NodeID) -> String { "n\(id)" }

    var map: ClusterMap { meta.map }

    func alive(_ id: String) -> Bool { meta.member(id)?.alive ?? false }

    /// The meta shard's configuration, as every other group's leader reads it.
    var metaConf: ConfState {
        var attributes: [NodeID: NodeAttributes] = [:]
        for member in meta.members {
            attributes[Self.raftID(member.id)] = NodeAttributes(
                level: UInt8(member.level), priority: UInt8(member.priority), autoPromote: false)
        }
        return ConfState(voters: meta.members.filter { $0.membership == .voter }.map { Self.raftID($0.id) },
                         learners: meta.members.filter { $0.membership == .learner }.map { Self.raftID($0.id) },
                         attributes: attributes)
    }

    func group(_ id: Int) -> Group? { groups.first { $0.id == id } }

    func entry(_ id: Int) -> ShardEntry? { map.shards.first { $0.id == id } }

    /// Who leads each shard.
    var leaders: [Int: String] {
        var result: [Int: String] = [:]
        if let leader = meta.leader { result[1] = leader }
        for group in groups { if let leader = group.leader { result[group.id] = leader } }
        return result
    }

    // MARK: Events

    /// Splits shard `shard` at bucket `at` (the new shard's id is `at`): one entry in the
    /// parent's log, so the child starts on the parent's members with the parent's leader.
    mutating func split(_ shard: Int, at: Int) {
        if shard == 1 {
            let index = meta.map.shards.firstIndex { $0.id == 1 }!
            let parent = meta.map.shards[index]
            precondition(parent.firstBucket < at && at <= parent.lastBucket)
            meta.map.shards[index].lastBucket = at - 1
            meta.map.shards[index].version += 1
            let conf = metaConf
            groups.append(Group(id: at, first: at, last: parent.lastBucket, version: parent.version + 1, conf: conf,
                                leader: meta.leader, caughtUp: Set(conf.members.map(Self.name))))
        } else {
            let index = groups.firstIndex { $0.id == shard }!
            precondition(groups[index].first < at && at <= groups[index].last)
            var child = groups[index]
            groups[index].last = at - 1
            groups[index].version += 1
            child.id = at
            child.first = at
            child.version = groups[index].version
            groups.append(child)
        }
        groups.sort { $0.first < $1.first }
    }

    /// Asks for shard `shard` to move onto `nodes` (at its current version, as the API does).
    mutating func move(_ shard: Int, to nodes: [String]) {
        requests[shard] = ShardPlacement(nodes: nodes, version: entry(shard)!.version)
    }

    mutating func fail(_ id: String) {
        meta.fail(id)
        for index in groups.indices {
            groups[index].caughtUp.remove(id)
            if groups[index].leader == id { groups[index].leader = nil }
        }
    }

    /// Whether every group, the meta shard's included, keeps a live majority of its voters
    /// without `id`.
    func survives(_ id: String) -> Bool {
        ([metaConf] + groups.map(\.conf)).allSatisfy { conf in
            conf.voters.count { alive(Self.name($0)) && Self.name($0) != id } >= conf.quorum
        }
    }

    // MARK: Rounds

    /// One round of every controller; returns whether anything changed.
    @discardableResult
    mutating func round(catchUp: Bool = true, file: StaticString = #filePath, line: UInt = #line) -> Bool {
        let before = (meta.map, groups, meta.leader, meta.members.map(\.membership))
        meta.step(file: file, line: line)
        for index in groups.indices { stepGroup(index, file: file, line: line) }
        placeWriters()
        composeShards()
        if catchUp { self.catchUp() }
        checkShards(file: file, line: line)
        return before.0 != meta.map || before.1.map(\.conf) != groups.map(\.conf) || before.1.map(\.leader) != groups.map(\.leader)
            || before.2 != meta.leader || before.3 != meta.members.map(\.membership)
    }

    /// Rounds until nothing changes.
    mutating func converge(file: StaticString = #filePath, line: UInt = #line) {
        for _ in 0..<300 {
            if !round(file: file, line: line) && !round(file: file, line: line) { return }
        }
        XCTFail("did not converge: \(steps.suffix(20))\n\(map.json.text)", file: file, line: line)
    }

    /// Rounds until `condition` holds (at most `limit`); returns whether it did.
    mutating func run(until condition: (ShardedSimulator) -> Bool, limit: Int = 100,
                      file: StaticString = #filePath, line: UInt = #line) -> Bool {
        for _ in 0..<limit {
            if condition(self) { return true }
            round(file: file, line: line)
        }
        return condition(self)
    }

    mutating func catchUp() {
        meta.catchUp()
        for index in groups.indices {
            groups[index].caughtUp = Set(groups[index].conf.members.map(Self.name).filter(alive))
        }
    }

    /// Raft inside one group: a leader needs a live majority of the group's voters; priority
    /// above 0 first, then the oldest.
    private mutating func elect(_ index: Int) {
        if let leader = groups[index].leader, alive(leader), groups[index].conf.isVoter(Self.raftID(leader)) { return }
        groups[index].leader = nil
        let conf = groups[index].conf
        let live = conf.voters.filter { alive(Self.name($0)) }
        guard live.count >= conf.quorum else { return }
        groups[index].leader = live.min { (conf.attributes(of: $0).priority == 0 ? 1 : 0, $0) < (conf.attributes(of: $1).priority == 0 ? 1 : 0, $1) }
            .map(Self.name)
    }

    /// The group's leader takes one step toward its target, as `RaftLoop.reconcileMembership`.
    private mutating func stepGroup(_ index: Int, file: StaticString, line: UInt) {
        elect(index)
        guard let leader = groups[index].leader else { return }
        let group = groups[index]
        let placement = entry(group.id)?.placement.map { Set($0.nodes.map(Self.raftID)) }
        let target = MembershipMirror.target(meta: metaConf, placement: placement)
        let me = Self.raftID(leader)
        if let change = MembershipMirror.nextChange(from: group.conf, to: target, leader: me,
                                                    caughtUp: { group.caughtUp.contains(Self.name($0)) }) {
            let next = group.conf.applying(change)
            let liveBefore = group.conf.voters.count { alive(Self.name($0)) }
            let liveAfter = next.voters.count { alive(Self.name($0)) }
            if liveBefore >= group.conf.quorum {
                XCTAssertGreaterThanOrEqual(liveAfter, next.quorum, "shard \(group.id): \(change.kind) \(change.nodeID) loses the live majority",
                                            file: file, line: line)
            }
            if change.kind == .remove {
                XCTAssertTrue(target.voters.allSatisfy(group.conf.isVoter), "shard \(group.id): removed before every target voter votes",
                              file: file, line: line)
            }
            if change.kind == .addLearner {
                XCTAssertTrue(metaConf.isMember(change.nodeID), "shard \(group.id): added \(change.nodeID), not in the cluster",
                              file: file, line: line)
                if let placement { XCTAssertTrue(placement.contains(change.nodeID), "shard \(group.id): added outside its placement", file: file, line: line) }
            }
            groups[index].conf = next
            steps.append("\(group.id): \(change.kind) \(Self.name(change.nodeID))")
        } else if MembershipMirror.handOff(from: group.conf, to: target, leader: me) {
            if let next = group.conf.voters.first(where: { $0 != me && target.isVoter($0) && alive(Self.name($0)) }) {
                groups[index].leader = Self.name(next)
                steps.append("\(group.id): hand-off to \(Self.name(next))")
            }
        }
    }

    /// `TopologyController.placeWriters`: one transfer per round, never for a moving shard.
    private mutating func placeWriters() {
        for index in groups.indices {
            guard let leader = groups[index].leader, entry(groups[index].id)?.moving != true else { continue }
            let conf = groups[index].conf
            let placed = entry(groups[index].id)?.placement.map { Set($0.nodes) }
            let candidates = conf.voters.map(Self.name)
                .filter { alive($0) && conf.attributes(of: Self.raftID($0)).priority > 0 && groups[index].caughtUp.contains($0) }
                .filter { placed?.contains($0) ?? true }
            if let to = WriterPlacement.target(shard: groups[index].id, leaders: leaders, candidates: candidates), to != leader {
                groups[index].leader = to
                steps.append("\(groups[index].id): Writer to \(to)")
                return
            }
        }
    }

    /// The meta shard's leader composes the map's shard list (`ShardMoves`): it holds every
    /// shard here, so every entry is local.
    private mutating func composeShards() {
        guard meta.leader != nil else { return }
        var local = [map.shards.first { $0.id == 1 }!]
        for group in groups {
            local.append(ShardEntry(id: group.id, firstBucket: group.first, lastBucket: group.last, writer: group.leader,
                                    voters: group.conf.voters.map(Self.name).sorted(),
                                    learners: group.conf.learners.map(Self.name).sorted(), version: group.version))
        }
        let composed = ShardList.compose(local: local, reported: [], previous: map.shards, requests: requests)
        for id in Array(requests.keys) where composed.shards.contains(where: { $0.id == id && $0.placement == requests[id] }) || composed.stale.contains(id) {
            requests[id] = nil
        }
        let shards = ShardList.repaired(composed.shards, nodes: map.nodes).shards
        if shards != meta.map.shards {
            meta.map.shards = shards
            meta.map.version += 1
        }
    }

    // MARK: Invariants

    /// Per shard, after every round.
    func checkShards(file: StaticString = #filePath, line: UInt = #line) {
        func check(_ condition: Bool, _ message: @autoclosure () -> String) {
            if !condition { XCTFail(message() + "\nsteps: \(steps.suffix(12))\nmap: \(map.json.text)", file: file, line: line) }
        }
        // Every bucket in exactly one shard, in order, and every shard a group of its own.
        let shards = map.shards
        check(shards.first?.firstBucket == 1 && shards.last?.lastBucket == 1000, "buckets 1...1000 not covered")
        check(zip(shards, shards.dropFirst()).allSatisfy { $0.lastBucket + 1 == $1.firstBucket }, "ranges overlap or leave a gap")
        check(Set(shards.map(\.id)).count == shards.count, "shard ids repeat")
        check(Set(shards.map(\.id)) == Set([1] + groups.map(\.id)), "the map's shards are not the groups")
        for group in groups {
            check(!group.conf.voters.isEmpty, "shard \(group.id) has no voter")
            if let leader = group.leader {
                check(group.conf.isVoter(Self.raftID(leader)) && alive(leader), "shard \(group.id)'s leader \(leader) is not a live voter")
            }
            if meta.leader != nil, let entry = entry(group.id) {
                check(entry.writer == group.leader, "shard \(group.id): map Writer \(entry.writer ?? "-") != leader \(group.leader ?? "-")")
                check(entry.voters == group.conf.voters.map(Self.name).sorted(), "shard \(group.id): map voters are not the group's")
                check(entry.firstBucket == group.first && entry.lastBucket == group.last && entry.version == group.version,
                      "shard \(group.id): map range or version is not the group's")
                if let placement = entry.placement, !entry.moving {
                    check(Set(entry.voters) == Set(placement.nodes), "shard \(group.id): moved but voters are not its placement")
                }
            }
        }
    }

    // MARK: Views

    /// Nodes that read shard `id` for clients: an unmoved shard's Read Replicas (the meta
    /// shard's roles) that are its voters; a moved shard's voters other than its Writer.
    func readers(_ id: Int) -> [String] {
        guard let entry = entry(id) else { return [] }
        if entry.placement != nil { return entry.voters.filter { $0 != entry.writer } }
        return map.nodes(with: .replica).map(\.id).filter { $0 != entry.writer && entry.voters.contains($0) }
    }
}
