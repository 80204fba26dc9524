/// Read access to a node's durable Raft state: the log, the latest snapshot and the hard
/// state. The core only reads; the application writes, in this order, for each `Ready`:
/// the snapshot (if any), then the entries (truncating any stored suffix they replace),
/// then the hard state — all durably before sending the `Ready`'s messages and before
/// calling `RawNode.advance`.
///
/// Indexes: the log holds `firstIndex...lastIndex`; `firstIndex - 1` is the compaction
/// point, whose term `term(at:)` must still answer (it is the snapshot's index/term or 0
/// for an empty log). Implementations are class types: the core keeps a reference and sees
/// the application's writes.
///
/// The core calls `firstIndex`, `lastIndex` and `term(at:)` often: keep them cheap (cached).
///
/// Errors: `compacted` for indexes below `firstIndex - 1` (or entries below `firstIndex`),
/// `unavailable` beyond `lastIndex`, `snapshotTemporarilyUnavailable` when a snapshot is
/// being produced. Any other error is fatal: the core cannot decide safely without its log
/// and traps.
public protocol LogStorage: AnyObject {
    /// The persisted hard state (zero for a new node).
    func hardState() throws(RaftError) -> HardState
    /// The latest snapshot (metadata with index 0 when there is none).
    func snapshot() throws(RaftError) -> Snapshot
    /// Index of the first entry still held (compaction point + 1).
    func firstIndex() throws(RaftError) -> UInt64
    /// Index of the last entry held (the compaction point when the log is empty).
    func lastIndex() throws(RaftError) -> UInt64
    /// Term of the entry at `index`, for `firstIndex - 1 ... lastIndex`.
    func term(at index: UInt64) throws(RaftError) -> UInt64
    /// Entries `from ..< to`, stopping early once their `byteSize` total would exceed
    /// `maxBytes` (but always at least one entry when the range is not empty).
    func entries(from: UInt64, to: UInt64, maxBytes: UInt64) throws(RaftError) -> [Entry]
}
