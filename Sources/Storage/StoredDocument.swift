/// A live document as stored.
public struct StoredDocument: Sendable, Equatable {
    public let collection: String
    public let id: String
    public let rev: UInt64
    public let bucket: Int
    public let contentType: String
    /// The body byte-exact as written (a PATCH result as re-encoded).
    public let body: [UInt8]
    public let isJSON: Bool
    /// Milliseconds since the Unix epoch (the writing command's timestamp).
    public let updatedAt: Int64
    /// Index of the command that last wrote the document.
    public let writeIndex: UInt64

    public init(collection: String, id: String, rev: UInt64, bucket: Int, contentType: String, body: [UInt8], isJSON: Bool, updatedAt: Int64, writeIndex: UInt64) {
        self.collection = collection
        self.id = id
        self.rev = rev
        self.bucket = bucket
        self.contentType = contentType
        self.body = body
        self.isJSON = isJSON
        self.updatedAt = updatedAt
        self.writeIndex = writeIndex
    }
}
