import Foundation
import Sync
import Synchronization

/// Runs the completions the Raft thread produces (rendering responses, resuming connections,
/// metrics) on a thread of its own: the Raft thread hands over one batch per turn.
final class Answerer: Sendable {
    private let queue = BoundedQueue<[@Sendable () -> Void]>(capacity: 65_536)
    private let done = ConditionLock()
    private let finished = Mutex(false)

    init(name: String) {
        let queue = self.queue
        let thread = Thread { [self] in
            while true {
                let batches = queue.popBatch(max: 64)
                if batches.isEmpty { break }
                for batch in batches { for answer in batch { answer() } }
            }
            done.withLock {
                finished.withLock { $0 = true }
                done.broadcast()
            }
        }
        thread.name = name
        thread.start()
    }

    /// Hands `batch` to the thread; runs it here when the queue is full or closed (never lost).
    func submit(_ batch: [@Sendable () -> Void]) {
        guard !batch.isEmpty else { return }
        if !queue.push(batch) { for answer in batch { answer() } }
    }

    /// Runs what is queued, then stops the thread (bounded wait).
    func close(timeoutNanoseconds: UInt64 = 5_000_000_000) {
        queue.close()
        let deadline = monotonicNanoseconds() + timeoutNanoseconds
        done.withLock {
            while !finished.withLock({ $0 }) && monotonicNanoseconds() < deadline {
                _ = done.wait(untilNanoseconds: deadline)
            }
        }
    }
}
