import Foundation
import MicroHTTPD
import PeerTransport
import Replica
import Storage
import Synchronization

/// The internal routes of a node, wired as the API wires them (`NodeService.raftStream` and
/// `raftSnapshot`): the cluster token is checked first (`InternalAuth`, 401); the peer stream
/// upgrade hands the socket to the transport; snapshot chunks come from the `RaftStore`'s
/// images through a `SnapshotServer`, on a thread of their own (never on an I/O thread).
final class NodeRoutes: HTTPHandler {
    let clusterToken: String?
    let transport: PeerTransport
    let snapshotServer = SnapshotServer(bytesPerSecond: nil)
    /// The node's groups (their snapshot images), once Raft runs on the node.
    let groups = Mutex<ShardGroups?>(nil)

    init(clusterToken: String?, transport: PeerTransport) {
        self.clusterToken = clusterToken
        self.transport = transport
    }

    func handle(_ request: Request, responder: Responder) {
        guard InternalAuth.check(authorizationHeader: request.header("authorization"), clusterToken: clusterToken) else {
            return responder.respond(Response(status: 401))
        }
        let parts = request.path.split(separator: "/")
        if request.method == "GET", request.path == InternalRoutes.streamPath {
            guard PeerStreamHandshake.isRequested(upgrade: request.header("upgrade"), connection: request.header("connection")) else {
                return responder.respond(Response(status: 426, headers: [("Upgrade", PeerStreamHandshake.protocolName)]))
            }
            guard let peer = PeerStreamHandshake.peerID(request.header(PeerStreamHandshake.peerHeader)) else {
                return responder.respond(Response(status: 400))
            }
            let transport = self.transport
            responder.respond(Response(status: 101, headers: PeerStreamHandshake.answerHeaders, body: .upgrade { socket in
                transport.accept(from: peer, descriptor: socket.descriptor, leftover: socket.leftover, release: { socket.close() })
            }))
        } else if request.method == "GET", parts.count == 6, parts[0] == "internal", parts[1] == "v1", parts[2] == "raft",
                  parts[4] == "snapshots", let token = PercentEncoding.decode(parts[5]) {
            serveChunk(shard: Int(parts[3]) ?? 0, token: token, request, responder)
        } else {
            responder.respond(Response(status: 404))
        }
    }

    func bodyTooLarge(_ request: Request, limit: Int) -> Response { Response(status: 413) }

    private func serveChunk(shard: Int, token: String, _ request: Request, _ responder: Responder) {
        guard let file = groups.withLock({ $0 })?.snapshotFiles(shard: shard)?.file(token: token) else {
            return responder.respond(Response(status: 404))
        }
        guard let offset = Int64(request.queryValue("offset") ?? "0"), let length = Int(request.queryValue("length") ?? "1048576") else {
            return responder.respond(Response(status: 400))
        }
        let server = snapshotServer
        Thread.detachNewThread {
            do throws(TransportError) {
                let chunk = try server.chunk(token: token, path: file.path, size: file.size, checksum: file.checksum,
                                             offset: offset, maxLength: length)
                responder.respond(Response(status: 200, headers: chunk.headers, body: .bytes(chunk.bytes)))
            } catch {
                responder.respond(Response(status: error.status))
            }
        }
    }
}
