import JSON

/// What the operator-hook sender is doing, for `/metrics` and the admin API.
public struct HookStatus: Sendable {
    /// Where recommendations go.
    public var url: String
    /// True between `start()` and `stop()`.
    public var running: Bool
    /// Recommendations waiting (the head blocks the rest: delivery is in `seq` order).
    public var pending: Int
    /// Totals since the outbox file was created.
    public var delivered: Int64
    public var dropped: Int64
    public var attempts: Int64
    /// `seq` of the recommendation being retried (the head), if any.
    public var headSeq: Int64?
    /// Failed attempts of the head so far.
    public var headAttempts: Int
    /// The last failure (status or transport error), cleared by a delivery.
    public var lastError: String?
    /// Milliseconds until the head's next attempt (0 = now or in flight); nil when idle.
    public var nextAttemptInMilliseconds: Int64?
    /// Wall-clock ms of the last delivery, if any since start.
    public var lastDeliveredAt: Int64?

    public var json: JSON {
        .object([
            ("url", .string(url)),
            ("running", .bool(running)),
            ("pending", .int(pending)),
            ("delivered", .int(delivered)),
            ("dropped", .int(dropped)),
            ("attempts", .int(attempts)),
            ("head_seq", headSeq.map { .int($0) } ?? .null),
            ("head_attempts", .int(headAttempts)),
            ("last_error", lastError.map { .string($0) } ?? .null),
            ("next_attempt_in_ms", nextAttemptInMilliseconds.map { .int($0) } ?? .null),
            ("last_delivered_at", lastDeliveredAt.map { .int($0) } ?? .null),
        ])
    }
}
