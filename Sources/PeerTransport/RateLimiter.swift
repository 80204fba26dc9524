import Sync
import Synchronization

/// A byte-rate limit shared by every transfer: each caller reserves the time its bytes take at
/// `bytesPerSecond` after all earlier reservations, then sleeps until that time. No burst: the
/// total rate over any interval stays at or below the limit.
final class RateLimiter: Sendable {
    let bytesPerSecond: Int
    /// Monotonic time (ns) when the bytes reserved so far have all been paid for.
    private let reservedUntil = Mutex<UInt64>(0)
    private let lock = ConditionLock()
    private let closed = Atomic<Bool>(false)

    init(bytesPerSecond: Int) {
        precondition(bytesPerSecond > 0)
        self.bytesPerSecond = bytesPerSecond
    }

    /// Blocks until `bytes` may go out; false when closed meanwhile.
    func acquire(_ bytes: Int) -> Bool {
        let cost = UInt64(bytes) * 1_000_000_000 / UInt64(bytesPerSecond)
        let deadline = reservedUntil.withLock { until in
            until = max(until, monotonicNanoseconds()) + cost
            return until
        }
        return lock.withLock {
            while !closed.load(ordering: .acquiring) && monotonicNanoseconds() < deadline {
                lock.wait(untilNanoseconds: deadline)
            }
            return !closed.load(ordering: .acquiring)
        }
    }

    /// Wakes every sleeper; later `acquire` calls return false at once.
    func close() {
        lock.withLock {
            closed.store(true, ordering: .releasing)
            lock.broadcast()
        }
    }
}
