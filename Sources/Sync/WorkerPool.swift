import Foundation

/// A fixed set of threads running jobs from a bounded queue: the place for work that may
/// block (SQLite queries, backups) so the HTTP I/O threads never do.
public final class WorkerPool: Sendable {
    public typealias Job = @Sendable () -> Void
    private let queue: BoundedQueue<Job>
    private let threads: Int

    /// Starts `threads` workers sharing a queue of `capacity` jobs.
    public init(name: String, threads: Int, capacity: Int) {
        precondition(threads > 0)
        queue = BoundedQueue(capacity: capacity)
        self.threads = threads
        for index in 0..<threads {
            let queue = self.queue
            let thread = Thread {
                while true {
                    let jobs = queue.popBatch(max: 1)
                    guard let job = jobs.first else { return }
                    job()
                }
            }
            thread.name = "\(name)-\(index)"
            thread.start()
        }
    }

    /// Queues `job`; false when the queue is full or the pool is closed (the job will not run).
    public func submit(_ job: @escaping Job) -> Bool { queue.push(job) }

    /// Jobs waiting to run.
    public var depth: Int { queue.count }
    public var capacity: Int { queue.capacity }

    /// Refuses new jobs; queued ones still run, then the workers exit.
    public func close() { queue.close() }
}
