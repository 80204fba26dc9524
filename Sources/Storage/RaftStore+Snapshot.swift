#if canImport(Glibc)
import Glibc
#endif
import Logging
import RaftCore
import Sharding
import SQLite

extension RaftStore {
    // MARK: Producing snapshots

    /// The snapshot of the state as of the applied index: `{index: applied, term at applied,
    /// configuration at applied}`, `data` = UTF-8 of the token `snap-<index>-<term>`.
    ///
    /// With ``liveSnapshots`` the image is materialized too (`<data-dir>/snapshots/<token>.sqlite`,
    /// see ``snapshots``): made on this thread, so it holds exactly the state at that index.
    /// The newest image is reused (and its metadata returned) while the log still holds every
    /// entry after it (its index is at or above the compaction point), so a follower installs
    /// it and catches up from the log; otherwise a new image is made and all but the newest
    /// two are deleted. A failure to make it answers `snapshotTemporarilyUnavailable` (the
    /// leader retries later).
    public func snapshot() throws(RaftError) -> Snapshot {
        guard let term = cache.term(at: applied) else { throw .storage("no term known for the applied index \(applied)") }
        let metadata = SnapshotMetadata(index: applied, term: term, confState: conf)
        let token = SnapshotFiles.token(index: applied, term: term)
        guard liveSnapshots, applied > 0 else { return Snapshot(metadata: metadata, data: Array(token.utf8)) }
        if let newest = snapshots.newest, newest.metadata.index >= cache.compactIndex {
            return Snapshot(metadata: newest.metadata, data: Array(newest.token.utf8))
        }
        do {
            let image = try writer.locked { () throws(StorageError) in try materialize(metadata, token: token) }
            return Snapshot(metadata: image.metadata, data: Array(image.token.utf8))
        } catch {
            logger.error("making a snapshot image failed", metadata: ["index": "\(applied)", "error": "\(error)"])
            throw .snapshotTemporarilyUnavailable
        }
    }

    /// The image named `token` (for the transport serving it), if still kept. Thread-safe
    /// through ``snapshots`` (hand that to the transport; this object stays on its thread).
    public func snapshotFile(token: String) -> (path: String, size: Int64, checksum: UInt64)? {
        snapshots.file(token: token)
    }

    /// Where the runtime must put the downloaded image named `token` before ``save(_:)``.
    public func incomingSnapshotPath(token: String) -> String {
        snapshots.incomingPath(token: token)
    }

    /// Writes the image: a fresh database with this build's schema holding `documents`,
    /// `collections`, `members`, `cluster_map` and `applied_index` as of now (no log, no Raft state), then
    /// registers it. Runs outside any transaction on the owning thread.
    private func materialize(_ metadata: SnapshotMetadata, token: String) throws(StorageError) -> SnapshotFiles.Image {
        let path = snapshots.directory + "/" + SnapshotFiles.fileName(token) + ".sqlite"
        let partial = path + ".partial"
        try FileSystem.remove(partial)
        try FileSystem.remove(partial + "-journal")
        var attached = false
        do throws(StorageError) {
            do {
                let image = try sqlite { () throws(SQLite.Error) in try Connection(path: partial, mode: .readWriteCreate) }
                try Schema.migrate(image)
            }
            try attach(partial, as: "image")
            attached = true
            let range = descriptor
            try sqlite { () throws(SQLite.Error) in
                try connection.execute("PRAGMA image.journal_mode = OFF; PRAGMA image.synchronous = OFF")
                try connection.begin(.deferred)
                // `SELECT *` into an empty table of the same schema copies pages (no re-encoding).
                // The image holds the group's bucket range only, and says which range it is.
                try connection.execute("""
                    INSERT INTO image.documents SELECT * FROM main.documents
                        WHERE bucket BETWEEN \(range.firstBucket) AND \(range.lastBucket);
                    INSERT INTO image.collections SELECT collection, count(*) FROM image.documents
                        WHERE deleted = 0 GROUP BY collection;
                    UPDATE image.meta SET value = \(Int64(bitPattern: metadata.index)) WHERE key = 'applied_index';
                    INSERT INTO image.meta (key, value) VALUES ('shard', \(range.id)), ('first_bucket', \(range.firstBucket)),
                        ('last_bucket', \(range.lastBucket)), ('range_version', \(Int64(bitPattern: range.version)))
                    """)
                if shard == 1 {
                    try connection.execute("""
                        INSERT INTO image.members SELECT * FROM main.members;
                        INSERT INTO image.cluster_map SELECT * FROM main.cluster_map
                        """)
                }
                try connection.commit()
            }
            detach("image")
            attached = false
        } catch {
            try? connection.rollback()
            if attached { detach("image") }
            try? FileSystem.remove(partial)
            throw error
        }
        let (size, checksum) = try SnapshotFiles.checksum(ofFile: partial)
        try FileSystem.rename(partial, to: path)
        let image = SnapshotFiles.Image(token: token, path: path, size: size, checksum: checksum, metadata: metadata)
        for retired in snapshots.add(image, keep: RaftStore.keptImages) { try? FileSystem.remove(retired.path) }
        logger.info("snapshot image made", metadata: [
            "token": "\(token)", "bytes": "\(size)", "documents": "\(store.state.documentCount.load(ordering: .relaxed))",
        ])
        return image
    }

    /// Creates `<data-dir>/snapshots` and deletes images left by an earlier run (downloads,
    /// `incoming-*`, are the runtime's).
    func prepareSnapshotDirectory() throws(StorageError) {
        let directory = snapshots.directory
        if mkdir(directory, 0o755) != 0 && errno != EEXIST {
            throw .io(operation: "mkdir", path: directory, errno: errno)
        }
        guard let listing = opendir(directory) else { throw .io(operation: "opendir", path: directory, errno: errno) }
        defer { closedir(listing) }
        while let entry = readdir(listing) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name.hasPrefix("snap-") { try? FileSystem.remove(directory + "/" + name) }
        }
    }

    // MARK: Installing snapshots

    /// An incoming image attached to the writer as `snap` for the duration of a ``save(_:)``.
    struct AttachedImage {
        let path: String
        let token: String
        let hasMembers: Bool
        let hasClusterMap: Bool
        /// The range the image holds (an image made before shards existed: the whole range).
        let descriptor: ShardDescriptor
    }

    /// The range an attached image holds, from its `meta` rows.
    private func imageRange() throws(StorageError) -> ShardDescriptor {
        try sqlite { () throws(SQLite.Error) in
            func value(_ key: String) throws(SQLite.Error) -> Int64? {
                try connection.scalarInt64("SELECT value FROM snap.meta WHERE key = '\(key)'")
            }
            guard let id = try value("shard"), let first = try value("first_bucket"), let last = try value("last_bucket"),
                  let version = try value("range_version") else { return .whole }
            return ShardDescriptor(id: Int(id), firstBucket: Int(first), lastBucket: Int(last), version: UInt64(bitPattern: version))
        }
    }

    /// Attaches the downloaded image for `snapshot` and checks it: a machdb database, intact
    /// (`quick_check`), holding the state at exactly `snapshot.metadata.index`.
    func attachImage(for snapshot: Snapshot) throws(StorageError) -> AttachedImage {
        let index = snapshot.metadata.index
        guard index > applied else {
            throw .invalidCommand("snapshot at \(index) is not past the applied index \(applied)")
        }
        let token = String(decoding: snapshot.data, as: UTF8.self)
        let path = snapshots.incomingPath(token: token)
        guard FileSystem.exists(path) else { throw .io(operation: "open snapshot image", path: path, errno: ENOENT) }
        try attach(path, as: "snap")
        do throws(StorageError) {
            func refuse(_ detail: String) -> StorageError { .corrupt("snapshot image \(token): \(detail)") }
            let hasClusterMap = try sqlite { () throws(SQLite.Error) in
                try connection.scalarInt64("SELECT count(*) FROM snap.sqlite_schema WHERE type = 'table' AND name = 'cluster_map'") ?? 0
            } == 1
            let (application, integrity, tables, members, version, imageApplied) = try sqlite { () throws(SQLite.Error) in
                (try connection.scalarInt64("PRAGMA snap.application_id") ?? 0,
                 try connection.scalarText("PRAGMA snap.quick_check") ?? "no answer",
                 try connection.scalarInt64("""
                    SELECT count(*) FROM snap.sqlite_schema WHERE type = 'table' AND name IN ('meta', 'documents', 'collections')
                    """) ?? 0,
                 try connection.scalarInt64("SELECT count(*) FROM snap.sqlite_schema WHERE type = 'table' AND name = 'members'") ?? 0,
                 try connection.scalarInt64("SELECT value FROM snap.meta WHERE key = 'schema_version'"),
                 try connection.scalarInt64("SELECT value FROM snap.meta WHERE key = 'applied_index'"))
            }
            guard application == Schema.applicationID else { throw refuse("not a machdb database (application_id \(application))") }
            guard integrity == "ok" else { throw refuse("quick_check: \(integrity)") }
            guard tables == 3, let version, let imageApplied else { throw refuse("not a machdb database (tables or meta rows missing)") }
            guard (1...Schema.currentVersion).contains(version) else { throw refuse("schema version \(version) is not supported") }
            guard UInt64(bitPattern: imageApplied) == index else {
                throw refuse("holds the state at \(imageApplied), the snapshot is at \(index)")
            }
            let range = try imageRange()
            guard range.id == shard else { throw refuse("holds shard \(range.id), not \(shard)") }
            return AttachedImage(path: path, token: token, hasMembers: members == 1 && shard == 1,
                                 hasClusterMap: hasClusterMap && shard == 1, descriptor: range)
        } catch {
            detach("snap")
            throw error
        }
    }

    func detachImage() { detach("snap") }

    /// Inside ``save(_:)``'s transaction: replaces the documents, collection counts and members
    /// by the image's, records the compaction point and configuration, and trims the log.
    func install(_ snapshot: Snapshot, _ image: AttachedImage, _ outcome: inout SaveOutcome) throws(StorageError) {
        let meta = snapshot.metadata
        // A log holding the snapshot's last entry keeps what follows it; otherwise it is
        // entirely replaced.
        let keep = cache.term(at: meta.index) == meta.term
        let old = outcome.descriptor, new = image.descriptor
        let documents = try sqlite { () throws(SQLite.Error) -> Int in
            // The group's documents are replaced by the image's: those of the range it owned
            // and of the range it owns now (a laggard whose parent range shrank while it was
            // away no longer serves the part that moved). Counts are recomputed.
            for range in [old, new] where range.isInitialized {
                try connection.execute(
                    "DELETE FROM main.documents WHERE bucket BETWEEN \(range.firstBucket) AND \(range.lastBucket)")
            }
            try connection.execute("""
                INSERT INTO main.documents (collection, id, rev, bucket, content_type, json, raw, updated_at, deleted, write_index)
                    SELECT collection, id, rev, bucket, content_type, json, raw, updated_at, deleted, write_index
                    FROM snap.documents ORDER BY rowid;
                DELETE FROM main.collections;
                INSERT INTO main.collections (name, count) SELECT collection, count(*) FROM main.documents
                    WHERE deleted = 0 GROUP BY collection
                """)
            if shard == 1 { try connection.execute("DELETE FROM main.members; DELETE FROM main.cluster_map") }
            if image.hasClusterMap {
                try connection.execute("""
                    INSERT INTO main.cluster_map (singleton, version, body) SELECT singleton, version, body FROM snap.cluster_map
                    """)
            }
            if image.hasMembers {
                try connection.execute("""
                    INSERT INTO main.members (raft_id, id, url, level, joined_at_index)
                        SELECT raft_id, id, url, level, joined_at_index FROM snap.members
                    """)
            }
            if keep {
                let delete = statements.deleteThrough
                defer { delete.reset() }
                try delete.bind(Int64(bitPattern: meta.index), at: 1)
                try delete.run()
            } else {
                try connection.execute("DELETE FROM raft_log WHERE idx >= \(keyBase) AND idx < \(RaftStore.keyBase(shard: shard + 1))")
            }
            let record = try connection.prepare("""
                UPDATE raft_groups SET compact_index = ?1, compact_term = ?2, conf_state = ?3,
                    first_bucket = ?4, last_bucket = ?5, range_version = ?6 WHERE shard = ?7
                """)
            try record.bind(Int64(bitPattern: meta.index), at: 1)
            try record.bind(Int64(bitPattern: meta.term), at: 2)
            try record.bind(blob: meta.confState.encoded(), at: 3)
            try record.bind(new.firstBucket, at: 4)
            try record.bind(new.lastBucket, at: 5)
            try record.bind(Int64(bitPattern: new.version), at: 6)
            try record.bind(shard, at: 7)
            try record.run()
            return Int(try connection.scalarInt64("SELECT coalesce(sum(count), 0) FROM main.collections") ?? 0)
        }
        outcome.applied = meta.index
        outcome.conf = meta.confState
        outcome.persistedConf = meta.confState
        outcome.compactIndex = meta.index
        outcome.compactTerm = meta.term
        outcome.lastIndex = keep ? cache.lastIndex : meta.index
        outcome.keptLogAfterSnapshot = keep
        outcome.installedDocumentCount = documents
        outcome.descriptor = new
        outcome.membersChanged = shard == 1
        outcome.clusterMapChanged = shard == 1
        logger.info("snapshot installed", metadata: [
            "index": "\(meta.index)", "term": "\(meta.term)", "documents": "\(documents)", "kept_log": "\(keep)",
        ])
    }

    // MARK: Attaching

    private func attach(_ path: String, as name: String) throws(StorageError) {
        try sqlite { () throws(SQLite.Error) in
            let statement = try connection.prepare("ATTACH DATABASE ?1 AS \(name)")
            try statement.bind(path, at: 1)
            try statement.run()
        }
    }

    private func detach(_ name: String) {
        do {
            try connection.execute("DETACH DATABASE \(name)")
        } catch {
            logger.error("detaching a snapshot image failed", metadata: ["database": "\(name)", "error": "\(error)"])
        }
    }
}

extension SnapshotFiles {
    /// The size and FNV-1a 64 checksum of a file (what ``file(token:)`` reports), for a
    /// downloader to verify what it received.
    public static func checksum(ofFile path: String) throws(StorageError) -> (size: Int64, checksum: UInt64) {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { throw .io(operation: "open", path: path, errno: errno) }
        defer { close(descriptor) }
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        var size: Int64 = 0
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw .io(operation: "read", path: path, errno: errno)
            }
            if count == 0 { break }
            buffer.withUnsafeBufferPointer { bytes in
                for byte in bytes[0..<count] { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
            }
            size += Int64(count)
        }
        return (size, hash)
    }
}
