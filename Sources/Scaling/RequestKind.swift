/// The route class of one measured request.
public enum RequestKind: String, Sendable, CaseIterable {
    /// A single-document read.
    case read
    /// A write of any size (single documents and bulk).
    case write
    /// A query (possibly scatter-gather); counts as a read for the read/write mix.
    case query
}
