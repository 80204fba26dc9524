/// The naming rule for collections, document ids and node ids: `[A-Za-z0-9._~-]{1,128}`,
/// never `.` or `..`, never containing `..`.
public enum Names {
    public static let maxLength = 128

    public static func isValid(_ name: String) -> Bool {
        let utf8 = name.utf8
        guard (1...maxLength).contains(utf8.count) else { return false }
        var previousDot = false
        for byte in utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "-"):
                previousDot = false
            case UInt8(ascii: "."):
                if previousDot { return false }
                previousDot = true
            default:
                return false
            }
        }
        return name != "."
    }

    /// A document id: a name, or `<shard key value>:<name>` (both parts names; the form of
    /// ids in a collection that declares a shard key, see `Bucket`).
    public static func isValidDocumentID(_ id: String) -> Bool {
        guard id.utf8.count <= maxLength else { return false }
        let parts = id.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
        switch parts.count {
        case 1: return isValid(id)
        case 2: return isValid(String(parts[0])) && isValid(String(parts[1]))
        default: return false
        }
    }
}
