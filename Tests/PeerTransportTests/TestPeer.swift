import Foundation
import Logging
import MicroHTTPD
import PeerTransport
import RaftCore
import Synchronization
import XCTest

/// A real `MicroHTTPD.Server` on a free port serving a `PeerHandler`.
final class TestPeer {
    let handler: PeerHandler
    let server: Server

    init(clusterToken: String? = nil, shard: Int = 1, bytesPerSecond: Int? = nil) throws {
        handler = PeerHandler(clusterToken: clusterToken, shard: shard, bytesPerSecond: bytesPerSecond)
        var configuration = ServerConfiguration()
        configuration.port = 0
        configuration.threads = 2
        server = try Server(configuration: configuration, handler: handler)
    }

    var url: String { "http://127.0.0.1:\(server.port)" }
    var messages: [Message] { handler.messages }
    var batches: [[Message]] { handler.batches }

    /// Stops the server (answering held requests first).
    func stop() {
        handler.release()
        handler.snapshots.close()
        server.quiesce()
        let deadline = Date().addingTimeInterval(5)
        while server.inFlight > 0 && Date() < deadline { usleep(2_000) }
        server.shutdown()
    }
}

/// A node's internal routes, as the API will wire them: `POST .../messages` (auth, decode,
/// record, 204) and `GET .../snapshots/{token}` (served by a `SnapshotServer` on a thread of
/// its own), plus fault injection for the tests.
final class PeerHandler: HTTPHandler {
    struct Faults {
        /// Hold every batch request until `release()` (answering from another thread).
        var holdBatches = false
        /// Answer 500 to every snapshot request after this many served chunks.
        var failAfterChunks: Int?
        /// Flip one byte in the chunk with this number (0-based).
        var corruptChunk: Int?
    }

    struct Recorded {
        var batches: [[Message]] = []
        var heldRequests = 0
        var chunksServed = 0
        var snapshotOffsets: [Int64] = []
        var unauthorized = 0
    }

    let clusterToken: String?
    let shard: Int
    let snapshots: SnapshotServer
    private let files = Mutex<[String: (path: String, size: Int64, checksum: UInt64)]>([:])
    let faults = Mutex(Faults())
    let recorded = Mutex(Recorded())
    private let gate = DispatchSemaphore(value: 0)

    init(clusterToken: String?, shard: Int, bytesPerSecond: Int?) {
        self.clusterToken = clusterToken
        self.shard = shard
        snapshots = SnapshotServer(bytesPerSecond: bytesPerSecond)
    }

    /// Serves `path` as snapshot `token`.
    func register(token: String, path: String) throws {
        let (size, checksum) = try SnapshotChecksum.ofFile(path: path)
        files.withLock { $0[token] = (path, size, checksum) }
    }

    /// Stops holding batches and answers those held.
    func release() {
        let held = faults.withLock { faults in
            faults.holdBatches = false
            return recorded.withLock { recorded in
                defer { recorded.heldRequests = 0 }
                return recorded.heldRequests
            }
        }
        for _ in 0..<held { gate.signal() }
    }

    var messages: [Message] { recorded.withLock { $0.batches.flatMap { $0 } } }
    var batches: [[Message]] { recorded.withLock { $0.batches } }

    func handle(_ request: Request, responder: Responder) {
        guard InternalAuth.check(authorizationHeader: request.header("authorization"), clusterToken: clusterToken) else {
            recorded.withLock { $0.unauthorized += 1 }
            return responder.respond(Response(status: 401, contentType: "text/plain", body: Array("unauthorized".utf8)))
        }
        let segments = request.path.split(separator: "/").map(String.init)
        if request.method == "POST", request.path == InternalRoutes.messagesPath(shard: shard) {
            receiveBatch(request, responder: responder)
        } else if request.method == "GET", segments.count == 6, segments[4] == "snapshots",
                  request.path == InternalRoutes.snapshotPath(shard: shard, token: segments[5]) {
            serveChunk(token: segments[5], request, responder: responder)
        } else {
            responder.respond(Response(status: 404))
        }
    }

    func bodyTooLarge(_ request: Request, limit: Int) -> Response { Response(status: 413) }

    private func receiveBatch(_ request: Request, responder: Responder) {
        let messages: [Message]
        do throws(TransportError) {
            messages = try MessageBatch.decode(request.body, maxBytes: 16 << 20)
        } catch {
            return responder.respond(Response(status: error.status, contentType: "text/plain", body: Array(error.description.utf8)))
        }
        let hold = faults.withLock { faults in
            recorded.withLock { recorded in
                recorded.batches.append(messages)
                if faults.holdBatches { recorded.heldRequests += 1 }
            }
            return faults.holdBatches
        }
        if hold {
            let gate = self.gate
            Thread.detachNewThread {
                gate.wait()
                responder.respond(Response(status: 204))
            }
        } else {
            responder.respond(Response(status: 204))
        }
    }

    private func serveChunk(token: String, _ request: Request, responder: Responder) {
        guard let file = files.withLock({ $0[token] }) else { return responder.respond(Response(status: 404)) }
        guard let offset = request.queryValue("offset").flatMap({ Int64($0) }),
              let length = request.queryValue("length").flatMap({ Int($0) }) else {
            return responder.respond(Response(status: 400))
        }
        let (fail, corrupt): (Bool, Bool) = faults.withLock { faults in
            recorded.withLock { recorded in
                recorded.snapshotOffsets.append(offset)
                let fail = faults.failAfterChunks.map { recorded.chunksServed >= $0 } ?? false
                let corrupt = faults.corruptChunk == recorded.chunksServed
                if !fail { recorded.chunksServed += 1 }
                return (fail, corrupt)
            }
        }
        if fail { return responder.respond(Response(status: 500, contentType: "text/plain", body: Array("injected".utf8))) }
        let snapshots = self.snapshots
        Thread.detachNewThread {  // blocking read and pacing: never on the I/O thread
            do throws(TransportError) {
                var chunk = try snapshots.chunk(token: token, path: file.path, size: file.size, checksum: file.checksum,
                                                offset: offset, maxLength: length)
                if corrupt, !chunk.bytes.isEmpty { chunk.bytes[chunk.bytes.count / 2] ^= 0xFF }
                responder.respond(Response(status: 200, headers: chunk.headers, body: .bytes(chunk.bytes)))
            } catch {
                responder.respond(Response(status: error.status, contentType: "text/plain", body: Array(error.description.utf8)))
            }
        }
    }
}

/// Waits (polling) until `condition` holds or `seconds` pass; fails the test on timeout.
func waitUntil(_ what: String, seconds: Double = 5, file: StaticString = #filePath, line: UInt = #line,
               _ condition: () -> Bool) {
    let deadline = Date().addingTimeInterval(seconds)
    while !condition() {
        if Date() > deadline {
            XCTFail("timed out after \(seconds) s waiting for \(what)", file: file, line: line)
            return
        }
        usleep(2_000)
    }
}

/// A port nothing listens on (a server bound it, then stopped).
func deadPort() throws -> UInt16 {
    var configuration = ServerConfiguration()
    configuration.port = 0
    configuration.threads = 1
    let server = try Server(configuration: configuration, handler: TestPeerNotFound())
    let port = server.port
    server.shutdown()
    return port
}

private struct TestPeerNotFound: HTTPHandler {
    func handle(_ request: Request, responder: Responder) { responder.respond(Response(status: 404)) }
    func bodyTooLarge(_ request: Request, limit: Int) -> Response { Response(status: 413) }
}

func appendMessage(from: NodeID = 1, to: NodeID, index: UInt64, payload: Int = 16) -> Message {
    Message(kind: .append, from: from, to: to, term: 3, logTerm: 3, index: index, commit: index,
            entries: [Entry(term: 3, index: index + 1, data: [UInt8](repeating: UInt8(truncatingIfNeeded: index), count: payload))])
}

/// Collects the ids passed to `onUnreachable`.
final class UnreachableLog: Sendable {
    private let ids = Mutex<[NodeID]>([])
    func record(_ id: NodeID) { ids.withLock { $0.append(id) } }
    var all: [NodeID] { ids.withLock { $0 } }
}

let testLogger: Logger = {
    var logger = Logger(label: "machdb.transport.test")
    logger.logLevel = ProcessInfo.processInfo.environment["TRANSPORT_TEST_LOG"] == nil ? .warning : .debug
    return logger
}()
