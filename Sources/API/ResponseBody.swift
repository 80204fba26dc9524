import JSON
import MicroHTTPD
import Storage

/// Hand-built JSON bodies for the hot paths (no intermediate tree).
enum ResponseBody {
    static func writeResult(_ result: WriteResult, index: UInt64) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(96 + result.id.utf8.count + result.collection.utf8.count)
        out.append(contentsOf: #"{"collection":"#.utf8)
        JSON.appendString(result.collection, into: &out)
        out.append(contentsOf: #","id":"#.utf8)
        JSON.appendString(result.id, into: &out)
        out.append(contentsOf: #","rev":\#(result.rev),"bucket":\#(result.bucket),"index":\#(index)"#.utf8)
        if result.deleted { out.append(contentsOf: #","deleted":true"#.utf8) }
        out.append(UInt8(ascii: "}"))
        return out
    }

    static func json(_ value: JSON, status: Int = 200, headers: [(name: String, value: String)] = []) -> Response {
        Response(status: status, contentType: "application/json", body: value.encoded(), headers: headers)
    }

    static func etag(_ rev: UInt64) -> String { "\"\(rev)\"" }
}
