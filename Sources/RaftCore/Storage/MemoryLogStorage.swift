import Synchronization

/// An in-memory `LogStorage` for tests and simulations; also shows the write contract a
/// durable implementation follows. Thread-safe.
public final class MemoryLogStorage: LogStorage, Sendable {
    private struct State {
        var hardState = HardState()
        var snapshot = Snapshot()
        /// `entries[0]` is a placeholder holding the compaction point's index and term.
        var entries: [Entry] = [Entry(term: 0, index: 0, kind: .noop)]

        var offset: UInt64 { entries[0].index }
        var lastIndex: UInt64 { offset + UInt64(entries.count) - 1 }
    }

    private let state = Mutex(State())

    public init() {}

    /// A storage holding a bootstrap log for `confState` (see `ConfState.bootstrapEntries`).
    public convenience init(bootstrap confState: ConfState) {
        self.init()
        let entries = confState.bootstrapEntries()
        try! append(entries)
        setHardState(HardState(term: 1, vote: 0, commit: UInt64(entries.count)))
    }

    // MARK: LogStorage

    public func hardState() throws(RaftError) -> HardState { state.withLock { $0.hardState } }

    public func snapshot() throws(RaftError) -> Snapshot { state.withLock { $0.snapshot } }

    public func firstIndex() throws(RaftError) -> UInt64 { state.withLock { $0.offset + 1 } }

    public func lastIndex() throws(RaftError) -> UInt64 { state.withLock { $0.lastIndex } }

    public func term(at index: UInt64) throws(RaftError) -> UInt64 {
        try state.withLock { (s: inout State) throws(RaftError) -> UInt64 in
            guard index >= s.offset else { throw .compacted(index: index) }
            guard index <= s.lastIndex else { throw .unavailable(index: index) }
            return s.entries[Int(index - s.offset)].term
        }
    }

    public func entries(from lo: UInt64, to hi: UInt64, maxBytes: UInt64) throws(RaftError) -> [Entry] {
        try state.withLock { (s: inout State) throws(RaftError) -> [Entry] in
            guard lo > s.offset else { throw .compacted(index: lo) }
            guard hi <= s.lastIndex + 1 else { throw .unavailable(index: hi - 1) }
            guard lo < hi else { return [] }
            var result: [Entry] = []
            var size: UInt64 = 0
            for i in Int(lo - s.offset)..<Int(hi - s.offset) {
                let e = s.entries[i]
                size += e.byteSize
                if !result.isEmpty && size > maxBytes { break }
                result.append(e)
            }
            return result
        }
    }

    // MARK: Writes (the application's side of the contract)

    /// Persists `entries` (consecutive). Entries at or below the compaction point are
    /// skipped; a stored suffix starting at the first new index is replaced.
    public func append(_ newEntries: [Entry]) throws(RaftError) {
        guard let first = newEntries.first else { return }
        try state.withLock { (s: inout State) throws(RaftError) in
            var entries = newEntries[...]
            if first.index <= s.offset {
                entries = entries.dropFirst(Int(s.offset + 1 - first.index))
            }
            guard let head = entries.first else { return }
            guard head.index <= s.lastIndex + 1 else {
                throw .storage("append leaves a gap: last \(s.lastIndex), new \(head.index)")
            }
            s.entries.removeSubrange(Int(head.index - s.offset)...)
            s.entries.append(contentsOf: entries)
        }
    }

    /// Persists the hard state.
    public func setHardState(_ hardState: HardState) {
        state.withLock { $0.hardState = hardState }
    }

    /// Replaces the whole log by `snapshot` (a follower installing one from its leader).
    public func applySnapshot(_ snapshot: Snapshot) throws(RaftError) {
        try state.withLock { (s: inout State) throws(RaftError) in
            guard snapshot.metadata.index > s.snapshot.metadata.index else { throw .snapshotOutOfDate }
            s.snapshot = snapshot
            s.entries = [Entry(term: snapshot.metadata.term, index: snapshot.metadata.index, kind: .noop)]
        }
    }

    /// Records a snapshot of the application's state at `index` (≤ applied), taken with
    /// `confState` (the `RawNode.confState` at that applied index). Does not compact.
    @discardableResult
    public func createSnapshot(index: UInt64, confState: ConfState, data: [UInt8]) throws(RaftError) -> Snapshot {
        try state.withLock { (s: inout State) throws(RaftError) -> Snapshot in
            guard index > s.snapshot.metadata.index else { throw .snapshotOutOfDate }
            guard index <= s.lastIndex else { throw .unavailable(index: index) }
            guard index >= s.offset else { throw .compacted(index: index) }
            let term = s.entries[Int(index - s.offset)].term
            s.snapshot = Snapshot(metadata: SnapshotMetadata(index: index, term: term, confState: confState), data: data)
            return s.snapshot
        }
    }

    /// Discards entries up to and including `index`, which must not pass the latest
    /// snapshot (a follower that needs them gets that snapshot instead).
    public func compact(upTo index: UInt64) throws(RaftError) {
        try state.withLock { (s: inout State) throws(RaftError) in
            guard index > s.offset else { throw .compacted(index: index) }
            guard index <= s.snapshot.metadata.index else {
                throw .storage("compaction to \(index) passes the snapshot at \(s.snapshot.metadata.index)")
            }
            let cut = Int(index - s.offset)
            let term = s.entries[cut].term
            s.entries.removeSubrange(0..<cut)
            s.entries[0] = Entry(term: term, index: index, kind: .noop)
        }
    }
}
