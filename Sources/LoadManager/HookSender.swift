import Curl
import Digest
import Foundation
import Logging
import Sync
import Synchronization

/// Delivers an `Outbox` to the operator hook URL: one background thread POSTs the
/// recommendations strictly in `seq` order, signed with `X-Machdb-Signature`.
///
/// Delivery is at least once: a 2xx answer marks the head delivered; anything else (a non-2xx
/// status or a transport error) records a failed attempt and retries the same bytes after an
/// exponential backoff with jitter, while the head blocks the rest. Attempts and the next
/// attempt time are persisted in the outbox, so a restart resumes the backoff instead of
/// retrying at once. A crash between the POST and `markDelivered` resends the head; receivers
/// dedupe by `id` (also sent as `X-Machdb-Delivery`).
///
/// Exactly one sender may serve an outbox. Lifecycle: `start()` once, `wake()` after each
/// enqueue, `stop()` at shutdown (a stopped sender cannot be started again).
public final class HookSender: Sendable {
    public let outbox: Outbox
    /// The operator hook URL.
    public let url: String
    public let configuration: HookConfiguration
    private let secret: String
    private let logger: Logger
    /// Wake-ups for the sender thread; capacity 1, so wake-ups coalesce. Closed by `stop()`.
    private let wakeups = BoundedQueue<Bool>(capacity: 1)
    /// Receives one item when the thread exits (for the bounded join in `stop()`).
    private let exited = BoundedQueue<Bool>(capacity: 1)
    private let state = Mutex(State())

    private struct State {
        var started = false
        var stopped = false
        var lastError: String?
        var lastDeliveredAt: Int64?
    }

    /// How long the thread sleeps with nothing pending before it looks again without a
    /// `wake()` (covers an enqueue whose caller forgot to wake it).
    static let idlePollMilliseconds: UInt64 = 2_000
    /// Pause after the outbox itself failed (disk error), before trying again.
    static let storageRetryMilliseconds: UInt64 = 1_000

    /// A sender for `outbox` to `url`, signing with `secret` (its UTF-8 bytes are the HMAC key).
    /// Throws `.invalidConfiguration` for out-of-range settings. Sends nothing until `start()`.
    public init(outbox: Outbox, url: String, secret: String, configuration: HookConfiguration = HookConfiguration(),
                logger: Logger = Logger(label: "machdb.hook")) throws(OutboxError) {
        try configuration.validate()
        guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
            throw .invalidConfiguration("hook URL must start with http:// or https://, got \(url)")
        }
        self.outbox = outbox
        self.url = url
        self.secret = secret
        self.configuration = configuration
        var logger = logger
        logger[metadataKey: "hook"] = "\(url)"
        self.logger = logger
    }

    /// Starts the sender thread. Idempotent; does nothing after `stop()`.
    public func start() {
        let startNow = state.withLock { state in
            guard !state.started, !state.stopped else { return false }
            state.started = true
            return true
        }
        guard startNow else { return }
        let thread = Thread { [self] in
            defer { exited.push(true) }
            run()
        }
        thread.name = "machdb-hook"
        thread.start()
    }

    /// Tells the thread a recommendation was enqueued. Cheap, never blocks, any thread. It does
    /// not cut a running backoff short: the head keeps its place and its schedule.
    public func wake() { wakeups.push(true) }

    /// Stops the thread and waits for it, at most `stopTimeoutMilliseconds` (an attempt in
    /// flight finishes first, bounded by its timeout). Returns false if the thread was still
    /// running at the deadline (it exits after that attempt). Pending recommendations stay in
    /// the outbox for the next start.
    @discardableResult
    public func stop() -> Bool {
        let wasRunning = state.withLock { state in
            defer { state.stopped = true }
            return state.started && !state.stopped
        }
        wakeups.close()
        guard wasRunning else { return true }
        let deadline = monotonicNanoseconds() + UInt64(configuration.stopTimeoutMilliseconds) * 1_000_000
        let joined = !exited.popBatch(max: 1, deadlineNanoseconds: deadline).isEmpty
        if !joined { logger.warning("hook sender did not stop in time; it exits after the attempt in flight") }
        return joined
    }

    /// What the sender is doing now.
    public var status: HookStatus {
        let (running, lastError, lastDeliveredAt) = state.withLock { ($0.started && !$0.stopped, $0.lastError, $0.lastDeliveredAt) }
        let stats = try? outbox.stats()
        let head = try? outbox.head()
        return HookStatus(
            url: url, running: running, pending: stats?.pending ?? 0, delivered: stats?.delivered ?? 0,
            dropped: stats?.dropped ?? 0, attempts: stats?.attempts ?? 0, headSeq: head?.seq,
            headAttempts: head?.attempts ?? 0, lastError: lastError,
            nextAttemptInMilliseconds: head.map { max(0, $0.nextAttemptAt - wallClockMilliseconds()) },
            lastDeliveredAt: lastDeliveredAt)
    }

    // MARK: - The sender thread

    private func run() {
        var client: HTTPClient?
        // When the head may be tried next (monotonic ns). Read from the outbox once per head
        // (a restart resumes the persisted schedule), then kept here, so that a wall-clock jump
        // cannot stall or rush the retries.
        var scheduledSeq: Int64 = -1
        var dueAt: UInt64 = 0
        while !wakeups.isClosed {
            let head: Outbox.Recommendation?
            do {
                head = try outbox.head()
            } catch {
                logger.error("cannot read the hook outbox", metadata: ["error": "\(error)"])
                pause(milliseconds: Self.storageRetryMilliseconds)
                continue
            }
            guard let head else {
                pause(milliseconds: Self.idlePollMilliseconds)
                continue
            }
            if head.seq != scheduledSeq {
                scheduledSeq = head.seq
                let dueIn = min(max(0, head.nextAttemptAt - wallClockMilliseconds()), Int64(configuration.maxBackoffMilliseconds))
                dueAt = monotonicNanoseconds() + UInt64(dueIn) * 1_000_000
            }
            if monotonicNanoseconds() < dueAt {
                _ = wakeups.popBatch(max: 1, deadlineNanoseconds: dueAt)
                continue
            }
            switch post(head, client: &client) {
            case .delivered(let status):
                delivered(head, status: status)
            case .failed(let reason):
                let delay = Self.backoffMilliseconds(failures: head.attempts + 1, configuration: configuration,
                                                     unit: Double.random(in: 0..<1))
                dueAt = monotonicNanoseconds() + UInt64(delay) * 1_000_000
                failed(head, reason: reason, delay: delay)
            }
        }
    }

    private func delivered(_ head: Outbox.Recommendation, status: Int) {
        let now = wallClockMilliseconds()
        state.withLock {
            $0.lastError = nil
            $0.lastDeliveredAt = now
        }
        do {
            try outbox.markDelivered(seq: head.seq, at: now)
            logger.info("recommendation delivered to the operator hook", metadata: [
                "seq": "\(head.seq)", "id": "\(head.id)", "kind": "\(head.kind)", "status": "\(status)",
                "attempts": "\(head.attempts + 1)",
            ])
        } catch {
            // Not recorded: it will be sent again (at least once; the receiver dedupes by id).
            logger.error("delivered, but cannot record it in the outbox", metadata: ["seq": "\(head.seq)", "error": "\(error)"])
            pause(milliseconds: Self.storageRetryMilliseconds)
        }
    }

    private func failed(_ head: Outbox.Recommendation, reason: String, delay: Int64) {
        state.withLock { $0.lastError = reason }
        let next = wallClockMilliseconds() + delay
        do {
            try outbox.recordFailure(seq: head.seq, error: reason, nextAttemptAt: next)
        } catch {
            logger.error("cannot record a failed hook attempt", metadata: ["seq": "\(head.seq)", "error": "\(error)"])
        }
        logger.warning("operator hook attempt failed; will retry", metadata: [
            "seq": "\(head.seq)", "id": "\(head.id)", "attempt": "\(head.attempts + 1)", "error": "\(reason)",
            "retry_in_ms": "\(delay)",
        ])
    }

    private enum Outcome {
        case delivered(status: Int)
        case failed(String)
    }

    /// One POST of `recommendation`'s stored bytes. A transport error drops the connection so
    /// the next attempt opens a fresh one.
    private func post(_ recommendation: Outbox.Recommendation, client: inout HTTPClient?) -> Outcome {
        let request = ClientRequest(method: "POST", url: url, headers: Self.headers(for: recommendation, secret: secret),
                                    body: recommendation.body, timeoutMilliseconds: configuration.timeoutMilliseconds)
        do throws(CurlError) {
            let active: HTTPClient
            if let client { active = client } else { active = try HTTPClient(); client = active }
            let response = try active.perform(request)
            if (200..<300).contains(response.status) { return .delivered(status: response.status) }
            let detail = String(response.text.prefix(200))
            return .failed("HTTP \(response.status)" + (detail.isEmpty ? "" : ": \(detail)"))
        } catch {
            client = nil
            return .failed(error.description)
        }
    }

    /// The headers of a delivery: JSON content type, the signature over the exact body, the
    /// recommendation's id (for dedupe) and seq (for ordering).
    static func headers(for recommendation: Outbox.Recommendation, secret: String) -> [(name: String, value: String)] {
        [
            ("Content-Type", "application/json"),
            (SignatureHeader.name, SignatureHeader.value(secret: secret, body: recommendation.body)),
            ("X-Machdb-Delivery", recommendation.id),
            ("X-Machdb-Seq", String(recommendation.seq)),
            ("User-Agent", "machdb-hook/1"),
        ]
    }

    /// Sleeps up to `milliseconds`, returning early on `wake()` or `stop()`.
    private func pause(milliseconds: UInt64) {
        _ = wakeups.popBatch(max: 1, deadlineNanoseconds: monotonicNanoseconds() + milliseconds * 1_000_000)
    }
}

extension HookSender {
    /// The pause after the `failures`-th consecutive failed attempt, in milliseconds:
    /// `initial × 2^(failures-1)`, capped at `maxBackoffMilliseconds`, then spread by `jitter`
    /// using `unit` (a number in [0, 1), 0.5 = no spread) and kept in `1...max`. Pure.
    public static func backoffMilliseconds(failures: Int, configuration: HookConfiguration, unit: Double) -> Int64 {
        guard failures > 0 else { return 0 }
        let maximum = Double(configuration.maxBackoffMilliseconds)
        let exponent = min(failures - 1, 52)
        let base = min(Double(configuration.initialBackoffMilliseconds) * Double(sign: .plus, exponent: exponent, significand: 1), maximum)
        let spread = min(max(unit, 0), 1) * 2 - 1  // -1 ... 1
        let jittered = base * (1 + configuration.jitter * spread)
        return Int64(min(max(jittered.rounded(), 1), maximum))
    }
}
