import Foundation
import Logging
import PeerTransport
import RaftCore
import Sharding
import Storage
import Sync
import Synchronization

/// The Raft groups one node holds, one `Replica` per shard (docs/ARCHITECTURE.md, "Shards"):
/// shard 1 (the meta shard) is started by the cluster supervisor and handed in with
/// ``start(meta:)``; every other group is started here — when a split applied here creates it,
/// when the node restarts with it in its file, or empty when a peer sends traffic for a shard
/// the node does not hold while no local group owns any part of its range.
public final class ShardGroups: Sendable {
    public typealias Listed = @Sendable (_ shard: Int) -> ShardDescriptor?
    public typealias Started = @Sendable (_ replica: Replica) -> Void

    let store: Store
    let transport: PeerTransport
    let router: PeerRouter
    let template: ReplicaConfiguration
    let clusterToken: String?
    let logger: Logger
    private let listed: Listed
    private let started: Started
    private let groups = Mutex<[Int: Replica]>([:])
    private let images = Mutex<[Int: SnapshotFiles]>([:])

    /// `template`: shard 1's replica settings (others differ by `shard` and seed). `listed`:
    /// the shard as the replicated map lists it (for groups created empty). `started`: told
    /// about every group started (shard 1 included).
    public init(store: Store, transport: PeerTransport, router: PeerRouter, template: ReplicaConfiguration,
                clusterToken: String?, logger: Logger, listed: @escaping Listed, started: @escaping Started = { _ in }) {
        self.store = store
        self.transport = transport
        self.router = router
        self.template = template
        self.clusterToken = clusterToken
        self.logger = logger
        self.listed = listed
        self.started = started
    }

    /// Registers shard 1's replica (its snapshot images: `images`), then starts every other
    /// group stored in the file.
    public func start(meta replica: Replica, images files: SnapshotFiles) throws {
        images.withLock { $0[1] = files }
        groups.withLock { $0[1] = replica }
        watchSplits(of: replica)
        router.register(replica)
        router.onUnknownShard { [weak self] shard, _ in self?.heardOf(shard: shard) }
        started(replica)
        for group in try store.storedGroups() { try startGroup(group.id, campaign: false) }
    }

    /// This node's replica of `shard`, if it holds one.
    public func replica(shard: Int) -> Replica? { groups.withLock { $0[shard] } }

    /// Every group held, by shard id.
    public var all: [Replica] { groups.withLock { $0.sorted { $0.key < $1.key }.map(\.value) } }

    /// The snapshot images of `shard`'s group (for the snapshot route).
    public func snapshotFiles(shard: Int) -> SnapshotFiles? { images.withLock { $0[shard] } }

    /// Starts the replica of a group stored in the file. Idempotent.
    func startGroup(_ shard: Int, campaign: Bool) throws {
        if groups.withLock({ $0[shard] != nil }) { return }
        let raftStore = try store.openGroup(shard: shard)
        let files = raftStore.snapshots
        var settings = template
        settings.shard = shard
        settings.campaignAtStart = campaign
        settings.randomSeed = template.randomSeed &+ UInt64(shard)
        let replica = try Replica(configuration: settings, raftStore: raftStore, transport: transport,
                                  clusterToken: clusterToken, logger: logger)
        watchSplits(of: replica)
        images.withLock { $0[shard] = files }
        groups.withLock { $0[shard] = replica }
        router.register(replica)
        logger.info("shard group started", metadata: ["shard": "\(shard)", "campaign": "\(campaign)"])
        started(replica)
    }

    private func watchSplits(of replica: Replica) {
        replica.onSplit { [weak self] child, leading in
            guard let self else { return }
            do {
                try startGroup(child.id, campaign: leading)
            } catch {
                logger.critical("cannot start the new shard's group", metadata: ["shard": "\(child.id)", "error": "\(error)"])
            }
        }
    }

    /// A peer sent traffic for a shard this node holds no replica of. When the shard is listed
    /// with a range no local group overlaps (this node joined after the split, or its parent
    /// group's range already shrank), an empty group is created to receive the shard's
    /// snapshot. While a local group still owns part of the range (this node has not applied
    /// the split yet) the traffic is dropped: the split will create the group from the data
    /// already here.
    func heardOf(shard: Int) {
        guard shard > 1, groups.withLock({ $0[shard] == nil }), let listed = listed(shard) else { return }
        // A shard moved to other nodes: stray traffic (this node was just removed) creates nothing.
        if let placed = store.placementNodes(shard: shard), !placed.contains(template.raftID) { return }
        guard !store.shardTable.shards.values.contains(where: { $0.overlaps(listed) }) else { return }
        do {
            try store.createGroup(shard: shard)
            try startGroup(shard, campaign: false)
        } catch {
            logger.error("cannot create an empty group for a shard", metadata: ["shard": "\(shard)", "error": "\(error)"])
        }
    }

    /// Stops this node's replica of `shard` and deletes its data here (its range, log and
    /// row): the shard was moved to other nodes, whose group no longer counts this one.
    ///
    /// Writes this node forwarded through the replica and still waits for are answered first
    /// (at most `dropDrainMilliseconds`): new writes already route by the map, and stopping
    /// the replica would turn those answers into "outcome unknown".
    public func drop(shard: Int) {
        guard shard > 1, let replica = groups.withLock({ $0.removeValue(forKey: shard) }) else { return }
        let deadline = monotonicNanoseconds() + Self.dropDrainMilliseconds * 1_000_000
        while replica.calls.count > 0, monotonicNanoseconds() < deadline { usleep(5_000) }
        router.unregister(shard: shard)
        images.withLock { $0[shard] = nil }
        replica.shutdown()
        do {
            try store.dropGroup(shard: shard)
            logger.info("shard group dropped", metadata: ["shard": "\(shard)"])
        } catch {
            logger.error("cannot delete a dropped shard's data", metadata: ["shard": "\(shard)", "error": "\(error)"])
        }
    }

    static let dropDrainMilliseconds: UInt64 = 5_000

    /// Stops every group but shard 1 (the supervisor stops that one last).
    public func shutdown() {
        for (shard, replica) in groups.withLock({ $0 }) where shard != 1 { replica.shutdown() }
    }
}
