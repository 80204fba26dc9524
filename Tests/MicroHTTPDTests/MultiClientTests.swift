import Curl
import Foundation
import MicroHTTPD
import Synchronization
import XCTest

/// `/hang` parks the request (suspended, answered in tearDown); anything else echoes the
/// body with the path, method, length and `X-Custom` request header.
private final class MultiTestHandler: HTTPHandler, @unchecked Sendable {
    private let parked = Mutex<[any Responder]>([])

    func handle(_ request: Request, responder: Responder) {
        if request.path == "/hang" {
            parked.withLock { $0.append(responder) }
            return
        }
        responder.respond(Response(status: request.path == "/missing" ? 404 : 200, contentType: "application/octet-stream",
                                   body: request.path.hasPrefix("/n/") ? Array("reply \(request.path.dropFirst(3))".utf8) : request.body,
                                   headers: [("X-Path", request.path), ("X-Method", request.method),
                                             ("X-Length", String(request.body.count)),
                                             ("X-Custom-Echo", request.header("x-custom") ?? "")]))
    }

    func bodyTooLarge(_ request: Request, limit: Int) -> Response {
        Response(status: 413, contentType: "text/plain", body: Array("too large".utf8))
    }

    var parkedCount: Int { parked.withLock { $0.count } }

    /// Answers every parked request (the server can only stop once all are answered).
    func releaseParked() {
        let responders = parked.withLock { parked in
            defer { parked.removeAll() }
            return parked
        }
        for responder in responders { responder.respond(Response(status: 200, contentType: "text/plain", body: [])) }
    }
}

/// Counts completions per request id, so "exactly once" can be checked.
private final class CompletionLog: Sendable {
    private let calls = Mutex<[Int: Int]>([:])
    private let failures = Mutex<[String]>([])
    let total = Atomic<Int>(0)

    func record(_ id: Int, failure: String? = nil) {
        calls.withLock { $0[id, default: 0] += 1 }
        if let failure { failures.withLock { $0.append(failure) } }
        total.add(1, ordering: .relaxed)
    }

    var count: Int { total.load(ordering: .relaxed) }
    var problems: [String] { failures.withLock { $0 } }

    /// Ids called other than exactly once, among `0..<expected`.
    func notExactlyOnce(expected: Int) -> [Int] {
        calls.withLock { calls in (0..<expected).filter { calls[$0] != 1 } + calls.keys.filter { $0 >= expected || $0 < 0 } }
    }
}

final class MultiClientTests: XCTestCase {
    private var handler: MultiTestHandler!
    private var server: Server!
    private var base: String { "http://127.0.0.1:\(server.port)" }

    override func setUpWithError() throws {
        var configuration = ServerConfiguration()
        configuration.port = 0
        configuration.threads = 2
        configuration.maxBodyBytes = 4 << 20
        handler = MultiTestHandler()
        server = try Server(configuration: configuration, handler: handler)
    }

    override func tearDown() {
        // A request a dropped client had already sent may reach the server (and park) after a
        // first release: keep releasing until none is left.
        let deadline = monotonicSeconds() + 5
        repeat {
            handler.releaseParked()
            usleep(1_000)
        } while server.inFlight != 0 && monotonicSeconds() < deadline
        XCTAssertEqual(server.inFlight, 0)
        server.quiesce()
        server.shutdown()
    }

    /// Waits for `group` while sampling the server's open connections; returns the peak.
    private func waitSamplingConnections(_ group: DispatchGroup, seconds: Double) -> (done: Bool, peak: Int) {
        let deadline = DispatchTime.now() + seconds
        var peak = 0
        while group.wait(timeout: .now() + .milliseconds(2)) == .timedOut {
            peak = max(peak, server.connections)
            if DispatchTime.now() > deadline { return (false, peak) }
        }
        return (true, max(peak, server.connections))
    }

    func testThousandConcurrentGetsReuseConnections() throws {
        let client = try MultiClient()
        defer { client.shutdown() }
        var clientPorts: Set<UInt16> = []
        // Connections left (TIME_WAIT) by an earlier test's server that had this port number.
        let earlier = clientPortsConnected(to: server.port)
        for round in 0..<2 {
            let log = CompletionLog()
            let group = DispatchGroup()
            let started = monotonicSeconds()
            for i in 0..<1_000 {
                group.enter()
                let accepted = client.submit(ClientRequest(url: "\(base)/n/\(i)")) { result in
                    switch result {
                    case .success(let response) where response.status == 200 && response.text == "reply \(i)":
                        log.record(i)
                    case .success(let response):
                        log.record(i, failure: "\(i): status \(response.status), body \(response.text)")
                    case .failure(let error):
                        log.record(i, failure: "\(i): \(error)")
                    }
                    group.leave()
                }
                XCTAssertTrue(accepted)
            }
            let (done, peak) = waitSamplingConnections(group, seconds: 30)
            XCTAssertTrue(done, "round \(round): \(log.count) of 1000 completed")
            XCTAssertEqual(log.problems, [])
            XCTAssertEqual(log.notExactlyOnce(expected: 1_000), [])
            // Keep-alive: at most the per-host pool is ever open, and it stays open afterwards.
            XCTAssertLessThanOrEqual(peak, client.configuration.maxConnectionsPerHost, "round \(round)")
            XCTAssertGreaterThan(server.connections, 0)
            // Every connection ever opened to the server (open or in TIME_WAIT) is still listed:
            // 2000 requests over the rounds used at most the pool's 64.
            clientPorts.formUnion(clientPortsConnected(to: server.port).subtracting(earlier))
            XCTAssertLessThanOrEqual(clientPorts.count, client.configuration.maxConnectionsPerHost, "round \(round)")
            print("MultiClient: round \(round): 1000 GETs in \(String(format: "%.3f", monotonicSeconds() - started)) s, "
                  + "peak \(peak) open server connections, \(clientPorts.count) client connections so far")
        }
        XCTAssertEqual(client.inFlight, 0)
        XCTAssertEqual(client.queued, 0)
    }

    func testBodiesRoundTripByteExactWithHeaders() throws {
        let client = try MultiClient()
        defer { client.shutdown() }
        var generator = SystemRandomNumberGenerator()
        let sizes = [0, 1, 1_000, 65_543, 1 << 20]
        let methods = ["POST", "PUT", "PATCH", "DELETE"]
        var requests: [ClientRequest] = []
        for size in sizes {
            for method in methods {
                let body = (0..<size).map { _ in UInt8.random(in: 0...255, using: &generator) }
                requests.append(ClientRequest(method: method, url: "\(base)/echo/\(method)/\(size)",
                                              headers: [("X-Custom", "v-\(method)-\(size)")], body: body))
            }
        }
        requests.append(ClientRequest(method: "HEAD", url: "\(base)/head"))
        requests.append(ClientRequest(url: "\(base)/missing"))

        let results = Mutex<[Int: Result<ClientResponse, CurlError>]>([:])
        let group = DispatchGroup()
        for (index, request) in requests.enumerated() {
            group.enter()
            XCTAssertTrue(client.submit(request) { result in
                results.withLock { $0[index] = result }
                group.leave()
            })
        }
        XCTAssertEqual(group.wait(timeout: .now() + 30), .success)

        let blocking = try HTTPClient()
        for (index, request) in requests.enumerated() {
            let result = results.withLock { $0[index] }
            guard case .success(let response)? = result else {
                XCTFail("\(request.method) \(request.url): \(String(describing: result))")
                continue
            }
            let expectedStatus = request.url.hasSuffix("/missing") ? 404 : 200
            XCTAssertEqual(response.status, expectedStatus, request.url)
            if request.method != "HEAD" {
                XCTAssertEqual(response.body, request.body, "\(request.method) \(request.body.count) bytes")
                XCTAssertEqual(response.header("X-Length"), String(request.body.count))
                XCTAssertEqual(response.header("x-method"), request.method)
            }
            if request.method != "GET" && request.method != "HEAD" {
                XCTAssertEqual(response.header("X-Custom-Echo"), "v-\(request.method)-\(request.body.count)")
            }
            // The same header parsing as the blocking client: lowercase names, same fields.
            let reference = try blocking.perform(request)
            XCTAssertEqual(response.status, reference.status)
            XCTAssertEqual(response.body, reference.body)
            XCTAssertEqual(response.headers.map(\.name), reference.headers.map(\.name), request.url)
            XCTAssertTrue(response.headers.allSatisfy { $0.name == $0.name.lowercased() })
            let stable = { (headers: [(name: String, value: String)]) in headers.filter { $0.name != "date" }.map { "\($0.name)=\($0.value)" } }
            XCTAssertEqual(stable(response.headers), stable(reference.headers), request.url)
        }
    }

    func testRequestTimeoutIsCode28() throws {
        let client = try MultiClient()
        defer { client.shutdown() }
        let outcome = Mutex<(error: CurlError?, seconds: Double)>((nil, 0))
        let group = DispatchGroup()
        group.enter()
        let started = monotonicSeconds()
        XCTAssertTrue(client.submit(ClientRequest(url: "\(base)/hang", timeoutMilliseconds: 300)) { result in
            let seconds = monotonicSeconds() - started
            if case .failure(let error) = result { outcome.withLock { $0 = (error, seconds) } }
            group.leave()
        })
        XCTAssertEqual(group.wait(timeout: .now() + 10), .success)
        let (error, seconds) = outcome.withLock { $0 }
        XCTAssertEqual(error?.code, 28, String(describing: error))
        XCTAssertEqual(error?.url, "\(base)/hang")
        XCTAssertGreaterThanOrEqual(seconds, 0.29)
        XCTAssertLessThan(seconds, 1.5)
        XCTAssertEqual(handler.parkedCount, 1)
    }

    func testClosedPortIsCode7() throws {
        let (fd, port) = try boundButNotListening()
        defer { close(fd) }
        let client = try MultiClient()
        defer { client.shutdown() }
        let error = Mutex<CurlError?>(nil)
        let group = DispatchGroup()
        group.enter()
        XCTAssertTrue(client.submit(ClientRequest(url: "http://127.0.0.1:\(port)/x", timeoutMilliseconds: 5_000)) { result in
            if case .failure(let failure) = result { error.withLock { $0 = failure } }
            group.leave()
        })
        XCTAssertEqual(group.wait(timeout: .now() + 10), .success)
        XCTAssertEqual(error.withLock { $0 }?.code, 7, String(describing: error.withLock { $0 }))
        XCTAssertEqual(error.withLock { $0 }?.neverSent, true, "nothing was sent to a closed port")
    }

    func testFullQueueRefusesAndShutdownFailsEverythingOnce() throws {
        var configuration = MultiClient.Configuration()
        configuration.maxConcurrentTransfers = 1
        configuration.queueCapacity = 4
        let client = try MultiClient(configuration: configuration)
        let log = CompletionLog()
        let group = DispatchGroup()
        func submit(_ id: Int) -> Bool {
            group.enter()
            let accepted = client.submit(ClientRequest(url: "\(base)/hang", timeoutMilliseconds: 30_000)) { result in
                switch result {
                case .failure(let error) where error.code == -1 && error.message == "client shut down": log.record(id)
                default: log.record(id, failure: "\(id): \(result)")
                }
                group.leave()
            }
            if !accepted { group.leave() }
            return accepted
        }
        XCTAssertTrue(submit(0))
        XCTAssertTrue(waitUntil { client.inFlight == 1 && self.handler.parkedCount == 1 })
        for id in 1...4 { XCTAssertTrue(submit(id)) }
        XCTAssertEqual(client.queued, 4)
        XCTAssertFalse(submit(5), "queue full")
        XCTAssertEqual(client.queued, 4)

        client.shutdown()
        XCTAssertEqual(group.wait(timeout: .now() + 5), .success)
        XCTAssertEqual(log.problems, [])
        XCTAssertEqual(log.notExactlyOnce(expected: 5), [])
        XCTAssertFalse(submit(6), "shut down")
        XCTAssertEqual(client.inFlight, 0)
        XCTAssertEqual(client.queued, 0)
        client.shutdown()  // idempotent
        XCTAssertEqual(log.count, 5)
    }

    func testShutdownWithTransfersInFlightCompletesEachOnce() throws {
        var configuration = MultiClient.Configuration()
        configuration.maxConcurrentTransfers = 16
        let client = try MultiClient(configuration: configuration, name: "curl-multi-test")
        let log = CompletionLog()
        let group = DispatchGroup()
        let count = 50
        for id in 0..<count {
            group.enter()
            let url = id % 2 == 0 ? "\(base)/hang" : "\(base)/n/\(id)"
            XCTAssertTrue(client.submit(ClientRequest(url: url, timeoutMilliseconds: 30_000)) { result in
                switch result {
                case .success(let response) where id % 2 == 1 && response.text == "reply \(id)": log.record(id)
                case .failure(let error) where error.code == -1 && error.message == "client shut down": log.record(id)
                default: log.record(id, failure: "\(id): \(result)")
                }
                group.leave()
            })
        }
        // The parked ones fill all 16 slots; the rest wait in the queue.
        XCTAssertTrue(waitUntil { self.handler.parkedCount == 16 && client.inFlight == 16 })
        XCTAssertGreaterThan(client.queued, 0)
        let started = monotonicSeconds()
        client.shutdown()
        XCTAssertLessThan(monotonicSeconds() - started, 1)
        XCTAssertEqual(group.wait(timeout: .now() + 5), .success)
        XCTAssertEqual(log.problems, [])
        XCTAssertEqual(log.notExactlyOnce(expected: count), [])
        usleep(200_000)  // nothing arrives late
        XCTAssertEqual(log.count, count)
    }

    func testShutdownFromACompletionAndDroppingTheClient() throws {
        var configuration = MultiClient.Configuration()
        configuration.maxConcurrentTransfers = 4
        var client: MultiClient? = try MultiClient(configuration: configuration)
        let log = CompletionLog()
        let group = DispatchGroup()
        for id in 0..<10 {
            group.enter()
            XCTAssertTrue(client!.submit(ClientRequest(url: "\(base)/hang", timeoutMilliseconds: 30_000)) { result in
                if case .failure(let error) = result, error.message == "client shut down" { log.record(id) } else { log.record(id, failure: "\(result)") }
                group.leave()
            })
        }
        XCTAssertTrue(waitUntil { self.handler.parkedCount == 4 })
        client = nil  // deinit is a safety net: it shuts down too
        XCTAssertEqual(group.wait(timeout: .now() + 5), .success)
        XCTAssertEqual(log.problems, [])
        XCTAssertEqual(log.notExactlyOnce(expected: 10), [])

        // shutdown() called inside a completion (on the I/O thread) must not deadlock.
        let shared = try MultiClient()
        let second = CompletionLog()
        let done = DispatchGroup()
        done.enter()
        XCTAssertTrue(shared.submit(ClientRequest(url: "\(base)/n/1")) { [shared] _ in
            second.record(0)
            shared.shutdown()
            done.leave()
        })
        for id in 1...5 {
            done.enter()
            XCTAssertTrue(shared.submit(ClientRequest(url: "\(base)/hang", timeoutMilliseconds: 30_000)) { _ in
                second.record(id)
                done.leave()
            })
        }
        XCTAssertEqual(done.wait(timeout: .now() + 5), .success)
        XCTAssertEqual(second.notExactlyOnce(expected: 6), [])
        XCTAssertFalse(shared.submit(ClientRequest(url: "\(base)/n/2")) { _ in XCTFail("must not run") })
        shared.shutdown()
    }

    func testThroughputSmallGets() throws {
        let total = 20_000
        let concurrency = 64
        let client = try MultiClient()
        defer { client.shutdown() }
        let issued = Atomic<Int>(0)
        let failures = Atomic<Int>(0)
        let log = CompletionLog()
        let group = DispatchGroup()
        let url = "\(base)/n/1"

        // Closed loop: each completion issues the next request, keeping 64 in flight.
        @Sendable func issue() {
            let id = issued.add(1, ordering: .relaxed).newValue - 1
            guard id < total else { return }
            group.enter()
            let accepted = client.submit(ClientRequest(url: url)) { result in
                if case .success(let response) = result, response.status == 200, response.body.count == 7 {
                    log.record(id)
                } else {
                    failures.add(1, ordering: .relaxed)
                    log.record(id, failure: "\(result)")
                }
                issue()
                group.leave()
            }
            if !accepted { failures.add(1, ordering: .relaxed); group.leave() }
        }
        let started = monotonicSeconds()
        for _ in 0..<concurrency { issue() }
        XCTAssertEqual(group.wait(timeout: .now() + 120), .success)
        let seconds = monotonicSeconds() - started
        XCTAssertEqual(failures.load(ordering: .relaxed), 0, log.problems.prefix(3).joined(separator: "; "))
        XCTAssertEqual(log.notExactlyOnce(expected: total), [])
        print("MultiClient throughput: \(total) GETs at \(concurrency) concurrency in \(String(format: "%.2f", seconds)) s = \(Int(Double(total) / seconds)) requests/s")
    }

    // MARK: - Helpers

    private func waitUntil(seconds: Double = 5, _ condition: () -> Bool) -> Bool {
        let deadline = monotonicSeconds() + seconds
        while !condition() {
            if monotonicSeconds() > deadline { return false }
            usleep(1_000)
        }
        return true
    }

    /// The client-side ports of every TCP socket connected to `port` on this host, in any
    /// state but LISTEN (TIME_WAIT included), from /proc/net/tcp.
    private func clientPortsConnected(to port: UInt16) -> Set<UInt16> {
        // Read to EOF: a /proc file reports size 0, so size-based readers stop early.
        guard let file = FileHandle(forReadingAtPath: "/proc/net/tcp") else { return [] }
        defer { try? file.close() }
        let table = String(decoding: file.readDataToEndOfFile(), as: UTF8.self)
        var ports: Set<UInt16> = []
        for line in table.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ")
            guard fields.count > 3, fields[3] != "0A",
                  let local = fields[1].split(separator: ":").last.flatMap({ UInt16($0, radix: 16) }),
                  let remote = fields[2].split(separator: ":").last.flatMap({ UInt16($0, radix: 16) }) else { continue }
            if remote == port && local != port { ports.insert(local) }
            if local == port && remote != port { ports.insert(remote) }
        }
        return ports
    }

    /// A TCP socket bound to a free loopback port but not listening: connecting is refused.
    private func boundButNotListening() throws -> (Int32, UInt16) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EMFILE) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else { close(fd); throw POSIXError(.EADDRINUSE) }
        return (fd, UInt16(bigEndian: address.sin_port))
    }
}

private func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
