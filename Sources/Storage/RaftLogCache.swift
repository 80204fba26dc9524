import RaftCore

/// The in-memory mirror of the persisted log that makes ``RaftStore``'s `LogStorage` reads
/// cheap: the compaction point, the last index, the term of every held entry (as runs: terms
/// only change at elections, so a handful of runs covers the whole log) and the most recent
/// entries themselves (bounded by count and bytes). Changed only after the transaction that
/// persisted the change has committed, so it always describes what is on disk.
struct RaftLogCache {
    /// The compaction point: the log holds `compactIndex + 1 ... lastIndex`.
    private(set) var compactIndex: UInt64
    private(set) var compactTerm: UInt64
    private(set) var lastIndex: UInt64
    /// `(start, term)`: entries from `start` up to the next run's start have `term`. Starts
    /// increase, terms increase; the first run may start at or below the first index.
    private var runs: [(start: UInt64, term: UInt64)] = []
    /// The newest entries: `entries[head...]`, contiguous, the last one at `lastIndex`.
    private var entries: [Entry] = []
    private var head = 0
    private var bytes: UInt64 = 0
    let maxEntries: Int
    let maxBytes: UInt64

    init(compactIndex: UInt64, compactTerm: UInt64, maxEntries: Int, maxBytes: UInt64) {
        self.compactIndex = compactIndex
        self.compactTerm = compactTerm
        self.lastIndex = compactIndex
        self.maxEntries = max(1, maxEntries)
        self.maxBytes = maxBytes
    }

    var firstIndex: UInt64 { compactIndex + 1 }

    /// Entries held (`lastIndex - compactIndex`).
    var count: UInt64 { lastIndex - compactIndex }

    /// The index of the oldest cached entry (`lastIndex + 1` when none is cached).
    var cachedFrom: UInt64 { lastIndex + 1 - UInt64(entries.count - head) }

    /// The term at `index`, for `compactIndex ... lastIndex`; nil outside.
    func term(at index: UInt64) -> UInt64? {
        guard index >= compactIndex, index <= lastIndex else { return nil }
        if index == compactIndex { return compactTerm }
        // Binary search for the last run starting at or below `index`.
        var low = 0
        var high = runs.count - 1
        guard high >= 0 else { return nil }
        while low < high {
            let middle = (low + high + 1) / 2
            if runs[middle].start <= index { low = middle } else { high = middle - 1 }
        }
        return runs[low].start <= index ? runs[low].term : nil
    }

    /// Cached entries `from ..< to` within the byte budget (at least one), or nil when `from`
    /// is not cached. The caller has checked `to <= lastIndex + 1`.
    func cachedEntries(from: UInt64, to: UInt64, maxBytes budget: UInt64) -> [Entry]? {
        guard from >= cachedFrom, from < to else { return from >= cachedFrom ? [] : nil }
        let start = head + Int(from - cachedFrom)
        let end = head + Int(to - cachedFrom)
        var result: [Entry] = []
        var size: UInt64 = 0
        for position in start..<end {
            let entry = entries[position]
            size += entry.byteSize
            if !result.isEmpty && size > budget { break }
            result.append(entry)
        }
        return result
    }

    // MARK: Changes (after they are durable)

    /// Entries (consecutive, starting at most at `lastIndex + 1` and above the compaction
    /// point) were written, replacing any held from their first index on.
    mutating func append(_ newEntries: ArraySlice<Entry>) {
        guard let first = newEntries.first else { return }
        if first.index <= lastIndex { truncate(from: first.index) }
        for entry in newEntries {
            if runs.last?.term != entry.term { runs.append((entry.index, entry.term)) }
            entries.append(entry)
            bytes += entry.byteSize
        }
        lastIndex = newEntries[newEntries.endIndex - 1].index
        trim()
    }

    /// Drops held entries from `index` on.
    private mutating func truncate(from index: UInt64) {
        while let last = runs.last, last.start >= index { runs.removeLast() }
        if index <= cachedFrom {
            entries.removeAll(keepingCapacity: true)
            head = 0
            bytes = 0
        } else {
            let keep = head + Int(index - cachedFrom)
            for entry in entries[keep...] { bytes -= entry.byteSize }
            entries.removeSubrange(keep...)
        }
        lastIndex = index - 1
    }

    private mutating func trim() {
        while entries.count - head > maxEntries || (bytes > maxBytes && entries.count - head > 1) {
            bytes -= entries[head].byteSize
            head += 1
        }
        if head >= 1024 && head * 2 >= entries.count {
            entries.removeFirst(head)
            head = 0
        }
    }

    /// Entries up to `index` (≤ `lastIndex`, > `compactIndex`) were deleted; `term` is the
    /// term of the entry at `index`, the new compaction point.
    mutating func compact(to index: UInt64, term: UInt64) {
        compactIndex = index
        compactTerm = term
        while runs.count >= 2 && runs[1].start <= index + 1 { runs.removeFirst() }
        if index >= lastIndex { runs.removeAll() }
        while head < entries.count && entries[head].index <= index {
            bytes -= entries[head].byteSize
            head += 1
        }
        if head == entries.count {
            entries.removeAll(keepingCapacity: true)
            head = 0
        }
    }

    /// The whole log was replaced by a snapshot at `(index, term)`.
    mutating func reset(index: UInt64, term: UInt64) {
        compactIndex = index
        compactTerm = term
        lastIndex = index
        runs.removeAll()
        entries.removeAll(keepingCapacity: true)
        head = 0
        bytes = 0
    }

    /// Loads the state read from disk at open: the term runs of the stored log and its newest
    /// entries (ending at `lastIndex`).
    mutating func load(lastIndex: UInt64, runs: [(start: UInt64, term: UInt64)], tail: [Entry]) {
        self.lastIndex = lastIndex
        self.runs = runs
        entries = tail
        head = 0
        bytes = tail.reduce(0) { $0 + $1.byteSize }
        trim()
    }
}
