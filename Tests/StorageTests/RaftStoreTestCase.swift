import Glibc
import Logging
import RaftCore
import SQLite
import Storage
import XCTest

/// Helpers for tests of ``RaftStore`` over real SQLite files.
class RaftStoreTestCase: StoreTestCase {
    static let n1 = Member(id: "n1", raftID: 1, url: "http://127.0.0.1:7001", level: 3, joinedAtIndex: 0)
    static let n2 = Member(id: "n2", raftID: 2, url: "http://127.0.0.1:7002", level: 1, joinedAtIndex: 0)

    /// A second data directory (for another node) under the test directory.
    func nodeDirectory(_ name: String) -> String {
        let path = directory + "/" + name
        mkdir(path, 0o755)
        return path
    }

    func openStore(in dataDirectory: String) throws -> Store {
        try openStore(configuration { $0.path = dataDirectory + "/machdb.sqlite" })
    }

    /// Opens the store at the default path and switches it to Raft mode.
    func openRaft(bootstrap: Bool = true, member: Member = RaftStoreTestCase.n1, in dataDirectory: String? = nil) throws -> (Store, RaftStore) {
        let store = try dataDirectory.map { try openStore(in: $0) } ?? openStore()
        let raft = try store.startRaft(bootstrap: bootstrap, selfRaftID: member.raftID, selfMember: member)
        return (store, raft)
    }

    /// Closes `store` and opens the same file again in Raft mode (a restart; drop the old
    /// RaftStore by assigning the result over it).
    func reopen(_ store: Store, in dataDirectory: String? = nil) throws -> (Store, RaftStore) {
        store.close()
        let reopened = try dataDirectory.map { try openStore(in: $0) } ?? openStore()
        XCTAssertTrue(reopened.isRaftMode)
        XCTAssertFalse(reopened.submit(WriteCommand(operations: [], timestampMilliseconds: 0)) { _ in }, "no committer in Raft mode")
        return (reopened, try reopened.startRaft(bootstrap: false, selfRaftID: Self.n2.raftID, selfMember: Self.n2))
    }

    // MARK: Entries

    func writeEntry(_ index: UInt64, term: UInt64, _ operations: WriteOperation..., sequence: UInt64? = nil,
                    time: Int64 = 1_700_000_000_000) -> Entry {
        let command = LogCommand.write(WriteCommand(operations: operations, timestampMilliseconds: time),
                                       proposal: ProposalID(node: 1, sequence: sequence ?? index))
        return Entry(term: term, index: index, kind: .normal, data: command.encoded())
    }

    func noop(_ index: UInt64, term: UInt64) -> Entry { Entry(term: term, index: index, kind: .noop) }

    func confEntry(_ index: UInt64, term: UInt64, _ change: ConfChange) -> Entry {
        Entry(term: term, index: index, kind: .confChange, data: change.encoded())
    }

    func commandEntry(_ index: UInt64, term: UInt64, _ command: LogCommand) -> Entry {
        Entry(term: term, index: index, kind: .normal, data: command.encoded())
    }

    /// Persists `entries` (and commits and applies them when `commit`) like a Ready would.
    @discardableResult
    func persist(_ raft: RaftStore, _ entries: [Entry], term: UInt64, commit: Bool = true) throws -> [AppliedEntry] {
        let last = entries.last?.index ?? raft.lastIndexValue
        var ready = Ready(entries: entries, committedEntries: commit ? entries : [], mustSync: true)
        ready.hardState = HardState(term: term, vote: 1, commit: commit ? last : raft.hardStateValue.commit)
        return try raft.save(ready)
    }

    // MARK: Inspecting

    /// Every document row (live and tombstones) of the database at `path`, one line each.
    func documentsDigest(_ path: String) throws -> [String] {
        let connection = try Connection(path: path, mode: .readOnly)
        let statement = try connection.prepare("""
            SELECT collection, id, rev, bucket, content_type, json, hex(raw), updated_at, deleted, write_index
            FROM documents ORDER BY collection, id
            """)
        var rows: [String] = []
        while try statement.step() {
            rows.append((0..<10).map { statement.value(at: $0).description }.joined(separator: "|"))
        }
        return rows
    }

    func scalar(_ path: String, _ sql: String) throws -> Int64? {
        try Connection(path: path, mode: .readOnly).scalarInt64(sql)
    }
}
