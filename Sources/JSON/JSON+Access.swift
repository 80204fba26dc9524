import CJansson
import CShims

extension JSON {
    /// The member `key` of an object, or nil (also for non-objects).
    public subscript(key: String) -> JSON? {
        guard kind == .object, let member = json_object_get(raw, key) else { return nil }
        return JSON(borrowing: member)
    }

    /// The element at `index` of an array, or nil (also for non-arrays and out of range).
    public subscript(index: Int) -> JSON? {
        guard kind == .array, index >= 0, let element = json_array_get(raw, index) else { return nil }
        return JSON(borrowing: element)
    }

    /// Number of members (object) or elements (array); 0 for scalars.
    public var count: Int {
        switch kind {
        case .object: json_object_size(raw)
        case .array: json_array_size(raw)
        default: 0
        }
    }

    public var stringValue: String? {
        guard kind == .string else { return nil }
        let length = json_string_length(raw)
        return json_string_value(raw).withMemoryRebound(to: UInt8.self, capacity: length) {
            String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
        }
    }

    public var intValue: Int64? { kind == .integer ? Int64(json_integer_value(raw)) : nil }

    /// The number as a Double, for integers and reals.
    public var doubleValue: Double? {
        switch kind {
        case .integer: Double(json_integer_value(raw))
        case .real: json_real_value(raw)
        default: nil
        }
    }

    public var boolValue: Bool? {
        switch raw.pointee.type {
        case JSON_TRUE: true
        case JSON_FALSE: false
        default: nil
        }
    }

    public var isNull: Bool { kind == .null }

    /// Members of an object in their stored order; empty for non-objects.
    public var members: [(key: String, value: JSON)] {
        guard kind == .object else { return [] }
        var result: [(key: String, value: JSON)] = []
        result.reserveCapacity(count)
        var iter = json_object_iter(raw)
        while let it = iter {
            let key = String(cString: json_object_iter_key(it))
            if let value = json_object_iter_value(it) { result.append((key, JSON(borrowing: value))) }
            iter = json_object_iter_next(raw, it)
        }
        return result
    }

    /// Elements of an array; empty for non-arrays.
    public var elements: [JSON] {
        guard kind == .array else { return [] }
        return (0..<count).compactMap { self[$0] }
    }
}

extension JSON: Equatable {
    /// Structural equality (jansson's `json_equal`: object member order does not matter;
    /// an integer never equals a real).
    public static func == (lhs: JSON, rhs: JSON) -> Bool { json_equal(lhs.raw, rhs.raw) != 0 }
}
