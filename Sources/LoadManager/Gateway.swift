import Foundation
import Sync
import Synchronization

/// Admission for requests a node relays to another node (the Load Manager's back pressure,
/// DESIGN §7): at most `maxUpstreamPerTarget` requests in flight to each target; beyond that,
/// requests wait in ONE bounded queue ordered by priority class, then age; past the queue's
/// bound, or past their deadline, they are refused.
///
/// Contract: every `acquire` ends in exactly one call — `start` (a slot is held: the caller
/// must `release(target)` exactly once when the upstream answers or fails) or `refuse`.
/// Callbacks run outside the lock, on the calling thread, the releasing thread or the
/// gateway's timer thread; they must not block.
public final class Gateway: Sendable {
    public struct Configuration: Sendable {
        /// Requests in flight to one target at most (control requests are not limited).
        public var maxUpstreamPerTarget = 64
        /// Requests waiting for a slot, all targets and classes together.
        public var maxWaiting = 2_048
        /// `Retry-After` seconds suggested to refused clients.
        public var retryAfterSeconds = 1

        public init() {}

        public func validate() throws(GatewayError) {
            guard (1...100_000).contains(maxUpstreamPerTarget) else { throw .invalidConfiguration("upstream limit must be 1...100000") }
            guard (0...1_000_000).contains(maxWaiting) else { throw .invalidConfiguration("wait queue must be 0...1000000") }
            guard (1...3_600).contains(retryAfterSeconds) else { throw .invalidConfiguration("Retry-After must be 1...3600 s") }
        }
    }

    /// Priority classes, most urgent first.
    public enum Priority: Int, Sendable, Comparable, CaseIterable {
        case control = 0, write = 1, read = 2, query = 3
        public static func < (lhs: Priority, rhs: Priority) -> Bool { lhs.rawValue < rhs.rawValue }
        public var name: String {
            switch self {
            case .control: "control"
            case .write: "write"
            case .read: "read"
            case .query: "query"
            }
        }
    }

    public enum Refusal: Sendable, Equatable {
        /// The wait queue is full (or this request was pushed out by a more urgent one).
        case overloaded(retryAfterSeconds: Int)
        /// The request's deadline passed while it waited.
        case deadlineExceeded
        /// The gateway is shut down.
        case closed
    }

    public typealias Start = @Sendable () -> Void
    public typealias Refuse = @Sendable (Refusal) -> Void

    private struct Waiter {
        let target: String
        let priority: Priority
        let sequence: UInt64
        let deadline: UInt64
        let start: Start
        let refuse: Refuse
    }

    private struct State {
        var outstanding: [String: Int] = [:]
        var waiting: [Waiter] = []
        var sequence: UInt64 = 0
        var closed = false
        var counters = GatewayCounters()
    }

    public let configuration: Configuration
    private let state = Mutex(State())
    private let timer = ConditionLock()
    private let timerStopped = Atomic<Bool>(false)

    public init(configuration: Configuration) throws(GatewayError) {
        try configuration.validate()
        self.configuration = configuration
        let thread = Thread { [weak self] in
            while let self, !self.timerStopped.load(ordering: .relaxed) {
                self.expire(now: monotonicNanoseconds())
                self.timer.withLock { _ = self.timer.wait(untilNanoseconds: monotonicNanoseconds() + 20_000_000) }
            }
        }
        thread.name = "gateway-timer"
        thread.start()
    }

    /// Asks for a slot to `target`: `start` at once when one is free (or for `.control`),
    /// else once one frees up, unless the deadline (monotonic ns) passes first.
    public func acquire(target: String, priority: Priority, deadline: UInt64, start: @escaping Start, refuse: @escaping Refuse) {
        enum Outcome { case start, refuse(Refusal), queued, evict(Waiter) }
        let outcome: Outcome = state.withLock { state in
            if state.closed { return .refuse(.closed) }
            let used = state.outstanding[target, default: 0]
            if priority == .control || used < configuration.maxUpstreamPerTarget {
                state.outstanding[target] = used + 1
                state.counters.started += 1
                return .start
            }
            state.sequence += 1
            let waiter = Waiter(target: target, priority: priority, sequence: state.sequence, deadline: deadline,
                                start: start, refuse: refuse)
            if state.waiting.count < configuration.maxWaiting {
                state.waiting.append(waiter)
                state.counters.queued += 1
                return .queued
            }
            // Full: a more urgent request pushes out the least urgent, newest waiter.
            guard let worst = state.waiting.indices.max(by: { rank(state.waiting[$0]) < rank(state.waiting[$1]) }),
                  state.waiting[worst].priority > priority else {
                state.counters.refusedFull += 1
                return .refuse(.overloaded(retryAfterSeconds: configuration.retryAfterSeconds))
            }
            let evicted = state.waiting.remove(at: worst)
            state.waiting.append(waiter)
            state.counters.queued += 1
            state.counters.evicted += 1
            return .evict(evicted)
        }
        switch outcome {
        case .start: start()
        case let .refuse(refusal): refuse(refusal)
        case .queued: break
        case let .evict(evicted): evicted.refuse(.overloaded(retryAfterSeconds: configuration.retryAfterSeconds))
        }
    }

    /// Ordering key: least urgent class, then newest, is "worst".
    private func rank(_ waiter: Waiter) -> (Int, UInt64) { (waiter.priority.rawValue, waiter.sequence) }

    /// A request to `target` finished: its slot goes to the most urgent, oldest waiter for
    /// that target, if any.
    public func release(target: String) {
        let next: Waiter? = state.withLock { state in
            let best = state.waiting.indices.filter { state.waiting[$0].target == target }
                .min { rank(state.waiting[$0]) < rank(state.waiting[$1]) }
            if let best {
                state.counters.started += 1
                return state.waiting.remove(at: best)  // the slot passes on: outstanding unchanged
            }
            let used = state.outstanding[target, default: 1] - 1
            if used <= 0 { state.outstanding[target] = nil } else { state.outstanding[target] = used }
            return nil
        }
        next?.start()
    }

    /// In-flight requests to `target` now.
    public func outstanding(_ target: String) -> Int { state.withLock { $0.outstanding[target, default: 0] } }

    /// The target with the fewest requests in flight (ties: the first given).
    public func leastOutstanding(_ targets: [String]) -> String? {
        state.withLock { state in targets.min { state.outstanding[$0, default: 0] < state.outstanding[$1, default: 0] } }
    }

    /// Counters and gauges for `/metrics` and `/admin/v1/scaling`.
    public var snapshot: GatewaySnapshot {
        state.withLock { state in
            var waiting: [Priority: Int] = [:]
            for waiter in state.waiting { waiting[waiter.priority, default: 0] += 1 }
            return GatewaySnapshot(outstanding: state.outstanding, waitingByClass: waiting, counters: state.counters,
                                   maxUpstreamPerTarget: configuration.maxUpstreamPerTarget, maxWaiting: configuration.maxWaiting)
        }
    }

    private func expire(now: UInt64) {
        let expired: [Waiter] = state.withLock { state in
            guard state.waiting.contains(where: { $0.deadline <= now }) else { return [] }
            let gone = state.waiting.filter { $0.deadline <= now }
            state.waiting.removeAll { $0.deadline <= now }
            state.counters.expired += UInt64(gone.count)
            return gone
        }
        for waiter in expired { waiter.refuse(.deadlineExceeded) }
    }

    /// Refuses every waiter and stops the timer; slots in use are released by their owners.
    public func shutdown() {
        let all: [Waiter] = state.withLock { state in
            state.closed = true
            defer { state.waiting.removeAll() }
            return state.waiting
        }
        for waiter in all { waiter.refuse(.closed) }
        timerStopped.store(true, ordering: .relaxed)
        timer.withLock { timer.broadcast() }
    }
}

/// Totals since start.
public struct GatewayCounters: Sendable, Equatable {
    public var started: UInt64 = 0
    public var queued: UInt64 = 0
    public var refusedFull: UInt64 = 0
    public var evicted: UInt64 = 0
    public var expired: UInt64 = 0
}

public struct GatewaySnapshot: Sendable {
    public let outstanding: [String: Int]
    public let waitingByClass: [Gateway.Priority: Int]
    public let counters: GatewayCounters
    public let maxUpstreamPerTarget: Int
    public let maxWaiting: Int

    public var waiting: Int { waitingByClass.values.reduce(0, +) }
}

public enum GatewayError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalidConfiguration(String)
    public var description: String {
        switch self {
        case let .invalidConfiguration(detail): "gateway: \(detail)"
        }
    }
}
