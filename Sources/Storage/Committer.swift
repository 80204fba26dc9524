#if canImport(Glibc)
import Glibc
#endif
import Logging
import SQLite
import Sync
import Synchronization

/// A submitted command and who to tell when it is durable (or failed).
struct PendingCommand: Sendable {
    let command: WriteCommand
    let completion: @Sendable (Result<CommandResult, StorageError>) -> Void
}

/// The function told about each durable commit (see `Store.onApplied`).
final class AppliedObserver: Sendable {
    let function: @Sendable (UInt64) -> Void
    init(_ function: @escaping @Sendable (UInt64) -> Void) { self.function = function }
}

/// State the committer publishes and the store reads, from any thread.
final class CommitState: Sendable {
    let appliedIndex: Atomic<UInt64>
    let documentCount: Atomic<Int>
    /// Raised after every commit that changed a collection's settings (see `CollectionSettings`).
    let settingsGeneration = Atomic<UInt64>(0)
    let counters = Mutex(CommitCounters())
    /// Boxed: a closure stored directly in a `Mutex` is re-thunked on every `withLock` write-back,
    /// growing a chain of reabstraction thunks per call (seen in perf as 30 % of the write path).
    let observer = Mutex<AppliedObserver?>(nil)

    init(appliedIndex: UInt64, documentCount: Int) {
        self.appliedIndex = Atomic(appliedIndex)
        self.documentCount = Atomic(documentCount)
    }
}

/// Group commit: the one thread that writes. Pops up to `maxBatch` commands, applies them in
/// one transaction (each takes the next index; `applied_index` is written in the same
/// transaction), commits (one fsync), publishes the new applied index, then calls each
/// completion in order. On a SQLite error the batch is rolled back and every completion gets
/// the error: nothing acknowledged is lost, nothing failed is applied.
///
/// Owns the writer connection; lives on its own thread from ``start()`` until the queue is
/// closed and drained.
final class Committer {
    private let queue: BoundedQueue<PendingCommand>
    private let connection: Connection
    private let applier: Applier
    private let state: CommitState
    private let logger: Logger
    private let maxBatch: Int
    private var appliedIndex: UInt64

    init(queue: BoundedQueue<PendingCommand>, connection: Connection, applier: Applier, state: CommitState,
         logger: Logger, maxBatch: Int)
    {
        self.queue = queue
        self.connection = connection
        self.applier = applier
        self.state = state
        self.logger = logger
        self.maxBatch = maxBatch
        self.appliedIndex = state.appliedIndex.load(ordering: .acquiring)
    }

    /// Runs ``run()`` on a new thread, which takes ownership of the committer.
    static func start(_ committer: Committer) throws(StorageError) -> pthread_t {
        var thread = pthread_t()
        let context = Unmanaged.passRetained(committer).toOpaque()
        let code = pthread_create(&thread, nil, { context in
            // Balances the passRetained above: the thread now owns the committer.
            let committer = Unmanaged<Committer>.fromOpaque(context!).takeRetainedValue()
            committer.run()
            return nil
        }, context)
        guard code == 0 else {
            Unmanaged<Committer>.fromOpaque(context).release()
            throw .io(operation: "pthread_create (committer)", path: "", errno: code)
        }
        return thread
    }

    /// Commits batches until the queue is closed and drained.
    func run() {
        while true {
            let batch = queue.popBatch(max: maxBatch)
            if batch.isEmpty { break }
            commit(batch)
        }
        logger.debug("committer stopped", metadata: ["applied_index": "\(appliedIndex)"])
    }

    private func commit(_ batch: [PendingCommand]) {
        var results: [CommandResult] = []
        results.reserveCapacity(batch.count)
        let first = appliedIndex + 1
        let last = appliedIndex + UInt64(batch.count)
        do throws(StorageError) {
            applier.beginBatch()
            try sqlite { () throws(SQLite.Error) in try connection.begin(.immediate) }
            for (offset, pending) in batch.enumerated() {
                let index = first + UInt64(offset)
                results.append(CommandResult(index: index, outcomes: try applier.apply(pending.command, index: index)))
            }
            try applier.finishBatch(appliedIndex: last)
            try sqlite { () throws(SQLite.Error) in try connection.commit() }
        } catch {
            fail(batch, error)
            return
        }
        appliedIndex = last
        state.appliedIndex.store(last, ordering: .releasing)
        state.documentCount.add(applier.liveDelta, ordering: .relaxed)
        if applier.touchedSettings { state.settingsGeneration.add(1, ordering: .releasing) }
        state.counters.withLock { $0.recordCommit(size: batch.count) }
        if let observer = state.observer.withLock({ $0 }) { observer.function(last) }
        for (pending, result) in zip(batch, results) { pending.completion(.success(result)) }
    }

    private func fail(_ batch: [PendingCommand], _ error: StorageError) {
        do {
            try connection.rollback()
        } catch {
            logger.error("rollback failed", metadata: ["error": "\(error)"])
        }
        applier.discardBatch()
        state.counters.withLock { $0.recordFailure(size: batch.count) }
        logger.error("batch rolled back", metadata: [
            "error": "\(error)", "commands": "\(batch.count)", "applied_index": "\(appliedIndex)",
        ])
        for pending in batch { pending.completion(.failure(error)) }
    }
}
