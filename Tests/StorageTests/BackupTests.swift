import Glibc
import JSON
import Storage
import Synchronization
import XCTest

final class BackupTests: StoreTestCase {
    private func allDocuments(_ store: Store, _ collection: String) throws -> [StoredDocument] {
        var documents: [StoredDocument] = []
        var after: String? = nil
        repeat {
            let page = try store.query(collection: collection, DocumentQuery(limit: 1000, after: after))
            documents += page.documents
            after = page.next
        } while after != nil
        return documents
    }

    func testBackupThenRestoreGivesIdenticalContent() throws {
        let store = try openStore()
        _ = try apply(store, put("a", "1", #"{"x": 1}"#), put("a", "2", #" [1, 2] "#), putRaw("b", "bin", [0, 1, 2, 255]), time: 10)
        _ = try apply(store, delete("a", "2"), patch("a", "1", #"{"y": true}"#), time: 20)
        _ = try apply(store, put("c", "gone", "{}"), delete("c", "gone"), time: 30)

        let backupPath = directory + "/backup.sqlite"
        let index = try store.backup(to: backupPath)
        XCTAssertEqual(index, store.appliedIndex)
        XCTAssertFalse(FileManagerless.exists(backupPath + "-wal"), "a standalone file")
        _ = try apply(store, put("a", "after-backup", "{}"))

        mkdir(directory + "/restored", 0o755)
        let restoredPath = directory + "/restored/machdb.sqlite"
        try Store.restore(from: backupPath, to: restoredPath)
        let restored = try openStore(configuration { $0.path = restoredPath })
        XCTAssertEqual(restored.appliedIndex, index)
        XCTAssertEqual(try restored.collections().map { "\($0.name)=\($0.count)" }, ["a=1", "b=1"])
        XCTAssertNil(try restored.document(collection: "a", id: "after-backup"))
        for (collection, id) in [("a", "1"), ("b", "bin")] {
            XCTAssertEqual(try restored.document(collection: collection, id: id), try store.document(collection: collection, id: id))
        }
        XCTAssertEqual(try allDocuments(restored, "a"), try allDocuments(store, "a").filter { $0.id != "after-backup" })
        XCTAssertEqual(restored.statistics.documentCount, 2)
        // Tombstones came along: re-creating continues the rev.
        XCTAssertEqual(try written(write(restored, put("a", "2", "{}"))).rev, 3)
        XCTAssertEqual(restored.appliedIndex, index + 1)
    }

    func testBackupIsAConsistentSnapshotWhileWriting() throws {
        let store = try openStore()
        let base = store.appliedIndex
        let stop = Atomic(false)
        let writer = Gate()
        DetachedThread.run {
            var n = 0
            while !stop.load(ordering: .relaxed) {
                n += 1
                let command = WriteCommand(operations: [put("w", "d\(n)", #"{"n": \#(n)}"#)], timestampMilliseconds: 1)
                _ = store.submit(command) { _ in }
                if n % 50 == 0 { usleep(1_000) }
            }
            writer.open()
        }
        usleep(20_000)
        var indexes: [UInt64] = []
        for round in 0..<3 {
            let path = directory + "/snapshot\(round).sqlite"
            let index = try store.backup(to: path)
            indexes.append(index)
            mkdir(directory + "/r\(round)", 0o755)
            try Store.restore(from: path, to: directory + "/r\(round)/machdb.sqlite")
            let copy = try openStore(configuration { $0.path = self.directory + "/r\(round)/machdb.sqlite" })
            XCTAssertEqual(copy.appliedIndex, index)
            XCTAssertEqual(UInt64(copy.statistics.documentCount), index - base, "one document per command, no more, no less")
            copy.close()
            usleep(5_000)
        }
        stop.store(true, ordering: .relaxed)
        writer.wait()
        XCTAssertEqual(indexes, indexes.sorted())
    }

    func testRestoreRefusesAnExistingTargetAndForeignFiles() throws {
        let store = try openStore()
        _ = try apply(store, put("a", "1", "{}"))
        let backupPath = directory + "/backup.sqlite"
        _ = try store.backup(to: backupPath)

        func expectRefusal(_ from: String, _ to: String, _ fragment: String, line: UInt = #line) {
            XCTAssertThrowsError(try Store.restore(from: from, to: to), line: line) { error in
                guard case let .restoreRefused(detail) = error as? StorageError else { return XCTFail("\(error)", line: line) }
                XCTAssertTrue(detail.contains(fragment), detail, line: line)
            }
        }
        expectRefusal(backupPath, databasePath, "already exists")
        expectRefusal(directory + "/nothing-here", directory + "/new.sqlite", "does not exist")

        let text = directory + "/text.sqlite"
        FileManagerless.write(text, Array(repeating: UInt8(ascii: "x"), count: 8192))
        expectRefusal(text, directory + "/new.sqlite", "not a valid machdb database")

        let empty = directory + "/empty.sqlite"  // a valid, empty SQLite database
        FileManagerless.write(empty, [])
        expectRefusal(empty, directory + "/new.sqlite", "not a machdb database")

        // A machdb backup with a damaged page.
        _ = try apply(store, WriteCommand(operations: (0..<200).map { put("bulk", "\($0)", #"{"pad": "\#(String(repeating: "p", count: 200))"}"#) }, timestampMilliseconds: 1))
        let damaged = directory + "/damaged.sqlite"
        _ = try store.backup(to: damaged)
        var bytes = FileManagerless.read(damaged)
        XCTAssertGreaterThan(bytes.count, 4 * 4096)
        for offset in 2 * 4096 + 100..<3 * 4096 { bytes[offset] = 0xA5 }
        FileManagerless.write(damaged, bytes)
        expectRefusal(damaged, directory + "/new.sqlite", "not a valid machdb database")
        XCTAssertFalse(FileManagerless.exists(directory + "/new.sqlite"), "nothing left behind")
    }

    func testStatisticsReportFileSizes() throws {
        let store = try openStore()
        _ = try apply(store, put("a", "1", "{}"))
        let statistics = store.statistics
        XCTAssertGreaterThan(statistics.databaseBytes, 0)
        XCTAssertEqual(statistics.queueDepth, 0)
        XCTAssertEqual(statistics.queueCapacity, 10_000)
        XCTAssertEqual(statistics.documentCount, 1)
        XCTAssertEqual(BatchSizeHistogram.upperBounds, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024])
    }
}

/// File helpers without Foundation.
enum FileManagerless {
    static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    static func write(_ path: String, _ bytes: [UInt8]) {
        let file = fopen(path, "wb")!
        _ = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
        fclose(file)
    }

    static func read(_ path: String) -> [UInt8] {
        let file = fopen(path, "rb")!
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
            if count == 0 { break }
            bytes += buffer[0..<count]
        }
        return bytes
    }
}

/// Runs a closure on a detached pthread (the tests avoid Foundation and Dispatch).
enum DetachedThread {
    static func run(_ body: @escaping @Sendable () -> Void) {
        final class Job: @unchecked Sendable {
            let body: @Sendable () -> Void
            init(_ body: @escaping @Sendable () -> Void) { self.body = body }
        }
        var thread = pthread_t()
        pthread_create(&thread, nil, { context in
            Unmanaged<Job>.fromOpaque(context!).takeRetainedValue().body()
            return nil
        }, Unmanaged.passRetained(Job(body)).toOpaque())
        pthread_detach(thread)
    }
}
