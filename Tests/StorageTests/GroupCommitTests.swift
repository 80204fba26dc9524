import Glibc
import SQLite
import Storage
import Synchronization
import XCTest

final class GroupCommitTests: StoreTestCase {
    /// Completions collected from many threads.
    final class Completions: Sendable {
        let results = Mutex<[Int: [Result<CommandResult, StorageError>]]>([:])

        func record(_ key: Int, _ result: Result<CommandResult, StorageError>) {
            results.withLock { $0[key, default: []].append(result) }
        }

        var snapshot: [Int: [Result<CommandResult, StorageError>]] { results.withLock { $0 } }
    }

    func testConcurrentSubmissionsAreGroupCommittedWithUniqueIncreasingIndexes() throws {
        let store = try openStore()
        let observed = Mutex<[UInt64]>([])
        store.onApplied { index in observed.withLock { $0.append(index) } }
        let release = stallCommitter(store)
        let start = store.appliedIndex
        let completions = Completions()
        let threads = 5, perThread = 100
        runConcurrently(threads) { thread in
            for n in 0..<perThread {
                let key = thread * perThread + n
                let command = WriteCommand(operations: [put("batch", "d\(key)", #"{"n": \#(key)}"#)], timestampMilliseconds: 7)
                XCTAssertTrue(store.submit(command) { completions.record(key, $0) })
            }
        }
        XCTAssertEqual(store.statistics.queueDepth, threads * perThread)
        release()
        store.close()  // drains

        let results = completions.snapshot
        XCTAssertEqual(results.count, threads * perThread)
        var indexes: [UInt64] = []
        for (key, calls) in results {
            XCTAssertEqual(calls.count, 1, "completion for \(key) called once")
            let result = try XCTUnwrap(calls.first).get()
            XCTAssertEqual(result.outcomes.count, 1)
            let written = try self.written(XCTUnwrap(result.outcomes.first))
            XCTAssertEqual(written.id, "d\(key)")
            XCTAssertTrue(written.created)
            indexes.append(result.index)
        }
        XCTAssertEqual(Set(indexes).count, indexes.count, "indexes are unique")
        XCTAssertEqual(indexes.sorted(), Array(start + 1...start + UInt64(threads * perThread)), "indexes are consecutive")

        let statistics = store.statistics
        XCTAssertEqual(statistics.commandsCommitted, UInt64(threads * perThread) + 1)
        XCTAssertLessThan(statistics.batchesCommitted, 4, "the stalled commands form one batch (plus the stall)")
        XCTAssertEqual(statistics.batchSizes.count, statistics.batchesCommitted)
        XCTAssertEqual(statistics.batchSizes.sum, statistics.commandsCommitted)
        XCTAssertEqual(statistics.batchSizes.cumulativeCounts.last, statistics.batchesCommitted)
        XCTAssertEqual(statistics.batchSizes.cumulativeCounts.first, 1, "only the stall commits alone")
        XCTAssertEqual(statistics.appliedIndex, start + UInt64(threads * perThread))
        XCTAssertEqual(observed.withLock { $0 }.last, statistics.appliedIndex)
        XCTAssertEqual(observed.withLock { $0 }, observed.withLock { $0 }.sorted())

        let reopened = try openStore()
        XCTAssertEqual(reopened.appliedIndex, start + UInt64(threads * perThread), "applied index persisted")
        XCTAssertEqual(try reopened.document(collection: "batch", id: "d499")?.rev, 1)
        let next = try apply(reopened, WriteCommand(operations: [put("batch", "after", "{}")], timestampMilliseconds: 1))
        XCTAssertEqual(next.index, reopened.appliedIndex)
        XCTAssertEqual(next.index, start + UInt64(threads * perThread) + 1, "indexes continue after reopening")
    }

    func testFreeRunningConcurrentWritersBatch() throws {
        let store = try openStore()
        let completions = Completions()
        runConcurrently(8) { thread in
            for n in 0..<100 {
                let command = WriteCommand(operations: [put("free", "t\(thread)-\(n)", "{}")], timestampMilliseconds: 1)
                while !store.submit(command, completion: { completions.record(thread * 100 + n, $0) }) {}
            }
        }
        store.close()
        XCTAssertEqual(completions.snapshot.count, 800)
        XCTAssertEqual(store.statistics.commandsCommitted, 800)
        XCTAssertLessThan(store.statistics.batchesCommitted, 800, "group commit batched some commands")
    }

    func testMaxBatchBoundsABatch() throws {
        let store = try openStore(configuration { $0.maxBatch = 8 })
        let release = stallCommitter(store)
        let completions = Completions()
        for key in 0..<20 {
            XCTAssertTrue(store.submit(WriteCommand(operations: [put("m", "\(key)", "{}")], timestampMilliseconds: 1)) { completions.record(key, $0) })
        }
        release()
        store.close()
        XCTAssertEqual(completions.snapshot.count, 20)
        XCTAssertEqual(store.statistics.batchesCommitted, 4, "stall + 8 + 8 + 4")
        XCTAssertEqual(store.statistics.batchSizes.cumulativeCounts[3], 4, "every batch ≤ 8")
        XCTAssertEqual(store.statistics.batchSizes.cumulativeCounts[2], 2, "two batches ≤ 4: the stall and the last")
    }

    func testFullQueueRefusesWithoutCallingTheCompletion() throws {
        let store = try openStore(configuration { $0.writeQueueCapacity = 4 })
        let release = stallCommitter(store)
        let completions = Completions()
        for key in 0..<4 {
            XCTAssertTrue(store.submit(WriteCommand(operations: [put("q", "\(key)", "{}")], timestampMilliseconds: 1)) { completions.record(key, $0) })
        }
        XCTAssertFalse(store.submit(WriteCommand(operations: [put("q", "refused", "{}")], timestampMilliseconds: 1)) { completions.record(99, $0) })
        XCTAssertEqual(store.statistics.queueDepth, 4)
        XCTAssertEqual(store.statistics.queueCapacity, 4)
        release()
        store.close()
        XCTAssertEqual(completions.snapshot.keys.sorted(), [0, 1, 2, 3])
        XCTAssertNil(try? store.document(collection: "q", id: "refused"))
    }

    func testCloseDrainsQueuedCommandsThenRefuses() throws {
        let store = try openStore()
        let release = stallCommitter(store)
        let completions = Completions()
        for key in 0..<50 {
            XCTAssertTrue(store.submit(WriteCommand(operations: [put("drain", "\(key)", "{}")], timestampMilliseconds: 1)) { completions.record(key, $0) })
        }
        release()
        store.close()
        XCTAssertEqual(completions.snapshot.count, 50)
        XCTAssertTrue(completions.snapshot.values.allSatisfy { (try? $0.first?.get()) != nil })
        XCTAssertFalse(store.submit(WriteCommand(operations: [put("drain", "late", "{}")], timestampMilliseconds: 1)) { _ in XCTFail("called") })
        store.close()  // idempotent
        XCTAssertThrowsError(try store.document(collection: "drain", id: "1")) { XCTAssertEqual("\($0)", "\(StorageError.closed)") }

        let reopened = try openStore()
        XCTAssertEqual(try reopened.collections().first { $0.name == "drain" }?.count, 50)
    }

    /// A SQLite error in the middle of a batch (a trigger another connection installed aborts
    /// one insert) rolls the whole batch back; the error reaches every completion.
    func testASQLiteErrorMidBatchRollsBackEntirely() throws {
        let store = try openStore()
        _ = try apply(store, put("c", "before", "{}"))
        let external = try Connection(path: databasePath)
        try external.setBusyTimeout(milliseconds: 5_000)
        try external.execute("""
            CREATE TRIGGER poison BEFORE INSERT ON documents WHEN NEW.id = 'poison'
            BEGIN SELECT RAISE(ABORT, 'injected failure'); END
            """)
        let before = store.appliedIndex
        let release = stallCommitter(store)
        let completions = Completions()
        let failed = expectation(description: "batch completed")
        failed.expectedFulfillmentCount = 3
        for (key, id) in ["first", "poison", "third"].enumerated() {
            XCTAssertTrue(store.submit(WriteCommand(operations: [put("c", id, "{}")], timestampMilliseconds: 1)) {
                completions.record(key, $0)
                failed.fulfill()
            })
        }
        release()
        wait(for: [failed], timeout: 10)
        for (_, calls) in completions.snapshot {
            guard case let .failure(.sqlite(error)) = calls.first else { return XCTFail("\(calls)") }
            XCTAssertEqual(error.code, .constraint)
            XCTAssertTrue(error.message.contains("injected failure"), error.message)
        }
        XCTAssertNil(try store.document(collection: "c", id: "first"))
        XCTAssertEqual(store.appliedIndex, before + 1, "only the stall committed")

        try external.execute("DROP TRIGGER poison")
        let next = try apply(store, WriteCommand(operations: [put("c", "poison", "{}")], timestampMilliseconds: 1))
        XCTAssertEqual(next.index, before + 2)
        XCTAssertEqual(try store.collections().map { "\($0.name)=\($0.count)" }, ["c=2", "stall=1"])
    }

    /// A batch that fails part-way (here: a PATCH of a document whose stored JSON is broken,
    /// which the caller promised never to store) rolls back entirely: the commands before it in
    /// the batch are not applied, every completion gets the error, and later batches proceed.
    func testAFailingBatchRollsBackEntirely() throws {
        let store = try openStore()
        _ = try apply(store, WriteCommand(operations: [
            .put(collection: "c", id: "broken", contentType: "application/json", body: Array("{not json".utf8), isJSON: true, precondition: .none),
            put("c", "kept", #"{"v": 1}"#),
        ], timestampMilliseconds: 1))
        let before = store.appliedIndex
        let documentsBefore = store.statistics.documentCount

        let release = stallCommitter(store)
        let stalledIndex = before + 1
        let completions = Completions()
        let poisoned: [WriteCommand] = [
            WriteCommand(operations: [put("c", "new", "{}"), delete("c", "kept")], timestampMilliseconds: 2),
            WriteCommand(operations: [patch("c", "broken", #"{"a": 1}"#)], timestampMilliseconds: 2),
            WriteCommand(operations: [put("other", "x", "{}")], timestampMilliseconds: 2),
        ]
        let failed = expectation(description: "poisoned batch completed")
        failed.expectedFulfillmentCount = poisoned.count
        for (key, command) in poisoned.enumerated() {
            XCTAssertTrue(store.submit(command) {
                completions.record(key, $0)
                failed.fulfill()
            })
        }
        release()
        wait(for: [failed], timeout: 10)
        let after = try apply(store, WriteCommand(operations: [put("c", "later", "{}")], timestampMilliseconds: 3))

        XCTAssertEqual(completions.snapshot.count, 3)
        for (_, calls) in completions.snapshot {
            XCTAssertEqual(calls.count, 1)
            guard case let .failure(error) = calls[0], case .corrupt = error else { return XCTFail("\(calls)") }
        }
        XCTAssertNil(try store.document(collection: "c", id: "new"), "earlier command of the failed batch not applied")
        XCTAssertNotNil(try store.document(collection: "c", id: "kept"))
        XCTAssertNil(try store.document(collection: "other", id: "x"))
        XCTAssertEqual(after.index, stalledIndex + 1, "the failed batch consumed no index")
        XCTAssertEqual(store.statistics.batchesFailed, 1)
        XCTAssertEqual(store.statistics.commandsFailed, 3)
        XCTAssertEqual(store.statistics.documentCount, documentsBefore + 2, "stall + later")
        XCTAssertEqual(try store.collections().map { "\($0.name)=\($0.count)" }, ["c=3", "stall=1"])
    }
}
