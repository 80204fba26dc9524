import Curl
import Foundation
import JSON
import Synchronization

/// The few Docker Engine API calls the operator makes, over the daemon's unix socket (libcurl,
/// `CURLOPT_UNIX_SOCKET_PATH`). Each call uses a fresh easy handle, so any thread may call.
///
/// The API version is negotiated once, at the first call that succeeds in asking: `/v1.41`
/// (Docker 20.10, Debian bookworm's docker.io) unless the daemon is older or no longer
/// speaks it (`APIVersion.negotiate`).
final class DockerEngine: Sendable {
    let socketPath: String
    /// Per request, connect included.
    let timeoutMilliseconds: Int
    private let version = Mutex<String?>(nil)

    init(socketPath: String, timeoutMilliseconds: Int = 30_000) {
        self.socketPath = socketPath
        self.timeoutMilliseconds = timeoutMilliseconds
    }

    /// The API version in use (negotiated on first use).
    func apiVersion() throws(DockerError) -> String {
        if let known = version.withLock({ $0 }) { return known }
        let answer = try send("GET", "/version", timeoutMilliseconds: 10_000)
        guard let server = answer["ApiVersion"]?.stringValue else {
            throw .badAnswer("GET /version has no ApiVersion")
        }
        let chosen = APIVersion.negotiate(server: server, minimum: answer["MinAPIVersion"]?.stringValue)
        version.withLock { $0 = chosen }
        return chosen
    }

    /// `POST /containers/create?name=`: returns the new container's id.
    func createContainer(_ spec: ContainerSpec) throws(DockerError) -> String {
        let answer = try call("POST", "/containers/create", query: [("name", spec.name)], body: spec.json)
        guard let id = answer["Id"]?.stringValue, !id.isEmpty else { throw .badAnswer("container create answered no Id") }
        return id
    }

    /// `POST /containers/{id}/start` (already started is fine).
    func startContainer(_ id: String) throws(DockerError) {
        _ = try call("POST", "/containers/\(id)/start", accept: [304])
    }

    /// `POST /containers/{id}/stop?t=`: SIGTERM, then SIGKILL after `graceSeconds` (already
    /// stopped is fine). Waits for the container to stop.
    func stopContainer(_ id: String, graceSeconds: Int) throws(DockerError) {
        _ = try call("POST", "/containers/\(id)/stop", query: [("t", String(graceSeconds))], accept: [304],
                     timeoutMilliseconds: (graceSeconds + 15) * 1_000)
    }

    /// `DELETE /containers/{id}?v=true&force=true`: removes it and its anonymous volumes
    /// (gone already is fine).
    func removeContainer(_ id: String) throws(DockerError) {
        _ = try call("DELETE", "/containers/\(id)", query: [("v", "true"), ("force", "true")], accept: [404])
    }

    /// `GET /containers/json?all=true&filters={"label":[...]}`: every container, running or
    /// not, carrying all of `labels` (each `key=value` or `key`).
    func listContainers(labels: [String]) throws(DockerError) -> [ContainerSummary] {
        let answer = try call("GET", "/containers/json", query: [("all", "true"), ("filters", Self.labelFilter(labels))])
        guard answer.kind == .array else { throw .badAnswer("container list is not an array") }
        return answer.elements.compactMap(ContainerSummary.init(json:))
    }

    /// The `filters` query parameter for a label filter: `{"label":["a=b","c"]}`.
    static func labelFilter(_ labels: [String]) -> String {
        JSON.object([("label", .array(labels.map(JSON.string)))]).text
    }

    // MARK: Requests

    private func call(_ method: String, _ path: String, query: [(String, String)] = [], body: JSON? = nil, accept: Set<Int> = [],
                      timeoutMilliseconds: Int? = nil) throws(DockerError) -> JSON {
        let versioned = "/v\(try apiVersion())" + path
        return try send(method, versioned, query: query, body: body, accept: accept,
                        timeoutMilliseconds: timeoutMilliseconds ?? self.timeoutMilliseconds)
    }

    /// One request; a 2xx (or a status in `accept`) answers its JSON body (null when empty),
    /// anything else throws with the daemon's `message`.
    private func send(_ method: String, _ path: String, query: [(String, String)] = [], body: JSON? = nil, accept: Set<Int> = [],
                      timeoutMilliseconds: Int) throws(DockerError) -> JSON {
        var url = "http://docker" + path
        if !query.isEmpty { url += "?" + query.map { "\($0.0)=\(Self.percentEncoded($0.1))" }.joined(separator: "&") }
        var headers: [(name: String, value: String)] = []
        if body != nil { headers.append(("Content-Type", "application/json")) }
        let request = ClientRequest(method: method, url: url, headers: headers, body: body?.encoded() ?? [],
                                    timeoutMilliseconds: timeoutMilliseconds, unixSocketPath: socketPath)
        let response: ClientResponse
        do {
            response = try HTTPClient().perform(request)
        } catch {
            throw .unreachable("\(socketPath): \(error.message)")
        }
        let answer = response.body.isEmpty ? JSON.null : ((try? JSON.parse(response.body)) ?? .string(response.text))
        guard (200..<300).contains(response.status) || accept.contains(response.status) else {
            let message = answer["message"]?.stringValue ?? response.text.trimmingCharacters(in: .whitespacesAndNewlines)
            throw .daemon(status: response.status, message: message, request: "\(method) \(path)")
        }
        return answer
    }

    /// RFC 3986 unreserved characters pass; everything else is %XX (UTF-8).
    static func percentEncoded(_ value: String) -> String {
        var out = ""
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out += String(format: "%%%02X", byte)
            }
        }
        return out
    }
}

/// What went wrong talking to the Docker daemon; `description` is what the decision log shows.
enum DockerError: Error, Sendable, CustomStringConvertible {
    /// No answer: the socket is missing, refused, or the request timed out.
    case unreachable(String)
    /// The daemon answered an error, with its own message.
    case daemon(status: Int, message: String, request: String)
    /// An answer this client cannot read.
    case badAnswer(String)

    var description: String {
        switch self {
        case let .unreachable(detail): "Docker daemon unreachable: \(detail)"
        case let .daemon(status, message, request): "Docker daemon: \(request): HTTP \(status): \(message)"
        case let .badAnswer(detail): "Docker daemon: unexpected answer: \(detail)"
        }
    }
}

/// Docker Engine API versions ("1.41"), compared as major.minor numbers.
enum APIVersion {
    /// The version the operator's calls are written against: Docker 20.10 (Debian bookworm).
    static let preferred = "1.41"

    /// The version to use with a daemon that speaks up to `server` and at least `minimum`:
    /// `preferred` if the daemon speaks it, else the daemon's newest when it is older, else the
    /// daemon's oldest when it dropped `preferred` (the calls used are the same in every
    /// version since 1.24).
    static func negotiate(server: String, minimum: String?) -> String {
        guard let serverNumber = parse(server) else { return preferred }
        let preferredNumber = parse(preferred)!
        if serverNumber < preferredNumber { return server }
        if let minimum, let minimumNumber = parse(minimum), minimumNumber > preferredNumber { return minimum }
        return preferred
    }

    /// "1.41" → (1, 41); nil for anything else.
    static func parse(_ version: String) -> Pair? {
        let parts = version.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let major = Int(parts[0]), let minor = Int(parts[1]), major >= 0, minor >= 0 else { return nil }
        return Pair(major: major, minor: minor)
    }

    struct Pair: Comparable {
        let major: Int
        let minor: Int
        static func < (a: Pair, b: Pair) -> Bool { (a.major, a.minor) < (b.major, b.minor) }
    }
}
