/// The wire contract of the internal routes, shared by senders, the API's routing and tests.
///
/// - `GET /internal/v1/raft/stream` with `Upgrade: machdb-peer/1` (see `PeerStreamHandshake`):
///   answers 101 and becomes a peer stream carrying Raft traffic of every shard; 401 (see
///   `InternalAuth`), 426 without the upgrade headers, 400 without a valid `X-Machdb-Peer`.
/// - `GET /internal/v1/raft/{shard}/snapshots/{token}?offset=N&length=L`: answers 200 with up to
///   L bytes of the snapshot file from offset N (fewer when rate-limited or at the end) and the
///   `X-Machdb-Snapshot-*` headers; 401, 404 (unknown token), 416 (offset past the end).
public enum InternalRoutes {
    public static let contentType = "application/octet-stream"
    /// Total size of the snapshot file in bytes (decimal).
    public static let snapshotSizeHeader = "X-Machdb-Snapshot-Size"
    /// `SnapshotChecksum` of the whole file: 16 lowercase hex digits.
    public static let snapshotChecksumHeader = "X-Machdb-Snapshot-Checksum"
    /// Offset of the first byte of this chunk (decimal), echoing the request.
    public static let snapshotOffsetHeader = "X-Machdb-Snapshot-Offset"

    /// Where peer streams are opened (one per direction of a node pair, for every shard).
    public static let streamPath = "/internal/v1/raft/stream"

    /// The path of one snapshot; `token` is percent-encoded outside unreserved characters.
    public static func snapshotPath(shard: Int, token: String) -> String {
        "/internal/v1/raft/\(shard)/snapshots/\(percentEncoded(token))"
    }

    /// `base` without trailing slashes, so paths can be appended.
    static func trimmed(_ base: String) -> String {
        var base = Substring(base)
        while base.hasSuffix("/") { base = base.dropLast() }
        return String(base)
    }

    /// Percent-encodes everything but RFC 3986 unreserved characters (for path segments and
    /// query arguments of requests sent to other nodes).
    public static func percentEncoded(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."),
                 UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let digits = Array("0123456789ABCDEF".unicodeScalars)
                out.unicodeScalars.append("%")
                out.unicodeScalars.append(digits[Int(byte >> 4)])
                out.unicodeScalars.append(digits[Int(byte & 15)])
            }
        }
        return out
    }
}
