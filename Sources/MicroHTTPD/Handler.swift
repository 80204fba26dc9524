/// What the server calls for every complete request.
///
/// `handle` runs on one of the server's few I/O threads: it must not block. It answers either
/// at once (call `responder.respond` before returning) or later from any thread (the connection
/// is suspended meanwhile, holding no thread). Every request must be answered exactly once.
public protocol HTTPHandler: Sendable {
    func handle(_ request: Request, responder: Responder)
    /// The answer to a request whose body passed `maxBodyBytes` (the body is not read).
    func bodyTooLarge(_ request: Request, limit: Int) -> Response
}

/// Answers one request, once, from any thread.
public protocol Responder: Sendable {
    func respond(_ response: Response)
}
