/// An HTTP request as the handler sees it: head plus the complete body.
///
/// `path` is the raw, still percent-encoded path (no query string): routing splits it on `/`
/// first and decodes each segment after, so an encoded `%2F` never acts as a separator.
public struct Request: Sendable {
    public let method: String
    public let path: String
    /// Header fields with lowercased names, in arrival order.
    public let headers: [(name: String, value: String)]
    /// Query-string arguments, percent-decoded (`+` is a space).
    public let query: [(name: String, value: String)]
    public internal(set) var body: [UInt8]
    /// Monotonic time (ns) when the request head arrived.
    public let receivedAt: UInt64
    /// Over HTTPS with a trust CA (`ServerConfiguration.TLS.trustPEM`): the client presented a
    /// certificate that CA verifies.
    public let clientCertificateVerified: Bool

    public init(method: String, path: String, headers: [(name: String, value: String)],
                query: [(name: String, value: String)], body: [UInt8], receivedAt: UInt64,
                clientCertificateVerified: Bool = false) {
        self.method = method
        self.path = path
        self.headers = headers
        self.query = query
        self.body = body
        self.receivedAt = receivedAt
        self.clientCertificateVerified = clientCertificateVerified
    }

    /// The first header named `name` (case-insensitive). Names are stored lowercased, so a
    /// lowercased `name` — what every caller on the request path passes — costs no allocation.
    public func header(_ name: String) -> String? {
        if let hit = headers.first(where: { $0.name == name }) { return hit.value }
        let lower = name.lowercased()
        return lower == name ? nil : headers.first { $0.name == lower }?.value
    }

    /// The first query argument named `name`.
    public func queryValue(_ name: String) -> String? { query.first { $0.name == name }?.value }
}

/// An HTTP response. Bodies are bytes, a file streamed from disk, or a protocol switch.
public struct Response: Sendable {
    public enum Body: Sendable {
        case bytes([UInt8])
        /// A file streamed by the server; `unlinkWhenOpened` removes the name at once (the open
        /// descriptor keeps the data until the transfer ends), for temporary snapshots.
        case file(path: String, unlinkWhenOpened: Bool)
        /// A protocol switch: sent with status 101 (and its `Upgrade`/`Connection` headers);
        /// the handler then owns the connection (see `UpgradedSocket`).
        case upgrade(UpgradeHandler)
    }

    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: Body

    public init(status: Int, headers: [(name: String, value: String)] = [], body: Body = .bytes([])) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public init(status: Int, contentType: String, body: [UInt8], headers: [(name: String, value: String)] = []) {
        self.status = status
        self.headers = [("Content-Type", contentType)] + headers
        self.body = .bytes(body)
    }

    public mutating func addHeader(_ name: String, _ value: String) { headers.append((name, value)) }
}

/// Percent-decoding for path segments and query arguments.
public enum PercentEncoding {
    /// Decodes `%XX` escapes (and `+` as space when `plusAsSpace`); nil for a malformed escape
    /// or bytes that are not UTF-8.
    public static func decode(_ text: Substring, plusAsSpace: Bool = false) -> String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "%"):
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else { return nil }
                bytes.append(high << 4 | low)
            case UInt8(ascii: "+") where plusAsSpace:
                bytes.append(UInt8(ascii: " "))
            default:
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    public static func decode(_ text: String, plusAsSpace: Bool = false) -> String? {
        decode(text[...], plusAsSpace: plusAsSpace)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
