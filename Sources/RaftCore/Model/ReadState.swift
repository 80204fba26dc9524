/// The answer to `RawNode.readIndex(context:)`: a linearizable read issued with `context`
/// may be served once the application has applied at least `index`.
public struct ReadState: Sendable, Hashable {
    public var index: UInt64
    public var context: [UInt8]

    public init(index: UInt64, context: [UInt8]) {
        self.index = index
        self.context = context
    }
}
