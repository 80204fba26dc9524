/// Everything that can go wrong in the transport, with its context.
///
/// `status` is the HTTP status an internal route answers for the receiving-side cases
/// (a bad batch, a bad snapshot range); the fetching-side cases are for logs and retries.
public enum TransportError: Error, Sendable, Equatable, CustomStringConvertible {
    /// `TransportConfiguration.validate()` or `SnapshotFetcherConfiguration.validate()` refused a value.
    case invalidConfiguration(String)
    /// A peer stream broke its framing (unknown kind, bad length, undecodable payload).
    case badFrame(String)
    /// The peer stream handshake failed (connect, refused upgrade, bad answer).
    case handshake(String)
    /// A snapshot chunk was asked for at an offset past the end of the file.
    case snapshotRange(offset: Int64, size: Int64)
    /// The snapshot file to serve could not be read.
    case snapshotIO(path: String, operation: String, errno: Int32)
    /// The snapshot server is closed (the node is shutting down).
    case closed
    /// A snapshot chunk could not be fetched after the configured retries (the partial file
    /// is kept, so the next attempt resumes).
    case snapshotFetchFailed(url: String, attempts: Int, lastError: String)
    /// The peer refused the snapshot request in a way retrying cannot fix (401, 404, ...).
    case snapshotRefused(url: String, status: Int, body: String)
    /// The peer's answer broke the protocol (missing or inconsistent headers, empty chunk).
    case snapshotProtocol(url: String, reason: String)
    /// The downloaded file does not match the size or checksum the peer announced (the
    /// partial file is deleted: resuming it would keep the bad bytes).
    case snapshotMismatch(path: String, expectedSize: Int64, actualSize: Int64, expectedChecksum: UInt64, actualChecksum: UInt64)
    /// Writing the downloaded snapshot failed locally.
    case snapshotWrite(path: String, operation: String, errno: Int32)

    /// The HTTP status for an internal route that fails with this error.
    public var status: Int {
        switch self {
        case .snapshotRange: 416
        case .closed: 503
        case .snapshotRefused(_, let status, _): status
        default: 500
        }
    }

    public var description: String {
        switch self {
        case let .invalidConfiguration(what): "invalid transport configuration: \(what)"
        case let .badFrame(reason): "bad peer frame: \(reason)"
        case let .handshake(reason): "peer stream handshake: \(reason)"
        case let .snapshotRange(offset, size): "snapshot offset \(offset) is past the end (\(size) bytes)"
        case let .snapshotIO(path, operation, code): "snapshot \(path): \(operation) failed: \(errnoText(code))"
        case .closed: "snapshot server closed"
        case let .snapshotFetchFailed(url, attempts, last): "snapshot chunk \(url) failed after \(attempts) attempts: \(last)"
        case let .snapshotRefused(url, status, body): "snapshot \(url) refused with \(status): \(body)"
        case let .snapshotProtocol(url, reason): "snapshot \(url): \(reason)"
        case let .snapshotMismatch(path, expectedSize, actualSize, expectedChecksum, actualChecksum):
            "snapshot \(path) does not match: size \(actualSize) (expected \(expectedSize)), checksum "
                + "\(SnapshotChecksum.hex(actualChecksum)) (expected \(SnapshotChecksum.hex(expectedChecksum)))"
        case let .snapshotWrite(path, operation, code): "snapshot \(path): \(operation) failed: \(errnoText(code))"
        }
    }
}
