import JSON

extension ClusterMap {
    /// The map as the JSON document replicated to nodes and shown by `GET /admin/v1/cluster`.
    ///
    /// `stage` and `stage_number` are derived and ignored by `init(json:)`. Counters above
    /// `Int64.max` are clamped (they never get there).
    public var json: JSON {
        .object([
            ("version", .int(version)),
            ("stage", .string(stageName)),
            ("stage_number", .int(stage)),
            ("nodes", .array(nodes.map(\.json))),
            ("shards", .array(shards.map(\.json))),
            ("recommendations", .array(recommendations.map(\.json))),
            ("next_join_order", .int(nextJoinOrder)),
            ("next_recommendation_seq", .int(nextRecommendationSeq)),
            ("settings", settings?.json ?? .null),
        ])
    }

    /// Reads a map written by `json`; ignores unknown keys, requires every key it reads.
    ///
    /// Throws `.invalidMap` naming the path of the first missing key or bad value. Roles are
    /// returned canonical and nodes sorted by `join_order`; duplicate node ids are rejected.
    public init(json: JSON) throws(TopologyError) {
        let root = try Fields(json, path: "")
        var nodes: [MapNode] = []
        for (index, element) in try root.array("nodes").enumerated() {
            nodes.append(try MapNode(fields: Fields(element, path: "nodes[\(index)]")))
        }
        var seen: Set<String> = []
        for node in nodes where !seen.insert(node.id).inserted {
            throw .invalidMap("nodes: duplicate id \(node.id.debugDescription)")
        }
        var shards: [ShardEntry] = []
        for (index, element) in try root.array("shards").enumerated() {
            shards.append(try ShardEntry(fields: Fields(element, path: "shards[\(index)]")))
        }
        var recommendations: [Recommendation] = []
        for (index, element) in try root.array("recommendations").enumerated() {
            recommendations.append(try Recommendation(fields: Fields(element, path: "recommendations[\(index)]")))
        }
        var settings: ClusterSettings?
        if let value = root.object["settings"], !value.isNull {
            settings = try ClusterSettings(fields: Fields(value, path: "settings"))
        }
        self.init(
            version: try root.uint64("version"),
            nodes: nodes.enumerated().sorted { ($0.element.joinOrder, $0.offset) < ($1.element.joinOrder, $1.offset) }
                .map(\.element),
            shards: shards,
            recommendations: recommendations,
            nextJoinOrder: try root.uint64("next_join_order"),
            nextRecommendationSeq: try root.uint64("next_recommendation_seq"),
            settings: settings)
    }
}

extension MapNode {
    var json: JSON {
        .object([
            ("id", .string(id)),
            ("url", .string(url)),
            ("level", .int(level)),
            ("roles", .array(roles.map { .string($0.rawValue) })),
            ("state", .string(state.rawValue)),
            ("join_order", .int(joinOrder)),
            ("primary_load_manager", .bool(primaryLoadManager)),
        ])
    }

    init(fields: Fields) throws(TopologyError) {
        var roles: [NodeRole] = []
        for (index, element) in try fields.array("roles").enumerated() {
            let path = fields.path("roles") + "[\(index)]"
            guard let text = element.stringValue, let role = NodeRole(rawValue: text) else {
                throw .invalidMap("\(path): expected one of writer, replica, load_manager")
            }
            guard !roles.contains(role) else { throw .invalidMap("\(path): duplicate role \(text)") }
            roles.append(role)
        }
        self.init(
            id: try fields.string("id"),
            url: try fields.string("url"),
            level: try fields.int("level", in: MapNode.levels),
            roles: NodeRole.canonical(roles),
            state: try fields.enumeration("state", as: NodeState.self),
            joinOrder: try fields.uint64("join_order"),
            primaryLoadManager: try fields.bool("primary_load_manager"))
    }
}

extension ShardEntry {
    var json: JSON {
        var fields: [(String, JSON)] = [
            ("id", .int(id)),
            ("buckets", .array([.int(firstBucket), .int(lastBucket)])),
            ("version", .int(Int64(bitPattern: version))),
            ("writer", writer.map(JSON.string) ?? .null),
            ("voters", .array(voters.map(JSON.string))),
            ("learners", .array(learners.map(JSON.string))),
        ]
        if let placement {  // absent for a shard on every node
            fields.append(("placement", .object([("nodes", .array(placement.nodes.map(JSON.string))), ("version", .int(placement.version))])))
        }
        return .object(fields)
    }

    init(fields: Fields) throws(TopologyError) {
        var placement: ShardPlacement?
        if let value = fields.object["placement"], !value.isNull {
            let inner = try Fields(value, path: fields.path("placement"))
            placement = ShardPlacement(nodes: try inner.strings("nodes"), version: try inner.uint64("version"))
        }
        let buckets = try fields.array("buckets")
        guard buckets.count == 2, let first = buckets[0].intValue, let last = buckets[1].intValue,
            let firstBucket = Int(exactly: first), let lastBucket = Int(exactly: last), firstBucket <= lastBucket
        else { throw .invalidMap("\(fields.path("buckets")): expected [first, last] with first <= last") }
        self.init(
            id: try fields.int("id", in: 0...Int.max),
            firstBucket: firstBucket,
            lastBucket: lastBucket,
            writer: try fields.optionalString("writer"),
            voters: try fields.strings("voters"),
            learners: try fields.strings("learners"),
            version: fields.has("version") ? try fields.uint64("version") : 1,
            placement: placement)
    }
}

extension Recommendation {
    var json: JSON {
        .object([
            ("seq", .int(seq)),
            ("kind", .string(kind.rawValue)),
            ("target", target.map(JSON.string) ?? .null),
            ("reason", .string(reason)),
            ("stage", .int(stage)),
            ("map_version", .int(mapVersion)),
        ])
    }

    init(fields: Fields) throws(TopologyError) {
        self.init(
            seq: try fields.uint64("seq"),
            kind: try fields.enumeration("kind", as: RecommendationKind.self),
            target: try fields.optionalString("target"),
            reason: try fields.string("reason"),
            stage: try fields.int("stage", in: 0...Int.max),
            mapVersion: try fields.uint64("map_version"))
    }
}

/// Typed access to one JSON object's members, with errors that name the member's path.
struct Fields {
    let object: JSON
    let prefix: String

    init(_ json: JSON, path: String) throws(TopologyError) {
        guard json.kind == .object else { throw .invalidMap("\(path.isEmpty ? "document" : path): expected an object") }
        object = json
        prefix = path
    }

    func path(_ key: String) -> String { prefix.isEmpty ? key : prefix + "." + key }

    func value(_ key: String) throws(TopologyError) -> JSON {
        guard let value = object[key] else { throw .invalidMap("\(path(key)): missing") }
        return value
    }

    func has(_ key: String) -> Bool { object[key] != nil }

    func string(_ key: String) throws(TopologyError) -> String {
        guard let text = try value(key).stringValue else { throw .invalidMap("\(path(key)): expected a string") }
        return text
    }

    /// A string or null; an absent key reads as nil.
    func optionalString(_ key: String) throws(TopologyError) -> String? {
        guard let value = object[key], !value.isNull else { return nil }
        guard let text = value.stringValue else { throw .invalidMap("\(path(key)): expected a string or null") }
        return text
    }

    func strings(_ key: String) throws(TopologyError) -> [String] {
        var result: [String] = []
        for element in try array(key) {
            guard let text = element.stringValue else { throw .invalidMap("\(path(key)): expected strings") }
            result.append(text)
        }
        return result
    }

    func int(_ key: String, in range: ClosedRange<Int>) throws(TopologyError) -> Int {
        guard let raw = try value(key).intValue, let number = Int(exactly: raw), range.contains(number) else {
            let bounds = range.upperBound == Int.max ? ">= \(range.lowerBound)" : "in \(range)"
            throw .invalidMap("\(path(key)): expected an integer \(bounds)")
        }
        return number
    }

    func uint64(_ key: String) throws(TopologyError) -> UInt64 {
        guard let raw = try value(key).intValue, raw >= 0 else {
            throw .invalidMap("\(path(key)): expected a non-negative integer")
        }
        return UInt64(raw)
    }

    func bool(_ key: String) throws(TopologyError) -> Bool {
        guard let flag = try value(key).boolValue else { throw .invalidMap("\(path(key)): expected true or false") }
        return flag
    }

    func array(_ key: String) throws(TopologyError) -> [JSON] {
        let value = try value(key)
        guard value.kind == .array else { throw .invalidMap("\(path(key)): expected an array") }
        return value.elements
    }

    func enumeration<E: RawRepresentable<String>>(_ key: String, as type: E.Type) throws(TopologyError) -> E {
        let text = try string(key)
        guard let member = E(rawValue: text) else { throw .invalidMap("\(path(key)): unknown value \(text.debugDescription)") }
        return member
    }
}
