import RaftCore
import Sync
import Synchronization

/// Paces what this node sends to a Load Manager's silent replica — log frames on its stream and
/// snapshot chunks it downloads — to a cluster-wide byte rate, so a new node catching up does
/// not compete with client traffic (docs/ARCHITECTURE.md, "Throttled silent replica"). The
/// sender decides: it has the current cluster map, while the node catching up is still behind.
///
/// Which peers are silent, and the rate, are set every topology round from the map; a peer that
/// stops being silent (the planner needs it: promotion, a lost Writer or Read Replica) is let go
/// within `slice`, even in the middle of a wait.
public final class CatchUpThrottle: Sendable {
    private struct State {
        var bytesPerSecond = 0
        var silent: Set<NodeID> = []
        /// The peers the last `set` decided about: any other is a newcomer (see `pace`).
        var known: Set<NodeID> = []
        /// Per peer: the monotonic time (ns) when the bytes paced so far are paid for.
        var paidUntil: [NodeID: UInt64] = [:]

        /// Whether `peer` is paced; with `newcomers`, also a peer not decided about yet.
        func paces(_ peer: NodeID, newcomers: Bool) -> Bool {
            silent.contains(peer) || (newcomers && bytesPerSecond > 0 && !known.contains(peer))
        }
    }

    private let state = Mutex(State())
    /// Whether any peer is silent: lets every stream sender's burst skip the lock when none is.
    private let anySilent = Atomic<Bool>(false)
    private let pacedBytes = Atomic<UInt64>(0)
    private let pacedNanoseconds = Atomic<UInt64>(0)
    /// The longest single sleep: how soon a lifted throttle takes effect.
    static let slice: UInt64 = 50_000_000

    public init() {}

    /// The peers to pace among `known` ones, and the rate (0: none paced).
    public func set(silent: Set<NodeID>, known: Set<NodeID>, bytesPerSecond: Int) {
        state.withLock { state in
            state.bytesPerSecond = max(bytesPerSecond, 0)
            state.known = known
            state.silent = state.bytesPerSecond > 0 ? silent : []
            state.paidUntil = state.paidUntil.filter { state.silent.contains($0.key) || !known.contains($0.key) }
            anySilent.store(!state.silent.isEmpty, ordering: .relaxed)
        }
    }

    /// Whether `peer` is paced now; with `newcomers`, also a peer not decided about yet (a node
    /// that joined since the last decision enters as a silent replica).
    public func isThrottled(_ peer: NodeID, newcomers: Bool = false) -> Bool { rate(for: peer, newcomers: newcomers) != nil }

    /// The rate `peer` is paced at, or nil when it is not (see `isThrottled`).
    public func rate(for peer: NodeID, newcomers: Bool = false) -> Int? {
        state.withLock { $0.paces(peer, newcomers: newcomers) ? $0.bytesPerSecond : nil }
    }

    /// The rate, and how many peers are paced now.
    public var current: (bytesPerSecond: Int, peers: Int) { state.withLock { ($0.bytesPerSecond, $0.silent.count) } }

    /// Bytes that were paced, and the time spent waiting for them, since start.
    public var totals: (bytes: UInt64, seconds: Double) {
        (pacedBytes.load(ordering: .relaxed), Double(pacedNanoseconds.load(ordering: .relaxed)) / 1e9)
    }

    /// Blocks until `bytes` for `peer` may go out at the rate (at once when the peer is not
    /// paced, or stops being paced meanwhile, or `stopped()` turns true). No burst credit: a
    /// peer idle for a while starts again at the rate.
    public func pace(_ peer: NodeID, bytes: Int, newcomers: Bool = false, stopped: () -> Bool = { false }) {
        guard newcomers || anySilent.load(ordering: .relaxed) else { return }
        let due: UInt64? = state.withLock { state in
            guard state.paces(peer, newcomers: newcomers) else { return nil }
            let now = monotonicNanoseconds()
            let cost = UInt64(bytes) * 1_000_000_000 / UInt64(state.bytesPerSecond)
            let paid = max(state.paidUntil[peer] ?? 0, now) + cost
            state.paidUntil[peer] = paid
            return paid
        }
        guard let due else { return }
        pacedBytes.add(UInt64(bytes), ordering: .relaxed)
        let start = monotonicNanoseconds()
        while !stopped() && isThrottled(peer, newcomers: newcomers) {
            let now = monotonicNanoseconds()
            guard now < due else { break }
            sleep(nanoseconds: min(due - now, Self.slice))
        }
        pacedNanoseconds.add(monotonicNanoseconds() - start, ordering: .relaxed)
    }
}
