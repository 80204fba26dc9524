import Curl
import Foundation
import MicroHTTPD
import XCTest

/// Echoes the request; `/later` answers from another thread after a delay (suspend/resume).
private struct EchoHandler: HTTPHandler {
    func handle(_ request: Request, responder: Responder) {
        let query = request.query.map { "\($0.name)=\($0.value)" }.joined(separator: "&")
        let response = Response(status: 200, contentType: "text/plain", body: request.body, headers: [
            ("X-Path", request.path), ("X-Method", request.method), ("X-Query", query),
            ("X-Length", String(request.body.count)),
        ])
        if request.path == "/later" {
            // A thread of its own: the test's clients block Dispatch's pool threads.
            Thread.detachNewThread {
                usleep(50_000)
                responder.respond(response)
            }
        } else {
            responder.respond(response)
        }
    }

    func bodyTooLarge(_ request: Request, limit: Int) -> Response {
        Response(status: 413, contentType: "text/plain", body: Array("too large".utf8))
    }
}

final class ServerTests: XCTestCase {
    var server: Server!
    var base: String { "http://127.0.0.1:\(server.port)" }

    override func setUpWithError() throws {
        var configuration = ServerConfiguration()
        configuration.port = 0
        configuration.threads = 2
        configuration.maxBodyBytes = 1 << 20
        server = try Server(configuration: configuration, handler: EchoHandler())
        XCTAssertGreaterThan(server.port, 0)
    }

    override func tearDown() {
        server.quiesce()
        server.shutdown()
    }

    func testEchoKeepAliveAndRawPath() throws {
        let client = try HTTPClient()
        for i in 0..<3 {
            let response = try client.perform(ClientRequest(method: "PUT", url: "\(base)/a%2Fb/c?x=1+2&y=%41", body: Array("body \(i)".utf8)))
            XCTAssertEqual(response.status, 200)
            XCTAssertEqual(response.text, "body \(i)")
            XCTAssertEqual(response.header("x-path"), "/a%2Fb/c")  // not decoded: routing decodes per segment
            XCTAssertEqual(response.header("x-query"), "x=1 2&y=A")
        }
    }

    func testSuspendAndResumeFromAnotherThread() throws {
        let group = DispatchGroup()
        let failures = LockedCounter()
        for _ in 0..<20 {
            group.enter()
            Thread.detachNewThread { [base] in
                defer { group.leave() }
                guard let client = try? HTTPClient() else { failures.increment(); return }
                for _ in 0..<5 {  // several suspended requests in a row on one keep-alive connection
                    guard let response = try? client.perform(ClientRequest(method: "POST", url: "\(base)/later", body: [1, 2, 3])),
                          response.status == 200, response.body == [1, 2, 3] else { failures.increment(); return }
                }
            }
        }
        XCTAssertEqual(group.wait(timeout: .now() + 30), .success)
        XCTAssertEqual(failures.value, 0)
        // The server counts a request finished when libmicrohttpd reports it completed, which
        // can be just after the client read the answer.
        let deadline = Date().addingTimeInterval(5)
        while server.inFlight != 0 && Date() < deadline { usleep(1_000) }
        XCTAssertEqual(server.inFlight, 0)
    }

    func testChunkedBodyArrivesWhole() throws {
        let socket = try RawSocket(port: server.port)
        try socket.send("POST /chunks HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        var expected: [UInt8] = []
        for i in 0..<50 {
            let piece = Array(repeating: UInt8(65 + i % 26), count: 1000 + i)
            expected += piece
            try socket.send(String(piece.count, radix: 16) + "\r\n")
            try socket.send(piece)
            try socket.send("\r\n")
            if i % 10 == 0 { usleep(2_000) }
        }
        try socket.send("0\r\n\r\n")
        let reply = try socket.receiveResponse()
        XCTAssertTrue(reply.head.hasPrefix("HTTP/1.1 200"), reply.head)
        XCTAssertTrue(reply.head.lowercased().contains("x-length: \(expected.count)"), reply.head)
        XCTAssertEqual(reply.body, expected)
    }

    func testBodyOverLimitIsRefusedEarly() throws {
        let socket = try RawSocket(port: server.port)
        try socket.send("PUT /big HTTP/1.1\r\nHost: x\r\nContent-Length: \(64 << 20)\r\n\r\n")
        let reply = try socket.receiveResponse()  // answered before any body byte is sent
        XCTAssertTrue(reply.head.hasPrefix("HTTP/1.1 413"), reply.head)
        XCTAssertEqual(String(decoding: reply.body, as: UTF8.self), "too large")
    }

    func testStreamedBodyOverLimitClosesTheConnection() throws {
        let socket = try RawSocket(port: server.port)
        try socket.send("PUT /big HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        let chunk = Array(repeating: UInt8(120), count: 64 << 10)
        var closed = false
        for _ in 0..<40 {
            do {
                try socket.send(String(chunk.count, radix: 16) + "\r\n")
                try socket.send(chunk)
                try socket.send("\r\n")
            } catch { closed = true; break }
        }
        if !closed { closed = (try? socket.receiveResponse()) == nil }
        XCTAssertTrue(closed, "the server must not read past the limit")
        // The server is still healthy.
        XCTAssertEqual(try HTTPClient().perform(ClientRequest(url: "\(base)/ok")).status, 200)
    }

    func testBodyAtTheLimitIsAccepted() throws {
        let body = Array(repeating: UInt8(7), count: 1 << 20)
        let response = try HTTPClient().perform(ClientRequest(method: "PUT", url: "\(base)/exact", body: body))
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.body.count, body.count)
    }
}

final class LockedCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func increment() { lock.lock(); count += 1; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return count }
}

/// A blocking TCP client for byte-level tests.
final class RawSocket {
    let fd: Int32

    init(port: UInt16) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else { throw POSIXError(.ECONNREFUSED) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw POSIXError(.EPIPE) }
            offset += n
        }
    }

    /// Reads one response with a Content-Length body.
    func receiveResponse() throws -> (head: String, body: [UInt8]) {
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            if let end = data.firstRange(of: Array("\r\n\r\n".utf8)) {
                let head = String(decoding: data[..<end.lowerBound], as: UTF8.self)
                let length = head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
                    .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
                while data.count - end.upperBound < length {
                    let n = recv(fd, &buffer, buffer.count, 0)
                    guard n > 0 else { throw POSIXError(.ECONNRESET) }
                    data += buffer[0..<n]
                }
                return (head, Array(data[end.upperBound..<end.upperBound + length]))
            }
            let n = recv(fd, &buffer, buffer.count, 0)
            guard n > 0 else { throw POSIXError(.ECONNRESET) }
            data += buffer[0..<n]
        }
    }
}
