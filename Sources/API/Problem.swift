import MicroHTTPD
import JSON

/// Every error the API can answer, with its stable `type` slug, status and title (docs/API.md).
public enum ProblemType: String, Sendable, CaseIterable {
    case invalidJSON = "invalid-json"
    case jsonTooDeep = "json-too-deep"
    case invalidID = "invalid-id"
    case invalidCollection = "invalid-collection"
    case invalidHeader = "invalid-header"
    case invalidParameter = "invalid-parameter"
    case invalidQuery = "invalid-query"
    case invalidCursor = "invalid-cursor"
    case invalidBulk = "invalid-bulk"
    case invalidPatch = "invalid-patch"
    case unauthorized
    case notFound = "not-found"
    case methodNotAllowed = "method-not-allowed"
    case notJSON = "not-json"
    case preconditionFailed = "precondition-failed"
    case bodyTooLarge = "body-too-large"
    case tooManyOperations = "too-many-operations"
    case unsupportedMediaType = "unsupported-media-type"
    case upgradeRequired = "upgrade-required"
    case overloaded
    case notReady = "not-ready"
    case queryTimeout = "query-timeout"
    case indexNotReached = "index-not-reached"
    case noLeader = "no-leader"
    case writeTimeout = "write-timeout"
    case notInCluster = "not-in-cluster"
    case transferFailed = "transfer-failed"
    case replicaUnavailable = "replica-unavailable"
    case deadlineExceeded = "deadline-exceeded"
    case nodeIDInUse = "node-id-in-use"
    case invalidRequest = "invalid-request"
    case storageError = "storage-error"
    case internalError = "internal"
    case invalidSplit = "invalid-split"
    case splitInProgress = "split-in-progress"
    case hotBucket = "hot-bucket"
    case shardKeyMismatch = "shard-key-mismatch"
    case collectionNotEmpty = "collection-not-empty"
    case moveInProgress = "move-in-progress"
    case shardsApart = "shards-apart"

    public var status: Int {
        switch self {
        case .invalidJSON, .jsonTooDeep, .invalidID, .invalidCollection, .invalidHeader, .invalidParameter,
             .invalidQuery, .invalidCursor, .invalidBulk, .invalidPatch, .invalidRequest, .invalidSplit,
             .shardKeyMismatch: 400
        case .unauthorized: 401
        case .notFound: 404
        case .methodNotAllowed: 405
        case .notJSON, .notInCluster, .transferFailed, .nodeIDInUse, .splitInProgress, .hotBucket, .collectionNotEmpty,
             .moveInProgress, .shardsApart: 409
        case .preconditionFailed: 412
        case .bodyTooLarge, .tooManyOperations: 413
        case .unsupportedMediaType: 415
        case .upgradeRequired: 426
        case .overloaded, .notReady, .queryTimeout, .noLeader, .writeTimeout, .replicaUnavailable: 503
        case .indexNotReached, .deadlineExceeded: 504
        case .storageError, .internalError: 500
        }
    }

    public var title: String {
        switch self {
        case .invalidJSON: "Body is not valid JSON"
        case .jsonTooDeep: "JSON nested too deeply"
        case .invalidID: "Invalid document id"
        case .invalidCollection: "Invalid collection name"
        case .invalidHeader: "Invalid request header"
        case .invalidParameter: "Invalid query parameter"
        case .invalidQuery: "Invalid query"
        case .invalidCursor: "Invalid cursor"
        case .invalidBulk: "Invalid bulk request"
        case .invalidPatch: "Invalid merge patch"
        case .unauthorized: "Missing or wrong token"
        case .notFound: "Not found"
        case .methodNotAllowed: "Method not allowed"
        case .notJSON: "Document is not JSON"
        case .preconditionFailed: "Precondition failed"
        case .bodyTooLarge: "Request body too large"
        case .tooManyOperations: "Too many operations"
        case .unsupportedMediaType: "Unsupported media type"
        case .upgradeRequired: "Upgrade required"
        case .overloaded: "Node overloaded"
        case .notReady: "Node not ready"
        case .queryTimeout: "Query took too long"
        case .indexNotReached: "Index not reached in time"
        case .noLeader: "No leader"
        case .writeTimeout: "Write not applied in time"
        case .notInCluster: "Node is not in a cluster"
        case .transferFailed: "Leadership transfer failed"
        case .nodeIDInUse: "Node id in use"
        case .deadlineExceeded: "Request deadline exceeded"
        case .replicaUnavailable: "No replica answered"
        case .invalidRequest: "Invalid request"
        case .storageError: "Storage error"
        case .internalError: "Internal error"
        case .invalidSplit: "Invalid split point"
        case .splitInProgress: "A split of this shard is in progress"
        case .hotBucket: "One bucket carries the shard's load"
        case .shardKeyMismatch: "Document and shard key disagree"
        case .collectionNotEmpty: "Collection already holds documents"
        case .moveInProgress: "A move of this shard is in progress"
        case .shardsApart: "No node holds every shard"
        }
    }

    public var uri: String { "urn:machdb:problem:\(rawValue)" }
}

/// An RFC 9457 problem: the one way the API reports an error.
public struct Problem: Error, Sendable {
    public let type: ProblemType
    public let detail: String
    /// Extra response headers (`Retry-After`, `Allow`, `WWW-Authenticate`).
    public var headers: [(name: String, value: String)]

    public init(_ type: ProblemType, _ detail: String, headers: [(name: String, value: String)] = []) {
        self.type = type
        self.detail = detail
        self.headers = headers
        if type.status == 503,
           !headers.contains(where: { $0.name == "Retry-After" }) {
            self.headers.append(("Retry-After", "1"))
        }
    }

    /// The problem as a JSON object (also used inside bulk results).
    public func json(instance: String) -> JSON {
        .object([
            ("type", .string(type.uri)),
            ("title", .string(type.title)),
            ("status", .int(type.status)),
            ("detail", .string(detail)),
            ("instance", .string(instance)),
        ])
    }

    public func response(instance: String) -> Response {
        Response(status: type.status, contentType: "application/problem+json", body: json(instance: instance).encoded(), headers: headers)
    }
}
