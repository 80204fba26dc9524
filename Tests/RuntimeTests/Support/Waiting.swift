import Foundation
import Replica
import Sync
import Synchronization

/// Errors of the harness itself (formation, waits), with what it was waiting for.
struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Polls `condition` every 2 ms until it holds; false when `seconds` pass first.
func poll(seconds: Double, _ condition: () -> Bool) -> Bool {
    let deadline = monotonicNanoseconds() + UInt64(seconds * 1e9)
    while !condition() {
        if monotonicNanoseconds() > deadline { return false }
        usleep(2_000)
    }
    return true
}

/// Polls like `poll`, throwing a `HarnessError` naming `what` on timeout.
func waitFor(_ what: String, seconds: Double, _ condition: () -> Bool) throws {
    guard poll(seconds: seconds, condition) else { throw HarnessError("timed out after \(seconds) s waiting for \(what)") }
}

/// One result handed from a completion (any thread) to the waiting test thread.
final class Outcome<Value: Sendable>: Sendable {
    private let lock = ConditionLock()
    private let slot = Mutex<Result<Value, ReplicaError>?>(nil)

    func set(_ result: Result<Value, ReplicaError>) {
        lock.withLock {
            slot.withLock { $0 = result }
            lock.broadcast()
        }
    }

    var value: Result<Value, ReplicaError>? { slot.withLock { $0 } }

    /// The result, or nil when none came within `seconds`.
    func wait(seconds: Double) -> Result<Value, ReplicaError>? {
        let deadline = monotonicNanoseconds() + UInt64(seconds * 1e9)
        return lock.withLock {
            while slot.withLock({ $0 }) == nil && monotonicNanoseconds() < deadline {
                _ = lock.wait(untilNanoseconds: deadline)
            }
            return slot.withLock { $0 }
        }
    }
}

/// Starts a request with a completion and waits for it (at most `seconds`).
func call<Value: Sendable>(seconds: Double = 10,
                           _ start: (@escaping @Sendable (Result<Value, ReplicaError>) -> Void) -> Void) -> Result<Value, ReplicaError>? {
    let outcome = Outcome<Value>()
    start { outcome.set($0) }
    return outcome.wait(seconds: seconds)
}
