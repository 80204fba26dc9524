import SQLite
import Synchronization

/// The cluster map as stored: its version and JSON body (the Topology module owns the format).
public struct StoredClusterMap: Sendable, Equatable {
    public var version: UInt64
    public var body: [UInt8]

    public init(version: UInt64, body: [UInt8]) {
        self.version = version
        self.body = body
    }
}

/// The latest applied map and the function told when it changes. The observer is boxed (a
/// closure kept directly in a `Mutex` is re-thunked on every write-back).
final class ClusterMapState: Sendable {
    let current: Mutex<StoredClusterMap?>
    let observer = Mutex<ClusterMapObserver?>(nil)

    init(_ map: StoredClusterMap?) { current = Mutex(map) }
}

final class ClusterMapObserver: Sendable {
    let call: @Sendable (StoredClusterMap) -> Void
    init(_ call: @escaping @Sendable (StoredClusterMap) -> Void) { self.call = call }
}

extension Store {
    /// The cluster map applied so far; nil before the first `setClusterMap` entry (and always
    /// for a single node, which has no log).
    public var clusterMap: StoredClusterMap? { clusterMapState.current.withLock { $0 } }

    /// Registers the function called (on the Raft thread, after the entry is durable) with
    /// each newly applied map. Set once.
    public func onClusterMapChanged(_ observer: @escaping @Sendable (StoredClusterMap) -> Void) {
        clusterMapState.observer.withLock { $0 = ClusterMapObserver(observer) }
    }

    func publishClusterMap(_ map: StoredClusterMap?) {
        guard let map else { return }
        clusterMapState.current.withLock { $0 = map }
        clusterMapState.observer.withLock { $0 }?.call(map)
    }

    static func readClusterMap(_ connection: Connection) throws(StorageError) -> StoredClusterMap? {
        try sqlite { () throws(SQLite.Error) -> StoredClusterMap? in
            let statement = try connection.prepare("SELECT version, body FROM cluster_map WHERE singleton = 1")
            guard try statement.step() else { return nil }
            return StoredClusterMap(version: UInt64(bitPattern: statement.int64(at: 0)), body: statement.blob(at: 1))
        }
    }
}
