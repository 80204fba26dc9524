import CJansson
import CShims

extension JSON {
    /// RFC 7396 JSON Merge Patch: `patch` applied to `self`. A non-object patch replaces the
    /// target; `null` members remove keys; nested objects merge recursively.
    public func mergePatched(with patch: JSON) -> JSON {
        guard patch.kind == .object else { return patch }
        let result: UnsafeMutablePointer<json_t> = kind == .object ? json_copy(raw)! : json_object()!
        for (key, value) in patch.members {
            if value.isNull {
                json_object_del(result, key)
            } else {
                let current = json_object_get(result, key).map { JSON(borrowing: $0) } ?? JSON.null
                let merged = current.mergePatched(with: value)
                json_object_set(result, key, merged.raw)
            }
        }
        return JSON(owning: result)
    }
}
