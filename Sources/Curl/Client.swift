import CCurl
import CShims

/// An outgoing HTTP request.
public struct ClientRequest: Sendable {
    public var method: String
    public var url: String
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    public var timeoutMilliseconds: Int
    /// Connect to this unix socket instead of the URL's host and port (CURLOPT_UNIX_SOCKET_PATH;
    /// the URL still gives the path and the Host header), e.g. the Docker daemon's.
    public var unixSocketPath: String?

    public init(method: String = "GET", url: String, headers: [(name: String, value: String)] = [],
                body: [UInt8] = [], timeoutMilliseconds: Int = 10_000, unixSocketPath: String? = nil) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeoutMilliseconds = timeoutMilliseconds
        self.unixSocketPath = unixSocketPath
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

    /// `headers` must have lowercased names.
    public init(status: Int, headers: [(name: String, value: String)], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}

/// Errors from libcurl, with its message.
public struct CurlError: Error, Sendable, CustomStringConvertible {
    public let code: Int
    public let message: String
    public let url: String
    /// Request bytes libcurl had sent in this transfer (CURLINFO_REQUEST_SIZE), 0 when unknown.
    public var requestBytesSent: Int = 0
    public var description: String { "\(url): \(message) (curl error \(code))" }

    public init(code: Int, message: String, url: String, requestBytesSent: Int = 0) {
        self.code = code
        self.message = message
        self.url = url
        self.requestBytesSent = requestBytesSent
    }

    /// Certainly never reached the server: the connection could not be made and nothing was
    /// sent. (libcurl retries a request whose reused connection died after it was sent on a
    /// fresh connection; when that connect fails it reports code 7 too, but with the first
    /// attempt's bytes counted.)
    public var neverSent: Bool { code == 7 && requestBytesSent == 0 }
}

/// One libcurl easy handle: sequential requests over a reused keep-alive connection.
/// Not thread-safe; use one per thread.
public final class HTTPClient {
    private let handle: UnsafeMutableRawPointer

    public init() throws(CurlError) {
        _ = curlGlobalInit
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
        let headers = HeaderList(for: request)

        let code: CURLcode = withExtendedLifetime((sink, headers)) {
            request.body.withUnsafeBytes { body in
                _ = EasyRequest.configure(handle, for: request, sink: sinkPointer, headers: headers, body: body,
                                          connectTimeoutMilliseconds: min(request.timeoutMilliseconds, 5_000))
                return curl_easy_perform(handle)
            }
        }
        guard code == CURLE_OK else { throw EasyRequest.error(code, url: request.url, handle: handle) }
        return EasyRequest.response(of: handle, sink: sink)
    }
}
