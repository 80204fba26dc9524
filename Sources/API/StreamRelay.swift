import Cluster
import Curl
import MicroHTTPD
import PeerTransport
import RaftCore
import Replica
import Sync

/// Requests one node relays to another over the peer stream (a `call` frame) instead of a new
/// HTTP exchange: the target runs them through its ordinary handler and answers with a `reply`
/// frame carrying the response (docs/ARCHITECTURE.md, "The gateway hop").
///
/// Call payload: tag 2, method, path, query pairs, header pairs, body. Reply payload: status
/// (u16), header pairs, body. Laid out with `Wire`.
enum StreamRelay {
    static let tag: UInt8 = 2

    static func call(method: String, path: String, query: [(name: String, value: String)],
                     headers: [(name: String, value: String)], body: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [tag]
        out.reserveCapacity(96 + path.utf8.count + body.count)
        Wire.append(method, to: &out)
        Wire.append(path, to: &out)
        Wire.append(pairs: query, to: &out)
        Wire.append(pairs: headers, to: &out)
        Wire.append(bytes: body, to: &out)
        return out
    }

    static func request(from payload: [UInt8]) -> Request? {
        guard payload.first == tag else { return nil }
        var reader = Wire.Reader(payload, from: 1)
        guard let method = reader.string(), let path = reader.string(), let query = reader.pairs(),
              let headers = reader.pairs(), let body = reader.bytes(), reader.atEnd else { return nil }
        return Request(method: method, path: path, headers: headers.map { ($0.name.lowercased(), $0.value) },
                       query: query, body: body, receivedAt: monotonicNanoseconds())
    }

    /// The reply for `response`; nil for a body that is not in memory (a file).
    static func reply(_ response: Response) -> [UInt8]? {
        guard case let .bytes(body) = response.body else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(64 + body.count)
        Wire.append(UInt16(truncatingIfNeeded: response.status), to: &out)
        Wire.append(pairs: response.headers, to: &out)
        Wire.append(bytes: body, to: &out)
        return out
    }

    static func response(from payload: [UInt8]) -> ClientResponse? {
        var reader = Wire.Reader(payload)
        guard let status = reader.u16(), let headers = reader.pairs(), let body = reader.bytes(), reader.atEnd else { return nil }
        return ClientResponse(status: Int(status), headers: headers.map { ($0.name.lowercased(), $0.value) }, body: body)
    }
}

/// Answers a request relayed over the peer stream: encodes the response into the reply frame.
struct StreamResponder: Responder {
    let transport: PeerTransport
    let peer: NodeID
    let id: UInt64

    func respond(_ response: Response) {
        let payload = StreamRelay.reply(response)
            ?? StreamRelay.reply(Problem(.internalError, "this answer cannot be relayed over a peer stream").response(instance: ""))!
        transport.reply(peer, id: id, payload: payload)
    }
}

extension NodeService {
    /// A request another node relayed to this one over the peer stream: served like any other.
    func serveRelayed(id: UInt64, payload: [UInt8], from peer: NodeID) {
        let responder = StreamResponder(transport: cluster.transport, peer: peer, id: id)
        guard let request = StreamRelay.request(from: payload) else {
            return responder.respond(Problem(.invalidRequest, "undecodable relayed request").response(instance: ""))
        }
        handle(request, responder: responder)
    }

    /// Sends `request` to the node at `base` over its peer stream when one is open; false when
    /// there is none (the caller uses HTTP). `completion` gets the answer, or a `CurlError`
    /// whose `neverSent` says whether it certainly never left this node.
    func relayOverStream(_ request: Request, to base: String, headers: [(name: String, value: String)],
                         timeoutMilliseconds: Int,
                         completion: @escaping @Sendable (Result<ClientResponse, CurlError>) -> Void) -> Bool {
        let transport = cluster.transport
        guard let peer = transport.connectedPeer(url: base) else { return false }
        let target = base + request.path
        let registered = cluster.router.relays.register(peer: peer, timeoutMilliseconds: timeoutMilliseconds) { result in
            switch result {
            case let .success(payload):
                if let response = StreamRelay.response(from: payload) { return completion(.success(response)) }
                completion(.failure(CurlError(code: 8, message: "undecodable answer over the peer stream", url: target,
                                              requestBytesSent: 1)))
            case .failure(.notSent):
                completion(.failure(CurlError(code: 7, message: "peer stream down", url: target, requestBytesSent: 0)))
            case let .failure(error):
                completion(.failure(CurlError(code: 28, message: "no answer over the peer stream (\(error))", url: target,
                                              requestBytesSent: 1)))
            }
        }
        guard let id = registered else { return false }
        let payload = StreamRelay.call(method: request.method, path: request.path, query: request.query,
                                       headers: headers, body: request.body)
        if !transport.call(peer, id: id, shard: 0, payload: payload) {
            cluster.router.relays.complete(id, .failure(.notSent))
        }
        return true
    }
}
