#if canImport(Glibc)
import Glibc
#endif
import JSON
import Logging
import SQLite
import Sync
import Synchronization

/// The node's document store: one SQLite file in WAL mode, one committer thread that writes
/// with group commit, and a bounded pool of read connections that never wait for the writer.
///
/// Life cycle: `init` opens (creating or migrating the file) and starts the committer;
/// ``close()`` stops accepting writes, commits what is queued, joins the committer and closes
/// the connections. Every method may be called from any thread.
///
/// Raft mode (see `Store+Raft.swift`): ``startRaft(bootstrap:selfRaftID:selfMember:)`` stops
/// the committer and hands the writer connection to a ``RaftStore``, which then applies the
/// replicated log; reads, ``appliedIndex``, ``onApplied(_:)`` and ``statistics`` work alike.
/// A file already in Raft mode opens without a committer (``submit(_:completion:)`` refuses).
public final class Store: Sendable {
    public let configuration: StoreConfiguration
    let logger: Logger
    let queue: BoundedQueue<PendingCommand>
    let state: CommitState
    let readers: ReaderPool
    let accepting: Atomic<Bool>
    /// The committer thread until ``close()`` (or ``startRaft``) joins it.
    let committerThread: Mutex<pthread_t?>
    /// The writer connection, kept for ``startRaft`` to take once the committer has stopped
    /// (never used through here while the committer runs). Emptied by ``close()``.
    let writerSlot: Mutex<Connection?>
    /// The file belongs to a Raft group (found at open, or set by ``startRaft``).
    let raftMode: Atomic<Bool>
    /// The replicated cluster map as of the applied index (see `Store+ClusterMap.swift`).
    let clusterMapState: ClusterMapState
    /// The Raft groups this node holds and their applied indexes (see `Store+Shards.swift`).
    let shardsState = ShardsState()

    /// Opens the store at `configuration.path` (creating the file and schema when missing,
    /// migrating an older schema) and starts the committer thread.
    public init(configuration: StoreConfiguration, logger: Logger) throws(StorageError) {
        try configuration.validate()
        self.configuration = configuration
        self.logger = logger
        let writer = try Store.openWriter(configuration)
        try Schema.migrate(writer)
        let isRaft = try Schema.isRaftMode(writer)
        let (applied, live) = try sqlite { () throws(SQLite.Error) in
            (try writer.scalarInt64("SELECT value FROM meta WHERE key = 'applied_index'") ?? 0,
             try writer.scalarInt64("SELECT coalesce(sum(count), 0) FROM collections") ?? 0)
        }
        state = CommitState(appliedIndex: UInt64(applied), documentCount: Int(live))
        clusterMapState = ClusterMapState(try Store.readClusterMap(writer))
        queue = BoundedQueue(capacity: configuration.writeQueueCapacity)
        readers = ReaderPool(path: configuration.path, capacity: configuration.readerPoolSize,
                             waitMilliseconds: configuration.queryTimeoutMilliseconds)
        writerSlot = Mutex(writer)
        raftMode = Atomic(isRaft)
        accepting = Atomic(!isRaft)
        if isRaft {
            // The log decides what is applied: no committer (startRaft takes the writer).
            queue.close()
            committerThread = Mutex(nil)
        } else {
            let applier = try Applier(connection: writer, maxJSONDepth: configuration.maxJSONDepth)
            let committer = Committer(queue: queue, connection: writer, applier: applier, state: state,
                                      logger: logger, maxBatch: configuration.maxBatch)
            committerThread = Mutex(try Committer.start(committer))
        }
        logger.info("store opened", metadata: [
            "path": "\(configuration.path)", "applied_index": "\(applied)", "documents": "\(live)",
            "mode": "\(isRaft ? "raft" : "single")",
        ])
    }

    deinit {
        // Not closed: let the committer drain and exit on its own (joining belongs in close()).
        queue.close()
        readers.close()
        if let thread = committerThread.withLock({ $0 }) { pthread_detach(thread) }
    }

    /// The writer connection: WAL, `synchronous=FULL` (a commit is durable when it returns).
    private static func openWriter(_ configuration: StoreConfiguration) throws(StorageError) -> Connection {
        try sqlite { () throws(SQLite.Error) in
            let writer = try Connection(path: configuration.path, mode: .readWriteCreate, statementCacheCapacity: 16)
            try writer.setBusyTimeout(milliseconds: 5_000)
            let mode = try writer.scalarText("PRAGMA journal_mode = WAL")
            guard mode == "wal" else {
                throw SQLite.Error(code: .error, message: "could not enable WAL (journal_mode is \(mode ?? "unknown"))")
            }
            try writer.execute("""
                PRAGMA synchronous = FULL;
                PRAGMA wal_autocheckpoint = \(configuration.walAutocheckpointPages);
                PRAGMA journal_size_limit = \(configuration.walSizeLimitBytes);
                PRAGMA cache_size = -32768;
                PRAGMA temp_store = MEMORY;
                PRAGMA foreign_keys = OFF
                """)
            return writer
        }
    }

    // MARK: Writes

    /// Queues `command` for the committer. `completion` runs once, on the committer thread,
    /// after the command's batch is durable (or rolled back): keep it cheap and never call
    /// ``close()`` from it.
    ///
    /// Returns false, without calling `completion`, when the queue is full or the store is
    /// closed. A PATCH whose body is not JSON is refused at once: `completion` gets
    /// ``StorageError/invalidCommand(_:)`` (before this returns true).
    public func submit(_ command: WriteCommand, completion: @escaping @Sendable (Result<CommandResult, StorageError>) -> Void) -> Bool {
        guard accepting.load(ordering: .relaxed) else { return false }
        if let refusal = Store.invalidPatch(in: command) {
            completion(.failure(refusal))
            return true
        }
        return queue.push(PendingCommand(command: command, completion: completion))
    }

    /// ``StorageError/invalidCommand(_:)`` naming the first PATCH whose body is not JSON, or nil.
    static func invalidPatch(in command: WriteCommand) -> StorageError? {
        for (offset, operation) in command.operations.enumerated() {
            guard case let .patch(collection, id, patch, _) = operation else { continue }
            do {
                _ = try JSON.parse(patch, maxDepth: .max)
            } catch {
                return .invalidCommand("operation \(offset) (patch of \(collection)/\(id)): patch is not JSON: \(error)")
            }
        }
        return nil
    }

    /// The index of the last command applied and durable.
    public var appliedIndex: UInt64 { state.appliedIndex.load(ordering: .acquiring) }

    /// Registers the function called (on the committer thread) after each durable commit with
    /// the new applied index, before that batch's completions. Set once, before submitting.
    public func onApplied(_ observer: @escaping @Sendable (UInt64) -> Void) {
        state.observer.withLock { $0 = AppliedObserver(observer) }
    }

    /// Stops accepting writes, lets the committer commit everything queued, joins it, and closes
    /// the read connections (lent ones close when returned). Idempotent; a concurrent call
    /// returns once the store is closed.
    public func close() {
        let stopped = stopCommitter()
        writerSlot.withLock { $0 = nil }
        readers.close()
        if stopped { logger.info("store closed", metadata: ["applied_index": "\(appliedIndex)"]) }
    }

    /// Stops accepting writes, closes the queue and joins the committer (which commits what
    /// is queued first). Returns false when it was already stopped (or never ran).
    @discardableResult
    func stopCommitter() -> Bool {
        accepting.store(false, ordering: .relaxed)
        queue.close()
        return committerThread.withLock { thread in
            guard let running = thread else { return false }
            thread = nil
            if pthread_equal(running, pthread_self()) != 0 {
                pthread_detach(running)  // called from a completion: cannot join ourselves
            } else {
                pthread_join(running, nil)
            }
            return true
        }
    }

    // MARK: Statistics

    public var statistics: StoreStatistics {
        let counters = state.counters.withLock { $0 }
        return StoreStatistics(
            queueDepth: queue.count,
            queueCapacity: queue.capacity,
            batchesCommitted: counters.batchesCommitted,
            commandsCommitted: counters.commandsCommitted,
            batchesFailed: counters.batchesFailed,
            commandsFailed: counters.commandsFailed,
            batchSizes: counters.histogram,
            databaseBytes: FileSystem.size(configuration.path) + FileSystem.size(configuration.path + "-wal"),
            documentCount: state.documentCount.load(ordering: .relaxed),
            appliedIndex: appliedIndex)
    }
}
