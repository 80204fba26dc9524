import Logging
import RaftCore
import Sharding
import SQLite
import Storage

/// One group's replica on a simulated node: the pure core over the group's real storage, and
/// the proposals waiting on it (RaftLoop's `proposalsByIndex`: index → attempt).
final class SimReplica {
    let shard: Int
    let raft: RaftStore
    let core: RawNode
    var proposed: [UInt64: UInt64] = [:]
    /// Committed entries already compared with the other nodes' (log matching).
    var checkedCommit: UInt64

    init(shard: Int, raft: RaftStore, core: RawNode) {
        self.shard = shard
        self.raft = raft
        self.core = core
        checkedCommit = raft.compactedIndex
    }
}

/// A node of the split simulation: a real `Store` on its own SQLite file, shard 1's group
/// and every group a split applied here created, each a `RawNode` over its `RaftStore`
/// driven synchronously like `Replica/RaftLoop.swift` drives it (docs/ARCHITECTURE.md,
/// "Shards"). A crash drops every object of the node; a restart opens the file again.
final class SplitSimNode {
    let id: NodeID
    let path: String
    let seed: UInt64
    /// Upper bound on the committed bytes of one `Ready` (1: one entry per `Ready`, so every
    /// applied index is observed).
    let committedBytesPerReady: UInt64
    private(set) var store: Store?
    private(set) var replicas: [Int: SimReplica] = [:]
    /// Reads the documents for digests (WAL: sees every committed save).
    private var reader: Connection?
    private let logger: Logger

    var isUp: Bool { store != nil }

    init(id: NodeID, path: String, seed: UInt64, committedBytesPerReady: UInt64) {
        self.id = id
        self.path = path
        self.seed = seed
        self.committedBytesPerReady = committedBytesPerReady
        var logger = Logger(label: "machdb.split-sim.n\(id)")
        logger.logLevel = .critical
        self.logger = logger
    }

    static func member(_ id: NodeID) -> Member {
        Member(id: "n\(id)", raftID: id, url: "http://127.0.0.1:\(7000 + id)", level: 1, joinedAtIndex: 1)
    }

    /// Makes the node's file: a bootstrapped store whose shard 1 configuration names all
    /// `voters` (each node's file is the same Raft state at index 1, term 1, like a cluster
    /// started with its initial members).
    static func bootstrap(path: String, id: NodeID, voters: [NodeID], logger: Logger) throws {
        do {
            let store = try Store(configuration: StoreConfiguration(path: path), logger: logger)
            _ = try store.startRaft(bootstrap: true, selfRaftID: id, selfMember: member(id))
            store.close()
        }
        let connection = try Connection(path: path, mode: .readWrite)
        let conf = ConfState(voters: voters, attributes: Dictionary(uniqueKeysWithValues: voters.map { ($0, NodeAttributes()) }))
        let update = try connection.prepare("UPDATE raft_groups SET conf_state = ?1 WHERE shard = 1")
        try update.bind(blob: conf.encoded(), at: 1)
        try update.run()
        try connection.execute("DELETE FROM members")
        for voter in voters {
            let m = member(voter)
            let insert = try connection.prepare("INSERT INTO members (raft_id, id, url, level, joined_at_index) VALUES (?1, ?2, ?3, 1, 1)")
            try insert.bind(Int64(voter), at: 1)
            try insert.bind(m.id, at: 2)
            try insert.bind(m.url, at: 3)
            try insert.run()
        }
    }

    /// Opens the file (a start or a restart): shard 1, then every group stored in it.
    func open() throws {
        precondition(store == nil)
        let store = try Store(configuration: StoreConfiguration(path: path), logger: logger)
        self.store = store
        let meta = try store.startRaft(bootstrap: false, selfRaftID: id, selfMember: Self.member(id))
        try addReplica(shard: 1, raft: meta, campaign: false)
        for group in try store.storedGroups() { try startGroup(group.id, campaign: false) }
        if reader == nil { reader = try Connection(path: path, mode: .readOnly) }
    }

    /// A crash: every in-memory object of the node is gone (its saves are committed).
    func crash() {
        store?.close()
        store = nil
        replicas = [:]
    }

    /// `ShardGroups.startGroup`: opens a group stored in the file. Idempotent.
    func startGroup(_ shard: Int, campaign: Bool) throws {
        guard replicas[shard] == nil, let store else { return }
        try addReplica(shard: shard, raft: try store.openGroup(shard: shard), campaign: campaign)
    }

    /// `ShardGroups.heardOf`: traffic for a shard this node holds no group of. `listed` is the
    /// shard as the cluster knows it. Returns true when a group was created for it; false when
    /// the traffic is dropped (a local group still owns part of the range: this node has not
    /// applied the split yet, which will create the group from the data here).
    func heardOf(shard: Int, listed: ShardDescriptor?, acceptEarly: Bool) throws -> Bool {
        guard shard > 1, replicas[shard] == nil, let listed, let store else { return false }
        if !acceptEarly, store.shardTable.shards.values.contains(where: { $0.overlaps(listed) }) { return false }
        try store.createGroup(shard: shard)
        try startGroup(shard, campaign: false)
        return true
    }

    private func addReplica(shard: Int, raft: RaftStore, campaign: Bool) throws {
        var config = Config(id: id, randomSeed: seed &* 0x9E37_79B9_7F4A_7C15 &+ id &* 31 &+ UInt64(shard))
        config.applied = raft.appliedIndex
        config.maxCommittedBytesPerReady = committedBytesPerReady
        config.transferToHigherLevel = shard == 1
        let core = try RawNode(config: config, storage: raft)
        let conf = core.confState
        if conf.voters == [id] || (campaign && conf.isVoter(id)) { try? core.campaign() }
        replicas[shard] = SimReplica(shard: shard, raft: raft, core: core)
    }

    // MARK: Reading the state

    /// A digest of the documents (live and tombstones) whose bucket is in `buckets`, as
    /// committed now.
    func digest(_ buckets: ClosedRange<Int>) throws -> UInt64 {
        let statement = try reader!.cached("""
            SELECT collection, id, rev, bucket, json, updated_at, deleted, write_index
            FROM documents WHERE bucket BETWEEN ?1 AND ?2 ORDER BY collection, id
            """)
        defer { statement.reset() }
        try statement.bind(buckets.lowerBound, at: 1)
        try statement.bind(buckets.upperBound, at: 2)
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        while try statement.step() {
            for column in 0..<Int32(8) {
                for byte in statement.value(at: column).description.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
                hash = (hash ^ 0x1f) &* 0x100_0000_01b3
            }
        }
        return hash
    }

    /// The row of document `id` of collection "sim": (rev, write_index, json), or nil.
    func document(_ id: String) throws -> (rev: Int64, writeIndex: Int64, json: String)? {
        let statement = try reader!.cached("SELECT rev, write_index, json FROM documents WHERE collection = 'sim' AND id = ?1")
        defer { statement.reset() }
        try statement.bind(id, at: 1)
        guard try statement.step() else { return nil }
        return (statement.int64(at: 0), statement.int64(at: 1), statement.text(at: 2))
    }
}
