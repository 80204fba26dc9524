import JSON

/// What the operator decided for one recommendation (`GET /decisions`). One recommendation may
/// leave several (a `split_shard` one per node started, a `remove_node` one when the node is gone).
struct OperatorDecision: Sendable {
    let id: String
    let seq: Int64?
    let kind: String
    var action: String
    var node: String?
    var port: Int?
    var pid: Int32?
    /// The container's name (`--provision docker`).
    var container: String?
    let at: Int64
    var detail: String

    init(id: String, seq: Int64?, kind: String, action: String, node: String? = nil, port: Int? = nil, pid: Int32? = nil,
         container: String? = nil, at: Int64, detail: String) {
        self.id = id
        self.seq = seq
        self.kind = kind
        self.action = action
        self.node = node
        self.port = port
        self.pid = pid
        self.container = container
        self.at = at
        self.detail = detail
    }

    var json: JSON {
        .object([
            ("id", .string(id)), ("seq", seq.map { .int($0) } ?? .null), ("kind", .string(kind)),
            ("action", .string(action)), ("node", node.map { .string($0) } ?? .null),
            ("port", port.map { .int($0) } ?? .null), ("pid", pid.map { .int(Int64($0)) } ?? .null),
            ("container", container.map { .string($0) } ?? .null), ("at", .int(at)), ("detail", .string(detail)),
        ])
    }
}
