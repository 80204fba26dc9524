import JSON

extension Outbox {
    /// One recommendation as the outbox holds it: the exact body bytes POSTed on every attempt
    /// (so retries carry identical bytes and signature) and its delivery bookkeeping.
    public struct Recommendation: Sendable {
        /// Position in this outbox; increases by one per enqueue and is never reused.
        public let seq: Int64
        /// Stable id the receiver dedupes by (`rec-<source>-<seq>-<8 random hex>`).
        public let id: String
        /// `add_node`, `remove_node`, `replace_node`, `bigger_leader`, `split_shard`, or the
        /// informational `surge`.
        public let kind: String
        /// The JSON body exactly as sent (compact UTF-8).
        public let body: [UInt8]
        /// Wall-clock milliseconds since the epoch when it was enqueued.
        public let createdAt: Int64
        /// Delivery attempts so far (failed ones, plus the delivering one).
        public let attempts: Int
        /// Wall-clock milliseconds before which the sender does not try again; 0 = at once.
        public let nextAttemptAt: Int64
        /// What the last failed attempt reported (status or transport error), if any.
        public let lastError: String?
        /// Wall-clock milliseconds of the 2xx answer; nil while pending.
        public let deliveredAt: Int64?

        /// True once a 2xx answer was received.
        public var isDelivered: Bool { deliveredAt != nil }

        /// The parsed body (`.null` only if the stored bytes were damaged).
        public var bodyJSON: JSON { (try? JSON.parse(body)) ?? .null }

        /// The entry for an admin view: the body plus its delivery state.
        public var json: JSON {
            .object([
                ("seq", .int(seq)),
                ("id", .string(id)),
                ("kind", .string(kind)),
                ("state", .string(isDelivered ? "delivered" : "pending")),
                ("attempts", .int(attempts)),
                ("created_at", .int(createdAt)),
                ("next_attempt_at", isDelivered ? .null : .int(nextAttemptAt)),
                ("delivered_at", deliveredAt.map { .int($0) } ?? .null),
                ("last_error", lastError.map { .string($0) } ?? .null),
                ("body", bodyJSON),
            ])
        }
    }

    /// Counters of one outbox; `delivered`, `dropped` and `attempts` are totals since the
    /// file was created (they survive restarts).
    public struct Stats: Sendable, Equatable {
        /// Recommendations not yet delivered.
        public var pending: Int
        /// Recommendations delivered (2xx) in total.
        public var delivered: Int64
        /// Undelivered recommendations dropped because the outbox was full.
        public var dropped: Int64
        /// POST attempts in total (failed and successful).
        public var attempts: Int64
        /// The last seq assigned (0 before the first enqueue).
        public var lastSeq: Int64

        public init(pending: Int, delivered: Int64, dropped: Int64, attempts: Int64, lastSeq: Int64) {
            self.pending = pending
            self.delivered = delivered
            self.dropped = dropped
            self.attempts = attempts
            self.lastSeq = lastSeq
        }

        public var json: JSON {
            .object([
                ("pending", .int(pending)), ("delivered", .int(delivered)), ("dropped", .int(dropped)),
                ("attempts", .int(attempts)), ("last_seq", .int(lastSeq)),
            ])
        }
    }
}
