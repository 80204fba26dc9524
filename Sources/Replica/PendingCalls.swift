import Foundation
import RaftCore
import Sync
import Synchronization

/// Calls this node made over the peer streams and is waiting on, by call id: writes forwarded
/// to the leader, requests relayed to another node. Bounded; each has a deadline after which
/// its outcome is unknown (`timeout`), enforced by a timer thread of its own.
public final class PendingCalls: Sendable {
    public typealias Completion = @Sendable (Result<[UInt8], ReplicaError>) -> Void

    private struct Pending {
        let peer: NodeID
        let deadline: UInt64
        let completion: Completion
    }

    public let capacity: Int
    private let state: Mutex<(next: UInt64, pending: [UInt64: Pending], closed: Bool)>
    private let timer = ConditionLock()

    /// Ids start at `firstID` (give each registry of a node its own range: replies are routed by id).
    public init(capacity: Int, firstID: UInt64 = 1, name: String) {
        self.capacity = capacity
        state = Mutex((firstID, [:], false))
        let thread = Thread { [weak self] in
            while let self, self.tick() {}
        }
        thread.name = name
        thread.start()
    }

    /// Registers a call to `peer`; its id, or nil when `capacity` calls are waiting (or closed).
    public func register(peer: NodeID, timeoutMilliseconds: Int, completion: @escaping Completion) -> UInt64? {
        let deadline = monotonicNanoseconds() + UInt64(timeoutMilliseconds) * 1_000_000
        return state.withLock { state in
            guard !state.closed, state.pending.count < capacity else { return nil }
            let id = state.next
            state.next &+= 1
            state.pending[id] = Pending(peer: peer, deadline: deadline, completion: completion)
            return id
        }
    }

    /// Completes call `id` (if still waiting, and made to `peer` when given) with `result`.
    public func complete(_ id: UInt64, from peer: NodeID? = nil, _ result: Result<[UInt8], ReplicaError>) {
        let pending: Pending? = state.withLock { state in
            guard let found = state.pending[id], peer == nil || found.peer == peer else { return nil }
            state.pending[id] = nil
            return found
        }
        pending?.completion(result)
    }

    public var count: Int { state.withLock { $0.pending.count } }

    /// The first id of shard `shard`'s forwarded writes: each shard's calls have their own
    /// range (2^40 ids), below the relays' (from 2^63).
    public static func firstID(shard: Int) -> UInt64 { UInt64(shard) << 40 | 1 }

    /// The shard whose range holds call `id` (see `firstID(shard:)`).
    public static func shard(ofCall id: UInt64) -> Int { Int(id >> 40) }

    /// Fails every call waiting on `peer` with `error` (its link broke: outcome unknown).
    public func fail(peer: NodeID, _ error: ReplicaError) {
        let lost: [Pending] = state.withLock { state in
            let ids = state.pending.filter { $0.value.peer == peer }.map(\.key)
            return ids.compactMap { state.pending.removeValue(forKey: $0) }
        }
        for pending in lost { pending.completion(.failure(error)) }
    }

    /// Fails everything waiting (outcome unknown) and stops the timer.
    public func close() {
        let all = state.withLock { state in
            state.closed = true
            defer { state.pending = [:] }
            return Array(state.pending.values)
        }
        timer.withLock { timer.broadcast() }
        for pending in all { pending.completion(.failure(.timeout)) }
    }

    /// One timer turn: fails the calls past their deadline. False once closed.
    private func tick() -> Bool {
        _ = timer.withLock { timer.wait(untilNanoseconds: monotonicNanoseconds() + 50_000_000) }
        let now = monotonicNanoseconds()
        let (expired, open): ([Pending], Bool) = state.withLock { state in
            guard !state.pending.isEmpty else { return ([], !state.closed) }
            var out: [Pending] = []
            for (id, pending) in state.pending where pending.deadline <= now {
                out.append(pending)
                state.pending[id] = nil
            }
            return (out, !state.closed)
        }
        for pending in expired { pending.completion(.failure(.timeout)) }
        return open
    }
}
