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
    /// The groups this node holds, once Raft started (docs/ARCHITECTURE.md, "Shards").
    private let shardGroups = Mutex<ShardGroups?>(nil)
    /// What this node would seed a new cluster with: its flags and scaling policy.
    private let seedState: Mutex<ClusterSettings>

    /// The cluster-wide settings in force here (docs/ARCHITECTURE.md, "Cluster-wide settings"):
    /// the map's, else — a single node, or a map the meta leader has not seeded yet — this
    /// node's own.
    public var settings: ClusterSettings { maps.replicated?.settings ?? seedState.withLock { $0 } }

    /// This node's own settings, which seed the map when the cluster forms.
    public var seedSettings: ClusterSettings { seedState.withLock { $0 } }

    /// Replaces this node's own settings (a single node's `PUT`s, the scaling policy it loaded).
    public func seed(_ update: (inout ClusterSettings) -> Void) { seedState.withLock { update(&$0) } }

    public init(configuration: ClusterConfiguration, store: Store, logger: Logger) throws {
        self.configuration = configuration
        self.store = store
        self.logger = logger
        let transportConfiguration = TransportConfiguration(nodeID: configuration.replica.raftID, clusterToken: configuration.clusterToken)
        try transportConfiguration.validate()
        transport = PeerTransport(configuration: transportConfiguration, logger: logger)
        transport.attach(router)
        snapshotServer = SnapshotServer(bytesPerSecond: configuration.snapshotBytesPerSecond, throttle: transport.catchUp)
        // Until the first topology round decides: a node joining now is paced at this rate.
        transport.catchUp.set(silent: [], known: [], bytesPerSecond: configuration.topology.silentReplicaBytesPerSecond)
        forwarder = try Forwarder(maxInFlight: configuration.forwardMaxInFlight, capacity: configuration.forwardQueueCapacity,
                                  connectionsPerPeer: configuration.forwardConnectionsPerPeer,
                                  threads: configuration.forwardThreads)
        try configuration.topology.validate()
        seedState = Mutex(ClusterSettings(
            maxVoters: configuration.topology.policy.maxVoters, maxReplicas: configuration.topology.policy.maxReplicas,
            failureTimeoutMilliseconds: configuration.topology.failureTimeoutMilliseconds,
            removeAfterMilliseconds: configuration.topology.policy.removeAfterMilliseconds,
            silentReplicaBytesPerSecond: configuration.topology.silentReplicaBytesPerSecond, scalingPolicy: .object([])))
        let settings = configuration.replica
        maps = MapView(standalone: ClusterMap.initial(founder: settings.nodeID, url: settings.url, level: settings.level),
                       stored: store.clusterMap, logger: logger)
        let maps = self.maps
        Self.publishPlacements(of: maps.replicated, to: store)
        store.onClusterMapChanged { [store] stored in
            maps.applied(stored)
            Self.publishPlacements(of: maps.replicated, to: store)
        }
        let controller = TopologyController(settings: configuration.topology, store: store, cluster: self, logger: logger)
        topologyState.withLock { $0 = controller }
        controller.start()
    }

    public var mode: Mode { modeState.withLock { $0 } }

    /// Tells the groups here where moved shards should live (their leaders follow it).
    static func publishPlacements(of map: ClusterMap?, to store: Store) {
        var placements: [Int: (nodes: Set<UInt64>, version: UInt64)] = [:]
        for shard in map?.shards ?? [] {
            if let placement = shard.placement {
                placements[shard.id] = (Set(placement.nodes.map(RaftID.of)), placement.version)
            }
        }
        store.publishPlacements(placements)
    }

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
            let replica = try Replica(configuration: settings, raftStore: raftStore, transport: transport,
                                      clusterToken: configuration.clusterToken, logger: logger)
            let maps = self.maps
            let groups = ShardGroups(store: store, transport: transport, router: router, template: settings,
                                     clusterToken: configuration.clusterToken, logger: logger, listed: { shard in
                                         maps.replicated?.shards.first { $0.id == shard }.map {
                                             ShardDescriptor(id: $0.id, firstBucket: $0.firstBucket, lastBucket: $0.lastBucket,
                                                             version: $0.version)
                                         }
                                     }, started: { [weak self] _ in self?.topology?.nudge() })
            shardGroups.withLock { $0 = groups }
            modeState.withLock { $0 = .raft(replica) }
            logger.info("raft mode", metadata: ["bootstrap": "\(bootstrap)", "applied_index": "\(store.appliedIndex)"])
            try groups.start(meta: replica, images: images)
            return replica
        } catch {
            modeState.withLock { $0 = .standalone }
            throw error
        }
    }

    /// The snapshot file of shard `shard` registered under `token`, for the internal snapshot route.
    public func snapshotFile(shard: Int = 1, token: String) -> (path: String, size: Int64, checksum: UInt64)? {
        shardGroups.withLock { $0 }?.snapshotFiles(shard: shard)?.file(token: token)
    }

    // MARK: Shards

    /// This node's replica of shard `shard`'s group, if it holds one.
    public func replica(shard: Int) -> Replica? { shardGroups.withLock { $0 }?.replica(shard: shard) }

    /// Stops and forgets this node's replica of `shard` (moved to other nodes).
    /// On its own thread: the drop waits for answers still due (see `ShardGroups.drop`), and
    /// the topology thread must keep planning meanwhile.
    func dropGroup(shard: Int) {
        guard let groups = shardGroups.withLock({ $0 }) else { return }
        Thread.detachNewThread { groups.drop(shard: shard) }
    }

    /// Every group this node holds, shard 1 first.
    public var replicas: [Replica] { shardGroups.withLock { $0 }?.all ?? [] }

    /// Graceful shutdown, step 1: every group this node leads hands its leadership to another
    /// voter (at once, in parallel), and waits for its proposals (see `Replica.handOver`).
    public func handOver() {
        let leading = replicas.filter { $0.status.isLeader }
        guard !leading.isEmpty else { return }
        let group = DispatchGroup()
        for replica in leading {
            group.enter()
            Thread.detachNewThread {
                replica.handOver()
                group.leave()
            }
        }
        group.wait()
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
        shardGroups.withLock { $0 }?.shutdown()
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
