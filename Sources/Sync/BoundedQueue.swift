/// A FIFO with a fixed capacity: producers never block (a full queue refuses), one or more
/// consumers block until items arrive. `close()` wakes consumers; items already queued are
/// still handed out, then `popBatch` returns an empty array.
public final class BoundedQueue<Element: Sendable>: @unchecked Sendable {
    public let capacity: Int
    private let lock = ConditionLock()
    private var items: [Element?]
    private var head = 0
    private var countStorage = 0
    private var closed = false

    public init(capacity: Int) {
        precondition(capacity > 0, "capacity must be positive")
        self.capacity = capacity
        items = Array(repeating: nil, count: capacity)
    }

    /// Current depth.
    public var count: Int { lock.withLock { countStorage } }

    /// Appends `item`; returns false (and drops nothing) when the queue is full or closed.
    @discardableResult
    public func push(_ item: Element) -> Bool {
        lock.withLock {
            guard !closed, countStorage < capacity else { return false }
            items[(head + countStorage) % capacity] = item
            countStorage += 1
            lock.signal()
            return true
        }
    }

    /// Waits for at least one item and returns up to `max` of them in FIFO order. Returns an
    /// empty array once the queue is closed and drained, or when `deadline` (monotonic ns) passes.
    public func popBatch(max: Int, deadlineNanoseconds: UInt64? = nil) -> [Element] {
        lock.withLock {
            while countStorage == 0 && !closed {
                if !lock.wait(untilNanoseconds: deadlineNanoseconds), countStorage == 0 { return [] }
            }
            let n = Swift.min(max, countStorage)
            var batch: [Element] = []
            batch.reserveCapacity(n)
            for _ in 0..<n {
                batch.append(items[head]!)
                items[head] = nil
                head = (head + 1) % capacity
            }
            countStorage -= n
            return batch
        }
    }

    /// True once `close()` was called.
    public var isClosed: Bool { lock.withLock { closed } }

    /// Refuses further pushes and wakes every waiting consumer.
    public func close() {
        lock.withLock {
            closed = true
            lock.broadcast()
        }
    }
}
