import RaftCore
import Sync
import Synchronization

/// One peer's outgoing stream: its bounded frame queue, its counters, the socket now in use
/// and the stop signal of its sender thread. Owned by `PeerTransport`; the sender thread is the
/// only consumer of `queue` and the only writer of the socket.
final class PeerLink: Sendable {
    let id: NodeID
    let baseURL: String
    let queue: BoundedQueue<PeerFrame>
    let counters: Mutex<PeerStatistics>
    private let current = Mutex<StreamSocket?>(nil)
    private let stopLock = ConditionLock()
    private let stopped = Atomic<Bool>(false)

    init(id: NodeID, baseURL: String, capacity: Int) {
        self.id = id
        self.baseURL = InternalRoutes.trimmed(baseURL)
        queue = BoundedQueue(capacity: capacity)
        counters = Mutex(PeerStatistics(id: id, url: self.baseURL, queueDepth: 0, queueCapacity: capacity))
    }

    var isStopped: Bool { stopped.load(ordering: .acquiring) }

    /// Makes the sender thread exit (a blocked write returns at once); queued frames are dropped.
    func stop() {
        stopLock.withLock {
            stopped.store(true, ordering: .releasing)
            stopLock.broadcast()
        }
        queue.close()
        current.withLock { $0?.shutdownNow() }
    }

    /// The sender's socket, so `stop` and `reset` can interrupt it.
    func use(_ socket: StreamSocket?) {
        current.withLock { $0 = socket }
        counters.withLock { $0.connected = socket != nil }
    }

    /// Whether the outgoing stream is open now.
    var isConnected: Bool { current.withLock { $0 != nil } }

    /// Breaks the current stream (the sender reconnects): for tests and for a peer whose
    /// address changed underneath.
    func reset() { current.withLock { $0?.shutdownNow() } }

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

/// Counts live transport threads so `close()` can wait for them with a deadline.
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
