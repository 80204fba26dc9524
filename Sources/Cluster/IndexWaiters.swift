import Foundation
import Sync

/// Readers parked until the node has applied a given index (`X-Machdb-Min-Index`), each with
/// a deadline. Bounded; callbacks run outside the lock, on the applying or the timer thread.
public final class IndexWaiters: @unchecked Sendable {
    public typealias Callback = @Sendable (_ reached: Bool) -> Void
    private struct Waiter {
        let index: UInt64
        let deadline: UInt64
        let callback: Callback
    }

    private let lock = ConditionLock()
    private var waiters: [Waiter] = []
    private var lastApplied: UInt64
    private var closed = false
    public let capacity: Int

    public init(capacity: Int, appliedIndex: UInt64) {
        self.capacity = capacity
        lastApplied = appliedIndex
        let thread = Thread { [weak self] in self?.expireLoop() }
        thread.name = "index-waiters"
        thread.start()
    }

    public var count: Int { lock.withLock { waiters.count } }

    public enum Registration: Sendable { case reached, waiting, full }

    /// Registers a wait for `index`; `.reached` means it is applied already (no callback).
    public func wait(for index: UInt64, deadline: UInt64, callback: @escaping Callback) -> Registration {
        lock.withLock {
            if lastApplied >= index { return .reached }
            guard !closed, waiters.count < capacity else { return .full }
            waiters.append(Waiter(index: index, deadline: deadline, callback: callback))
            lock.signal()
            return .waiting
        }
    }

    /// The node applied everything up to `index`.
    public func applied(_ index: UInt64) {
        let ready: [Waiter] = lock.withLock {
            lastApplied = max(lastApplied, index)
            guard !waiters.isEmpty else { return [] }
            let done = waiters.filter { $0.index <= index }
            if !done.isEmpty { waiters.removeAll { $0.index <= index } }
            return done
        }
        for waiter in ready { waiter.callback(true) }
    }

    /// Fails every waiter and stops the timer thread.
    public func close() {
        let all: [Waiter] = lock.withLock {
            closed = true
            defer { waiters.removeAll() }
            lock.signal()
            return waiters
        }
        for waiter in all { waiter.callback(false) }
    }

    private func expireLoop() {
        while true {
            let expired: [Waiter]? = lock.withLock {
                if closed { return nil }
                let now = monotonicNanoseconds()
                let earliest = waiters.map(\.deadline).min() ?? now + 1_000_000_000
                if earliest > now { lock.wait(untilNanoseconds: earliest) }
                let current = monotonicNanoseconds()
                let gone = waiters.filter { $0.deadline <= current }
                if !gone.isEmpty { waiters.removeAll { $0.deadline <= current } }
                return gone
            }
            guard let expired else { return }
            for waiter in expired { waiter.callback(false) }
        }
    }
}
