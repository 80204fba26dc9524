import MicroHTTPD

/// The routes a node serves, matched from the raw path: split on `/` first, then each segment
/// percent-decoded, so `a%2Fb` is one (invalid) name and never two segments.
enum Route: Equatable {
    case healthz, readyz, metrics
    case collections
    case documents(collection: String)
    case document(collection: String, id: String)
    case query(collection: String)
    case bulk
    case adminCluster, adminBackup

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
            default: break
            }
        case 2 where parts[0] == "v1":
            if parts[1] == "collections" { return .collections }
            if parts[1] == "_bulk" { return .bulk }
        case 3 where parts[0] == "admin" && parts[1] == "v1":
            if parts[2] == "cluster" { return .adminCluster }
            if parts[2] == "backup" { return .adminBackup }
        case 4 where parts[0] == "v1" && parts[1] == "collections":
            if parts[3] == "docs" { return .documents(collection: try name(parts[2], .invalidCollection, "collection name")) }
            if parts[3] == "query" { return .query(collection: try name(parts[2], .invalidCollection, "collection name")) }
        case 5 where parts[0] == "v1" && parts[1] == "collections" && parts[3] == "docs":
            let collection = try name(parts[2], .invalidCollection, "collection name")
            return .document(collection: collection, id: try name(parts[4], .invalidID, "document id"))
        default:
            break
        }
        throw Problem(.notFound, "no route for \(path)")
    }

    var allowedMethods: [String] {
        switch self {
        case .healthz, .readyz, .metrics, .collections, .adminCluster, .adminBackup: ["GET", "HEAD"]
        case .documents, .query, .bulk: ["POST"]
        case .document: ["GET", "HEAD", "PUT", "PATCH", "DELETE"]
        }
    }

    func routeClass(method: String) -> RouteClass {
        switch self {
        case .healthz, .readyz, .metrics: .health
        case .adminCluster, .adminBackup: .admin
        case .collections: .read
        case .documents, .bulk: .write
        case .query: .query
        case .document: method == "GET" || method == "HEAD" ? .read : .write
        }
    }
}
