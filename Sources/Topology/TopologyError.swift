/// Why a policy or a cluster-map document was rejected.
public enum TopologyError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A `TopologyPolicy` field is out of range; the text names the field and the rule.
    case invalidPolicy(String)
    /// A cluster-map JSON document is missing a key or holds a bad value; the text names the path.
    case invalidMap(String)

    public var description: String {
        switch self {
        case let .invalidPolicy(reason): "invalid topology policy: \(reason)"
        case let .invalidMap(reason): "invalid cluster map: \(reason)"
        }
    }
}
