import Cluster
import JSON
import LoadManager
import Logging
import Scaling
import Sharding
import MicroHTTPD
import Storage
import Sync
import Synchronization

/// The HTTP edge of one node: routes every request to the document, query, bulk, admin and
/// health handlers, and answers errors as problem+json.
///
/// Runs on the HTTP server's I/O threads and never blocks them: writes are handed to the
/// store's group-commit queue and answered when durable; queries and backups run on a small
/// worker pool; point reads run inline (a cached SQLite lookup).
public final class NodeService: HTTPHandler {
    let configuration: NodeConfiguration
    let store: Store
    let logger: Logger
    let metrics = RequestMetrics()
    let workers: WorkerPool
    let waiters: IndexWaiters
    /// Reads parked for an index of a shard other than 1, one registry per shard (made on
    /// first use; shards are few).
    let shardWaiters = ShardWaiters()
    let cluster: ClusterController
    private let accepting = Atomic<Bool>(true)
    /// Round robin over Read Replicas for reads this node relays.
    let readRotation = Atomic<UInt>(0)
    /// Highest log index this node has answered a client with (its own applies and forwarded
    /// writes): a read it relays without `X-Machdb-Min-Index` waits for it at the replica, so a
    /// client reading through the node it wrote through sees its write.
    let observed = ObservedIndexes()
    /// Shards with a split being proposed from here (one at a time per shard).
    let splitsInFlight = SplitsInFlight()
    /// Splits applied through this node, and split requests refused for a hot bucket.
    let splitCounters = SplitCounters()
    /// Collections' shard key fields as last read here (see `shardKeyField(of:)`).
    let shardKeys = ShardKeyCache()
    /// Writes waiting for a leader right now (bounded by `leaderlessWriteBuffer`).
    let leaderlessWaiting = Atomic<Int>(0)
    /// Admission for relayed requests (upstream limits, priority wait queue).
    let gateway: Gateway
    /// Client request latencies, timeouts, mix and buckets over sliding windows.
    let measurement = LoadMeasurement()
    /// The scaling policy's evaluator and the hook outbox (attached by the executable).
    let scalingState = Mutex<ScalingController?>(nil)
    var scaling: ScalingController? { scalingState.withLock { $0 } }
    /// Boxed, not a bare closure in the Mutex (see `ServerProbe`).
    private let serverProbe = Mutex<ServerProbe?>(nil)

    public init(configuration: NodeConfiguration, store: Store, cluster: ClusterController, logger: Logger) throws(ConfigurationError) {
        try configuration.validate()
        self.configuration = configuration
        self.store = store
        self.cluster = cluster
        self.logger = logger
        do {
            gateway = try Gateway(configuration: configuration.gateway)
        } catch {
            throw ConfigurationError(message: "\(error)")
        }
        workers = WorkerPool(name: "api-worker", threads: configuration.workerThreads, capacity: configuration.workerQueueCapacity)
        let waiters = IndexWaiters(capacity: configuration.maxIndexWaiters, appliedIndex: store.appliedIndex)
        self.waiters = waiters
        store.onApplied { index in waiters.applied(index) }
        let shardWaiters = self.shardWaiters
        store.onShardApplied { shard, index in shardWaiters.all.withLock { $0[shard] }?.applied(index) }
        cluster.router.handleCalls { [weak self] id, payload, peer in self?.serveRelayed(id: id, payload: payload, from: peer) }
    }

    /// Lets `/metrics` report the HTTP server's connection counts.
    public func attach(probe: @escaping @Sendable () -> (connections: Int, inFlight: Int)) {
        serverProbe.withLock { $0 = ServerProbe(probe) }
    }

    /// Shutdown, step 1: `/readyz` turns 503 and new writes are refused (503 not-ready);
    /// requests already accepted complete.
    public func beginShutdown() { accepting.store(false, ordering: .relaxed) }

    /// Shutdown, last step: stops the worker pool and releases parked readers.
    public func close() {
        if let scaling {
            scaling.stop()
            scaling.sender?.stop()
        }
        gateway.shutdown()
        waiters.close()
        for registry in shardWaiters.all.withLock({ Array($0.values) }) { registry.close() }
        workers.close()
    }

    var isAccepting: Bool { accepting.load(ordering: .relaxed) }

    /// The registry of reads waiting for an index of shard `shard`.
    func waiters(shard: Int) -> IndexWaiters {
        if shard == 1 { return waiters }
        return shardWaiters.all.withLock { all in
            if let existing = all[shard] { return existing }
            let created = IndexWaiters(capacity: configuration.maxIndexWaiters, appliedIndex: store.appliedIndex(shard: shard))
            all[shard] = created
            return created
        }
    }

    /// The group removed this node (it left): it serves no client request any more.
    var isRemoved: Bool { cluster.topology?.removed.load(ordering: .relaxed) ?? false }

    // MARK: HTTPHandler

    public func handle(_ request: Request, responder: Responder) {
        var routeClass = RouteClass.other
        let metered = MeteredResponder(inner: responder, service: self, routeClass: routeClass, start: request.receivedAt)
        do {
            let route = try Route.match(request.path)
            routeClass = route.routeClass(method: request.method)
            metered.routeClass = routeClass
            if case let .document(_, id) = route { metered.bucket = Bucket.of(id) }
            guard route.allowedMethods.contains(request.method) else {
                throw Problem(.methodNotAllowed, "\(request.method) is not allowed on \(request.path)",
                              headers: [("Allow", route.allowedMethods.joined(separator: ", "))])
            }
            if isRemoved, ![.healthz, .readyz, .metrics].contains(route), !Self.isAdmin(route), !route.isConsole {
                throw Problem(.notReady, "this node was removed from its cluster; send requests to a member")
            }
            try dispatch(route, request, metered)
        } catch {
            metered.respond(error.response(instance: request.path))
        }
    }

    public func bodyTooLarge(_ request: Request, limit: Int) -> Response {
        var response = Problem(.bodyTooLarge, "request bodies are limited to \(limit) bytes").response(instance: request.path)
        response.addHeader("X-Machdb-Served-By", configuration.nodeID)
        response.addHeader("Connection", "close")
        metrics.record(.other, status: 413, seconds: 0)
        return response
    }

    private func dispatch(_ route: Route, _ request: Request, _ responder: MeteredResponder) throws(Problem) {
        switch route {
        case .healthz: responder.respond(health())
        case .readyz: responder.respond(try readiness())
        case .metrics: responder.respond(metricsResponse())
        case let .console(asset): responder.respond(console(asset))
        case .collections: try routedRead(request, responder) { [self] () throws(Problem) in try collections(request, responder) }
        case let .collection(collection):
            try refuseReserved(collection)
            if request.method == "PUT" { return try declare(request, collection: collection, responder) }
            try routedRead(request, responder) { [self] () throws(Problem) in
                try collectionView(request, collection: collection, responder)
            }
        case let .documents(collection):
            try refuseReserved(collection)
            try create(request, collection: collection, responder)
        case let .document(collection, id):
            try refuseReserved(collection)
            switch request.method {
            case "GET", "HEAD":
                try routedRead(request, responder, bucket: Bucket.of(id)) { [self] () throws(Problem) in
                    try read(request, collection: collection, id: id, responder)
                }
            case "PUT": try put(request, collection: collection, id: id, responder)
            case "PATCH": try patch(request, collection: collection, id: id, responder)
            default: try delete(request, collection: collection, id: id, responder)
            }
        case let .query(collection):
            try refuseReserved(collection)
            try query(request, collection: collection, responder)
        case .bulk: try bulk(request, responder)
        case .adminCluster:
            try authorizeAdmin(request)
            try clusterView(request, responder)
        case let .adminNodeLeave(node):
            try authorizeAdmin(request)
            try leave(request, node: node, responder)
        case .adminScaling:
            try authorizeAdmin(request)
            responder.respond(try scalingView())
        case .adminScalingPolicy:
            try authorizeAdmin(request)
            try scalingPolicy(request, responder)
        case .adminTopologySettings:
            try authorizeAdmin(request)
            try topologySettings(request, responder)
        case .adminScalingRecommendations:
            try authorizeAdmin(request)
            responder.respond(try recommendations(request))
        case .adminScalingHistory:
            try authorizeAdmin(request)
            responder.respond(try loadHistory(request))
        case .clusterMap:
            try authorizeInternal(request)
            try clusterMapPoll(request, responder)
        case .adminBackup:
            try authorizeAdmin(request)
            try backup(request, responder)
        case let .adminTransferLeader(shard):
            try authorizeAdmin(request)
            try transferLeader(request, shard: shard, responder)
        case let .adminSplit(shard):
            try authorizeAdmin(request)
            try split(request, shard: shard, responder)
        case let .adminMove(shard):
            try authorizeAdmin(request)
            try move(request, shard: shard, responder)
        case let .shardReport(shard):
            try authorizeInternal(request)
            try shardReport(request, shard: shard, responder)
        case .raftStream:
            try authorizeInternal(request)
            try raftStream(request, responder)
        case let .raftSnapshot(shard, token):
            try authorizeInternal(request)
            try raftSnapshot(request, shard: shard, token: token, responder)
        case .clusterJoin:
            try authorizeInternal(request)
            try clusterJoin(request, responder)
        }
    }

    static func isAdmin(_ route: Route) -> Bool { route.routeClass(method: "GET") == .admin }

    /// Runs `job` on the worker pool; 503 when its queue is full.
    func offload(_ job: @escaping @Sendable () -> Void) throws(Problem) {
        guard workers.submit(job) else { throw Problem(.overloaded, "too many queries and backups queued") }
    }

    func serverCounts() -> (connections: Int, inFlight: Int) {
        serverProbe.withLock { $0 }?.counts() ?? (0, 0)
    }
}

/// Adds `X-Machdb-Served-By`, records metrics, and answers once.
final class MeteredResponder: Responder, @unchecked Sendable {
    private let inner: Responder
    private unowned let service: NodeService
    var routeClass: RouteClass
    /// The data bucket a document request touched (per-bucket load, for split points).
    var bucket: Int?
    private let start: UInt64

    init(inner: Responder, service: NodeService, routeClass: RouteClass, start: UInt64) {
        self.inner = inner
        self.service = service
        self.routeClass = routeClass
        self.start = start
    }

    func respond(_ response: Response) {
        var response = response
        if !response.headers.contains(where: { $0.name.utf8.count == 18 && $0.name.lowercased() == "x-machdb-served-by" }) {
            response.addHeader("X-Machdb-Served-By", service.configuration.nodeID)  // a forwarded answer names its server
        }
        let seconds = Double(monotonicNanoseconds() &- start) / 1e9
        service.metrics.record(routeClass, status: response.status, seconds: seconds)
        let kind: RequestKind? = switch routeClass {
        case .read: .read
        case .write: .write
        case .query: .query
        default: nil
        }
        if let kind {
            service.measurement.record(kind: kind, seconds: seconds, timedOut: Self.isTimeout(response), bucket: bucket)
        }
        inner.respond(response)
    }
}

extension MeteredResponder {
    /// A timeout for the scaling policy: a 504 (deadline, index not reached) or a 503
    /// `write-timeout`.
    static func isTimeout(_ response: Response) -> Bool {
        if response.status == 504 { return true }
        guard response.status == 503, case let .bytes(body) = response.body, body.count < 1_024 else { return false }
        return String(decoding: body, as: UTF8.self).contains(ProblemType.writeTimeout.rawValue)
    }
}

extension Error {
    /// Any error as a response: problems as themselves, anything else as a 500 that leaks nothing.
    func response(instance: String) -> Response {
        if let problem = self as? Problem { return problem.response(instance: instance) }
        return Problem(.internalError, "unexpected error").response(instance: instance)
    }
}

/// Reads the HTTP server's counters. A class box: a closure kept directly in a `Mutex` gets
/// wrapped in two more reabstraction thunks on every `withLock`, so calls grow slower forever.
final class ServerProbe: Sendable {
    let counts: @Sendable () -> (connections: Int, inFlight: Int)
    init(_ counts: @escaping @Sendable () -> (connections: Int, inFlight: Int)) { self.counts = counts }
}

/// The highest index this node answered a client with, per shard (indexes of different
/// shards do not compare).
final class ObservedIndexes: Sendable {
    private let indexes = Mutex<[Int: UInt64]>([:])

    func record(shard: Int, index: UInt64) {
        indexes.withLock { $0[shard] = max($0[shard] ?? 0, index) }
    }

    func value(shard: Int) -> UInt64 { indexes.withLock { $0[shard] ?? 0 } }

    /// The highest over every shard (for a read spanning them; see `whenAppliedEverywhere`).
    var highest: UInt64 { indexes.withLock { $0.values.max() ?? 0 } }
}

/// Shards whose split this node is proposing.
final class SplitsInFlight: Sendable {
    private let shards = Mutex<Set<Int>>([])
    func begin(_ shard: Int) -> Bool { shards.withLock { $0.insert(shard).inserted } }
    func end(_ shard: Int) { _ = shards.withLock { $0.remove(shard) } }
    func isActive(_ shard: Int) -> Bool { shards.withLock { $0.contains(shard) } }
    var count: Int { shards.withLock { $0.count } }
}

final class SplitCounters: Sendable {
    private let counts = Mutex<(applied: Int, hotBucket: Int)>((0, 0))
    func recordApplied() { counts.withLock { $0.applied += 1 } }
    func recordHotBucket() { counts.withLock { $0.hotBucket += 1 } }
    var applied: Int { counts.withLock { $0.applied } }
    var hotBucket: Int { counts.withLock { $0.hotBucket } }
}

/// Reads parked per shard (see `NodeService.waiters(shard:)`).
final class ShardWaiters: Sendable {
    let all = Mutex<[Int: IndexWaiters]>([:])
}
