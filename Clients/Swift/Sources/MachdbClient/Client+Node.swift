import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import OpenAPIRuntime
import OpenAPIURLSession

extension Client {
    /// A client for the machdb node at `baseURL` (e.g. `http://127.0.0.1:8080`), over URLSession.
    /// Make one and share it: each one made without a `session` owns a URLSession of its own.
    ///
    /// - Parameters:
    ///   - baseURL: The node's public URL; any node serves every route.
    ///   - adminToken: Sent as `Authorization: Bearer` on `/admin/` routes only (the node's
    ///     `--admin-token`); `nil` sends no token.
    ///   - session: The URLSession to use; `nil` makes one without an HTTP cache, so a
    ///     conditional read (`If-None-Match`) reaches the node and answers with its own 304.
    ///   - middlewares: Further middlewares, run after the built-in ones
    ///     (`EntityTagHeadersMiddleware`, then `BearerTokenMiddleware` when there is a token).
    ///
    /// URLSession follows redirects, so a `307` (asked for with `X-Machdb-Redirect: true`)
    /// arrives as the answer of the node it points to.
    public init(
        baseURL: URL,
        adminToken: String? = nil,
        session: URLSession? = nil,
        middlewares: [any ClientMiddleware] = []
    ) {
        var all: [any ClientMiddleware] = [EntityTagHeadersMiddleware()]
        if let adminToken {
            all.append(BearerTokenMiddleware(token: adminToken, pathPrefixes: ["/admin/"]))
        }
        all += middlewares
        let transport = URLSessionTransport(configuration: .init(session: session ?? Self.uncachedSession()))
        self.init(serverURL: baseURL, transport: transport, middlewares: all)
    }

    /// An ephemeral session with no URL cache: every request goes to the node.
    static func uncachedSession() -> URLSession {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.urlCache = nil
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        return URLSession(configuration: configuration)
    }
}
