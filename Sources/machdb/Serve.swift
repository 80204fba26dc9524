import Cluster
import Curl
import API
import ArgumentParser
import Foundation
import Logging
import MicroHTTPD
import JSON
import Replica
import Scaling
import Storage

/// `machdb serve`: runs one node.
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a machdb node (with no flags: a Mach I node on 127.0.0.1:8080, data in ./data).")

    /// Flags that take a value, for `MACHDB_*` and `--config` expansion.
    static let valueFlags: [String] = [
        "node-id", "data-dir", "listen", "advertise", "join", "level", "cluster-token", "admin-token",
        "hook-url", "hook-secret", "config", "restore", "max-body-bytes", "max-json-depth", "connection-limit",
        "connection-timeout", "threads", "write-queue", "query-timeout", "read-wait", "log-level", "snapshot-rate", "snapshot-entries",
        "failure-timeout", "remove-after", "max-voters", "max-replicas", "silent-replica-rate",
        "upstream-limit", "wait-queue", "request-deadline", "leaderless-wait", "leaderless-buffer", "scaling-policy",
        "tls-cert", "tls-key", "tls-ca",
    ]

    @Option(help: "Node id, unique in the cluster.") var nodeID = "n1"
    @Option(help: "Directory for this node's database.") var dataDir = "./data"
    @Option(help: "Address to listen on, IPv4 host:port.") var listen = "127.0.0.1:8080"
    @Option(help: "URL other nodes and clients use to reach this node (default: http://<listen>).") var advertise: String?
    @Option(help: "URL of any node of the cluster to join; this node enters as a learner and is promoted once caught up.") var join: String?
    @Option(help: "Node size class 1...5 (bigger nodes lead).") var level = 1
    @Option(help: "Token nodes present to each other on /internal routes.") var clusterToken: String?
    @Option(help: "Bearer token for /admin routes (required unless listening on loopback).") var adminToken: String?
    @Option(help: "Operator webhook URL: scaling recommendations are POSTed there, signed (X-Machdb-Signature).") var hookURL: String?
    @Option(help: "HMAC-SHA256 secret for the operator webhook's signature.") var hookSecret: String?
    @Option(help: "JSON file of settings: {\"node-id\": \"n1\", ...}; flags and MACHDB_* win.") var config: String?
    @Option(help: "Start from this backup file (the data directory must hold no database yet).") var restore: String?
    @Option(help: "Largest request body in bytes.") var maxBodyBytes = 16 << 20
    @Option(help: "Deepest JSON nesting accepted.") var maxJSONDepth = 64
    @Option(help: "Most client connections held at once.") var connectionLimit = 10_000
    @Option(help: "Seconds before an idle connection is closed.") var connectionTimeout = 60
    @Option(help: "HTTP I/O threads (default: number of cores).") var threads: Int?
    @Option(help: "Write commands queued for the group commit, at most.") var writeQueue = 10_000
    @Option(help: "Longest a query may run, in milliseconds.") var queryTimeout = 5_000
    @Option(help: "Longest a read waits for X-Machdb-Min-Index, in milliseconds.") var readWait = 2_000
    @Option(help: "trace, debug, info, notice, warning, error or critical.") var logLevel = "info"
    @Option(help: "Bytes per second this node serves snapshots at, at most (default: unlimited).") var snapshotRate: Int?
    @Option(help: "Compact the Raft log once it holds this many applied entries (a lagging node then gets a snapshot).") var snapshotEntries = 20_000
    @Option(help: "Milliseconds without contact before the leader counts a node as failed (its roles move).") var failureTimeout = 3_000
    @Option(help: "Milliseconds a failed node may stay down before it is removed from the group.") var removeAfter = 30_000
    @Option(help: "Voters per shard, at most (further replicas are non-voting learners).") var maxVoters = 5
    @Option(help: "Read Replicas per shard, at most (then sharding is recommended); at most max-voters - 1.") var maxReplicas = 4
    @Option(help: "Bytes per second a Load Manager's silent replica catches up at (log and snapshots); 0: unlimited.") var silentReplicaRate = 32 << 20
    @Option(help: "Requests relayed to one node at once, at most; more wait in the queue.") var upstreamLimit = 64
    @Option(help: "Relayed requests waiting for an upstream slot, at most (by priority: writes, reads, queries); beyond: 503.") var waitQueue = 2_048
    @Option(help: "Milliseconds from arrival a relayed request may wait for an upstream slot (then 504 deadline-exceeded); the relay gets what is left.") var requestDeadline = 30_000
    @Option(help: "Milliseconds a write waits for a leader (election, transfer) before 503 no-leader.") var leaderlessWait = 5_000
    @Option(help: "Writes waiting for a leader at once, at most.") var leaderlessBuffer = 1_024
    @Option(help: "JSON file with scaling policy fields (see GET /admin/v1/scaling/policy); PUT on that route overrides it.") var scalingPolicy: String?

    @Option(help: "PEM certificate (chain) to serve HTTPS with, instead of plain HTTP (with --tls-key).") var tlsCert: String?
    @Option(help: "PEM private key of --tls-cert.") var tlsKey: String?
    @Option(help: "PEM cluster CA: nodes verify each other's certificates with it (node-to-node requests must present one it signed); also what this node trusts for outgoing HTTPS (peers, the operator hook).") var tlsCa: String?

    func validate() throws {
        if (tlsCert == nil) != (tlsKey == nil) { throw ValidationError("--tls-cert and --tls-key go together") }
        if tlsCa != nil && tlsCert == nil { throw ValidationError("--tls-ca needs --tls-cert and --tls-key (this node's certificate, signed by that CA)") }
        for (flag, path) in [("--tls-cert", tlsCert), ("--tls-key", tlsKey), ("--tls-ca", tlsCa)] {
            if let path, !FileManager.default.isReadableFile(atPath: path) { throw ValidationError("\(flag) \(path): not a readable file") }
        }
        if let join, !(join.hasPrefix("http://") || join.hasPrefix("https://")) {
            throw ValidationError("--join takes a node URL like http://127.0.0.1:7001")
        }
        if removeAfter < 0 { throw ValidationError("--remove-after must be >= 0") }
        if silentReplicaRate != 0 && silentReplicaRate < 16 << 10 {
            throw ValidationError("--silent-replica-rate must be 0 (unlimited) or at least 16384 bytes/s")
        }
        if snapshotEntries < 16 { throw ValidationError("--snapshot-entries must be at least 16") }
        if let snapshotRate, snapshotRate < 4096 { throw ValidationError("--snapshot-rate must be at least 4096 bytes/s") }
        if (hookURL == nil) != (hookSecret == nil) { throw ValidationError("--hook-url and --hook-secret go together") }
        if let hookURL, !(hookURL.hasPrefix("http://") || hookURL.hasPrefix("https://")) {
            throw ValidationError("--hook-url takes an http(s) URL")
        }
        if let hookSecret, hookSecret.isEmpty { throw ValidationError("--hook-secret must not be empty") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level: unknown level \(logLevel)") }
        let (host, _) = try Self.hostPort(listen)
        if adminToken == nil && !host.hasPrefix("127.") {
            throw ValidationError("--admin-token is required when listening on a non-loopback address (\(host))")
        }
    }

    static func hostPort(_ listen: String) throws -> (String, UInt16) {
        guard let colon = listen.lastIndex(of: ":"), let port = UInt16(listen[listen.index(after: colon)...]) else {
            throw ValidationError("--listen must be host:port, got \(listen)")
        }
        return (String(listen[..<colon]), port)
    }

    func run() throws {
        ProcessSetup.start(logLevel: logLevel)
        var logger = Logger(label: "machdb.node")
        logger[metadataKey: "node"] = "\(nodeID)"

        let (host, port) = try Self.hostPort(listen)
        let dataDirectory = URL(fileURLWithPath: dataDir).standardizedFileURL.path
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        let lock = try DataDirectoryLock(directory: dataDirectory)
        let databasePath = dataDirectory + "/machdb.sqlite"
        if let restore {
            try Store.restore(from: restore, to: databasePath)
            logger.info("restored database from backup", metadata: ["file": "\(restore)"])
        }

        var storeConfiguration = StoreConfiguration(path: databasePath)
        storeConfiguration.writeQueueCapacity = writeQueue
        storeConfiguration.queryTimeoutMilliseconds = queryTimeout
        storeConfiguration.maxJSONDepth = maxJSONDepth
        var storeLogger = Logger(label: "machdb.storage")
        storeLogger[metadataKey: "node"] = "\(nodeID)"
        let store = try Store(configuration: storeConfiguration, logger: storeLogger)

        var nodeConfiguration = NodeConfiguration()
        nodeConfiguration.nodeID = nodeID
        nodeConfiguration.advertiseURL = advertise ?? "\(tlsCert == nil ? "http" : "https")://\(listen)"
        nodeConfiguration.requireClientCertificate = tlsCa != nil
        if tlsCert != nil {
            // Outgoing HTTPS (peers, relays, snapshots, joins, the hook) and the peer streams.
            ClientTLS.configure(ClientTLS(caFile: tlsCa, certificateFile: tlsCert, keyFile: tlsKey))
        }
        nodeConfiguration.level = level
        nodeConfiguration.adminToken = adminToken
        nodeConfiguration.maxJSONDepth = maxJSONDepth
        nodeConfiguration.readWaitMilliseconds = readWait
        nodeConfiguration.scratchDirectory = dataDirectory
        nodeConfiguration.requestDeadlineMilliseconds = requestDeadline
        nodeConfiguration.leaderlessWaitMilliseconds = leaderlessWait
        nodeConfiguration.leaderlessWriteBuffer = leaderlessBuffer
        nodeConfiguration.gateway.maxUpstreamPerTarget = upstreamLimit
        nodeConfiguration.gateway.maxWaiting = waitQueue
        var policy = ScalingPolicy()
        if let scalingPolicy {
            do {
                policy = try ScalingPolicy(json: JSON.parse(String(contentsOfFile: scalingPolicy, encoding: .utf8)))
                try policy.validate()
            } catch {
                throw ValidationError("--scaling-policy \(scalingPolicy): \(error)")
            }
        }
        var apiLogger = Logger(label: "machdb.api")
        apiLogger[metadataKey: "node"] = "\(nodeID)"
        var replicaConfiguration = ReplicaConfiguration(nodeID: nodeID, raftID: RaftID.of(nodeID),
                                                        url: nodeConfiguration.advertiseURL, randomSeed: UInt64.random(in: 1...UInt64.max))
        replicaConfiguration.level = level
        replicaConfiguration.compactionThreshold = UInt64(snapshotEntries)
        replicaConfiguration.keepEntries = UInt64(max(1, min(2_000, snapshotEntries / 4)))
        var clusterConfiguration = ClusterConfiguration(clusterToken: clusterToken, replica: replicaConfiguration)
        clusterConfiguration.snapshotBytesPerSecond = snapshotRate
        clusterConfiguration.forwardConnectionsPerPeer = max(upstreamLimit, 1)
        clusterConfiguration.topology.failureTimeoutMilliseconds = failureTimeout
        clusterConfiguration.topology.policy.removeAfterMilliseconds = UInt64(max(0, removeAfter))
        clusterConfiguration.topology.policy.maxVoters = maxVoters
        clusterConfiguration.topology.policy.maxReplicas = maxReplicas
        clusterConfiguration.topology.silentReplicaBytesPerSecond = silentReplicaRate
        do {
            try clusterConfiguration.topology.validate()
        } catch {
            throw ValidationError("\(error)")
        }
        var raftLogger = Logger(label: "machdb.raft")
        raftLogger[metadataKey: "node"] = "\(nodeID)"
        let cluster = try ClusterController(configuration: clusterConfiguration, store: store, logger: raftLogger)
        if store.isRaftMode {
            try cluster.startRaft(bootstrap: false)  // a member of a group already: resume from its log
        }
        let service = try NodeService(configuration: nodeConfiguration, store: store, cluster: cluster, logger: apiLogger)
        try service.startScaling(hook: hookURL.map { HookSettings(url: $0, secret: hookSecret ?? "") }, policy: policy,
                                 dataDirectory: dataDirectory, joining: join != nil)

        var serverConfiguration = ServerConfiguration()
        serverConfiguration.host = host
        serverConfiguration.port = port
        if let threads { serverConfiguration.threads = threads }
        serverConfiguration.connectionLimit = connectionLimit
        serverConfiguration.connectionTimeoutSeconds = connectionTimeout
        serverConfiguration.maxBodyBytes = maxBodyBytes
        serverConfiguration.tls = try ProcessSetup.serverTLS(certificate: tlsCert, key: tlsKey, trust: tlsCa)
        let server = try Server(configuration: serverConfiguration, handler: service)
        service.attach { [unowned server] in (server.connections, server.inFlight) }
        logger.info("machdb node serving", metadata: [
            "listen": "\(host):\(server.port)", "data_dir": "\(dataDirectory)", "stage": "Mach I",
            "applied_index": "\(store.appliedIndex)", "admin_token": "\(adminToken == nil ? "none (loopback only)" : "set")",
        ])

        if let join, cluster.replica == nil || store.appliedIndex == 0 {
            do {
                try cluster.join(via: join)
            } catch {
                logger.critical("join failed", metadata: ["error": "\(error)"])
                cluster.close()
                store.close()
                service.close()
                server.shutdown()
                throw ExitCode(3)
            }
        }

        let signal = Signals.wait()
        logger.info("shutting down", metadata: ["signal": "\(signal)"])
        cluster.handOver()
        service.beginShutdown()
        server.quiesce()
        let deadline = Date().addingTimeInterval(30)
        while server.inFlight > 0 && Date() < deadline { usleep(5_000) }
        if server.inFlight > 0 { logger.warning("requests still in flight at shutdown", metadata: ["count": "\(server.inFlight)"]) }
        cluster.close()
        store.close()
        service.close()
        while server.inFlight > 0 && Date() < deadline { usleep(5_000) }
        server.shutdown()
        withExtendedLifetime(lock) {}
        logger.info("stopped cleanly", metadata: ["applied_index": "\(store.appliedIndex)"])
    }
}
