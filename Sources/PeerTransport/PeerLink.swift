import Curl
import Logging
import RaftCore
import Sync
import Synchronization

/// One peer: its bounded queue, its counters and the stop signal of its sender thread.
/// Owned by `PeerTransport`; the sender thread is the only consumer of `queue`.
final class PeerLink: Sendable {
    let id: NodeID
    let baseURL: String
    let messagesURL: String
    let queue: BoundedQueue<Message>
    let counters: Mutex<PeerStatistics>
    private let stopLock = ConditionLock()
    private let stopped = Atomic<Bool>(false)

    init(id: NodeID, baseURL: String, shard: Int, capacity: Int) {
        self.id = id
        self.baseURL = InternalRoutes.trimmed(baseURL)
        messagesURL = self.baseURL + InternalRoutes.messagesPath(shard: shard)
        queue = BoundedQueue(capacity: capacity)
        counters = Mutex(PeerStatistics(id: id, url: self.baseURL, queueDepth: 0, queueCapacity: capacity))
    }

    var isStopped: Bool { stopped.load(ordering: .acquiring) }

    /// Makes the sender thread exit after its current request; queued messages are dropped.
    func stop() {
        stopLock.withLock {
            stopped.store(true, ordering: .releasing)
            stopLock.broadcast()
        }
        queue.close()
    }

    /// Sleeps up to `nanoseconds`; returns false when stopped meanwhile.
    func pause(nanoseconds: UInt64) -> Bool {
        let deadline = monotonicNanoseconds() + nanoseconds
        return stopLock.withLock {
            while !isStopped && monotonicNanoseconds() < deadline {
                stopLock.wait(untilNanoseconds: deadline)
            }
            return !isStopped
        }
    }

    var statistics: PeerStatistics {
        var statistics = counters.withLock { $0 }
        statistics.queueDepth = queue.count
        return statistics
    }
}

/// The `onUnreachable` callback, boxed: a closure kept directly in a `Mutex` is re-thunked on
/// every access.
final class UnreachableCallback: Sendable {
    let call: @Sendable (NodeID) -> Void
    init(_ call: @escaping @Sendable (NodeID) -> Void) { self.call = call }
}

/// Where the transport keeps the current callback, shared with its sender threads.
final class CallbackSlot: Sendable {
    let slot = Mutex<UnreachableCallback?>(nil)

    func call(_ id: NodeID) {
        let box = slot.withLock { $0 }
        box?.call(id)
    }
}

/// Counts live sender threads so `close()` can wait for them with a deadline.
final class ThreadTracker: Sendable {
    private let lock = ConditionLock()
    private let live = Atomic<Int>(0)

    func started() { lock.withLock { _ = live.add(1, ordering: .relaxed) } }

    func finished() {
        lock.withLock {
            _ = live.subtract(1, ordering: .relaxed)
            lock.broadcast()
        }
    }

    /// Waits until no thread is live or the monotonic deadline passes; true when none is live.
    func waitForAll(untilNanoseconds deadline: UInt64) -> Bool {
        lock.withLock {
            while live.load(ordering: .relaxed) > 0 && monotonicNanoseconds() < deadline {
                lock.wait(untilNanoseconds: deadline)
            }
            return live.load(ordering: .relaxed) == 0
        }
    }

    var count: Int { live.load(ordering: .relaxed) }
}
