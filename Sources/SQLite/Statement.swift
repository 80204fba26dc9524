import CShims
import CSQLite

/// A prepared statement. Owns its `sqlite3_stmt` and finalizes it in `deinit`, on every path.
///
/// Use it on one thread at a time, like its connection (which may be closed before the
/// statement goes away: `sqlite3_close_v2` waits for the last statement). Parameter and column
/// indexes follow SQLite: parameters count from 1, columns from 0.
///
/// After a statement returned rows, call ``reset()`` (or use ``Connection/cached(_:)``, which
/// does) so it stops holding a read snapshot open.
public final class Statement: @unchecked Sendable {
    let handle: OpaquePointer
    /// The SQL text the statement was prepared from.
    public let sql: String
    /// What is bound, by parameter (index 0 unused), kept only to describe a failure.
    private var bound: [Binding?]

    private enum Binding {
        case value(Value)
        case text(String)
        case textBytes(Int)
        case blob(Int)

        var description: String {
            switch self {
            case let .value(value): value.description
            case let .text(text): Value.text(text).description
            case let .textBytes(count): "<text \(count) bytes>"
            case let .blob(count): "<blob \(count) bytes>"
            }
        }
    }

    init(database: OpaquePointer, sql: String, persistent: Bool) throws(Error) {
        var statement: OpaquePointer? = nil
        let flags = UInt32(persistent ? SQLITE_PREPARE_PERSISTENT : 0)
        var trailing = false
        let code = sql.withCString { text in
            var tail: UnsafePointer<CChar>? = nil
            let code = sqlite3_prepare_v3(database, text, -1, flags, &statement, &tail)
            while let current = tail, current.pointee != 0 {
                let byte = UInt8(bitPattern: current.pointee)
                if byte != UInt8(ascii: ";") && byte != UInt8(ascii: " ") && !(9...13).contains(byte) {
                    trailing = true
                    break
                }
                tail = current + 1
            }
            return code
        }
        guard code == SQLITE_OK else {
            sqlite3_finalize(statement)  // NULL after a failure; finalizing NULL is a no-op
            throw Error(code: code, connection: database, sql: sql)
        }
        guard let statement else {
            throw Error(code: .misuse, message: "no SQL statement (empty text or only a comment)", sql: sql)
        }
        guard !trailing else {
            sqlite3_finalize(statement)
            throw Error(code: .misuse, message: "more than one statement (use execute for scripts)", sql: sql)
        }
        self.handle = statement
        self.sql = sql
        self.bound = Array(repeating: nil, count: Int(sqlite3_bind_parameter_count(statement)) + 1)
    }

    deinit {
        // The return value repeats the last step's error, already reported by `step()`.
        sqlite3_finalize(handle)
    }

    private var database: OpaquePointer? { sqlite3_db_handle(handle) }

    /// Number of `?` parameters.
    public var parameterCount: Int32 { sqlite3_bind_parameter_count(handle) }

    /// The currently bound values, for error reports (`[1: 42, 2: 'abc']`).
    public var argumentsDescription: String? {
        let parts = bound.indices.compactMap { index in bound[index].map { "\(index): \($0.description)" } }
        return parts.isEmpty ? nil : "[" + parts.joined(separator: ", ") + "]"
    }

    private func record(_ binding: Binding, at index: Int32) {
        if index > 0, Int(index) < bound.count { bound[Int(index)] = binding }
    }

    private func check(_ code: Int32, binding index: Int32) throws(Error) {
        guard code == SQLITE_OK else {
            throw Error(code: code, connection: database, sql: sql, arguments: "binding parameter \(index); \(argumentsDescription ?? "[]")")
        }
    }

    // MARK: Binding

    public func bind(_ value: Int64, at index: Int32) throws(Error) {
        record(.value(.integer(value)), at: index)
        try check(sqlite3_bind_int64(handle, index, value), binding: index)
    }

    public func bind(_ value: Int, at index: Int32) throws(Error) { try bind(Int64(value), at: index) }

    public func bind(_ value: Double, at index: Int32) throws(Error) {
        record(.value(.real(value)), at: index)
        try check(sqlite3_bind_double(handle, index, value), binding: index)
    }

    /// Binds text (copied by SQLite).
    public func bind(_ value: String, at index: Int32) throws(Error) {
        record(.text(value), at: index)
        var value = value
        let code = value.withUTF8 { utf8 in
            utf8.withMemoryRebound(to: CChar.self) { bindText($0, at: index) }
        }
        try check(code, binding: index)
    }

    /// Binds UTF-8 bytes as text (copied by SQLite). The caller guarantees they are valid UTF-8.
    public func bind(utf8Text bytes: [UInt8], at index: Int32) throws(Error) {
        record(.textBytes(bytes.count), at: index)
        let code = bytes.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { bindText($0, at: index) }
        }
        try check(code, binding: index)
    }

    /// Binds text from a buffer (copied). An empty buffer may have no address, and SQLite
    /// needs a non-NULL pointer for '' (NULL would bind SQL NULL).
    private func bindText(_ text: UnsafeBufferPointer<CChar>, at index: Int32) -> Int32 {
        guard let base = text.baseAddress, !text.isEmpty else {
            return sqlite3_bind_text(handle, index, "", 0, machdb_sqlite_transient())
        }
        return sqlite3_bind_text64(handle, index, base, UInt64(text.count), machdb_sqlite_transient(), UInt8(SQLITE_UTF8))
    }

    /// Binds bytes as a blob (copied by SQLite). An empty array binds a zero-length blob, not NULL.
    public func bind(blob bytes: [UInt8], at index: Int32) throws(Error) {
        record(.blob(bytes.count), at: index)
        let code = bytes.withUnsafeBytes { raw in
            if let base = raw.baseAddress {
                sqlite3_bind_blob64(handle, index, base, UInt64(raw.count), machdb_sqlite_transient())
            } else {
                sqlite3_bind_zeroblob(handle, index, 0)
            }
        }
        try check(code, binding: index)
    }

    public func bindNull(at index: Int32) throws(Error) {
        record(.value(.null), at: index)
        try check(sqlite3_bind_null(handle, index), binding: index)
    }

    public func bind(_ value: Value, at index: Int32) throws(Error) {
        switch value {
        case .null: try bindNull(at: index)
        case let .integer(value): try bind(value, at: index)
        case let .real(value): try bind(value, at: index)
        case let .text(value): try bind(value, at: index)
        case let .blob(value): try bind(blob: value, at: index)
        }
    }

    /// Binds `values` to parameters 1, 2, ... in order.
    public func bind(_ values: [Value]) throws(Error) {
        for (offset, value) in values.enumerated() { try bind(value, at: Int32(offset + 1)) }
    }

    /// Sets every parameter back to NULL.
    public func clearBindings() {
        for index in bound.indices { bound[index] = nil }
        sqlite3_clear_bindings(handle)  // always SQLITE_OK
    }

    // MARK: Running

    /// Runs to the next row: true when a row is available, false when done.
    public func step() throws(Error) -> Bool {
        let code = sqlite3_step(handle)
        switch code {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default: throw Error(code: code, connection: database, sql: sql, arguments: argumentsDescription)
        }
    }

    /// Steps through every row, ignoring them (for statements that return none).
    public func run() throws(Error) {
        while try step() {}
    }

    /// Rewinds the statement (bindings are kept) and releases any read snapshot it holds.
    /// The code `sqlite3_reset` returns repeats the last step's error, already thrown by `step()`.
    public func reset() {
        sqlite3_reset(handle)
    }

    /// True while the statement is mid-way through its rows.
    public var isBusy: Bool { sqlite3_stmt_busy(handle) != 0 }

    /// Fresh state for reuse: reset and every parameter NULL.
    func prepareForReuse() {
        reset()
        clearBindings()
    }

    // MARK: Columns

    public var columnCount: Int32 { sqlite3_column_count(handle) }

    public func columnName(at index: Int32) -> String {
        sqlite3_column_name(handle, index).map { String(cString: $0) } ?? ""
    }

    public func type(at index: Int32) -> ColumnType {
        switch sqlite3_column_type(handle, index) {
        case SQLITE_INTEGER: .integer
        case SQLITE_FLOAT: .real
        case SQLITE_TEXT: .text
        case SQLITE_BLOB: .blob
        default: .null
        }
    }

    public func isNull(at index: Int32) -> Bool { sqlite3_column_type(handle, index) == SQLITE_NULL }

    public func int64(at index: Int32) -> Int64 { sqlite3_column_int64(handle, index) }

    public func int(at index: Int32) -> Int { Int(sqlite3_column_int64(handle, index)) }

    public func double(at index: Int32) -> Double { sqlite3_column_double(handle, index) }

    /// The column as UTF-8 text ("" for NULL).
    public func text(at index: Int32) -> String {
        guard let text = sqlite3_column_text(handle, index) else { return "" }
        let count = Int(sqlite3_column_bytes(handle, index))
        return String(decoding: UnsafeBufferPointer(start: text, count: count), as: UTF8.self)
    }

    /// The column's text bytes, exactly as stored ([] for NULL).
    public func textBytes(at index: Int32) -> [UInt8] {
        guard let text = sqlite3_column_text(handle, index) else { return [] }
        let count = Int(sqlite3_column_bytes(handle, index))
        return Array(UnsafeBufferPointer(start: text, count: count))
    }

    /// The column's blob bytes ([] for NULL or an empty blob).
    public func blob(at index: Int32) -> [UInt8] {
        guard let blob = sqlite3_column_blob(handle, index) else { return [] }
        let count = Int(sqlite3_column_bytes(handle, index))
        return Array(UnsafeRawBufferPointer(start: blob, count: count))
    }

    /// The column as a dynamically typed value.
    public func value(at index: Int32) -> Value {
        switch type(at: index) {
        case .null: .null
        case .integer: .integer(int64(at: index))
        case .real: .real(double(at: index))
        case .text: .text(text(at: index))
        case .blob: .blob(blob(at: index))
        }
    }
}
