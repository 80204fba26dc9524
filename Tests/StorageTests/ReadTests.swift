import JSON
import Storage
import Synchronization
import XCTest

final class ReadTests: StoreTestCase {
    /// More reading threads than pooled connections, while the committer keeps writing: every
    /// read succeeds and sees a consistent, monotonic state.
    func testReadersShareABoundedPoolWhileWritesContinue() throws {
        let store = try openStore(configuration { $0.readerPoolSize = 2 })
        _ = try apply(store, put("r", "counter", #"{"n": 0}"#))
        let failures = Mutex<[String]>([])
        let writing = Atomic(true)
        let writer = Gate()
        DetachedThread.run {
            var n = 0
            while writing.load(ordering: .relaxed) {
                n += 1
                let done = Gate()
                let command = WriteCommand(operations: [put("r", "counter", #"{"n": \#(n)}"#), put("r", "d\(n)", "{}")], timestampMilliseconds: 1)
                if store.submit(command, completion: { _ in done.open() }) { done.wait() }
            }
            writer.open()
        }
        runConcurrently(6) { thread in
            var lastRev: UInt64 = 0
            for _ in 0..<500 {
                do {
                    guard let document = try store.document(collection: "r", id: "counter") else {
                        failures.withLock { $0.append("counter missing") }
                        continue
                    }
                    if document.rev < lastRev { failures.withLock { $0.append("rev went back") } }
                    lastRev = document.rev
                    if thread % 2 == 0 {
                        let page = try store.query(collection: "r", DocumentQuery(limit: 5))
                        if page.documents.isEmpty { failures.withLock { $0.append("empty page") } }
                    }
                } catch {
                    failures.withLock { $0.append("\(error)") }
                }
            }
        }
        writing.store(false, ordering: .relaxed)
        writer.wait()
        XCTAssertEqual(failures.withLock { $0 }, [])
        XCTAssertGreaterThan(try XCTUnwrap(store.document(collection: "r", id: "counter")).rev, 1)
    }

    func testReadsAfterCloseFail() throws {
        let store = try openStore()
        _ = try apply(store, put("r", "x", "{}"))
        store.close()
        for read in [{ _ = try store.document(collection: "r", id: "x") }, { _ = try store.collections() },
                     { _ = try store.query(collection: "r", DocumentQuery()) }, { _ = try store.backup(to: self.directory + "/b") }] {
            XCTAssertThrowsError(try read()) { error in
                guard case .closed = error as? StorageError else { return XCTFail("\(error)") }
            }
        }
    }
}
