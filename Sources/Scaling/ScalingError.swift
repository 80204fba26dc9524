/// Why a scaling policy was rejected.
public enum ScalingError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A `ScalingPolicy` field is out of range, or its JSON has an unknown key or a wrong type;
    /// the text names the snake_case key(s) and the rule.
    case invalidPolicy(String)

    public var description: String {
        switch self {
        case let .invalidPolicy(reason): "invalid scaling policy: \(reason)"
        }
    }
}
