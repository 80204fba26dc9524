import CCurl
import CShims

/// An outgoing HTTP request.
public struct ClientRequest: Sendable {
    public var method: String
    public var url: String
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    public var timeoutMilliseconds: Int

    public init(method: String = "GET", url: String, headers: [(name: String, value: String)] = [],
                body: [UInt8] = [], timeoutMilliseconds: Int = 10_000) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeoutMilliseconds = timeoutMilliseconds
    }
}

/// A received HTTP response.
public struct ClientResponse: Sendable {
    public let status: Int
    /// Header fields with lowercased names (of the final response, after any 1xx).
    public let headers: [(name: String, value: String)]
    public let body: [UInt8]

    public func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.first { $0.name == lower }?.value
    }

    public var text: String { String(decoding: body, as: UTF8.self) }
}

/// Errors from libcurl, with its message.
public struct CurlError: Error, Sendable, CustomStringConvertible {
    public let code: Int
    public let message: String
    public let url: String
    public var description: String { "\(url): \(message) (curl error \(code))" }
}

/// One libcurl easy handle: sequential requests over a reused keep-alive connection.
/// Not thread-safe; use one per thread.
public final class HTTPClient {
    private static let globalInit: Void = { curl_global_init(Int(CURL_GLOBAL_ALL)) }()

    private let handle: UnsafeMutableRawPointer

    public init() throws(CurlError) {
        _ = HTTPClient.globalInit
        guard let handle = curl_easy_init() else { throw CurlError(code: -1, message: "curl_easy_init failed", url: "") }
        self.handle = handle
    }

    deinit { curl_easy_cleanup(handle) }

    /// Sends `request` and returns the response. `stream`, when given, receives the body in
    /// chunks instead of collecting it (return false to abort).
    public func perform(_ request: ClientRequest, stream: ((UnsafeRawBufferPointer) -> Bool)? = nil) throws(CurlError) -> ClientResponse {
        curl_easy_reset(handle)
        let sink = ResponseSink()
        sink.stream = stream
        let sinkPointer = Unmanaged.passUnretained(sink).toOpaque()
        var list: UnsafeMutablePointer<curl_slist>? = nil
        for (name, value) in request.headers { list = curl_slist_append(list, "\(name): \(value)") }
        if !request.body.isEmpty || ["POST", "PUT", "PATCH"].contains(request.method) {
            list = curl_slist_append(list, "Expect:")  // no 100-continue round trip
        }
        defer { curl_slist_free_all(list) }

        let code: CURLcode = withExtendedLifetime(sink) {
            request.body.withUnsafeBytes { body in
                _ = machdb_curl_setopt_str(handle, CURLOPT_URL, request.url)
                _ = machdb_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1)
                _ = machdb_curl_setopt_long(handle, CURLOPT_TIMEOUT_MS, request.timeoutMilliseconds)
                _ = machdb_curl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, min(request.timeoutMilliseconds, 5_000))
                _ = machdb_curl_setopt_write_cb(handle, CURLOPT_WRITEFUNCTION, writeBody)
                _ = machdb_curl_setopt_ptr(handle, CURLOPT_WRITEDATA, sinkPointer)
                _ = machdb_curl_setopt_write_cb(handle, CURLOPT_HEADERFUNCTION, writeHeader)
                _ = machdb_curl_setopt_ptr(handle, CURLOPT_HEADERDATA, sinkPointer)
                _ = machdb_curl_setopt_ptr(handle, CURLOPT_HTTPHEADER, list.map { UnsafeMutableRawPointer($0) })
                if request.method == "HEAD" {
                    _ = machdb_curl_setopt_long(handle, CURLOPT_NOBODY, 1)
                } else if request.method != "GET" || !request.body.isEmpty {
                    _ = machdb_curl_setopt_str(handle, CURLOPT_CUSTOMREQUEST, request.method)
                    _ = machdb_curl_setopt_off(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count))
                    _ = machdb_curl_setopt_ptr(handle, CURLOPT_POSTFIELDS, UnsafeMutableRawPointer(mutating: body.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!))
                }
                return curl_easy_perform(handle)
            }
        }
        guard code == CURLE_OK else {
            throw CurlError(code: Int(code.rawValue), message: String(cString: curl_easy_strerror(code)), url: request.url)
        }
        var status = 0
        _ = machdb_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        return ClientResponse(status: status, headers: sink.headers, body: sink.body)
    }
}

private func writeBody(_ data: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ user: UnsafeMutableRawPointer?) -> Int {
    guard let user else { return 0 }
    let sink = Unmanaged<ResponseSink>.fromOpaque(user)
    return sink.takeUnretainedValue().append(data, size * count)
}

private func writeHeader(_ data: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ user: UnsafeMutableRawPointer?) -> Int {
    guard let user else { return 0 }
    let sink = Unmanaged<ResponseSink>.fromOpaque(user)
    sink.takeUnretainedValue().header(data, size * count)
    return size * count
}

/// Collects one response: header lines (reset at each new status line, so 1xx are dropped)
/// and the body, or hands body chunks to `stream`.
private final class ResponseSink {
    var body: [UInt8] = []
    var headers: [(name: String, value: String)] = []
    var stream: ((UnsafeRawBufferPointer) -> Bool)?

    func append(_ data: UnsafeMutablePointer<CChar>?, _ count: Int) -> Int {
        guard let data, count > 0 else { return 0 }
        let chunk = UnsafeRawBufferPointer(start: data, count: count)
        if let stream { return stream(chunk) ? count : 0 }
        body.append(contentsOf: chunk)
        return count
    }

    func header(_ data: UnsafeMutablePointer<CChar>?, _ count: Int) {
        guard let data, count > 0 else { return }
        let line = String(decoding: UnsafeRawBufferPointer(start: data, count: count), as: UTF8.self)
        if line.hasPrefix("HTTP/") { headers.removeAll(); return }
        guard let colon = line.firstIndex(of: ":") else { return }
        let name = line[..<colon].lowercased()
        let value = line[line.index(after: colon)...].trimmingCharacters(in: " \t\r\n")
        headers.append((name, value))
    }
}

private extension Substring {
    func trimmingCharacters(in set: String) -> String {
        var slice = self[...]
        while let first = slice.first, set.contains(first) { slice = slice.dropFirst() }
        while let last = slice.last, set.contains(last) { slice = slice.dropLast() }
        return String(slice)
    }
}
