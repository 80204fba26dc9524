import MicroHTTPD
import Sharding

/// The routes a node serves, matched from the raw path: split on `/` first, then each segment
/// percent-decoded, so `a%2Fb` is one (invalid) name and never two segments.
enum Route: Equatable {
    case healthz, readyz, metrics
    case collections
    case collection(String)
    case documents(collection: String)
    case document(collection: String, id: String)
    case query(collection: String)
    case bulk
    case adminCluster, adminBackup
    case adminTransferLeader(shard: Int)
    case adminSplit(shard: Int)
    case adminMove(shard: Int)
    case shardReport(shard: Int)
    case raftStream
    case raftSnapshot(shard: Int, token: String)
    case clusterJoin
    case clusterMap
    case adminNodeLeave(node: String)
    case adminScaling, adminScalingPolicy, adminScalingRecommendations, adminScalingHistory
    case adminTopologySettings
    case console(ConsoleAsset)

    static func match(_ path: String) throws(Problem) -> Route {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        let parts = Array(segments)
        func name(_ raw: Substring, _ type: ProblemType, _ what: String) throws(Problem) -> String {
            guard let decoded = PercentEncoding.decode(raw), Names.isValid(decoded) else {
                throw Problem(type, "\(what) must match [A-Za-z0-9._~-]{1,128} and not contain '..'")
            }
            return decoded
        }
        switch parts.count {
        case 1:
            switch parts[0] {
            case "healthz": return .healthz
            case "readyz": return .readyz
            case "metrics": return .metrics
            case "console": return .console(.page)
            default: break
            }
        case 2 where parts[0] == "console":
            if let asset = ConsoleAsset(fileName: String(parts[1])) { return .console(asset) }
        case 2 where parts[0] == "v1":
            if parts[1] == "collections" { return .collections }
            if parts[1] == "_bulk" { return .bulk }
        case 3 where parts[0] == "v1" && parts[1] == "collections":
            return .collection(try name(parts[2], .invalidCollection, "collection name"))
        case 3 where parts[0] == "admin" && parts[1] == "v1":
            if parts[2] == "cluster" { return .adminCluster }
            if parts[2] == "backup" { return .adminBackup }
            if parts[2] == "scaling" { return .adminScaling }
        case 4 where parts[0] == "admin" && parts[1] == "v1" && parts[2] == "topology" && parts[3] == "settings":
            return .adminTopologySettings
        case 4 where parts[0] == "admin" && parts[1] == "v1" && parts[2] == "scaling":
            if parts[3] == "policy" { return .adminScalingPolicy }
            if parts[3] == "recommendations" { return .adminScalingRecommendations }
            if parts[3] == "history" { return .adminScalingHistory }
        case 5 where parts[0] == "admin" && parts[1] == "v1" && parts[2] == "shards" && parts[4] == "transfer-leader":
            return .adminTransferLeader(shard: try shard(parts[3]))
        case 5 where parts[0] == "admin" && parts[1] == "v1" && parts[2] == "shards" && parts[4] == "split":
            return .adminSplit(shard: try shard(parts[3]))
        case 5 where parts[0] == "admin" && parts[1] == "v1" && parts[2] == "shards" && parts[4] == "move":
            return .adminMove(shard: try shard(parts[3]))
        case 5 where parts[0] == "internal" && parts[1] == "v1" && parts[2] == "shards" && parts[4] == "report":
            return .shardReport(shard: try shard(parts[3]))
        case 4 where parts[0] == "internal" && parts[1] == "v1" && parts[2] == "cluster" && parts[3] == "join":
            return .clusterJoin
        case 3 where parts[0] == "internal" && parts[1] == "v1" && parts[2] == "cluster-map":
            return .clusterMap
        case 5 where parts[0] == "admin" && parts[1] == "v1" && parts[2] == "nodes" && parts[4] == "leave":
            return .adminNodeLeave(node: try name(parts[3], .invalidRequest, "node id"))
        case 4 where parts[0] == "internal" && parts[1] == "v1" && parts[2] == "raft" && parts[3] == "stream":
            return .raftStream
        case 6 where parts[0] == "internal" && parts[1] == "v1" && parts[2] == "raft" && parts[4] == "snapshots":
            guard let token = PercentEncoding.decode(parts[5]), !token.isEmpty else { break }
            return .raftSnapshot(shard: try shard(parts[3]), token: token)
        case 4 where parts[0] == "v1" && parts[1] == "collections":
            if parts[3] == "docs" { return .documents(collection: try name(parts[2], .invalidCollection, "collection name")) }
            if parts[3] == "query" { return .query(collection: try name(parts[2], .invalidCollection, "collection name")) }
        case 5 where parts[0] == "v1" && parts[1] == "collections" && parts[3] == "docs":
            let collection = try name(parts[2], .invalidCollection, "collection name")
            guard let id = PercentEncoding.decode(parts[4]), Names.isValidDocumentID(id) else {
                throw Problem(.invalidID, "document id must match [A-Za-z0-9._~-]{1,128}, or <shard key>:<id> in a collection that declares a shard key, and not contain '..'")
            }
            return .document(collection: collection, id: id)
        default:
            break
        }
        throw Problem(.notFound, "no route for \(path)")
    }

    /// Shard ids: a shard's id is the first bucket it was created with (1...1000).
    private static func shard(_ raw: Substring) throws(Problem) -> Int {
        guard raw.allSatisfy(\.isASCII), let id = Int(raw), Bucket.range.contains(id), String(id) == raw else {
            throw Problem(.notFound, "no shard \(raw) (shard ids are 1...1000)")
        }
        return id
    }

    var allowedMethods: [String] {
        switch self {
        case .healthz, .readyz, .metrics, .collections, .adminCluster, .adminBackup, .clusterMap, .adminScaling,
             .adminScalingRecommendations, .adminScalingHistory, .console: ["GET", "HEAD"]
        case .adminScalingPolicy, .adminTopologySettings, .collection: ["GET", "HEAD", "PUT"]
        case .documents, .query, .bulk, .adminTransferLeader, .adminSplit, .adminMove, .clusterJoin, .adminNodeLeave,
             .shardReport: ["POST"]
        case .raftSnapshot, .raftStream: ["GET"]
        case .document: ["GET", "HEAD", "PUT", "PATCH", "DELETE"]
        }
    }

    /// The console's page and assets: public (they hold no cluster data), served even by a
    /// removed node so its banner can say so.
    var isConsole: Bool {
        if case .console = self { return true }
        return false
    }

    func routeClass(method: String) -> RouteClass {
        switch self {
        case .healthz, .readyz, .metrics: .health
        case .console: .other
        case .adminCluster, .adminBackup, .adminTransferLeader, .adminSplit, .adminMove, .adminNodeLeave, .adminScaling, .adminScalingPolicy,
             .adminScalingRecommendations, .adminScalingHistory, .adminTopologySettings: .admin
        case .raftStream, .raftSnapshot, .clusterJoin, .clusterMap, .shardReport: .internal
        case .collections: .read
        case .collection: method == "GET" || method == "HEAD" ? .read : .write
        case .documents, .bulk: .write
        case .query: .query
        case .document: method == "GET" || method == "HEAD" ? .read : .write
        }
    }
}
