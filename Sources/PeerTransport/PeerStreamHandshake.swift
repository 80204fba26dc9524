import RaftCore

/// The HTTP/1.1 Upgrade that opens a peer stream on a node's ordinary port (see `InternalRoutes`
/// for the route, docs/ARCHITECTURE.md for the design).
///
/// The dialer sends `GET /internal/v1/raft/stream` with `Connection: Upgrade`,
/// `Upgrade: machdb-peer/1`, `X-Machdb-Peer: <its Raft id>` and the cluster token as
/// `Authorization: Bearer` (the `InternalAuth` rule); the node answers `101 Switching Protocols`
/// and from then on the dialer writes frames (`PeerFrame`) and the node only reads. Each
/// direction of a node pair is its own stream.
public enum PeerStreamHandshake {
    public static let protocolName = "machdb-peer/1"
    public static let peerHeader = "X-Machdb-Peer"

    /// The request head a dialer writes.
    static func request(host: String, port: UInt16, from: NodeID, clusterToken: String?) -> [UInt8] {
        var head = "GET \(InternalRoutes.streamPath) HTTP/1.1\r\nHost: \(host):\(port)\r\nConnection: Upgrade\r\n"
        head += "Upgrade: \(protocolName)\r\n\(peerHeader): \(from)\r\n"
        if let authorization = InternalAuth.headerValue(clusterToken: clusterToken) {
            head += "Authorization: \(authorization)\r\n"
        }
        head += "\r\n"
        return Array(head.utf8)
    }

    /// Whether a request asks for this protocol: `Upgrade` names it and `Connection` has `upgrade`.
    public static func isRequested(upgrade: String?, connection: String?) -> Bool {
        guard let upgrade, let connection else { return false }
        let offered = upgrade.split(separator: ",").map { $0.trimmingSpaces.lowercased() }
        let tokens = connection.split(separator: ",").map { $0.trimmingSpaces.lowercased() }
        return offered.contains(protocolName) && tokens.contains("upgrade")
    }

    /// The dialer's Raft id from `X-Machdb-Peer`, nil when absent or not a number above 0.
    public static func peerID(_ header: String?) -> NodeID? {
        guard let header, let id = UInt64(header), id != 0 else { return nil }
        return id
    }

    /// The headers of the 101 answer.
    public static let answerHeaders: [(name: String, value: String)] = [("Upgrade", protocolName), ("Connection", "Upgrade")]

    /// Reads the answer head (at most 8 KiB) and checks it is a 101 for this protocol. Returns
    /// bytes read past the head (none expected: the node never writes on a stream it accepted).
    static func readAnswer(from socket: StreamSocket) throws(TransportError) -> [UInt8] {
        var head: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1024)
        while true {
            let count = try socket.read(into: &chunk)
            guard count > 0 else { throw .handshake("connection closed before the answer") }
            head.append(contentsOf: chunk[0..<count])
            if let end = headEnd(head) {
                let text = String(decoding: head[0..<end], as: UTF8.self)
                let statusLine = text.prefix { $0 != "\r" }
                guard statusLine.hasPrefix("HTTP/1.1 101") else { throw .handshake("refused: \(statusLine)") }
                return Array(head[(end + 4)...])
            }
            guard head.count <= 8192 else { throw .handshake("answer head too long") }
        }
    }

    private static func headEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for i in 0...(bytes.count - 4) where bytes[i] == 13 && bytes[i + 1] == 10 && bytes[i + 2] == 13 && bytes[i + 3] == 10 {
            return i
        }
        return nil
    }

    /// `http://host:port[/...]` → (host, port); nil for another scheme or a bad port.
    /// Host, port and whether to speak TLS, from an `http://` or `https://` base URL.
    static func endpoint(_ url: String) -> (host: String, port: UInt16, tls: Bool)? {
        let tls = url.hasPrefix("https://")
        guard tls || url.hasPrefix("http://") else { return nil }
        let rest = url.dropFirst(tls ? 8 : 7).prefix { $0 != "/" }
        guard let colon = rest.lastIndex(of: ":") else { return (String(rest), tls ? 443 : 80, tls) }
        guard let port = UInt16(rest[rest.index(after: colon)...]) else { return nil }
        return (String(rest[..<colon]), port, tls)
    }
}

extension Substring {
    var trimmingSpaces: Substring {
        var s = self
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return s
    }
}
