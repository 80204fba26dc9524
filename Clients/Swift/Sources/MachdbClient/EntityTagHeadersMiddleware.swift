import Foundation
import HTTPTypes
import OpenAPIRuntime

/// Sends `If-Match` and `If-None-Match` verbatim.
///
/// swift-openapi-runtime percent-encodes every header parameter (RFC 6570 `simple` style), so
/// an entity tag `"3"` goes out as `%223%22` and `*` as `%2A`, which machdb rightly refuses
/// (400 `invalid-header`; RFC 9110 entity tags are quoted). This middleware decodes the named
/// fields again before the request leaves. The runtime encodes every `%` too, so decoding gives
/// back exactly the value the caller passed. Known upstream: apple/swift-openapi-generator
/// issues 529, 827 and 857.
public struct EntityTagHeadersMiddleware: ClientMiddleware {
    /// The header fields sent verbatim.
    public var fields: [HTTPField.Name]

    public init(fields: [HTTPField.Name] = [.ifMatch, .ifNoneMatch]) {
        self.fields = fields
    }

    public func intercept(
        _ request: HTTPRequest,
        body: HTTPBody?,
        baseURL: URL,
        operationID: String,
        next: @Sendable (HTTPRequest, HTTPBody?, URL) async throws -> (HTTPResponse, HTTPBody?)
    ) async throws -> (HTTPResponse, HTTPBody?) {
        var request = request
        for name in fields {
            guard let value = request.headerFields[name], value.contains("%") else { continue }
            request.headerFields[name] = value.removingPercentEncoding ?? value
        }
        return try await next(request, body, baseURL)
    }
}
