import JSON
import Logging
import Storage
import Synchronization
import Topology

/// This node's copy of the cluster map, decoded once per version, and the long-polls
/// waiting for a newer one (`GET /internal/v1/cluster-map?after=v`).
///
/// A single node (no Raft log) shows the Mach I map of itself; a group member shows the map
/// last applied from the log (the founder's Mach I map until the first one is applied).
public final class MapView: Sendable {
    /// The map applied from the log; nil until the first one (a single node, a new group, a
    /// node still joining).
    private let current: Mutex<ClusterMap?>
    /// Parked long-polls, keyed by the map version they wait to pass.
    public let waiters: IndexWaiters
    private let logger: Logger
    public let standalone: ClusterMap

    init(standalone: ClusterMap, stored: StoredClusterMap?, logger: Logger) {
        self.standalone = standalone
        self.logger = logger
        let decoded = stored.flatMap { try? ClusterMap(json: JSON.parse($0.body)) }
        current = Mutex(decoded)
        waiters = IndexWaiters(capacity: 1_024, appliedIndex: decoded?.version ?? standalone.version)
    }

    /// The latest map applied here, if any.
    public var replicated: ClusterMap? { current.withLock { $0 } }

    /// The latest map applied here, else this node's own Mach I map.
    public var map: ClusterMap { replicated ?? standalone }

    /// A newer map was applied (Raft thread): decode it, release the long-polls.
    func applied(_ stored: StoredClusterMap) {
        do {
            let map = try ClusterMap(json: JSON.parse(stored.body))
            current.withLock { $0 = map }
            waiters.applied(map.version)
        } catch {
            logger.error("applied cluster map does not decode", metadata: ["version": "\(stored.version)", "error": "\(error)"])
        }
    }

    func close() { waiters.close() }
}
