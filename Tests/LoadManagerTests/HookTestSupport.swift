import Foundation
import LoadManager
import Logging
import MicroHTTPD
import Synchronization
import XCTest

/// An operator-hook receiver for tests: records every request and answers from a script of
/// statuses (then 200).
final class HookReceiver: HTTPHandler, Sendable {
    struct Delivery: Sendable {
        let body: [UInt8]
        let signature: String?
        let deliveryID: String?
        let seq: String?
        let contentType: String?
        /// Monotonic ns when the request arrived.
        let receivedAt: UInt64
        let status: Int
    }

    private let state: Mutex<(script: [Int], deliveries: [Delivery])>

    init(script: [Int] = []) {
        state = Mutex((script, []))
    }

    var deliveries: [Delivery] { state.withLock { $0.deliveries } }
    /// The deliveries answered 2xx.
    var accepted: [Delivery] { deliveries.filter { (200..<300).contains($0.status) } }

    func handle(_ request: Request, responder: Responder) {
        let status = state.withLock { state in
            let status = state.script.isEmpty ? 200 : state.script.removeFirst()
            state.deliveries.append(Delivery(
                body: request.body, signature: request.header("x-machdb-signature"),
                deliveryID: request.header("x-machdb-delivery"), seq: request.header("x-machdb-seq"),
                contentType: request.header("content-type"), receivedAt: request.receivedAt, status: status))
            return status
        }
        responder.respond(Response(status: status, contentType: "application/json", body: Array(#"{"ok":true}"#.utf8)))
    }

    func bodyTooLarge(_ request: Request, limit: Int) -> Response { Response(status: 413) }
}

/// A loopback HTTP server around a `HookReceiver`.
final class HookServer {
    let receiver: HookReceiver
    let server: Server
    var url: String { "http://127.0.0.1:\(server.port)/hook" }

    init(receiver: HookReceiver = HookReceiver(), port: UInt16 = 0) throws {
        var configuration = ServerConfiguration()
        configuration.port = port
        configuration.threads = 2
        self.receiver = receiver
        server = try Server(configuration: configuration, handler: receiver)
    }

    func close() {
        server.quiesce()
        server.shutdown()
    }

    /// A loopback port nothing listens on (bound, read, released).
    static func deadPort() throws -> UInt16 {
        let probe = try HookServer()
        let port = probe.server.port
        probe.close()
        return port
    }
}

/// Polls `condition` every 10 ms until it holds or `timeout` seconds pass.
func eventually(_ timeout: TimeInterval = 10, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try condition() { return true }
        usleep(10_000)
    }
    return try condition()
}

/// A fresh directory for one test's outbox files.
func temporaryDirectory(_ name: String) throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("machdb-\(name)-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

let quietLogger = Logger(label: "machdb.hook.test", factory: { _ in SwiftLogNoOpLogHandler() })

/// Fast retries for tests: 50 ms doubling to 400 ms, no jitter unless a test sets it.
func fastHookConfiguration(initial: Int = 50, max: Int = 400) -> HookConfiguration {
    var configuration = HookConfiguration()
    configuration.timeoutMilliseconds = 2_000
    configuration.initialBackoffMilliseconds = initial
    configuration.maxBackoffMilliseconds = max
    configuration.jitter = 0
    configuration.stopTimeoutMilliseconds = 5_000
    return configuration
}
