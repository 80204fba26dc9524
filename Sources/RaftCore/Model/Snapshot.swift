/// A point-in-time image of the application's state, as far as Raft is concerned.
///
/// `data` is opaque to the core: a small token naming the image (the runtime streams the
/// actual bytes out of band) or, in tests, the image itself.
public struct Snapshot: Sendable, Hashable {
    public var metadata: SnapshotMetadata
    public var data: [UInt8]

    public init(metadata: SnapshotMetadata = SnapshotMetadata(), data: [UInt8] = []) {
        self.metadata = metadata
        self.data = data
    }

    /// True for "no snapshot" (index 0).
    public var isEmpty: Bool { metadata.index == 0 }
}
