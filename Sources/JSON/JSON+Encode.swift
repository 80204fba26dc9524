import CJansson
import CShims

extension JSON {
    /// Compact UTF-8 encoding. Reals use the shortest text that reads back to the same Double
    /// (`0.1`, not `0.10000000000000001`); strings escape `"`, `\` and control characters only.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(64)
        JSON.encode(raw, into: &out)
        return out
    }

    /// The compact encoding as a String.
    public var text: String { String(decoding: encoded(), as: UTF8.self) }

    static func encode(_ value: UnsafeMutablePointer<json_t>, into out: inout [UInt8]) {
        switch value.pointee.type {
        case JSON_OBJECT:
            out.append(UInt8(ascii: "{"))
            var first = true
            var iter = json_object_iter(value)
            while let it = iter {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                let key = json_object_iter_key(it)!
                let keyLength = strlenOfKey(key)
                key.withMemoryRebound(to: UInt8.self, capacity: keyLength) {
                    appendString(UnsafeBufferPointer(start: $0, count: keyLength), into: &out)
                }
                out.append(UInt8(ascii: ":"))
                encode(json_object_iter_value(it)!, into: &out)
                iter = json_object_iter_next(value, it)
            }
            out.append(UInt8(ascii: "}"))
        case JSON_ARRAY:
            out.append(UInt8(ascii: "["))
            for index in 0..<json_array_size(value) {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                encode(json_array_get(value, index)!, into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case JSON_STRING:
            let length = json_string_length(value)
            json_string_value(value).withMemoryRebound(to: UInt8.self, capacity: length) {
                appendString(UnsafeBufferPointer(start: $0, count: length), into: &out)
            }
        case JSON_INTEGER:
            out.append(contentsOf: String(json_integer_value(value)).utf8)
        case JSON_REAL:
            let real = json_real_value(value)
            let text = "\(real)"  // shortest round-trip form: "0.1", "2.0", "1e+20"
            out.append(contentsOf: text.utf8)
        case JSON_TRUE: out.append(contentsOf: "true".utf8)
        case JSON_FALSE: out.append(contentsOf: "false".utf8)
        default: out.append(contentsOf: "null".utf8)
        }
    }

    private static func strlenOfKey(_ key: UnsafePointer<CChar>) -> Int {
        var n = 0
        while key[n] != 0 { n += 1 }
        return n
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    /// Appends `bytes` (valid UTF-8) as a JSON string literal.
    static func appendString(_ bytes: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "\""): out.append(UInt8(ascii: "\\")); out.append(byte)
            case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\")); out.append(byte)
            case 0x0A: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "n"))
            case 0x0D: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "r"))
            case 0x09: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "t"))
            case 0..<0x20:
                out.append(contentsOf: "\\u00".utf8)
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0xF)])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// Appends `text` as a JSON string literal (for hand-built encodings).
    public static func appendString(_ text: String, into out: inout [UInt8]) {
        var text = text
        text.withUTF8 { appendString($0, into: &out) }
    }
}

extension JSON: CustomStringConvertible {
    public var description: String { text }
}
