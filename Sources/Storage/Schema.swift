import Sharding
import SQLite

/// The database layout and its migrations.
///
/// - `documents`: one row per document ever written in a collection, live or tombstone. The
///   body is in `json` (TEXT, exactly as written) for JSON documents, else in `raw` (BLOB); a
///   tombstone (`deleted = 1`) has neither and keeps `rev` so a re-create continues at rev + 1.
///   `write_index` is the index of the command that last wrote the row.
/// - `collections`: live-document count per collection, maintained by apply in the same
///   transaction as the documents it counts.
/// - `meta`: `schema_version` and `applied_index` (the last command applied, committed with it;
///   in Raft mode the last log entry applied).
///
/// Version 2 adds Raft replication (see ``RaftStore``), unused by a single node (Mach I):
/// - `raft_log`: the persisted log entries, `idx` from the compaction point + 1 on, contiguous.
/// - `raft_state`: one row once the node is in Raft mode (none before): the hard state
///   (`term`, `vote`, `commit_index`), the compaction point (`compact_index`, `compact_term`)
///   and the configuration as of `applied_index` (`conf_state`, RaftCore's encoding).
/// - `members`: the replicated directory of nodes (name, Raft id, URL, level), applied from
///   the log like documents. Unsigned 64-bit values are stored by bit pattern.
///
/// Version 3 adds the cluster map (DESIGN §5), replicated through the log like `members`:
/// - `cluster_map`: at most one row, the map's `version` and its JSON `body` (opaque here:
///   the Topology module owns the format).
///
/// Version 4 holds several Raft groups (shards) in one file (docs/ARCHITECTURE.md, "Shards"):
/// - `raft_groups` replaces `raft_state`: one row per group this node holds a replica of,
///   keyed by `shard`, with its hard state, compaction point, configuration, its bucket
///   range (`first_bucket`..`last_bucket`, empty = `1..0` for a group waiting for its first
///   snapshot) and `range_version`. `applied_index` is the group's last applied entry; NULL
///   for shard 1, the meta shard, whose applied index stays in `meta` (with the documents it
///   describes in a standalone node and in backups).
/// - `raft_log.idx` is shard-qualified: `(shard - 1) << 48 | index` (shard 1 unchanged), so
///   each group's log is one contiguous key range of the same rowid table.
/// - Documents stay in one table: a group owns the rows whose bucket is in its range, so a
///   split moves no data.
///
/// The file is marked with `PRAGMA application_id` so a foreign SQLite file is recognized.
enum Schema {
    /// 'mach' in ASCII.
    static let applicationID: Int64 = 0x6D61_6368
    /// The version this build writes; migrations bring older files up to it.
    static let currentVersion: Int64 = 4

    /// `migrations[v - 1]` turns an empty database (v = 1) or version v - 1 into version v.
    static let migrations: [String] = [
        """
        CREATE TABLE meta (
            key   TEXT PRIMARY KEY,
            value INTEGER NOT NULL
        ) WITHOUT ROWID;
        INSERT INTO meta (key, value) VALUES ('schema_version', 1), ('applied_index', 0);

        CREATE TABLE documents (
            collection   TEXT    NOT NULL,
            id           TEXT    NOT NULL,
            rev          INTEGER NOT NULL CHECK (rev >= 1),
            bucket       INTEGER NOT NULL CHECK (bucket BETWEEN 1 AND 1000),
            content_type TEXT    NOT NULL,
            json         TEXT,
            raw          BLOB,
            updated_at   INTEGER NOT NULL,
            deleted      INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
            write_index  INTEGER NOT NULL CHECK (write_index >= 1),
            UNIQUE (collection, id),
            CHECK (CASE deleted WHEN 1 THEN json IS NULL AND raw IS NULL
                                ELSE (json IS NULL) <> (raw IS NULL) END)
        );
        CREATE INDEX documents_by_bucket ON documents (bucket);

        CREATE TABLE collections (
            name  TEXT PRIMARY KEY,
            count INTEGER NOT NULL CHECK (count >= 0)
        ) WITHOUT ROWID;
        """,
        """
        CREATE TABLE raft_log (
            idx  INTEGER PRIMARY KEY,
            term INTEGER NOT NULL,
            kind INTEGER NOT NULL,
            data BLOB    NOT NULL
        );

        CREATE TABLE raft_state (
            singleton     INTEGER PRIMARY KEY CHECK (singleton = 1),
            mode          TEXT    NOT NULL CHECK (mode = 'raft'),
            term          INTEGER NOT NULL,
            vote          INTEGER NOT NULL,
            commit_index  INTEGER NOT NULL,
            compact_index INTEGER NOT NULL,
            compact_term  INTEGER NOT NULL,
            conf_state    BLOB    NOT NULL
        );

        CREATE TABLE members (
            raft_id         INTEGER PRIMARY KEY,
            id              TEXT    NOT NULL UNIQUE,
            url             TEXT    NOT NULL,
            level           INTEGER NOT NULL,
            joined_at_index INTEGER NOT NULL
        );
        """,
        """
        CREATE TABLE cluster_map (
            singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
            version   INTEGER NOT NULL CHECK (version >= 1),
            body      BLOB    NOT NULL
        );
        """,
        """
        CREATE TABLE raft_groups (
            shard         INTEGER PRIMARY KEY CHECK (shard >= 1),
            term          INTEGER NOT NULL,
            vote          INTEGER NOT NULL,
            commit_index  INTEGER NOT NULL,
            compact_index INTEGER NOT NULL,
            compact_term  INTEGER NOT NULL,
            conf_state    BLOB    NOT NULL,
            applied_index INTEGER,
            first_bucket  INTEGER NOT NULL,
            last_bucket   INTEGER NOT NULL,
            range_version INTEGER NOT NULL
        );
        INSERT INTO raft_groups (shard, term, vote, commit_index, compact_index, compact_term, conf_state, applied_index,
                                 first_bucket, last_bucket, range_version)
            SELECT 1, term, vote, commit_index, compact_index, compact_term, conf_state, NULL, 1, 1000, 1 FROM raft_state;
        DROP TABLE raft_state;
        """,
    ]

    /// Creates or migrates the schema of a writable connection, in one transaction.
    static func migrate(_ connection: Connection) throws(StorageError) {
        try sqlite { () throws(SQLite.Error) in try connection.begin(.immediate) }
        do throws(StorageError) {
            let objects = try sqlite { () throws(SQLite.Error) in try connection.scalarInt64("SELECT count(*) FROM sqlite_schema") ?? 0 }
            var version: Int64 = objects > 0 ? try self.version(of: connection) : 0
            guard version <= currentVersion else {
                throw .corrupt("schema version \(version) is newer than this build supports (\(currentVersion))")
            }
            while version < currentVersion {
                let migration = migrations[Int(version)]
                version += 1
                try sqlite { () throws(SQLite.Error) in
                    try connection.execute(migration)
                    try connection.execute("UPDATE meta SET value = \(version) WHERE key = 'schema_version'")
                }
            }
            try sqlite { () throws(SQLite.Error) in
                try connection.execute("PRAGMA application_id = \(applicationID); PRAGMA user_version = \(currentVersion)")
                try connection.commit()
            }
        } catch {
            try? connection.rollback()
            throw error
        }
    }

    /// The schema version of an existing machdb database; throws ``StorageError/corrupt(_:)``
    /// when the file is not one (foreign application id, missing tables or meta rows).
    static func version(of connection: Connection) throws(StorageError) -> Int64 {
        let application = try sqlite { () throws(SQLite.Error) in try connection.scalarInt64("PRAGMA application_id") ?? 0 }
        guard application == applicationID else {
            throw .corrupt("not a machdb database (application_id \(application), expected \(applicationID))")
        }
        let tables = try sqlite { () throws(SQLite.Error) in
            try connection.scalarInt64("""
                SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN ('meta', 'documents', 'collections')
                """) ?? 0
        }
        guard tables == 3 else { throw .corrupt("not a machdb database (tables missing)") }
        let version = try sqlite { () throws(SQLite.Error) in try connection.scalarInt64("SELECT value FROM meta WHERE key = 'schema_version'") }
        let applied = try sqlite { () throws(SQLite.Error) in try connection.scalarInt64("SELECT value FROM meta WHERE key = 'applied_index'") }
        guard let version, let applied, applied >= 0 else { throw .corrupt("not a machdb database (meta rows missing)") }
        guard version >= 1 else { throw .corrupt("schema version \(version) is invalid") }
        return version
    }
}

extension Schema {
    /// True when the database belongs to a Raft cluster (the meta shard's `raft_groups` row exists).
    static func isRaftMode(_ connection: Connection) throws(StorageError) -> Bool {
        try sqlite { () throws(SQLite.Error) in
            func has(_ table: String) throws(SQLite.Error) -> Bool {
                try connection.scalarInt64("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = '\(table)'") ?? 0 > 0
            }
            if try has("raft_groups") {
                return (try connection.scalarInt64("SELECT count(*) FROM raft_groups WHERE shard = 1") ?? 0) > 0
            }
            // A version 3 file not migrated yet (opened read-only).
            guard try has("raft_state") else { return false }
            return (try connection.scalarInt64("SELECT count(*) FROM raft_state") ?? 0) > 0
        }
    }

    /// The Raft groups stored in the file, by shard id (empty for a standalone node).
    static func groups(_ connection: Connection) throws(StorageError) -> [ShardDescriptor] {
        try sqlite { () throws(SQLite.Error) in
            let statement = try connection.prepare(
                "SELECT shard, first_bucket, last_bucket, range_version FROM raft_groups ORDER BY shard")
            var groups: [ShardDescriptor] = []
            while try statement.step() {
                groups.append(ShardDescriptor(id: statement.int(at: 0), firstBucket: statement.int(at: 1),
                                              lastBucket: statement.int(at: 2), version: UInt64(bitPattern: statement.int64(at: 3))))
            }
            return groups
        }
    }
}
