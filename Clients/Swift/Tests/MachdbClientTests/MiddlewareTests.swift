import Foundation
import HTTPTypes
import MachdbClient
import OpenAPIRuntime
import XCTest

/// The hand-written middlewares, without a node: `next` echoes the request's header fields.
final class MiddlewareTests: XCTestCase {
    private let baseURL = URL(string: "http://127.0.0.1:8080")!

    private func sent(_ request: HTTPRequest, through middleware: some ClientMiddleware) async throws -> HTTPFields {
        let (response, _) = try await middleware.intercept(request, body: nil, baseURL: baseURL, operationID: "test") {
            request, _, _ in (HTTPResponse(status: .ok, headerFields: request.headerFields), nil)
        }
        return response.headerFields
    }

    func testEntityTagsGoOutVerbatim() async throws {
        // What swift-openapi-runtime makes of `"3"`, `W/"3", "4"` and `*`.
        var request = HTTPRequest(method: .put, scheme: "http", authority: "127.0.0.1", path: "/v1/collections/carts/docs/c1")
        request.headerFields[.ifMatch] = "W%2F%223%22%2C%20%224%22"
        request.headerFields[.ifNoneMatch] = "%2A"
        request.headerFields[HTTPField.Name("X-Machdb-Forwarded")!] = "a%22b"
        let fields = try await sent(request, through: EntityTagHeadersMiddleware())
        XCTAssertEqual(fields[.ifMatch], #"W/"3", "4""#)
        XCTAssertEqual(fields[.ifNoneMatch], "*")
        XCTAssertEqual(fields[HTTPField.Name("X-Machdb-Forwarded")!], "a%22b", "other fields are left alone")
    }

    func testBearerTokenOnlyOnItsRoutes() async throws {
        let middleware = BearerTokenMiddleware(token: "s3cret", pathPrefixes: ["/admin/"])
        let admin = HTTPRequest(method: .get, scheme: "http", authority: "127.0.0.1", path: "/admin/v1/cluster")
        let toAdmin = try await sent(admin, through: middleware)
        XCTAssertEqual(toAdmin[.authorization], "Bearer s3cret")
        let client = HTTPRequest(method: .get, scheme: "http", authority: "127.0.0.1", path: "/v1/collections")
        let toClient = try await sent(client, through: middleware)
        XCTAssertNil(toClient[.authorization])
        var preset = admin
        preset.headerFields[.authorization] = "Bearer other"
        let kept = try await sent(preset, through: middleware)
        XCTAssertEqual(kept[.authorization], "Bearer other")
        let everywhere = try await sent(client, through: BearerTokenMiddleware(token: "t"))
        XCTAssertEqual(everywhere[.authorization], "Bearer t")
    }
}
