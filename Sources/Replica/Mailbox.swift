import RaftCore
import Sync
import Synchronization

/// The Raft thread's input, in two lanes: peer messages and everything else (proposals,
/// requests). Each turn takes the whole peer lane first, so Raft traffic never waits behind
/// clients (docs/ARCHITECTURE.md, "The Raft thread").
///
/// Both lanes are bounded. A full peer lane drops the batch (counted in `droppedPeerMessages`;
/// the sender's Raft resends, and a leader that hears nothing back probes); a full input lane
/// refuses the push (the caller answers 503).
final class Mailbox: @unchecked Sendable {
    let peerCapacity: Int
    let capacity: Int
    private let lock = ConditionLock()
    private var peer: [[Message]] = []
    private var peerCount = 0
    private var inputs: [ReplicaInput] = []
    private var closed = false
    private let droppedPeer = Atomic<UInt64>(0)

    /// `peerCapacity` counts messages, `capacity` inputs.
    init(peerCapacity: Int, capacity: Int) {
        precondition(peerCapacity > 0 && capacity > 0, "mailbox bounds must be positive")
        self.peerCapacity = peerCapacity
        self.capacity = capacity
    }

    /// Queues messages from a peer; false (and counted) when the lane is full or closed.
    @discardableResult
    func pushPeer(_ messages: [Message]) -> Bool {
        let accepted: Bool = lock.withLock {
            guard !closed, peerCount + messages.count <= peerCapacity else { return false }
            peer.append(messages)
            peerCount += messages.count
            lock.signal()
            return true
        }
        if !accepted { droppedPeer.add(UInt64(messages.count), ordering: .relaxed) }
        return accepted
    }

    /// Queues a request; false when the lane is full or closed.
    func push(_ input: ReplicaInput) -> Bool {
        lock.withLock {
            guard !closed, inputs.count < capacity else { return false }
            inputs.append(input)
            lock.signal()
            return true
        }
    }

    /// Waits until something arrives or the monotonic `deadline` passes, then takes every peer
    /// batch and up to `maxInputs` requests. nil once closed and drained.
    func take(maxInputs: Int, deadline: UInt64) -> (peer: [[Message]], inputs: [ReplicaInput])? {
        lock.withLock {
            while peer.isEmpty && inputs.isEmpty && !closed {
                if !lock.wait(untilNanoseconds: deadline) { break }
            }
            if closed && peer.isEmpty && inputs.isEmpty { return nil }
            let batches = peer
            peer = []
            peerCount = 0
            let taken: [ReplicaInput]
            if inputs.count <= maxInputs {
                taken = inputs
                inputs = []
            } else {
                taken = Array(inputs[0..<maxInputs])
                inputs.removeFirst(maxInputs)
            }
            return (batches, taken)
        }
    }

    /// Messages and requests waiting now.
    var depth: (peer: Int, inputs: Int) { lock.withLock { (peerCount, inputs.count) } }

    var droppedPeerMessages: UInt64 { droppedPeer.load(ordering: .relaxed) }

    var isClosed: Bool { lock.withLock { closed } }

    /// Refuses further pushes and wakes the Raft thread; what is queued is still handed out.
    func close() {
        lock.withLock {
            closed = true
            lock.broadcast()
        }
    }
}
