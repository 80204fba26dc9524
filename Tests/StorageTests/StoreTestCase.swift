import Glibc
import JSON
import Logging
import Storage
import Synchronization
import XCTest

/// A test case with a fresh temporary directory and helpers to drive a real ``Store``.
class StoreTestCase: XCTestCase {
    var directory = ""
    private var stores: [Store] = []

    override func setUpWithError() throws {
        var template = Array("/tmp/machdb-storage-XXXXXX".utf8CString)
        let created = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        directory = String(cString: try XCTUnwrap(created))
    }

    override func tearDownWithError() throws {
        for store in stores { store.close() }
        stores = []
        removeTree(directory)
    }

    private func removeTree(_ path: String) {
        guard let entries = opendir(path) else {
            unlink(path)
            return
        }
        while let entry = readdir(entries) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard name != "." && name != ".." else { continue }
            if entry.pointee.d_type == UInt8(DT_DIR) { removeTree(path + "/" + name) } else { unlink(path + "/" + name) }
        }
        closedir(entries)
        rmdir(path)
    }

    var databasePath: String { directory + "/machdb.sqlite" }

    func configuration(_ adjust: (inout StoreConfiguration) -> Void = { _ in }) -> StoreConfiguration {
        var configuration = StoreConfiguration(path: databasePath)
        adjust(&configuration)
        return configuration
    }

    /// Opens a store (closed in tearDown).
    func openStore(_ configuration: StoreConfiguration? = nil) throws -> Store {
        var logger = Logger(label: "machdb.storage.test")
        logger.logLevel = .critical
        let store = try Store(configuration: configuration ?? self.configuration(), logger: logger)
        stores.append(store)
        return store
    }

    // MARK: Writing

    /// Submits `command` and waits for its completion.
    @discardableResult
    func apply(_ store: Store, _ command: WriteCommand, file: StaticString = #filePath, line: UInt = #line) throws -> CommandResult {
        let done = expectation(description: "completion")
        let result = Mutex<Result<CommandResult, StorageError>?>(nil)
        XCTAssertTrue(store.submit(command) { outcome in
            result.withLock { $0 = outcome }
            done.fulfill()
        }, "submit refused", file: file, line: line)
        wait(for: [done], timeout: 10)
        return try XCTUnwrap(result.withLock { $0 }, file: file, line: line).get()
    }

    /// Applies the operations as one command and returns their outcomes.
    func apply(_ store: Store, _ operations: WriteOperation..., time: Int64 = 1_700_000_000_000,
               file: StaticString = #filePath, line: UInt = #line) throws -> [WriteOutcome] {
        try apply(store, WriteCommand(operations: operations, timestampMilliseconds: time), file: file, line: line).outcomes
    }

    /// The single outcome of a one-operation command.
    func write(_ store: Store, _ operation: WriteOperation, file: StaticString = #filePath, line: UInt = #line) throws -> WriteOutcome {
        let outcomes = try apply(store, operation, file: file, line: line)
        XCTAssertEqual(outcomes.count, 1, file: file, line: line)
        return try XCTUnwrap(outcomes.first, file: file, line: line)
    }

    /// The result of a successful outcome (fails the test otherwise).
    func written(_ outcome: WriteOutcome, file: StaticString = #filePath, line: UInt = #line) throws -> WriteResult {
        guard case let .written(result) = outcome else {
            XCTFail("expected written, got \(outcome)", file: file, line: line)
            throw CancellationError()
        }
        return result
    }

    func body(_ store: Store, _ collection: String, _ id: String) throws -> String? {
        try store.document(collection: collection, id: id).map { String(decoding: $0.body, as: UTF8.self) }
    }

    /// Stalls the committer: submits a command whose completion blocks until the returned
    /// release function is called. Commands submitted meanwhile queue up and form one batch.
    func stallCommitter(_ store: Store) -> @Sendable () -> Void {
        let gate = Gate()
        let entered = expectation(description: "committer stalled")
        XCTAssertTrue(store.submit(WriteCommand(operations: [put("stall", "stall", "{}")], timestampMilliseconds: 1)) { _ in
            entered.fulfill()
            gate.wait()
        })
        wait(for: [entered], timeout: 10)
        return { gate.open() }
    }
}

/// A one-shot gate threads wait on until it opens (pthreads; the tests avoid Foundation).
final class Gate: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    private var condition = pthread_cond_t()
    private var isOpen = false

    init() {
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&condition, nil)
    }

    deinit {
        pthread_cond_destroy(&condition)
        pthread_mutex_destroy(&mutex)
    }

    func open() {
        pthread_mutex_lock(&mutex)
        isOpen = true
        pthread_cond_broadcast(&condition)
        pthread_mutex_unlock(&mutex)
    }

    func wait() {
        pthread_mutex_lock(&mutex)
        while !isOpen { pthread_cond_wait(&condition, &mutex) }
        pthread_mutex_unlock(&mutex)
    }
}

/// Runs `count` bodies on their own threads and waits for all of them.
func runConcurrently(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    final class Job: @unchecked Sendable {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    var threads: [pthread_t] = []
    for index in 0..<count {
        var thread = pthread_t()
        let job = Unmanaged.passRetained(Job { body(index) }).toOpaque()
        pthread_create(&thread, nil, { context in
            Unmanaged<Job>.fromOpaque(context!).takeRetainedValue().body()
            return nil
        }, job)
        threads.append(thread)
    }
    for thread in threads { pthread_join(thread, nil) }
}

// MARK: Operation builders

func put(_ collection: String, _ id: String, _ json: String, _ precondition: Precondition = .none) -> WriteOperation {
    .put(collection: collection, id: id, contentType: "application/json", body: Array(json.utf8), isJSON: true, precondition: precondition)
}

func putRaw(_ collection: String, _ id: String, _ bytes: [UInt8], contentType: String = "application/octet-stream") -> WriteOperation {
    .put(collection: collection, id: id, contentType: contentType, body: bytes, isJSON: false, precondition: .none)
}

func patch(_ collection: String, _ id: String, _ json: String, _ precondition: Precondition = .none) -> WriteOperation {
    .patch(collection: collection, id: id, patch: Array(json.utf8), precondition: precondition)
}

func delete(_ collection: String, _ id: String, _ precondition: Precondition = .none) -> WriteOperation {
    .delete(collection: collection, id: id, precondition: precondition)
}
