/// How the leader replicates to one member (follower or learner).
///
/// - `probe`: the leader does not know where the logs match; it sends one append at a
///   time and waits for the answer (or a heartbeat response) before the next.
/// - `replicate`: logs match up to `match`; appends are pipelined optimistically
///   (`next` runs ahead) within the `inflights` window.
/// - `snapshot`: a snapshot is on its way; nothing is sent until it is reported.
final class Progress {
    enum State: UInt8, Sendable { case probe, replicate, snapshot }

    var match: UInt64 = 0
    var next: UInt64
    var state: State = .probe
    /// In probe state: an append was sent and is not yet answered.
    var probeSent = false
    /// In snapshot state: the index of the snapshot being sent.
    var pendingSnapshot: UInt64 = 0
    /// Heard from within the current CheckQuorum period.
    var recentActive = false
    var isLearner: Bool
    var inflights: Inflights

    init(next: UInt64, isLearner: Bool, maxInflight: Int, maxInflightBytes: UInt64) {
        self.next = next
        self.isLearner = isLearner
        self.inflights = Inflights(capacity: maxInflight, maxBytes: maxInflightBytes)
    }

    var isPaused: Bool {
        switch state {
        case .probe: probeSent
        case .replicate: inflights.isFull
        case .snapshot: true
        }
    }

    func becomeProbe() {
        if state == .snapshot {
            next = max(match + 1, pendingSnapshot + 1)
        } else {
            next = match + 1
        }
        state = .probe
        probeSent = false
        pendingSnapshot = 0
        inflights.reset()
    }

    func becomeReplicate() {
        state = .replicate
        next = match + 1
        probeSent = false
        pendingSnapshot = 0
        inflights.reset()
    }

    func becomeSnapshot(index: UInt64) {
        state = .snapshot
        pendingSnapshot = index
        probeSent = false
        inflights.reset()
    }

    /// Records an append carrying entries up to `lastIndex` (`bytes` in total).
    func sentEntries(lastIndex: UInt64, bytes: UInt64) {
        switch state {
        case .replicate:
            next = lastIndex + 1
            inflights.add(index: lastIndex, bytes: bytes)
        case .probe:
            probeSent = true
        case .snapshot:
            break
        }
    }

    /// A successful append response up to `index`; returns whether `match` moved.
    func maybeUpdate(_ index: UInt64) -> Bool {
        var updated = false
        if match < index {
            match = index
            updated = true
            probeSent = false
        }
        next = max(next, index + 1)
        return updated
    }

    /// A rejected append at `rejected`; `hint` is where the follower's log may match.
    /// Returns false for a stale rejection.
    func maybeDecrease(rejected: UInt64, hint: UInt64) -> Bool {
        if state == .replicate {
            guard rejected > match else { return false }
            next = match + 1
            return true
        }
        guard next - 1 == rejected else { return false }
        next = max(min(rejected, hint + 1), match + 1)
        probeSent = false
        return true
    }
}
