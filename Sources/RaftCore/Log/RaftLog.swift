/// The node's view of its log: persisted entries (via `LogStorage`) plus the unstable
/// tail, and the commit and apply indexes.
///
/// Invariant: `applied <= committed <= lastIndex`, and `committed` never decreases.
struct RaftLog {
    let storage: any LogStorage
    var unstable: UnstableLog
    /// Highest index known committed.
    var committed: UInt64
    /// Highest index the application has applied (reported through `advance`).
    var applied: UInt64
    /// Highest index handed out for applying (in a `Ready`) but not yet reported applied.
    var applying: UInt64

    init(storage: any LogStorage) {
        self.storage = storage
        let first = RaftLog.must { () throws(RaftError) in try storage.firstIndex() }
        let last = RaftLog.must { () throws(RaftError) in try storage.lastIndex() }
        unstable = UnstableLog(offset: last + 1)
        committed = first - 1
        applied = first - 1
        applying = first - 1
    }

    /// Runs a storage read whose failure leaves the core unable to continue safely.
    static func must<T>(_ body: () throws(RaftError) -> T) -> T {
        do { return try body() } catch { fatalError("raft: log storage failed: \(error)") }
    }

    var firstIndex: UInt64 {
        if let i = unstable.firstIndex { return i }
        return RaftLog.must { () throws(RaftError) in try storage.firstIndex() }
    }

    var lastIndex: UInt64 {
        if let i = unstable.lastIndex { return i }
        return RaftLog.must { () throws(RaftError) in try storage.lastIndex() }
    }

    var lastTerm: UInt64 {
        guard let t = term(at: lastIndex) else { fatalError("raft: no term for the last index") }
        return t
    }

    /// Term at `index`, or nil when it is compacted or beyond the last index.
    func term(at index: UInt64) -> UInt64? {
        let dummy = firstIndex - 1
        guard index >= dummy, index <= lastIndex else { return nil }
        if let t = unstable.term(at: index) { return t }
        do {
            return try storage.term(at: index)
        } catch {
            switch error {
            case .compacted, .unavailable: return nil
            default: fatalError("raft: log storage failed: \(error)")
            }
        }
    }

    func matchTerm(index: UInt64, term: UInt64) -> Bool {
        guard let t = self.term(at: index) else { return false }
        return t == term
    }

    /// Raft §5.4.1: a candidate's log is at least as up to date as ours.
    func isUpToDate(lastIndex: UInt64, term: UInt64) -> Bool {
        let myTerm = lastTerm
        return term > myTerm || (term == myTerm && lastIndex >= self.lastIndex)
    }

    /// Entries `lo ..< hi` (bounded by `maxBytes`, at least one), or nil when `lo` is
    /// compacted.
    func entries(from lo: UInt64, to hi: UInt64, maxBytes: UInt64) -> [Entry]? {
        guard lo < hi else { return [] }
        guard lo >= firstIndex else { return nil }
        precondition(hi <= lastIndex + 1, "raft: entries(\(lo), \(hi)) beyond last \(lastIndex)")
        var result: [Entry] = []
        var size: UInt64 = 0
        if lo < unstable.offset {
            let storageHi = min(hi, unstable.offset)
            do {
                result = try storage.entries(from: lo, to: storageHi, maxBytes: maxBytes)
            } catch {
                switch error {
                case .compacted: return nil
                default: fatalError("raft: log storage failed: \(error)")
                }
            }
            size = result.reduce(0) { $0 + $1.byteSize }
            if UInt64(result.count) < storageHi - lo { return result }
        }
        let start = max(lo, unstable.offset)
        if start < hi {
            var i = Int(start - unstable.offset)
            let end = Int(hi - unstable.offset)
            while i < end {
                let e = unstable.entries[i]
                size += e.byteSize
                if !result.isEmpty && size > maxBytes { break }
                result.append(e)
                i += 1
            }
        }
        return result
    }

    /// Entries from `lo` to the end, bounded by `maxBytes`.
    func entries(from lo: UInt64, maxBytes: UInt64) -> [Entry]? {
        entries(from: lo, to: lastIndex + 1, maxBytes: maxBytes)
    }

    /// The largest index `<= index` whose term is `<= term` (used to skip a whole term of
    /// conflicting entries when a follower rejects an append).
    func findConflictByTerm(index: UInt64, term: UInt64) -> UInt64 {
        var i = min(index, lastIndex)
        while true {
            guard let t = self.term(at: i) else { return i }
            if t <= term { return i }
            if i == 0 { return 0 }
            i -= 1
        }
    }

    /// First index where `entries` disagree with the log, or 0 when all present and equal.
    private func findConflict(_ entries: [Entry]) -> UInt64 {
        for e in entries where !matchTerm(index: e.index, term: e.term) { return e.index }
        return 0
    }

    /// Follower side of AppendEntries: when the entry before `entries` matches
    /// (`prevIndex`, `prevTerm`), appends what is new (truncating conflicts), advances the
    /// commit index to `min(commit, last new index)` and returns the last new index and the
    /// entries actually written to the log.
    mutating func maybeAppend(
        prevIndex: UInt64, prevTerm: UInt64, commit: UInt64, entries: [Entry]
    ) -> (lastNew: UInt64, appended: [Entry])? {
        guard matchTerm(index: prevIndex, term: prevTerm) else { return nil }
        let lastNew = prevIndex + UInt64(entries.count)
        let conflict = findConflict(entries)
        var appended: [Entry] = []
        if conflict != 0 {
            precondition(conflict > committed, "raft: entry \(conflict) conflicts with committed \(committed)")
            appended = Array(entries[Int(conflict - prevIndex - 1)...])
            append(appended)
        }
        commitTo(min(commit, lastNew))
        return (lastNew, appended)
    }

    /// Appends entries (their indexes already assigned); returns the new last index.
    @discardableResult
    mutating func append(_ entries: [Entry]) -> UInt64 {
        guard let first = entries.first else { return lastIndex }
        precondition(first.index > committed, "raft: append at \(first.index) below commit \(committed)")
        unstable.truncateAndAppend(entries)
        return lastIndex
    }

    mutating func commitTo(_ index: UInt64) {
        guard index > committed else { return }
        precondition(index <= lastIndex, "raft: commit \(index) beyond last index \(lastIndex)")
        committed = index
    }

    /// Leader side: commits `index` if it is above the commit index and holds an entry
    /// of `term` (only entries of the leader's own term commit by counting, §5.4.2).
    mutating func maybeCommit(index: UInt64, term: UInt64) -> Bool {
        guard index > committed, self.term(at: index) == term else { return false }
        commitTo(index)
        return true
    }

    mutating func restore(_ snapshot: Snapshot) {
        committed = snapshot.metadata.index
        unstable.restore(snapshot)
    }

    /// Committed entries not yet handed out for applying, bounded by `maxBytes`.
    func nextCommittedEntries(maxBytes: UInt64) -> [Entry] {
        let lo = max(applying + 1, firstIndex)
        guard committed >= lo else { return [] }
        return entries(from: lo, to: committed + 1, maxBytes: maxBytes) ?? []
    }

    var hasNextCommittedEntries: Bool { committed >= max(applying + 1, firstIndex) }

    mutating func appliedTo(_ index: UInt64) {
        guard index > applied else { return }
        applied = index
        applying = max(applying, index)
    }
}
