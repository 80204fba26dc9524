import Foundation
import Glibc
import MicroHTTPD
@testable import PeerTransport
import RaftCore
import Synchronization
import XCTest

/// A `PeerInbox` that records everything in arrival order; when `replier` is set it answers
/// every call with the payload reversed (on the receiver thread, as the runtime may).
final class RecordingInbox: PeerInbox {
    struct Delivery: Equatable {
        let shard: Int
        let from: NodeID
        let messages: [Message]
    }

    struct Call: Equatable {
        let id: UInt64
        let shard: Int
        let payload: [UInt8]
        let from: NodeID
    }

    struct Reply: Equatable {
        let id: UInt64
        let payload: [UInt8]
        let from: NodeID
    }

    struct Recorded {
        var deliveries: [Delivery] = []
        var calls: [Call] = []
        var replies: [Reply] = []
        var unreachable: [NodeID] = []
        var callsNotSent: [(ids: [UInt64], peer: NodeID)] = []
        var linksLost: [NodeID] = []
    }

    let recorded = Mutex(Recorded())
    private let replierSlot = Mutex<PeerTransport?>(nil)

    /// The transport that answers calls; nil records them only.
    var replier: PeerTransport? {
        get { replierSlot.withLock { $0 } }
        set { replierSlot.withLock { $0 = newValue } }
    }

    func deliver(_ messages: [Message], shard: Int, from: NodeID) {
        recorded.withLock { $0.deliveries.append(Delivery(shard: shard, from: from, messages: messages)) }
    }

    func call(id: UInt64, shard: Int, payload: [UInt8], from: NodeID) {
        recorded.withLock { $0.calls.append(Call(id: id, shard: shard, payload: payload, from: from)) }
        replier?.reply(from, id: id, payload: payload.reversed())
    }

    func reply(id: UInt64, payload: [UInt8], from: NodeID) {
        recorded.withLock { $0.replies.append(Reply(id: id, payload: payload, from: from)) }
    }

    func unreachable(_ peer: NodeID) { recorded.withLock { $0.unreachable.append(peer) } }

    func callsNotSent(_ ids: [UInt64], to peer: NodeID) { recorded.withLock { $0.callsNotSent.append((ids, peer)) } }

    func linkLost(_ peer: NodeID) { recorded.withLock { $0.linksLost.append(peer) } }

    /// Every Raft message received, in order.
    var messages: [Message] { recorded.withLock { $0.deliveries.flatMap(\.messages) } }
    var notSentCalls: [UInt64] { recorded.withLock { $0.callsNotSent.flatMap(\.ids) } }
}

/// One node of a transport test: a `PeerTransport`, the inbox it delivers to, and the HTTP
/// server that accepts its peers' streams (as `NodeService.raftStream` does).
final class TransportNode {
    let id: NodeID
    let transport: PeerTransport
    let inbox = RecordingInbox()
    let peer: TestPeer
    private var stopped = false

    init(id: NodeID, clusterToken: String? = nil, serverToken: String?? = .none, port: UInt16 = 0,
         _ configure: (inout TransportConfiguration) -> Void = { _ in }) throws {
        self.id = id
        var configuration = TransportConfiguration(nodeID: id, clusterToken: clusterToken)
        configuration.backoffMilliseconds = 20
        configuration.heartbeatMilliseconds = 50
        configuration.idleTimeoutMilliseconds = 1000
        configuration.connectTimeoutMilliseconds = 1000
        configuration.sendTimeoutMilliseconds = 1000
        configure(&configuration)
        transport = PeerTransport(configuration: configuration, logger: testLogger)
        transport.attach(inbox)
        // The server checks the token the node is configured with, unless told otherwise.
        peer = try TestPeer(clusterToken: serverToken ?? clusterToken, transport: transport, port: port)
    }

    var url: String { peer.url }
    var port: UInt16 { peer.server.port }

    func statistics(of peer: NodeID) -> PeerStatistics? { transport.statistics.peers[peer] }

    /// Closes the transport (releasing the upgraded streams), then the server. Idempotent;
    /// returns what `close()` said and how long it took.
    @discardableResult
    func stop() -> (closed: Bool, seconds: Double) {
        guard !stopped else { return (true, 0) }
        stopped = true
        let started = Date()
        let closed = transport.close()
        let seconds = Date().timeIntervalSince(started)
        peer.stop()
        return (closed, seconds)
    }
}

/// Makes every node a peer of every other.
func mesh(_ nodes: [TransportNode]) {
    for node in nodes {
        var peers: [NodeID: String] = [:]
        for other in nodes where other.id != node.id { peers[other.id] = other.url }
        node.transport.setPeers(peers)
    }
}

/// A TCP port that accepts connections (the kernel's backlog) but never reads or answers:
/// a peer whose HTTP server hangs.
final class SilentListener {
    let descriptor: Int32
    let port: UInt16

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EIO) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            close(fd)
            throw POSIXError(.EADDRINUSE)
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        descriptor = fd
        port = UInt16(bigEndian: address.sin_port)
    }

    var url: String { "http://127.0.0.1:\(port)" }

    deinit { close(descriptor) }
}

/// Opens a stream by hand, as a dialer would, for tests that need to write raw bytes:
/// connects, writes the upgrade request (plus `extra` bytes in the same write), reads the answer.
func rawStream(to node: TransportNode, from: NodeID, clusterToken: String? = nil, extra: [UInt8] = []) throws -> StreamSocket {
    let socket = try StreamSocket.connect(host: "127.0.0.1", port: node.port, timeoutMilliseconds: 1000)
    socket.makeBlocking(sendTimeoutMilliseconds: 1000, receiveTimeoutMilliseconds: 1000)
    try socket.writeAll(PeerStreamHandshake.request(host: "127.0.0.1", port: node.port, from: from, clusterToken: clusterToken) + extra)
    let leftover = try PeerStreamHandshake.readAnswer(from: socket)
    XCTAssertEqual(leftover, [], "the accepting node never writes on a stream")
    return socket
}

/// Encodes frames as a sender writes them.
func wire(_ frames: [PeerFrame]) -> [UInt8] {
    var bytes: [UInt8] = []
    for frame in frames { frame.encode(into: &bytes) }
    return bytes
}
