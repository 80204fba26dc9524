import Foundation
import JSON

/// The ids already acted on: a bounded FIFO set, persisted as `seen.json` so a restarted
/// operator still answers a redelivery as a duplicate.
struct SeenIDs {
    static let capacity = 10_000
    private(set) var order: [String] = []
    private var members: Set<String> = []

    init(ids: [String] = []) {
        for id in ids.suffix(Self.capacity) where !members.contains(id) {
            order.append(id)
            members.insert(id)
        }
    }

    func contains(_ id: String) -> Bool { members.contains(id) }

    /// Adds `id`, forgetting the oldest beyond `capacity`.
    mutating func insert(_ id: String) {
        guard members.insert(id).inserted else { return }
        order.append(id)
        if order.count > Self.capacity {
            let overflow = order.count - Self.capacity
            for old in order.prefix(overflow) { members.remove(old) }
            order.removeFirst(overflow)
        }
    }

    static func load(path: String) -> SeenIDs {
        guard let data = FileManager.default.contents(atPath: path), let json = try? JSON.parse(Array(data)) else { return SeenIDs() }
        return SeenIDs(ids: (json["ids"]?.elements ?? []).compactMap(\.stringValue))
    }

    /// Writes the set to `path` atomically (temporary file, then rename).
    func save(path: String) throws {
        let body = JSON.object([("ids", .array(order.map { .string($0) }))]).encoded()
        try Data(body).write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}
