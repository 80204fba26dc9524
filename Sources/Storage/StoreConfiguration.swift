/// Settings of a ``Store``. Defaults suit one node on a small machine.
public struct StoreConfiguration: Sendable {
    /// The database file (`<data-dir>/machdb.sqlite`); created when missing. The `-wal` and
    /// `-shm` files live next to it.
    public var path: String
    /// Most read connections (WAL readers) open at once; opened on demand. 1...64.
    public var readerPoolSize: Int = 4
    /// Most write commands waiting for the committer; ``Store/submit(_:completion:)`` refuses
    /// beyond that (back pressure). 1...10,000,000.
    public var writeQueueCapacity: Int = 10_000
    /// Most commands applied in one transaction (one fsync). 1...65,536.
    public var maxBatch: Int = 1024
    /// How long a query (or a wait for a free read connection) may take. 1...3,600,000.
    public var queryTimeoutMilliseconds: Int = 5_000
    /// Deepest nesting a PATCH result may have (stored bodies are checked by the caller). 1...10,000.
    public var maxJSONDepth: Int = 64
    /// WAL pages written before the committer checkpoints (`wal_autocheckpoint`); 0 disables
    /// checkpoints entirely (tests only). 0...1,000,000.
    public var walAutocheckpointPages: Int = 4_000
    /// The size SQLite truncates the WAL file back to after a checkpoint (`journal_size_limit`).
    public var walSizeLimitBytes: Int = 64 << 20

    public init(path: String) { self.path = path }

    /// Throws ``StorageError/invalidConfiguration(_:)`` naming the first setting out of range.
    public func validate() throws(StorageError) {
        func check(_ value: Int, _ range: ClosedRange<Int>, _ name: String) throws(StorageError) {
            guard range.contains(value) else {
                throw .invalidConfiguration("\(name) is \(value); it must be in \(range.lowerBound)...\(range.upperBound)")
            }
        }
        guard !path.isEmpty else { throw .invalidConfiguration("path is empty") }
        guard !path.utf8.contains(0) else { throw .invalidConfiguration("path contains a NUL byte") }
        try check(readerPoolSize, 1...64, "readerPoolSize")
        try check(writeQueueCapacity, 1...10_000_000, "writeQueueCapacity")
        try check(maxBatch, 1...65_536, "maxBatch")
        try check(queryTimeoutMilliseconds, 1...3_600_000, "queryTimeoutMilliseconds")
        try check(maxJSONDepth, 1...10_000, "maxJSONDepth")
        try check(walAutocheckpointPages, 0...1_000_000, "walAutocheckpointPages")
        try check(walSizeLimitBytes, 0...(1 << 40), "walSizeLimitBytes")
    }
}
