import JSON

extension ScalingPolicy {
    /// One JSON member of the policy: its key and where it lives.
    private enum Field {
        case integer(String, WritableKeyPath<ScalingPolicy, Int>)
        case number(String, WritableKeyPath<ScalingPolicy, Double>)

        var key: String {
            switch self {
            case let .integer(key, _), let .number(key, _): key
            }
        }
    }

    /// Every field, in the order `json` writes them.
    private static var fields: [Field] {
        [
            .number("up_average_seconds", \.upAverageSeconds),
            .integer("up_average_window_seconds", \.upAverageWindowSeconds),
            .number("up_timeout_rate", \.upTimeoutRate),
            .integer("up_timeout_window_seconds", \.upTimeoutWindowSeconds),
            .number("down_average_seconds", \.downAverageSeconds),
            .integer("down_average_window_seconds", \.downAverageWindowSeconds),
            .integer("sustain_up_seconds", \.sustainUpSeconds),
            .integer("sustain_down_seconds", \.sustainDownSeconds),
            .integer("cooldown_seconds", \.cooldownSeconds),
            .integer("down_cooldown_seconds", \.downCooldownSeconds),
            .integer("surge_window_seconds", \.surgeWindowSeconds),
            .number("surge_factor", \.surgeFactor),
            .number("surge_minimum_seconds", \.surgeMinimumSeconds),
            .number("read_intensive_enter", \.readIntensiveEnter),
            .number("read_intensive_leave", \.readIntensiveLeave),
            .number("write_intensive_enter", \.writeIntensiveEnter),
            .number("write_intensive_leave", \.writeIntensiveLeave),
            .integer("minimum_requests", \.minimumRequests),
            .integer("minimum_nodes", \.minimumNodes),
        ]
    }

    /// The snake_case keys `json` writes and `init(json:)` accepts.
    public static var jsonKeys: [String] { fields.map(\.key) }

    /// Every field under its snake_case key (durations and counts as integers, the rest as reals).
    public var json: JSON {
        .object(Self.fields.map { field in
            switch field {
            case let .integer(key, path): (key, .int(self[keyPath: path]))
            case let .number(key, path): (key, .double(self[keyPath: path]))
            }
        })
    }

    /// Reads a policy object: keys present replace the fields of `defaults`, missing keys keep
    /// them (so a PUT may carry one field), and the result must pass `validate()`.
    ///
    /// Throws `.invalidPolicy` when the document is not an object, names every unknown key,
    /// names a key of the wrong type (integer fields take JSON integers only; the others take
    /// any number), or repeats `validate()`'s complaint.
    public init(json: JSON, defaults: ScalingPolicy = .init()) throws(ScalingError) {
        guard json.kind == .object else { throw .invalidPolicy("expected a JSON object") }
        let known = Set(Self.jsonKeys)
        let unknown = json.members.map(\.key).filter { !known.contains($0) }
        guard unknown.isEmpty else { throw .invalidPolicy("unknown key(s): \(unknown.sorted().joined(separator: ", "))") }
        var policy = defaults
        for field in Self.fields {
            guard let value = json[field.key] else { continue }
            switch field {
            case let .integer(key, path):
                guard let number = value.intValue, let integer = Int(exactly: number) else {
                    throw .invalidPolicy("\(key) must be an integer")
                }
                policy[keyPath: path] = integer
            case let .number(key, path):
                guard let number = value.doubleValue, number.isFinite else { throw .invalidPolicy("\(key) must be a number") }
                policy[keyPath: path] = number
            }
        }
        try policy.validate()
        self = policy
    }
}
