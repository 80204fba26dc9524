import Curl
import Foundation
import JSON
import Logging
import PeerTransport
import RaftCore
import Replica
import Sharding
import Storage
import Sync
import Synchronization
import Topology

/// Settings for taking part in a cluster.
public struct ClusterConfiguration: Sendable {
    public var clusterToken: String?
    /// Bytes per second a snapshot is served at, at most (nil: unlimited).
    public var snapshotBytesPerSecond: Int?
    public var replica: ReplicaConfiguration
    /// Relayed requests in flight at once (all peers), and queued beyond that, at most.
    public var forwardMaxInFlight: Int = 1_024
    public var forwardQueueCapacity: Int = 8_192
    /// Keep-alive connections to one peer, at most (match the gateway's upstream limit).
    public var forwardConnectionsPerPeer: Int = 64
    /// I/O threads sending relays (default: one per core).
    public var forwardThreads: Int = ProcessInfo.processInfo.activeProcessorCount
    /// The topology controller and planner policy.
    public var topology = TopologySettings()

    public init(clusterToken: String?, replica: ReplicaConfiguration) {
        self.clusterToken = clusterToken
        self.replica = replica
    }
}

/// How this node writes: alone (Mach I: the store's group commit, no log) or as a member of
/// a Raft group. A Mach I node turns into a one-voter Raft group when the first node asks to
/// join (its documents become the state at the group's first index), and stays one.
public final class ClusterController: Sendable {
    public enum Mode: Sendable {
        case standalone
        case switching
        case raft(Replica)
    }

    public let configuration: ClusterConfiguration
    public let store: Store
    let logger: Logger
    public let transport: PeerTransport
    /// Hands what the transport receives to this node's Raft groups.
    public let router = PeerRouter()
    public let snapshotServer: SnapshotServer
    public let forwarder: Forwarder
    public let maps: MapView
    private let topologyState = Mutex<TopologyController?>(nil)
    public var topology: TopologyController? { topologyState.withLock { $0 } }
    private let modeState = Mutex<Mode>(.standalone)
    /// Each group's snapshot images, by shard.
    private let snapshots = Mutex<[Int: SnapshotFiles]>([:])
    /// The groups other than shard 1 this node holds a replica of (docs/ARCHITECTURE.md, "Shards").
    private let groups = Mutex<[Int: Replica]>([:])

    public init(configuration: ClusterConfiguration, store: Store, logger: Logger) throws {
        self.configuration = configuration
        self.store = store
        self.logger = logger
        let transportConfiguration = TransportConfiguration(nodeID: configuration.replica.raftID, clusterToken: configuration.clusterToken)
        try transportConfiguration.validate()
        transport = PeerTransport(configuration: transportConfiguration, logger: logger)
        transport.attach(router)
        snapshotServer = SnapshotServer(bytesPerSecond: configuration.snapshotBytesPerSecond)
        forwarder = try Forwarder(maxInFlight: configuration.forwardMaxInFlight, capacity: configuration.forwardQueueCapacity,
                                  connectionsPerPeer: configuration.forwardConnectionsPerPeer,
                                  threads: configuration.forwardThreads)
        try configuration.topology.validate()
        let settings = configuration.replica
        maps = MapView(standalone: ClusterMap.initial(founder: settings.nodeID, url: settings.url, level: settings.level),
                       stored: store.clusterMap, logger: logger)
        let maps = self.maps
        store.onClusterMapChanged { stored in maps.applied(stored) }
        let controller = TopologyController(settings: configuration.topology, store: store, cluster: self, logger: logger)
        topologyState.withLock { $0 = controller }
        controller.start()
    }

    public var mode: Mode { modeState.withLock { $0 } }

    public var replica: Replica? {
        if case let .raft(replica) = mode { return replica }
        return nil
    }

    /// Starts Raft on this node's store: `bootstrap` for a group of one (Mach I → cluster),
    /// false to join (a snapshot from the leader will fill it). Idempotent.
    @discardableResult
    public func startRaft(bootstrap: Bool) throws -> Replica {
        let proceed: Bool = modeState.withLock { mode in
            if case .standalone = mode { mode = .switching; return true }
            return false
        }
        guard proceed else {
            while true {
                switch mode {
                case let .raft(replica): return replica
                case .switching: usleep(1_000)
                case .standalone: return try startRaft(bootstrap: bootstrap)
                }
            }
        }
        do {
            let settings = configuration.replica
            let me = Member(id: settings.nodeID, raftID: settings.raftID, url: settings.url, level: settings.level,
                            joinedAtIndex: 0)
            let raftStore = try store.startRaft(bootstrap: bootstrap, selfRaftID: settings.raftID, selfMember: me)
            let images = raftStore.snapshots
            snapshots.withLock { $0[1] = images }
            let replica = try Replica(configuration: settings, raftStore: raftStore, transport: transport,
                                      clusterToken: configuration.clusterToken, logger: logger)
            watchSplits(of: replica)
            router.register(replica)
            router.onUnknownShard { [weak self] shard, from in self?.heardOf(shard: shard, from: from) }
            modeState.withLock { $0 = .raft(replica) }
            logger.info("raft mode", metadata: ["bootstrap": "\(bootstrap)", "applied_index": "\(store.appliedIndex)"])
            for group in try store.storedGroups() { try startGroup(group.id, campaign: false) }
            return replica
        } catch {
            modeState.withLock { $0 = .standalone }
            throw error
        }
    }

    /// The snapshot file of shard `shard` registered under `token`, for the internal snapshot route.
    public func snapshotFile(shard: Int = 1, token: String) -> (path: String, size: Int64, checksum: UInt64)? {
        snapshots.withLock { $0[shard] }?.file(token: token)
    }

    // MARK: Shards

    /// This node's replica of shard `shard`'s group, if it holds one.
    public func replica(shard: Int) -> Replica? {
        shard == 1 ? replica : groups.withLock { $0[shard] }
    }

    /// Every group this node holds, shard 1 first.
    public var replicas: [Replica] {
        guard let first = replica else { return [] }
        return [first] + groups.withLock { $0.sorted { $0.key < $1.key }.map(\.value) }
    }

    /// Starts this node's replica of a group stored in the file (made by a split applied
    /// here, or created empty to receive a snapshot). Idempotent.
    private func startGroup(_ shard: Int, campaign: Bool) throws {
        if groups.withLock({ $0[shard] != nil }) { return }
        let raftStore = try store.openGroup(shard: shard)
        let images = raftStore.snapshots
        var settings = configuration.replica
        settings.shard = shard
        settings.campaignAtStart = campaign
        settings.randomSeed = settings.randomSeed &+ UInt64(shard)
        let replica = try Replica(configuration: settings, raftStore: raftStore, transport: transport,
                                  clusterToken: configuration.clusterToken, logger: logger)
        watchSplits(of: replica)
        snapshots.withLock { $0[shard] = images }
        groups.withLock { $0[shard] = replica }
        router.register(replica)
        logger.info("shard group started", metadata: ["shard": "\(shard)", "campaign": "\(campaign)"])
    }

    private func watchSplits(of replica: Replica) {
        replica.onSplit { [weak self] child, leading in
            guard let self else { return }
            do {
                try startGroup(child.id, campaign: leading)
            } catch {
                logger.critical("cannot start the new shard's group", metadata: ["shard": "\(child.id)", "error": "\(error)"])
            }
            topology?.nudge()
        }
    }

    /// A peer sent traffic for a shard this node holds no replica of. When the replicated map
    /// lists that shard with a range no local group overlaps (this node joined after the
    /// split, or its parent group's range already shrank), an empty group is created to
    /// receive the shard's snapshot. While a local group still owns part of the range (this
    /// node has not applied the split yet) the traffic is dropped: the split will create the
    /// group from the data already here.
    private func heardOf(shard: Int, from: NodeID) {
        guard shard > 1, groups.withLock({ $0[shard] == nil }), let map = maps.replicated,
              let entry = map.shards.first(where: { $0.id == shard }) else { return }
        let listed = ShardDescriptor(id: shard, firstBucket: entry.firstBucket, lastBucket: entry.lastBucket, version: entry.version)
        let local = store.shardTable
        guard !local.shards.values.contains(where: { $0.overlaps(listed) }) else { return }
        do {
            try store.createGroup(shard: shard)
            try startGroup(shard, campaign: false)
        } catch {
            logger.error("cannot create an empty group for a shard", metadata: ["shard": "\(shard)", "error": "\(error)"])
        }
    }

    /// Asks the cluster at `url` to admit this node, retrying until `deadline` (the node
    /// answering may not be the leader, or no leader may be elected yet).
    public func join(via url: String, timeoutSeconds: Int = 60) throws {
        let replica = try startRaft(bootstrap: false)
        let settings = configuration.replica
        let body = JSON.object([
            ("id", .string(settings.nodeID)), ("url", .string(settings.url)), ("level", .int(settings.level)),
        ]).encoded()
        var headers: [(name: String, value: String)] = [("Content-Type", "application/json")]
        if let auth = InternalAuth.headerValue(clusterToken: configuration.clusterToken) { headers.append(("Authorization", auth)) }
        let client = try HTTPClient()
        let deadline = Date().addingTimeInterval(TimeInterval(timeoutSeconds))
        var lastError = "no answer"
        while Date() < deadline {
            do {
                let response = try client.perform(ClientRequest(method: "POST", url: url + "/internal/v1/cluster/join",
                                                                headers: headers, body: body, timeoutMilliseconds: 25_000))
                if response.status == 200, let answer = try? JSON.parse(response.body) {
                    let members = (answer["members"]?.elements ?? []).compactMap(Member.init(json:))
                    replica.learn(peers: members)
                    logger.info("joined the cluster", metadata: ["via": "\(url)", "members": "\(members.map(\.id))"])
                    return
                }
                lastError = "HTTP \(response.status): \(response.text.prefix(300))"
                if [400, 401, 409].contains(response.status) { break }  // retrying cannot help
            } catch {
                lastError = "\(error)"
            }
            usleep(300_000)
        }
        throw ClusterError(message: "could not join via \(url): \(lastError)")
    }

    public func close() {
        topology?.stop()
        maps.close()
        for group in groups.withLock({ Array($0.values) }) { group.shutdown() }
        if let replica { replica.shutdown() }
        _ = transport.close()
        router.close()
        forwarder.close()
    }
}

public struct ClusterError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

extension Member {
    public init?(json: JSON) {
        guard let id = json["id"]?.stringValue, let url = json["url"]?.stringValue else { return nil }
        self.init(id: id, raftID: RaftID.of(id), url: url, level: Int(json["level"]?.intValue ?? 1), joinedAtIndex: 0)
    }

    public var json: JSON {
        .object([("id", .string(id)), ("url", .string(url)), ("level", .int(level))])
    }
}
