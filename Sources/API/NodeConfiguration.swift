import Cluster
import LoadManager
/// Settings of the API edge of one node. The executable fills it from flags; defaults are
/// the documented ones (docs/API.md).
public struct NodeConfiguration: Sendable {
    public var nodeID: String = "n1"
    /// URL other nodes and clients use to reach this node.
    public var advertiseURL: String = "http://127.0.0.1:8080"
    /// Size class 1...5 (Smart Raft: bigger nodes lead).
    public var level: Int = 1
    /// Bearer token for `/admin`; nil serves admin routes without a token (loopback only).
    public var adminToken: String?
    public var maxJSONDepth: Int = 64
    /// Longest wait for `X-Machdb-Min-Index` before 504.
    public var readWaitMilliseconds: Int = 2_000
    public var maxQueryBodyBytes: Int = 64 << 10
    public var maxBulkOperations: Int = 1_000
    /// Readers parked waiting for an index, at most.
    public var maxIndexWaiters: Int = 10_000
    /// Threads and queue for queries and backups (work that must not run on I/O threads).
    public var workerThreads: Int = 2
    public var workerQueueCapacity: Int = 1_024
    /// A relayed request still waiting for an upstream slot this long after it arrived gets
    /// 504 `deadline-exceeded`; one already relayed gets what is left (at most 15 s) as its
    /// upstream timeout.
    public var requestDeadlineMilliseconds: Int = 30_000
    /// A write that finds no leader (election, transfer) waits this long for one.
    public var leaderlessWaitMilliseconds: Int = 5_000
    /// Writes waiting for a leader at once, at most (beyond: 503 `no-leader` at once).
    public var leaderlessWriteBuffer: Int = 1_024
    /// The Load Manager's gateway (upstream limits, wait queue).
    public var gateway = Gateway.Configuration()
    /// Where temporary backup snapshots are written (the data directory).
    public var scratchDirectory: String = "."
    /// Internal routes (`/internal/v1/*`) need a client certificate the cluster CA verified
    /// (`--tls-ca`), besides the cluster token.
    public var requireClientCertificate = false

    public init() {}

    public func validate() throws(ConfigurationError) {
        func check(_ ok: Bool, _ what: String) throws(ConfigurationError) {
            if !ok { throw ConfigurationError(message: what) }
        }
        try check(Names.isValid(nodeID), "node id must match [A-Za-z0-9._~-]{1,128}")
        try check((1...5).contains(level), "level must be 1...5")
        try check((1...1_000).contains(maxJSONDepth), "max JSON depth must be 1...1000")
        try check((0...600_000).contains(readWaitMilliseconds), "read wait must be 0...600000 ms")
        try check((1...1_000_000).contains(maxIndexWaiters), "max index waiters must be 1...1000000")
        try check((1...64).contains(workerThreads), "worker threads must be 1...64")
        try check(adminToken.map { !$0.isEmpty } ?? true, "admin token must not be empty")
        try check((100...3_600_000).contains(requestDeadlineMilliseconds), "request deadline must be 100...3600000 ms")
        try check((0...600_000).contains(leaderlessWaitMilliseconds), "leaderless wait must be 0...600000 ms")
        try check((0...1_000_000).contains(leaderlessWriteBuffer), "leaderless write buffer must be 0...1000000")
        do { try gateway.validate() } catch { throw ConfigurationError(message: "\(error)") }
    }
}

public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}
