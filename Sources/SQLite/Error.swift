import CSQLite

/// A SQLite result code (primary or extended), e.g. `SQLITE_CONSTRAINT` or `SQLITE_CONSTRAINT_UNIQUE`.
public struct ResultCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32

    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// The primary code of an extended code (its low 8 bits); a primary code is its own primary.
    public var primary: ResultCode { ResultCode(rawValue: rawValue & 0xFF) }

    /// SQLite's English description of the code (`sqlite3_errstr`).
    public var description: String { String(cString: sqlite3_errstr(rawValue)) }

    public static let ok = ResultCode(rawValue: SQLITE_OK)
    public static let error = ResultCode(rawValue: SQLITE_ERROR)
    public static let `internal` = ResultCode(rawValue: SQLITE_INTERNAL)
    public static let permission = ResultCode(rawValue: SQLITE_PERM)
    public static let abort = ResultCode(rawValue: SQLITE_ABORT)
    public static let busy = ResultCode(rawValue: SQLITE_BUSY)
    public static let locked = ResultCode(rawValue: SQLITE_LOCKED)
    public static let noMemory = ResultCode(rawValue: SQLITE_NOMEM)
    public static let readOnly = ResultCode(rawValue: SQLITE_READONLY)
    public static let interrupt = ResultCode(rawValue: SQLITE_INTERRUPT)
    public static let ioError = ResultCode(rawValue: SQLITE_IOERR)
    public static let corrupt = ResultCode(rawValue: SQLITE_CORRUPT)
    public static let full = ResultCode(rawValue: SQLITE_FULL)
    public static let cantOpen = ResultCode(rawValue: SQLITE_CANTOPEN)
    public static let schema = ResultCode(rawValue: SQLITE_SCHEMA)
    public static let tooBig = ResultCode(rawValue: SQLITE_TOOBIG)
    public static let constraint = ResultCode(rawValue: SQLITE_CONSTRAINT)
    public static let mismatch = ResultCode(rawValue: SQLITE_MISMATCH)
    public static let misuse = ResultCode(rawValue: SQLITE_MISUSE)
    public static let range = ResultCode(rawValue: SQLITE_RANGE)
    public static let notADatabase = ResultCode(rawValue: SQLITE_NOTADB)
    public static let row = ResultCode(rawValue: SQLITE_ROW)
    public static let done = ResultCode(rawValue: SQLITE_DONE)
    /// `SQLITE_CONSTRAINT_UNIQUE` (extended).
    public static let constraintUnique = ResultCode(rawValue: SQLITE_CONSTRAINT | (8 << 8))
    /// `SQLITE_CONSTRAINT_PRIMARYKEY` (extended).
    public static let constraintPrimaryKey = ResultCode(rawValue: SQLITE_CONSTRAINT | (6 << 8))
    /// `SQLITE_CONSTRAINT_CHECK` (extended).
    public static let constraintCheck = ResultCode(rawValue: SQLITE_CONSTRAINT | (1 << 8))
    /// `SQLITE_CONSTRAINT_NOTNULL` (extended).
    public static let constraintNotNull = ResultCode(rawValue: SQLITE_CONSTRAINT | (5 << 8))
}

/// A failed SQLite call: the codes SQLite returned, its message, and what was being run.
///
/// `arguments` describes the values bound at the time of the failure (text shortened, blobs by
/// size only). It may hold user data: log it, never show it to clients.
public struct Error: Swift.Error, Sendable, Equatable, CustomStringConvertible {
    /// The primary result code (`SQLITE_CONSTRAINT`, `SQLITE_BUSY`, ...).
    public let code: ResultCode
    /// The extended result code (`SQLITE_CONSTRAINT_UNIQUE`, `SQLITE_IOERR_FSYNC`, ...).
    public let extendedCode: ResultCode
    /// SQLite's message for this occurrence (`sqlite3_errmsg`), or the generic code text.
    public let message: String
    /// The SQL being prepared or run, when there was one.
    public let sql: String?
    /// The bound values, when a statement was being run.
    public let arguments: String?

    public init(code: ResultCode, message: String? = nil, sql: String? = nil, arguments: String? = nil) {
        self.code = code.primary
        self.extendedCode = code
        self.message = message ?? code.description
        self.sql = sql
        self.arguments = arguments
    }

    /// The error SQLite recorded on `connection` after a call returned `code`.
    init(code: Int32, connection: OpaquePointer?, sql: String?, arguments: String? = nil) {
        var extended = code
        var message: String? = nil
        if let connection {
            let recorded = sqlite3_extended_errcode(connection)
            // The recorded code belongs to this failure only if it has the same primary code
            // (a later successful call may have reset it; the return value is authoritative).
            if recorded & 0xFF == code & 0xFF { extended = recorded }
            if let text = sqlite3_errmsg(connection) { message = String(cString: text) }
        }
        self.init(code: ResultCode(rawValue: extended), message: message, sql: sql, arguments: arguments)
    }

    public var description: String {
        var text = "SQLite error \(code.rawValue)"
        if extendedCode != code { text += "/\(extendedCode.rawValue)" }
        text += ": \(message)"
        if let sql { text += " — while executing `\(sql)`" }
        if let arguments { text += " with arguments \(arguments)" }
        return text
    }
}
