import Glibc
import SQLite
import XCTest

final class SQLiteTests: XCTestCase {
    private var directory = ""

    override func setUpWithError() throws {
        var template = Array("/tmp/machdb-sqlite-XXXXXX".utf8CString)
        let created = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        directory = String(cString: try XCTUnwrap(created))
    }

    override func tearDownWithError() throws {
        if let entries = opendir(directory) {
            while let entry = readdir(entries) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                if name != "." && name != ".." { unlink(directory + "/" + name) }
            }
            closedir(entries)
        }
        rmdir(directory)
    }

    private func open(_ name: String = "test.sqlite") throws -> Connection {
        try Connection(path: directory + "/" + name)
    }

    /// Runs `body`, expecting a `SQLite.Error`, and returns it.
    private func expectError(_ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) -> SQLite.Error? {
        do {
            try body()
            XCTFail("expected an error", file: file, line: line)
            return nil
        } catch let error as SQLite.Error {
            return error
        } catch {
            XCTFail("unexpected error \(error)", file: file, line: line)
            return nil
        }
    }

    // MARK: Errors

    func testSyntaxErrorCarriesSQLAndCode() throws {
        let db = try open()
        let error = expectError { _ = try db.prepare("SELEC 1") }
        XCTAssertEqual(error?.code, .error)
        XCTAssertEqual(error?.sql, "SELEC 1")
        XCTAssertTrue(error?.message.contains("syntax error") ?? false, error?.message ?? "")
        XCTAssertTrue(error?.description.contains("SELEC 1") ?? false)

        let multi = expectError { try db.execute("CREATE TABLE t(x); INSERT INTO nowhere VALUES (1)") }
        XCTAssertEqual(multi?.code, .error)
        XCTAssertTrue(multi?.message.contains("no such table: nowhere") ?? false, multi?.message ?? "")
        XCTAssertEqual(multi?.sql, "CREATE TABLE t(x); INSERT INTO nowhere VALUES (1)")
    }

    func testConstraintViolationCarriesExtendedCodeAndArguments() throws {
        let db = try open()
        try db.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)")
        let insert = try db.prepare("INSERT INTO t(name) VALUES (?1)")
        try insert.bind("alice", at: 1)
        try insert.run()
        insert.reset()
        let error = expectError { try insert.run() }
        XCTAssertEqual(error?.code, .constraint)
        XCTAssertEqual(error?.extendedCode, .constraintUnique)
        XCTAssertEqual(error?.sql, "INSERT INTO t(name) VALUES (?1)")
        XCTAssertEqual(error?.arguments, "[1: 'alice']")
        XCTAssertTrue(error?.message.contains("UNIQUE constraint failed: t.name") ?? false)

        let notNull = try db.prepare("INSERT INTO t(name) VALUES (?1)")
        try notNull.bindNull(at: 1)
        XCTAssertEqual(expectError { try notNull.run() }?.extendedCode, .constraintNotNull)
    }

    func testBindOutOfRangeAndOpenFailureAreReported() throws {
        let db = try open()
        let statement = try db.prepare("SELECT ?1")
        let error = expectError { try statement.bind(Int64(1), at: 2) }
        XCTAssertEqual(error?.code, .range)
        XCTAssertEqual(error?.sql, "SELECT ?1")

        let missing = expectError { _ = try Connection(path: directory + "/no/such/dir/x.sqlite") }
        XCTAssertEqual(missing?.code, .cantOpen)
        XCTAssertTrue(missing?.message.contains("/no/such/dir/x.sqlite") ?? false)
        let readOnly = expectError { _ = try Connection(path: directory + "/absent.sqlite", mode: .readOnly) }
        XCTAssertEqual(readOnly?.code, .cantOpen)
    }

    func testPrepareTakesExactlyOneStatement() throws {
        let db = try open()
        XCTAssertNoThrow(try db.prepare("SELECT 1;  \n"))
        let two = expectError { _ = try db.prepare("SELECT 1; SELECT 2") }
        XCTAssertEqual(two?.code, .misuse)
        XCTAssertTrue(two?.message.contains("more than one statement") ?? false)
        XCTAssertEqual(expectError { _ = try db.prepare("  ") }?.code, .misuse)
        XCTAssertEqual(db.unfinalizedStatementCount, 0)
    }

    func testValueDescriptionsAreShortAndQuoted() {
        XCTAssertEqual(Value.text("it's").description, "'it''s'")
        XCTAssertEqual(Value.blob([1, 2, 3]).description, "<blob 3 bytes>")
        let long = Value.text(String(repeating: "x", count: 100)).description
        XCTAssertTrue(long.hasSuffix("…(100 bytes)"), long)
        XCTAssertEqual(Value.null.description, "NULL")
    }

    // MARK: Lifetimes

    func testStatementsAreFinalizedOnEveryPath() throws {
        let db = try open()
        try db.execute("CREATE TABLE t(x INTEGER UNIQUE)")
        XCTAssertEqual(db.unfinalizedStatementCount, 0)

        func happy() throws {
            let statement = try db.prepare("INSERT INTO t VALUES (1)")
            try statement.run()
            let select = try db.prepare("SELECT x FROM t")
            XCTAssertTrue(try select.step())  // left mid-iteration on purpose
            XCTAssertEqual(db.unfinalizedStatementCount, 2)
        }
        func throwingBind() throws {
            let statement = try db.prepare("SELECT ?1")
            try statement.bind("x", at: 7)
        }
        func throwingStep() throws {
            let statement = try db.prepare("INSERT INTO t VALUES (1)")
            try statement.run()
        }
        try happy()
        XCTAssertEqual(db.unfinalizedStatementCount, 0)
        XCTAssertThrowsError(try throwingBind())
        XCTAssertEqual(db.unfinalizedStatementCount, 0)
        XCTAssertThrowsError(try throwingStep())
        XCTAssertEqual(db.unfinalizedStatementCount, 0)
        XCTAssertThrowsError(try db.prepare("NOT SQL"))
        XCTAssertEqual(db.unfinalizedStatementCount, 0)

        _ = try db.cached("SELECT 1")
        _ = try db.cached("SELECT 2")
        XCTAssertEqual(db.unfinalizedStatementCount, 2)
        db.clearStatementCache()
        XCTAssertEqual(db.unfinalizedStatementCount, 0)
    }

    func testStatementMayOutliveItsConnection() throws {
        var db: Connection? = try open()
        let statement = try db!.prepare("SELECT 42")
        db = nil  // close is deferred until the statement is finalized
        XCTAssertTrue(try statement.step())
        XCTAssertEqual(statement.int64(at: 0), 42)
    }

    func testStatementCacheResetsClearsAndEvicts() throws {
        let db = try Connection(path: directory + "/cache.sqlite", statementCacheCapacity: 2)
        let first = try db.cached("SELECT ?1")
        try first.bind(Int64(5), at: 1)
        XCTAssertTrue(try first.step())
        let again = try db.cached("SELECT ?1")
        XCTAssertTrue(first === again)
        XCTAssertFalse(again.isBusy)
        XCTAssertTrue(try again.step())
        XCTAssertTrue(again.isNull(at: 0), "bindings are cleared")
        _ = try db.cached("SELECT 2")
        _ = try db.cached("SELECT ?1")  // refresh: "SELECT 2" becomes the oldest
        _ = try db.cached("SELECT 3")
        XCTAssertEqual(db.cachedStatementCount, 2)
        XCTAssertTrue(try db.cached("SELECT ?1") === first, "recently used entry kept")
    }

    // MARK: Values

    func testTextBlobAndNumberRoundTrip() throws {
        let db = try open()
        try db.execute("CREATE TABLE t(i INTEGER, r REAL, s TEXT, b BLOB, u TEXT)")
        let insert = try db.prepare("INSERT INTO t VALUES (?1, ?2, ?3, ?4, ?5)")
        let text = "héllo \u{1F600} \"quoted\" 'single'\nline\u{0}after-nul"
        let blob: [UInt8] = [0, 1, 2, 0xFF, 0, 0x80]
        let utf8: [UInt8] = Array("{\"a\": [1, 2.5, \"ü\"]}".utf8)
        let rows: [(Int64, Double, String, [UInt8], [UInt8])] = [
            (Int64.min, -0.5, text, blob, utf8),
            (Int64.max, 1e300, "", [], []),
        ]
        for row in rows {
            insert.reset()
            try insert.bind(row.0, at: 1)
            try insert.bind(row.1, at: 2)
            try insert.bind(row.2, at: 3)
            try insert.bind(blob: row.3, at: 4)
            try insert.bind(utf8Text: row.4, at: 5)
            try insert.run()
        }
        let select = try db.prepare("SELECT i, r, s, b, u, typeof(s), typeof(b), typeof(u) FROM t ORDER BY rowid")
        for row in rows {
            XCTAssertTrue(try select.step())
            XCTAssertEqual(select.int64(at: 0), row.0)
            XCTAssertEqual(select.double(at: 1), row.1)
            XCTAssertEqual(select.text(at: 2), row.2)
            XCTAssertEqual(select.blob(at: 3), row.3)
            XCTAssertEqual(select.textBytes(at: 4), row.4)
            XCTAssertEqual(select.text(at: 5), "text", "empty text is text, not NULL")
            XCTAssertEqual(select.text(at: 6), "blob", "empty blob is a blob, not NULL")
            XCTAssertEqual(select.text(at: 7), "text")
            XCTAssertEqual(select.type(at: 0), .integer)
            XCTAssertEqual(select.type(at: 1), .real)
            XCTAssertEqual(select.type(at: 3), .blob)
        }
        XCTAssertFalse(try select.step())

        let dynamic = try db.prepare("SELECT ?1, ?2, ?3, ?4, ?5")
        let values: [Value] = [.null, .integer(-7), .real(2.25), .text("x"), .blob([9])]
        try dynamic.bind(values)
        XCTAssertTrue(try dynamic.step())
        XCTAssertEqual((0..<5).map { dynamic.value(at: Int32($0)) }, values)
        XCTAssertTrue(dynamic.isNull(at: 0))
    }

    // MARK: Transactions

    private struct Boom: Swift.Error {}

    func testTransactionRollsBackOnThrowAndCommitsOtherwise() throws {
        let db = try open()
        try db.execute("CREATE TABLE t(x)")
        XCTAssertThrowsError(try db.transaction(.immediate) {
            try db.execute("INSERT INTO t VALUES (1)")
            throw Boom()
        }) { XCTAssertTrue($0 is Boom) }
        XCTAssertFalse(db.isInTransaction)
        XCTAssertEqual(try db.scalarInt64("SELECT count(*) FROM t"), 0)

        let changed = try db.transaction {
            try db.execute("INSERT INTO t VALUES (1), (2)")
            return db.changes
        }
        XCTAssertEqual(changed, 2)
        XCTAssertEqual(try db.scalarInt64("SELECT count(*) FROM t"), 2)
        XCTAssertEqual(db.lastInsertRowID, 2)

        try db.begin()
        try db.execute("DELETE FROM t")
        try db.rollback()
        try db.rollback()  // no transaction: a no-op
        XCTAssertEqual(try db.scalarInt64("SELECT count(*) FROM t"), 2)

        // A failing statement inside rolls back the whole transaction.
        try db.execute("CREATE UNIQUE INDEX tx ON t(x)")
        XCTAssertThrowsError(try db.transaction {
            try db.execute("INSERT INTO t VALUES (3)")
            try db.execute("INSERT INTO t VALUES (1)")
        }) { XCTAssertEqual(($0 as? SQLite.Error)?.code, .constraint) }
        XCTAssertEqual(try db.scalarInt64("SELECT count(*) FROM t"), 2)
    }

    // MARK: Progress and interrupt

    private static let endless = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n"

    func testProgressHandlerAbortsALongQuery() throws {
        let db = try open()
        let start = ContinuousClock.now
        var calls = 0
        db.setProgressHandler(every: 1000) {
            calls += 1
            return ContinuousClock.now - start > .milliseconds(50)
        }
        let error = expectError { _ = try db.scalarInt64(Self.endless) }
        XCTAssertEqual(error?.code, .interrupt)
        XCTAssertGreaterThan(calls, 1)
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(5))

        db.removeProgressHandler()
        XCTAssertEqual(try db.scalarInt64("SELECT count(*) FROM (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000) SELECT i FROM n)"), 100_000)
    }

    func testInterruptFromAnotherThread() throws {
        let db = try open()
        let interrupter = Thread { [db] in
            usleep(50_000)
            db.interrupt()
        }
        interrupter.start()
        XCTAssertEqual(expectError { _ = try db.scalarInt64(Self.endless) }?.code, .interrupt)
    }

    // MARK: Copies

    func testBackupAndVacuumIntoCopyTheDatabase() throws {
        let db = try open()
        try db.execute("PRAGMA journal_mode=WAL; CREATE TABLE t(x); INSERT INTO t VALUES (1), (2), (3)")
        try db.backup(into: directory + "/backup.sqlite")
        try db.vacuum(into: directory + "/vacuum.sqlite")
        for name in ["backup.sqlite", "vacuum.sqlite"] {
            let copy = try Connection(path: directory + "/" + name, mode: .readOnly)
            XCTAssertEqual(try copy.scalarInt64("SELECT sum(x) FROM t"), 6, name)
            XCTAssertEqual(try copy.scalarText("PRAGMA integrity_check"), "ok")
        }
        XCTAssertNotNil(expectError { try db.vacuum(into: directory + "/vacuum.sqlite") }, "VACUUM INTO refuses an existing file")
    }
}

/// A minimal thread for tests (Foundation-free).
private final class Thread: @unchecked Sendable {
    private let body: @Sendable () -> Void
    private var thread = pthread_t()

    init(_ body: @escaping @Sendable () -> Void) { self.body = body }

    func start() {
        let context = Unmanaged.passRetained(self).toOpaque()
        pthread_create(&thread, nil, { context in
            let this = Unmanaged<Thread>.fromOpaque(context!).takeRetainedValue()
            this.body()
            return nil
        }, context)
        pthread_detach(thread)
    }
}
