import JSON
import SQLite

/// What a collection declares about itself — today its shard key field
/// (docs/ARCHITECTURE.md, "Shard keys").
///
/// Settings are documents of a system collection, one per collection, written through the
/// normal write path: they are replicated, snapshotted, backed up and restored like any
/// document, and a single node keeps them when it grows into a cluster. The API never lets a
/// client address the system collection directly. Their ids are `<pin>:<collection>`, a shard
/// key value whose bucket is 1: bucket 1 always belongs to shard 1, the meta shard every node
/// holds (a split only gives away the upper part of a range), so every node reads every
/// declaration locally, wherever other shards were moved.
public struct CollectionSettings: Sendable, Equatable {
    /// The system collection holding every collection's settings (id = collection name).
    public static let collection = "_machdb.collections"
    /// The shard key value of settings documents: its bucket is 1 (see the type).
    public static let pin = "shard1-83"

    /// The id of `collection`'s settings document.
    public static func documentID(of collection: String) -> String { pin + ":" + collection }

    /// The top-level field whose (string) value is the shard key of every document, or nil:
    /// the document id is the shard key.
    public var shardKey: String?

    public init(shardKey: String?) { self.shardKey = shardKey }

    /// A shard key field name: `[A-Za-z0-9_]{1,64}`, a top-level field of the document.
    public static func isValidField(_ name: String) -> Bool {
        (1...64).contains(name.utf8.count) && name.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"): true
            default: false
            }
        }
    }

    /// The stored document's body.
    public var json: JSON { .object([("shard_key", shardKey.map(JSON.string) ?? .null)]) }

    /// Decodes a stored settings document (an unreadable one declares nothing).
    public init(stored body: [UInt8]) {
        shardKey = (try? JSON.parse(body))?["shard_key"]?.stringValue
    }
}

extension Store {
    /// Raised after every commit that changed a collection's settings, and after a snapshot
    /// was installed: a cache of ``settings(of:)`` is valid while this has not moved.
    public var settingsGeneration: UInt64 { state.settingsGeneration.load(ordering: .acquiring) }

    /// The settings `collection` declared (as applied here), default when it declared none.
    public func settings(of collection: String) throws(StorageError) -> CollectionSettings {
        guard let stored = try document(collection: CollectionSettings.collection, id: CollectionSettings.documentID(of: collection)),
              !stored.body.isEmpty else {
            return CollectionSettings(shardKey: nil)
        }
        return CollectionSettings(stored: stored.body)
    }
}

extension Store {
    /// Every collection's declared settings (as applied here), by collection name.
    public func declaredSettings() throws(StorageError) -> [String: CollectionSettings] {
        try readers.withReader { reader throws(StorageError) in
            try sqlite { () throws(SQLite.Error) in
                let statement = try reader.connection.cached(
                    "SELECT id, json FROM documents WHERE collection = ?1 AND deleted = 0 AND json IS NOT NULL")
                defer { statement.reset() }
                try statement.bind(CollectionSettings.collection, at: 1)
                var result: [String: CollectionSettings] = [:]
                while try statement.step() {
                    let id = statement.text(at: 0)
                    guard id.hasPrefix(CollectionSettings.pin + ":") else { continue }
                    result[String(id.dropFirst(CollectionSettings.pin.count + 1))] = CollectionSettings(stored: statement.textBytes(at: 1))
                }
                return result
            }
        }
    }
}
