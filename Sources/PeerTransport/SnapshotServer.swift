import RaftCore
import Sync
import Synchronization

/// One chunk of a snapshot file, ready to answer `GET .../snapshots/{token}` with status 200.
public struct SnapshotChunk: Sendable {
    public var bytes: [UInt8]
    /// `Content-Type` and the `X-Machdb-Snapshot-*` headers (see `InternalRoutes`).
    public var headers: [(name: String, value: String)]
}

/// Serves snapshot files in chunks, paced by one rate limit shared by all transfers, and
/// tracks how far each transfer has come (for the leader's `/admin/v1/cluster` and logs).
///
/// `chunk` blocks (file read, then pacing): call it on a worker thread, never on an HTTP I/O
/// thread. Which file a token names, and its size and checksum (`SnapshotChecksum.ofFile`,
/// computed once when the snapshot is made), is the caller's business.
public final class SnapshotServer: Sendable {
    /// The shared limit in bytes per second; nil is unlimited.
    public let bytesPerSecond: Int?
    /// Largest chunk served regardless of the requested length.
    public static let maxChunkBytes = 8 << 20
    /// Transfers whose progress is remembered (least recently active forgotten first).
    public static let trackedTransfers = 64

    private let limiter: RateLimiter?
    /// Paces chunks for a silent replica (see `CatchUpThrottle`).
    private let throttle: CatchUpThrottle?
    private let closed = Atomic<Bool>(false)
    private let transfers = Mutex<[String: Transfer]>([:])

    private struct Transfer {
        var total: Int64
        var reached: Int64
        var moved: Int64 = 0
        var startedAt: UInt64
        var lastActiveAt: UInt64
    }

    public init(bytesPerSecond: Int?, throttle: CatchUpThrottle? = nil) {
        precondition(bytesPerSecond.map { $0 > 0 } ?? true, "bytesPerSecond must be positive")
        self.bytesPerSecond = bytesPerSecond
        self.throttle = throttle
        limiter = bytesPerSecond.map(RateLimiter.init)
    }

    /// Reads up to `maxLength` bytes of `path` at `offset` and waits for the rate limit.
    ///
    /// Serves fewer bytes at the end of the file, beyond `maxChunkBytes`, and beyond a quarter
    /// second's worth of the rate limit (so one request never waits long); an empty chunk at
    /// `offset == size`. Throws `.snapshotRange` (416) when `offset` is outside `0...size`,
    /// `.snapshotIO` (500) when the file cannot be read or is shorter than `size`, `.closed`
    /// (503) after `close()`.
    public func chunk(token: String, path: String, size: Int64, checksum: UInt64, offset: Int64,
                      maxLength: Int, peer: NodeID? = nil) throws(TransportError) -> SnapshotChunk {
        guard !closed.load(ordering: .acquiring) else { throw .closed }
        let begun = monotonicNanoseconds()
        guard offset >= 0, offset <= size else { throw .snapshotRange(offset: offset, size: size) }
        var length = min(max(maxLength, 1), Self.maxChunkBytes)
        if let bytesPerSecond { length = min(length, max(64 << 10, bytesPerSecond / 4)) }
        // Snapshots are how a joining node starts: one not decided about yet is paced too.
        let pacedRate = peer.flatMap { throttle?.rate(for: $0, newcomers: true) }
        if let pacedRate { length = min(length, max(16 << 10, pacedRate / 4)) }
        length = Int(min(Int64(length), size - offset))
        var bytes = [UInt8](repeating: 0, count: length)
        if length > 0 {
            let file = try PosixFile.open(path, mode: .read)
            let count = try file.read(into: &bytes, at: offset)
            guard count == length else {
                throw .snapshotIO(path: path, operation: "read (file shorter than \(size) bytes)", errno: 0)
            }
            if let limiter, !limiter.acquire(length) { throw .closed }
            if pacedRate != nil, let peer { throttle?.pace(peer, bytes: length, newcomers: true) { closed.load(ordering: .relaxed) } }
        }
        record(token: token, total: size, reached: offset + Int64(length), moved: Int64(length), begun: begun,
               restart: offset == 0)
        return SnapshotChunk(bytes: bytes, headers: [
            ("Content-Type", InternalRoutes.contentType),
            (InternalRoutes.snapshotSizeHeader, String(size)),
            (InternalRoutes.snapshotChecksumHeader, SnapshotChecksum.hex(checksum)),
            (InternalRoutes.snapshotOffsetHeader, String(offset)),
        ])
    }

    /// How far the transfer of `token` has come, as served; nil when unknown or forgotten.
    public func progress(token: String) -> SnapshotProgress? {
        transfers.withLock { $0[token] }.map { Self.progress(token, $0) }
    }

    /// Every remembered transfer, most recently active first.
    public var progress: [SnapshotProgress] {
        transfers.withLock { $0 }
            .sorted { $0.value.lastActiveAt > $1.value.lastActiveAt }
            .map { Self.progress($0.key, $0.value) }
    }

    /// Forgets `token`'s progress (once the follower reported the snapshot applied or failed).
    public func forget(token: String) { _ = transfers.withLock { $0.removeValue(forKey: token) } }

    /// Refuses further chunks and wakes requests waiting for the rate limit (they throw `.closed`).
    public func close() {
        closed.store(true, ordering: .releasing)
        limiter?.close()
    }

    /// `restart`: the first chunk of a fetch. The same snapshot fetched again (by another
    /// follower, or after a failed attempt) starts its progress over instead of showing the
    /// earlier fetch as complete. Two fetches of one snapshot at once share one entry.
    private func record(token: String, total: Int64, reached: Int64, moved: Int64, begun: UInt64, restart: Bool) {
        let now = monotonicNanoseconds()
        transfers.withLock { transfers in
            if transfers[token] == nil && transfers.count >= Self.trackedTransfers,
               let oldest = transfers.min(by: { $0.value.lastActiveAt < $1.value.lastActiveAt })?.key {
                transfers[oldest] = nil
            }
            let known = restart ? nil : transfers[token]
            var transfer = known ?? Transfer(total: total, reached: 0, startedAt: begun, lastActiveAt: now)
            transfer.total = total
            transfer.reached = max(transfer.reached, reached)
            transfer.moved += moved
            transfer.lastActiveAt = now
            transfers[token] = transfer
        }
    }

    private static func progress(_ token: String, _ transfer: Transfer) -> SnapshotProgress {
        SnapshotProgress.measure(token: token, bytes: transfer.reached, total: transfer.total,
                                 moved: transfer.moved, startedAt: transfer.startedAt)
    }
}
