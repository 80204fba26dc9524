import CCurl
import CShims

/// `curl_global_init`, once per process, before the first handle is created.
let curlGlobalInit: Void = { curl_global_init(Int(CURL_GLOBAL_ALL)) }()

/// The request-setup and response-collection steps shared by `HTTPClient` (blocking, one easy
/// handle) and `MultiClient` (many easy handles on one I/O thread), so both send the same bytes
/// and parse headers the same way.
enum EasyRequest {
    /// Sets `request`'s options on a freshly reset easy handle. `sink` (a `ResponseSink`),
    /// `headers` and `body` must stay valid until the transfer ends or the handle is reset.
    /// Returns the first option that failed, or `CURLE_OK`.
    static func configure(_ handle: UnsafeMutableRawPointer, for request: ClientRequest, sink: UnsafeMutableRawPointer,
                          headers: HeaderList, body: UnsafeRawBufferPointer, connectTimeoutMilliseconds: Int) -> CURLcode {
        var first = CURLE_OK
        func check(_ code: CURLcode) { if first == CURLE_OK { first = code } }
        check(machdb_curl_setopt_str(handle, CURLOPT_URL, request.url))
        if let socket = request.unixSocketPath { check(machdb_curl_setopt_str(handle, CURLOPT_UNIX_SOCKET_PATH, socket)) }
        check(machdb_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1))
        check(machdb_curl_setopt_long(handle, CURLOPT_TIMEOUT_MS, request.timeoutMilliseconds))
        check(machdb_curl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, connectTimeoutMilliseconds))
        check(machdb_curl_setopt_write_cb(handle, CURLOPT_WRITEFUNCTION, writeBody))
        check(machdb_curl_setopt_ptr(handle, CURLOPT_WRITEDATA, sink))
        check(machdb_curl_setopt_write_cb(handle, CURLOPT_HEADERFUNCTION, writeHeader))
        check(machdb_curl_setopt_ptr(handle, CURLOPT_HEADERDATA, sink))
        check(machdb_curl_setopt_ptr(handle, CURLOPT_HTTPHEADER, headers.pointer.map { UnsafeMutableRawPointer($0) }))
        if request.url.hasPrefix("https://") { ClientTLS.apply(to: handle, check: check) }
        if request.method == "HEAD" {
            check(machdb_curl_setopt_long(handle, CURLOPT_NOBODY, 1))
        } else if request.method != "GET" || !request.body.isEmpty {
            check(machdb_curl_setopt_str(handle, CURLOPT_CUSTOMREQUEST, request.method))
            check(machdb_curl_setopt_off(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count)))
            check(machdb_curl_setopt_ptr(handle, CURLOPT_POSTFIELDS,
                                         UnsafeMutableRawPointer(mutating: body.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!)))
        }
        return first
    }

    /// The response of a finished transfer (`CURLE_OK`): its status and what `sink` collected.
    static func response(of handle: UnsafeMutableRawPointer, sink: ResponseSink) -> ClientResponse {
        var status = 0
        _ = machdb_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        return ClientResponse(status: status, headers: sink.headers, body: sink.body)
    }

    /// The error for a failed transfer, with curl's code (7 = could not connect, 28 = timed out).
    static func error(_ code: CURLcode, url: String, handle: UnsafeMutableRawPointer? = nil) -> CurlError {
        var sent = 0
        if let handle { _ = machdb_curl_getinfo_long(handle, CURLINFO_REQUEST_SIZE, &sent) }
        return CurlError(code: Int(code.rawValue), message: String(cString: curl_easy_strerror(code)), url: url,
                         requestBytesSent: sent)
    }
}

/// Owns the `curl_slist` of one request's header lines (freed in `deinit`). Adds an empty
/// `Expect:` to requests with a body, so there is no 100-continue round trip.
final class HeaderList {
    private(set) var pointer: UnsafeMutablePointer<curl_slist>?

    init(for request: ClientRequest) {
        for (name, value) in request.headers { append("\(name): \(value)") }
        if !request.body.isEmpty || ["POST", "PUT", "PATCH"].contains(request.method) {
            append("Expect:")
        }
    }

    private func append(_ line: String) {
        if let longer = curl_slist_append(pointer, line) { pointer = longer }
    }

    deinit { curl_slist_free_all(pointer) }
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
final class ResponseSink {
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

    /// One header line, parsed on its bytes (no String scanning: this runs once per header of
    /// every relayed response). Names are lowercased ASCII; values trimmed of spaces, tabs and
    /// the line end.
    func header(_ data: UnsafeMutablePointer<CChar>?, _ count: Int) {
        guard let data, count > 0 else { return }
        let bytes = UnsafeRawBufferPointer(start: data, count: count)
        if count >= 5 && bytes[0] == 0x48 && bytes[1] == 0x54 && bytes[2] == 0x54 && bytes[3] == 0x50 && bytes[4] == 0x2F {
            headers.removeAll()  // "HTTP/": a new status line (after a 1xx)
            return
        }
        guard let colon = bytes.firstIndex(of: 0x3A) else { return }
        let name = String(unsafeUninitializedCapacity: colon) { buffer in
            for i in 0..<colon {
                let byte = bytes[i]
                buffer[i] = byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte
            }
            return colon
        }
        var start = colon + 1, end = count
        func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0D || byte == 0x0A }
        while start < end && isSpace(bytes[start]) { start += 1 }
        while end > start && isSpace(bytes[end - 1]) { end -= 1 }
        let value = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
        headers.append((name, value))
    }
}
