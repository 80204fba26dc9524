import Foundation
import Logging
import MicroHTTPD
import PeerTransport
import RaftCore
import Sharding
import Replica
import Storage
import Sync
import Synchronization

/// Shards a test lists as a replicated map would (see `ShardGroups`).
final class ListedShards: Sendable {
    let shards = Mutex<[Int: ShardDescriptor]>([:])
}

/// One node of an in-process cluster, wired as `ClusterController` wires a real one: a `Store`
/// in a directory of its own, a `PeerTransport` delivering to a `PeerRouter`, a `Replica`
/// registered with the router once Raft starts, and a real HTTP server on a loopback port
/// serving the peer stream and snapshot routes.
///
/// Used from the test's thread only (completions never touch it: they get Sendable pieces).
final class RuntimeNode {
    let name: String
    let raftID: NodeID
    let directory: String
    let logs = LogCapture()
    let logger: Logger
    let store: Store
    let transport: PeerTransport
    let router = PeerRouter()
    let routes: NodeRoutes
    let server: Server
    let clusterToken: String?
    private(set) var replica: Replica!
    private(set) var groups: ShardGroups!
    /// The shards as a replicated map would list them (for groups created empty).
    let listed = ListedShards()
    private var stopped = false

    init(name: String, directory: String, clusterToken: String?) throws {
        self.name = name
        self.directory = directory
        self.clusterToken = clusterToken
        raftID = RaftID.of(name)
        logger = logs.logger(node: name)
        store = try Store(configuration: StoreConfiguration(path: directory + "/machdb.sqlite"), logger: logger)
        var transportConfiguration = TransportConfiguration(nodeID: raftID, clusterToken: clusterToken)
        transportConfiguration.heartbeatMilliseconds = 100
        transportConfiguration.idleTimeoutMilliseconds = 1_000
        transportConfiguration.connectTimeoutMilliseconds = 500
        transportConfiguration.sendTimeoutMilliseconds = 500
        transportConfiguration.backoffMilliseconds = 10
        transport = PeerTransport(configuration: transportConfiguration, logger: logger)
        transport.attach(router)
        routes = NodeRoutes(clusterToken: clusterToken, transport: transport)
        var serverConfiguration = ServerConfiguration()
        serverConfiguration.port = 0
        serverConfiguration.threads = 1
        server = try Server(configuration: serverConfiguration, handler: routes)
    }

    var url: String { "http://127.0.0.1:\(server.port)" }

    var member: Member { Member(id: name, raftID: raftID, url: url, level: 1, joinedAtIndex: 0) }

    /// What the Raft thread published last.
    var status: ReplicaStatus { replica.status }

    /// Whether this node believes it leads.
    var leads: Bool { replica.leader.isSelf }

    /// The test's faults on this node's transport.
    var faults: TransportFaults.Settings {
        get { transport.faults.settings }
        set { transport.faults.settings = newValue }
    }

    /// Starts Raft on the store: `bootstrap` founds a one-voter group; otherwise the node
    /// starts empty and waits to be added (a snapshot from the leader fills it).
    func startRaft(bootstrap: Bool, seed: UInt64) throws {
        let raftStore = try store.startRaft(bootstrap: bootstrap, selfRaftID: raftID, selfMember: member)
        let images = raftStore.snapshots
        var configuration = ReplicaConfiguration(nodeID: name, raftID: raftID, url: url, randomSeed: seed)
        configuration.tickMilliseconds = 10
        configuration.electionTicks = 20
        configuration.heartbeatTicks = 2
        configuration.proposalTimeoutMilliseconds = 2_000
        let replica = try Replica(configuration: configuration, raftStore: raftStore, transport: transport,
                                  clusterToken: clusterToken, logger: logger)
        let listed = self.listed
        let groups = ShardGroups(store: store, transport: transport, router: router, template: configuration,
                                 clusterToken: clusterToken, logger: logger, listed: { shard in listed.shards.withLock { $0[shard] } })
        routes.groups.withLock { $0 = groups }
        self.replica = replica
        self.groups = groups
        try groups.start(meta: replica, images: images)
    }

    /// This node's replica of `shard`.
    func replica(shard: Int) -> Replica? { groups?.replica(shard: shard) }

    /// Stops everything, in the node's order: Raft, the transport (which releases the upgraded
    /// streams), the HTTP server, the store. Idempotent.
    func stop() {
        guard !stopped else { return }
        stopped = true
        groups?.shutdown()
        replica?.shutdown()
        if !transport.close() { logger.error("transport threads still running after close") }
        routes.snapshotServer.close()
        server.quiesce()
        let deadline = monotonicNanoseconds() + 5_000_000_000
        while server.inFlight > 0 && monotonicNanoseconds() < deadline { usleep(2_000) }
        server.shutdown()
        store.close()
    }
}
