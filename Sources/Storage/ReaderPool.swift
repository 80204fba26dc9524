import SQLite
import Sync
import Synchronization

/// One read-only (`query_only`) connection with its cached point-read statement and a query
/// deadline its progress handler enforces. Used by one thread at a time (the pool lends it).
final class Reader: Sendable {
    static let pointReadSQL = """
        SELECT rev, bucket, content_type, json, raw, updated_at, write_index
        FROM documents WHERE collection = ?1 AND id = ?2 AND deleted = 0
        """

    let connection: Connection
    let pointRead: Statement
    /// Monotonic nanoseconds after which a running statement is interrupted; 0 = none.
    let deadline: Deadline

    final class Deadline: Sendable {
        let nanoseconds = Atomic<UInt64>(0)
    }

    init(path: String) throws(StorageError) {
        let deadline = Deadline()
        (connection, pointRead) = try sqlite { () throws(SQLite.Error) in
            let connection = try Connection(path: path, mode: .readWrite, statementCacheCapacity: 64)
            try connection.setBusyTimeout(milliseconds: 5_000)
            // 16 MiB of page cache per reader (at most `readerPoolSize` of them): point reads of a
            // working set that fits stay off `pread` (about +8 % reads/s on Mach I, bench/RESULTS.md).
            try connection.execute("PRAGMA query_only = 1; PRAGMA temp_store = MEMORY; PRAGMA cache_size = -16384")
            return (connection, try connection.prepare(Reader.pointReadSQL, persistent: true))
        }
        connection.setProgressHandler(every: 1_000) {
            let limit = deadline.nanoseconds.load(ordering: .relaxed)
            return limit != 0 && monotonicNanoseconds() > limit
        }
        self.deadline = deadline
    }

    /// Runs `body` with statements interrupted once `milliseconds` have passed; an interrupt
    /// after the deadline becomes ``StorageError/queryTimeout``.
    func withDeadline<T>(milliseconds: Int, _ body: () throws(StorageError) -> T) throws(StorageError) -> T {
        let limit = monotonicNanoseconds() + UInt64(milliseconds) * 1_000_000
        deadline.nanoseconds.store(limit, ordering: .relaxed)
        defer { deadline.nanoseconds.store(0, ordering: .relaxed) }
        do {
            return try body()
        } catch let .sqlite(error) where error.code == .interrupt && monotonicNanoseconds() > limit {
            throw .queryTimeout
        }
    }
}

/// A bounded pool of ``Reader``s, opened on demand up to `capacity`. A borrower waits at most
/// `waitMilliseconds` for a free reader (then ``StorageError/queryTimeout``).
final class ReaderPool: Sendable {
    let capacity: Int
    private let path: String
    private let waitNanoseconds: UInt64
    private let idle: BoundedQueue<Reader>
    private let opened = Mutex(0)
    private let closed = Atomic(false)

    init(path: String, capacity: Int, waitMilliseconds: Int) {
        self.path = path
        self.capacity = capacity
        self.waitNanoseconds = UInt64(waitMilliseconds) * 1_000_000
        self.idle = BoundedQueue(capacity: capacity)
    }

    /// Readers open right now (idle or lent).
    var openCount: Int { opened.withLock { $0 } }

    /// Lends a reader to `body` and takes it back afterwards.
    func withReader<T>(_ body: (Reader) throws(StorageError) -> T) throws(StorageError) -> T {
        let reader = try acquire()
        defer { release(reader) }
        return try body(reader)
    }

    private func acquire() throws(StorageError) -> Reader {
        guard !closed.load(ordering: .relaxed) else { throw .closed }
        if let reader = idle.popBatch(max: 1, deadlineNanoseconds: 0).first { return reader }
        let mayOpen = opened.withLock { count in
            guard count < capacity else { return false }
            count += 1
            return true
        }
        if mayOpen {
            do {
                return try Reader(path: path)
            } catch {
                opened.withLock { $0 -= 1 }
                throw error
            }
        }
        if let reader = idle.popBatch(max: 1, deadlineNanoseconds: monotonicNanoseconds() + waitNanoseconds).first {
            return reader
        }
        throw closed.load(ordering: .relaxed) ? .closed : .queryTimeout
    }

    private func release(_ reader: Reader) {
        if !idle.push(reader) {
            // Closed: the reader (and its connection) goes away here.
            opened.withLock { $0 -= 1 }
        }
    }

    /// Refuses further loans and closes idle readers; lent ones close when returned.
    func close() {
        closed.store(true, ordering: .relaxed)
        idle.close()
        let drained = idle.popBatch(max: capacity, deadlineNanoseconds: 0)
        opened.withLock { $0 -= drained.count }
    }
}
