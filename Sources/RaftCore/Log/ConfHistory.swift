/// The configurations found in the log, newest last.
///
/// A node uses the latest configuration in its log, committed or not (Raft dissertation
/// §4.1): with single-server changes every two consecutive configurations share a voter in
/// any pair of majorities, and a leader appends a change only once the previous one is
/// committed and it has committed an entry of its own term. (Switching at apply time
/// instead lets a node that has not yet learned of two committed changes elect with a
/// configuration two steps old, whose majorities need not overlap the newest one.)
///
/// `base` is the configuration in force at `baseIndex` (a snapshot's, or a committed and
/// applied change's); `changes` are the configuration entries after it, each with the
/// configuration it produces. Truncating the log truncates `changes` alike.
struct ConfHistory {
    private(set) var base: ConfState
    private(set) var baseIndex: UInt64
    private(set) var changes: [(index: UInt64, conf: ConfState)] = []

    init(base: ConfState, at index: UInt64) {
        self.base = base
        self.baseIndex = index
    }

    /// The configuration in force with the whole log.
    var latest: ConfState { changes.last?.conf ?? base }

    /// Index of the entry that produced `latest` (or the base index).
    var latestIndex: UInt64 { changes.last?.index ?? baseIndex }

    /// The configuration in force once the log up to `index` is applied.
    func conf(at index: UInt64) -> ConfState {
        var result = base
        for c in changes {
            if c.index > index { break }
            result = c.conf
        }
        return result
    }

    /// Records entries written to the log from `entries[0].index` on (dropping any
    /// recorded change at or after it, which the write replaced).
    mutating func didAppend(_ entries: [Entry]) {
        guard let first = entries.first else { return }
        changes.removeAll { $0.index >= first.index }
        for e in entries where e.kind == .confChange {
            let change = (try? ConfChange(decoding: e.data))
            let next = change.map { latest.applying($0) } ?? latest
            changes.append((e.index, next))
        }
    }

    /// The log was replaced by a snapshot.
    mutating func restore(_ metadata: SnapshotMetadata) {
        base = metadata.confState
        baseIndex = metadata.index
        changes = []
    }

    /// Entries up to `index` are applied (hence committed, never truncated): fold the
    /// changes up to it into `base`.
    mutating func appliedTo(_ index: UInt64) {
        var k = 0
        while k < changes.count, changes[k].index <= index {
            base = changes[k].conf
            baseIndex = changes[k].index
            k += 1
        }
        if k > 0 { changes.removeFirst(k) }
    }
}
