import Sync

/// How far one snapshot transfer has come, on either side (served or fetched).
public struct SnapshotProgress: Sendable, Equatable {
    public var token: String
    /// Bytes transferred (the furthest offset reached, counting a resumed prefix).
    public var bytes: Int64
    /// Size of the snapshot file.
    public var total: Int64
    /// 0...100.
    public var percent: Double
    /// Seconds left at the current rate; nil before a rate is known.
    public var etaSeconds: Double?
    /// Average rate since this transfer (or its resumption) started.
    public var bytesPerSecond: Double

    public init(token: String, bytes: Int64, total: Int64, percent: Double, etaSeconds: Double?, bytesPerSecond: Double) {
        self.token = token
        self.bytes = bytes
        self.total = total
        self.percent = percent
        self.etaSeconds = etaSeconds
        self.bytesPerSecond = bytesPerSecond
    }

    /// Progress of a transfer that reached `bytes` of `total`, having moved `moved` bytes since
    /// `startedAt` (monotonic ns).
    static func measure(token: String, bytes: Int64, total: Int64, moved: Int64, startedAt: UInt64,
                        now: UInt64 = monotonicNanoseconds()) -> SnapshotProgress {
        let percent = total > 0 ? min(100, Double(bytes) * 100 / Double(total)) : 100
        let seconds = Double(now &- startedAt) / 1e9
        let rate = seconds > 0 ? Double(moved) / seconds : 0
        let remaining = Double(max(0, total - bytes))
        let eta: Double? = remaining == 0 ? 0 : (rate > 0 ? remaining / rate : nil)
        return SnapshotProgress(token: token, bytes: bytes, total: total, percent: percent,
                                etaSeconds: eta, bytesPerSecond: rate)
    }
}
