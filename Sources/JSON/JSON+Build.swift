import CJansson
import CShims

extension JSON {
    public static let null = JSON(owning: json_null())

    public static func string(_ value: String) -> JSON {
        var value = value
        return value.withUTF8 { utf8 in
            guard let base = utf8.baseAddress else { return JSON(owning: json_string("")!) }
            return base.withMemoryRebound(to: CChar.self, capacity: utf8.count) {
                JSON(owning: json_stringn_nocheck($0, utf8.count)!)
            }
        }
    }

    public static func int(_ value: Int64) -> JSON { JSON(owning: json_integer(json_int_t(value))) }
    public static func int(_ value: Int) -> JSON { int(Int64(value)) }
    public static func int(_ value: UInt64) -> JSON { int(Int64(clamping: value)) }

    /// A real number; NaN and infinities (not representable in JSON) become null.
    public static func double(_ value: Double) -> JSON {
        guard value.isFinite, let real = json_real(value) else { return .null }
        return JSON(owning: real)
    }

    public static func bool(_ value: Bool) -> JSON { JSON(owning: value ? json_true()! : json_false()!) }

    public static func array(_ elements: [JSON]) -> JSON {
        let array = json_array()!
        for element in elements { json_array_append(array, element.raw) }
        return JSON(owning: array)
    }

    /// An object with members in the given order (a later duplicate key replaces an earlier one).
    public static func object(_ members: [(String, JSON)]) -> JSON {
        let object = json_object()!
        for (key, value) in members { json_object_set(object, key, value.raw) }
        return JSON(owning: object)
    }

    public static func object(_ members: KeyValuePairs<String, JSON>) -> JSON {
        object(members.map { ($0.key, $0.value) })
    }

    /// A copy of this object with `key` set to `value` (or removed when `value` is nil).
    /// Non-objects are returned unchanged.
    public func setting(_ key: String, to value: JSON?) -> JSON {
        guard kind == .object else { return self }
        let copy = json_copy(raw)!
        if let value { json_object_set(copy, key, value.raw) } else { json_object_del(copy, key) }
        return JSON(owning: copy)
    }
}

extension JSON: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByFloatLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(arrayLiteral elements: JSON...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSON)...) { self = .object(elements) }
    public init(nilLiteral: ()) { self = .null }
}
