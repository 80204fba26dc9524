/// One slot of the replicated log.
///
/// `(index, term)` identifies an entry uniquely across the whole group: two logs holding an
/// entry with the same index and term hold the same entry and the same prefix before it.
public struct Entry: Sendable, Hashable {
    /// What the entry carries; only `normal` entries are meant for the application's state
    /// machine, but every committed entry is handed to the application in order.
    public enum Kind: UInt8, Sendable, Hashable {
        /// Application data, opaque to Raft.
        case normal = 0
        /// A binary-encoded `ConfChange`; the core applies it when the application reports
        /// the entry applied (`RawNode.advance`).
        case confChange = 1
        /// The empty entry a new leader appends to commit the entries of earlier terms.
        case noop = 2
    }

    public var term: UInt64
    public var index: UInt64
    public var kind: Kind
    public var data: [UInt8]

    public init(term: UInt64, index: UInt64, kind: Kind = .normal, data: [UInt8] = []) {
        self.term = term
        self.index = index
        self.kind = kind
        self.data = data
    }

    /// Approximate encoded size, used for message batching and flow control.
    public var byteSize: UInt64 { UInt64(data.count) + 24 }
}
