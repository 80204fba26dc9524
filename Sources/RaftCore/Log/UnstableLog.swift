/// The tail of the log not yet persisted by the application: an optional incoming
/// snapshot and the entries after the storage's last index (or replacing part of it).
struct UnstableLog {
    var snapshot: Snapshot?
    var entries: [Entry] = []
    /// Index of `entries[0]` (when present): everything below is in storage or `snapshot`.
    var offset: UInt64

    init(offset: UInt64) { self.offset = offset }

    /// The first index when a snapshot is pending.
    var firstIndex: UInt64? { snapshot.map { $0.metadata.index + 1 } }

    var lastIndex: UInt64? {
        if !entries.isEmpty { return offset + UInt64(entries.count) - 1 }
        return snapshot?.metadata.index
    }

    func term(at index: UInt64) -> UInt64? {
        if index < offset {
            if let s = snapshot, s.metadata.index == index { return s.metadata.term }
            return nil
        }
        guard let last = lastIndex, index <= last else { return nil }
        if entries.isEmpty { return nil }
        return entries[Int(index - offset)].term
    }

    /// The entries up to `(index, term)` are persisted: drop them, unless they were since
    /// replaced (the term no longer matches) or already dropped.
    mutating func stableTo(index: UInt64, term: UInt64) {
        guard index >= offset, let t = self.term(at: index), t == term else { return }
        entries.removeFirst(Int(index - offset + 1))
        offset = index + 1
    }

    mutating func stableSnapshotTo(index: UInt64) {
        if snapshot?.metadata.index == index { snapshot = nil }
    }

    mutating func restore(_ snapshot: Snapshot) {
        offset = snapshot.metadata.index + 1
        entries = []
        self.snapshot = snapshot
    }

    /// Appends `newEntries` (consecutive), replacing any entries at or after their start.
    mutating func truncateAndAppend(_ newEntries: [Entry]) {
        guard let first = newEntries.first else { return }
        let after = first.index
        if after == offset + UInt64(entries.count) {
            entries.append(contentsOf: newEntries)
        } else if after <= offset {
            // Replaces storage entries from `after`; the application truncates them when it
            // persists these.
            offset = after
            entries = newEntries
        } else {
            entries.removeSubrange(Int(after - offset)...)
            entries.append(contentsOf: newEntries)
        }
    }
}
