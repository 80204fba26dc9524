import SQLite

/// The order of JSON types in a sort: missing first (ascending), then null, booleans, numbers,
/// strings, arrays, objects. Within a rank, values compare as SQLite compares what
/// `json_extract` returns (numbers numerically, strings bytewise, false < true, arrays and
/// objects by their JSON text).
enum SortRank: Int, CaseIterable {
    case missing = 0, null, boolean, number, string, array, object

    /// Whether `value` is what `json_extract` gives for this rank.
    func admits(_ value: SQLite.Value) -> Bool {
        switch (self, value) {
        case (.missing, .null), (.null, .null): true
        case let (.boolean, .integer(flag)): flag == 0 || flag == 1
        case (.number, .integer), (.number, .real): true
        case (.string, .text), (.array, .text), (.object, .text): true
        default: false
        }
    }
}
