import Foundation
import Logging
import MicroHTTPD
@testable import PeerTransport
import RaftCore
import Synchronization
import XCTest

/// A real `MicroHTTPD.Server` on a loopback port serving a node's internal routes with a
/// `PeerHandler`: the peer stream upgrade (handed to `transport`, when given) and snapshot chunks.
final class TestPeer {
    let handler: PeerHandler
    let server: Server

    /// `port` 0 picks a free one; a fixed port restarts a node where its peers expect it.
    init(clusterToken: String? = nil, shard: Int = 1, bytesPerSecond: Int? = nil, transport: PeerTransport? = nil,
         port: UInt16 = 0) throws {
        handler = PeerHandler(clusterToken: clusterToken, shard: shard, bytesPerSecond: bytesPerSecond, transport: transport)
        var configuration = ServerConfiguration()
        configuration.port = port
        configuration.threads = 1
        configuration.connectionTimeoutSeconds = 30
        server = try Server(configuration: configuration, handler: handler)
    }

    var url: String { "http://127.0.0.1:\(server.port)" }

    /// Stops the server. Close the transport first: it releases the upgraded streams it reads.
    func stop() {
        handler.snapshots.close()
        server.quiesce()
        let deadline = Date().addingTimeInterval(5)
        while server.inFlight > 0 && Date() < deadline { usleep(2_000) }
        server.shutdown()
    }
}

/// A node's internal routes, as the API wires them (`NodeService.raftStream`, `raftSnapshot`):
/// every request is checked with `InternalAuth` first; `GET /internal/v1/raft/stream` with the
/// upgrade headers answers 101 and hands the socket to `transport.accept`; `GET .../snapshots/{token}`
/// serves chunks from a `SnapshotServer` on a thread of its own. Plus fault injection for tests.
final class PeerHandler: HTTPHandler {
    struct Faults {
        /// Answer 500 to every snapshot request after this many served chunks.
        var failAfterChunks: Int?
        /// Flip one byte in the chunk with this number (0-based).
        var corruptChunk: Int?
    }

    struct Recorded {
        var chunksServed = 0
        var snapshotOffsets: [Int64] = []
        var unauthorized = 0
        /// Streams upgraded, by the dialer's id.
        var upgrades: [NodeID] = []
        /// Stream requests answered with another status (426, 400, 404).
        var refusedUpgrades: [Int] = []
    }

    let clusterToken: String?
    let shard: Int
    let snapshots: SnapshotServer
    let transport: PeerTransport?
    private let files = Mutex<[String: (path: String, size: Int64, checksum: UInt64)]>([:])
    let faults = Mutex(Faults())
    let recorded = Mutex(Recorded())

    init(clusterToken: String?, shard: Int, bytesPerSecond: Int?, transport: PeerTransport?) {
        self.clusterToken = clusterToken
        self.shard = shard
        self.transport = transport
        snapshots = SnapshotServer(bytesPerSecond: bytesPerSecond)
    }

    /// Serves `path` as snapshot `token`.
    func register(token: String, path: String) throws {
        let (size, checksum) = try SnapshotChecksum.ofFile(path: path)
        files.withLock { $0[token] = (path, size, checksum) }
    }

    func handle(_ request: Request, responder: Responder) {
        guard InternalAuth.check(authorizationHeader: request.header("authorization"), clusterToken: clusterToken) else {
            recorded.withLock { $0.unauthorized += 1 }
            return responder.respond(Response(status: 401, contentType: "text/plain", body: Array("unauthorized".utf8)))
        }
        let segments = request.path.split(separator: "/").map(String.init)
        if request.method == "GET", request.path == InternalRoutes.streamPath {
            openStream(request, responder: responder)
        } else if request.method == "GET", segments.count == 6, segments[4] == "snapshots",
                  request.path == InternalRoutes.snapshotPath(shard: shard, token: segments[5]) {
            serveChunk(token: segments[5], request, responder: responder)
        } else {
            responder.respond(Response(status: 404))
        }
    }

    func bodyTooLarge(_ request: Request, limit: Int) -> Response { Response(status: 413) }

    private func openStream(_ request: Request, responder: Responder) {
        func refuse(_ status: Int) {
            recorded.withLock { $0.refusedUpgrades.append(status) }
            responder.respond(Response(status: status))
        }
        guard PeerStreamHandshake.isRequested(upgrade: request.header("upgrade"), connection: request.header("connection")) else {
            return refuse(426)
        }
        guard let peer = PeerStreamHandshake.peerID(request.header(PeerStreamHandshake.peerHeader)) else { return refuse(400) }
        guard let transport else { return refuse(404) }
        recorded.withLock { $0.upgrades.append(peer) }
        responder.respond(Response(status: 101, headers: PeerStreamHandshake.answerHeaders, body: .upgrade { socket in
            transport.accept(from: peer, descriptor: socket.descriptor, leftover: socket.leftover, release: { socket.close() })
        }))
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
/// Returns whether the condition held.
@discardableResult
func waitUntil(_ what: String, seconds: Double = 5, file: StaticString = #filePath, line: UInt = #line,
               _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while !condition() {
        if Date() > deadline {
            XCTFail("timed out after \(seconds) s waiting for \(what)", file: file, line: line)
            return false
        }
        usleep(2_000)
    }
    return true
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

let testLogger: Logger = {
    var logger = Logger(label: "machdb.transport.test")
    logger.logLevel = ProcessInfo.processInfo.environment["TRANSPORT_TEST_LOG"] == nil ? .error : .debug
    return logger
}()
