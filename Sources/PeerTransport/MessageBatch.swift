import RaftCore

/// The body of `POST /internal/v1/raft/{shard}/messages`: `Message.encodeBatch` bytes.
public enum MessageBatch {
    /// Decodes a received body. Throws `.batchTooLarge` (413) past `maxBytes`, `.badBatch` (400)
    /// for an empty or malformed body. Routing the messages (checking `to`) is the caller's job.
    public static func decode(_ body: [UInt8], maxBytes: Int) throws(TransportError) -> [Message] {
        guard body.count <= maxBytes else { throw .batchTooLarge(bytes: body.count, limit: maxBytes) }
        guard !body.isEmpty else { throw .badBatch("empty body") }
        do {
            return try Message.decodeBatch(body)
        } catch {
            throw .badBatch("\(error)")
        }
    }

    /// The encoded size of `message`, approximately (an upper bound for small headers), for
    /// splitting a backlog into requests without encoding twice.
    static func estimatedSize(_ message: Message) -> Int {
        var size = 96 + message.context.count
        for entry in message.entries { size += 32 + entry.data.count }
        if let snapshot = message.snapshot {
            let conf = snapshot.metadata.confState
            size += 96 + snapshot.data.count + 8 * conf.members.count + 16 * conf.attributes.count
        }
        return size
    }
}
