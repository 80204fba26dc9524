import CMicroHTTPD
import CShims
import Sync

/// One request/response exchange on a connection; libmicrohttpd's per-request context.
///
/// Ownership: retained once when the request head arrives (stored in `con_cls`), released
/// exactly once in the request-completed callback. The connection pointer is only used while
/// libmicrohttpd guarantees it is valid: inside callbacks, and for `MHD_resume_connection`
/// while the connection is suspended (a suspended connection cannot complete).
final class Exchange: Responder, @unchecked Sendable {
    enum State { case receiving, handling, suspended, resumed, done }

    let connection: OpaquePointer
    let method: String
    let path: String
    let receivedAt: UInt64
    var headers: [(name: String, value: String)] = []
    var query: [(name: String, value: String)] = []
    var body: [UInt8] = []
    var tooLarge = false
    /// Answered with a protocol switch (counted as finished when the switch was queued).
    var upgraded = false
    weak var server: Server?

    private let lock = ConditionLock()
    private var state = State.receiving
    private var response: Response?

    init(connection: OpaquePointer, method: String, path: String, receivedAt: UInt64, server: Server) {
        self.connection = connection
        self.method = method
        self.path = path
        self.receivedAt = receivedAt
        self.server = server
    }

    var request: Request {
        Request(method: method, path: path, headers: headers, query: query, body: body, receivedAt: receivedAt,
                clientCertificateVerified: server?.asksClientCertificates == true && machdb_mhd_client_verified(connection) == 1)
    }

    /// Called on the I/O thread after the handler returned: the response if it already came,
    /// else nil, and then the connection has been suspended (under the lock, so a concurrent
    /// `respond` resumes it only after the suspension took effect).
    func responseOrSuspend() -> Response? {
        lock.withLock {
            if let response {
                state = .done
                self.response = nil
                return response
            }
            state = .suspended
            MHD_suspend_connection(connection)
            return nil
        }
    }

    /// Called on the I/O thread when libmicrohttpd calls us again after a resume.
    func takeResumedResponse() -> Response? {
        lock.withLock {
            guard state == .resumed, let response else { return nil }
            state = .done
            self.response = nil
            return response
        }
    }

    func beginHandling() { lock.withLock { state = .handling } }

    /// The server answered by itself (e.g. 413 on the head); later `respond` calls are ignored.
    func markDone() { lock.withLock { state = .done } }

    func respond(_ response: Response) {
        let mustResume: Bool = lock.withLock {
            guard self.response == nil, state == .handling || state == .suspended else { return false }
            self.response = response
            if state == .suspended {
                state = .resumed
                return true
            }
            return false
        }
        if mustResume { MHD_resume_connection(connection) }
    }
}
