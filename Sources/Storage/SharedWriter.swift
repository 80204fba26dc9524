import Sync
import SQLite

/// The node's one writer connection in Raft mode, shared by all its groups (docs/ARCHITECTURE.md,
/// "Shards").
///
/// - **Group commit across groups** (``commit(_:)``): a group's `Ready` is a job; the first
///   group to arrive while the connection is free runs, in one transaction, its own job and
///   every job other groups queued meanwhile, then commits once (one fsync) and wakes them.
///   Their Raft threads wait for it, so each job touches only its own group's state while its
///   owner is parked. One job failing rolls the whole transaction back, and every job of it
///   reports the error (the runtime then stops the node: the log is replayed from disk).
/// - **Other work** (``locked(_:)``): log reads for a lagging follower, a snapshot image or its
///   installation (an `ATTACH` cannot run inside a transaction), a compaction step — with the
///   connection to itself.
///
/// Groups take turns through this object, never through SQLite's busy handler (whose sleeps of
/// a millisecond and more halved the throughput of two shards when each had a connection).
/// The connection's `synchronous` level is tracked here: it belongs to the connection.
final class SharedWriter: @unchecked Sendable {
    /// One group's part of a shared transaction.
    final class Job {
        /// This part needs the commit fsynced (`Ready.mustSync`).
        let fullSync: Bool
        /// Runs inside the transaction, on whichever group's thread commits it.
        var work: () throws(StorageError) -> Void = {}
        /// Runs when the transaction rolled back (for this job's failure or another's).
        var undo: (StorageError) -> Void = { _ in }
        fileprivate var error: StorageError?
        fileprivate var done = false

        init(fullSync: Bool) { self.fullSync = fullSync }
    }

    let connection: Connection
    private let lock = ConditionLock()
    /// Guarded by `lock`: someone is using the connection; jobs waiting for the next commit.
    private var busy = false
    private var queued: [Job] = []
    /// `PRAGMA synchronous` right now: FULL unless a commit switched it to NORMAL. Used only by
    /// the thread that has the connection.
    private var fullSync = true
    /// Guarded by `lock`: shared commits made, and the jobs they carried.
    private var commits: UInt64 = 0
    private var jobsCommitted: UInt64 = 0

    /// Shared commits made and the group saves they carried (`/metrics`).
    var statistics: (commits: UInt64, jobs: UInt64) { lock.withLock { (commits, jobsCommitted) } }

    init(_ connection: Connection) { self.connection = connection }

    /// Runs `job` in a transaction shared with the jobs other groups queue meanwhile; returns
    /// once it is committed, or throws the error that rolled it back.
    func commit(_ job: Job) throws(StorageError) {
        var batch: [Job] = []
        lock.withLock {
            queued.append(job)
            while !job.done && busy { lock.wait() }
            if !job.done {
                busy = true
                batch = queued
                queued = []
            }
        }
        if !batch.isEmpty { run(batch) }
        if let error = job.error { throw error }
    }

    /// Runs `body` with the connection to itself (no transaction of the writer's around it).
    func locked<T>(_ body: () throws(StorageError) -> T) throws(StorageError) -> T {
        acquire()
        defer { release(done: [], committed: false) }
        return try body()
    }

    /// Sets `PRAGMA synchronous` (FULL or NORMAL) when it differs; call having the connection,
    /// outside a transaction.
    func setSync(full: Bool) throws(StorageError) {
        guard full != fullSync else { return }
        try sqlite { () throws(SQLite.Error) in
            try connection.cached(full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL").run()
        }
        fullSync = full
    }

    private func acquire() {
        lock.withLock {
            while busy { lock.wait() }
            busy = true
        }
    }

    private func release(done: [Job], committed: Bool) {
        lock.withLock {
            if committed {
                commits += 1
                jobsCommitted += UInt64(done.count)
            }
            for job in done { job.done = true }
            busy = false
            lock.broadcast()
        }
    }

    /// One transaction for every job of `batch` (having the connection).
    private func run(_ batch: [Job]) {
        var failure: StorageError?
        do throws(StorageError) {
            try setSync(full: batch.contains { $0.fullSync })
            try sqlite { () throws(SQLite.Error) in try connection.begin(.immediate) }
            do throws(StorageError) {
                for job in batch { try job.work() }
                try sqlite { () throws(SQLite.Error) in try connection.commit() }
            } catch {
                try? connection.rollback()
                throw error
            }
        } catch {
            failure = error
        }
        if let failure {
            for job in batch {
                job.error = failure
                job.undo(failure)
            }
        }
        release(done: batch, committed: failure == nil)
    }
}
