import Foundation
import HTTPTypes
import OpenAPIRuntime

/// Adds `Authorization: Bearer <token>` to the requests whose path starts with one of
/// `pathPrefixes` (all requests when it is empty).
///
/// machdb's `/admin` routes take the admin token; client routes take none, and `/internal`
/// routes refuse a request that carries a token other than the cluster token, so scope the
/// token to the routes it belongs to. A request that already has `Authorization` is left as is.
public struct BearerTokenMiddleware: ClientMiddleware {
    /// The token, sent verbatim after `Bearer `.
    public var token: String
    /// Path prefixes (relative to the server URL, e.g. `/admin/`) that get the header.
    public var pathPrefixes: [String]

    public init(token: String, pathPrefixes: [String] = []) {
        self.token = token
        self.pathPrefixes = pathPrefixes
    }

    public func intercept(
        _ request: HTTPRequest,
        body: HTTPBody?,
        baseURL: URL,
        operationID: String,
        next: @Sendable (HTTPRequest, HTTPBody?, URL) async throws -> (HTTPResponse, HTTPBody?)
    ) async throws -> (HTTPResponse, HTTPBody?) {
        var request = request
        if request.headerFields[.authorization] == nil, applies(to: request.path ?? "") {
            request.headerFields[.authorization] = "Bearer \(token)"
        }
        return try await next(request, body, baseURL)
    }

    func applies(to path: String) -> Bool {
        pathPrefixes.isEmpty || pathPrefixes.contains { path.hasPrefix($0) }
    }
}
