import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MachdbClient

/// One real `machdb serve` process on a free loopback port, with its own data directory and
/// log file. `start()` launches it and waits until it is ready; `stop()` must be called
/// (tearDown) and is idempotent.
final class MachdbNode {
    enum Failure: LocalizedError, CustomStringConvertible {
        case binaryMissing(String)
        case noFreePort(String)
        case exitedEarly(status: Int32, log: String)
        case notReady(seconds: Double, log: String)

        var description: String {
            switch self {
            case .binaryMissing(let path):
                "machdb binary not found at \(path). Build it (swift build -c release at the repo root) "
                    + "or set MACHDB_BIN to a machdb executable."
            case .noFreePort(let why): "no free loopback port: \(why)"
            case .exitedEarly(let status, let log): "machdb exited with status \(status) before it was ready; log:\n\(log)"
            case .notReady(let seconds, let log): "machdb not ready after \(seconds) s; log:\n\(log)"
            }
        }

        var errorDescription: String? { description }
    }

    let nodeID = "n1"
    let adminToken: String
    let binary: URL
    let directory: URL
    private(set) var port = 0
    private var process: Process?

    var baseURL: URL { URL(string: "http://127.0.0.1:\(port)")! }
    var logURL: URL { directory.appendingPathComponent("\(nodeID).log") }

    /// The binary: `MACHDB_BIN` (relative paths resolve against the working directory), else
    /// `.build/release/machdb` of the repository this package sits in.
    static func binaryURL() -> URL {
        if let path = ProcessInfo.processInfo.environment["MACHDB_BIN"], !path.isEmpty {
            return URL(fileURLWithPath: path).standardizedFileURL
        }
        let packageRoot = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent()  // MachdbClientTests
            .deletingLastPathComponent()  // Tests
            .deletingLastPathComponent()  // Clients/Swift
        return packageRoot.appendingPathComponent("../../.build/release/machdb").standardizedFileURL
    }

    init(adminToken: String) throws {
        self.adminToken = adminToken
        binary = Self.binaryURL()
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            throw Failure.binaryMissing(binary.path)
        }
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("machdb-client-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    /// Starts the node and waits (at most `timeout`) until `GET /readyz` answers 200 through
    /// the generated client. A node that exits first (its port taken meanwhile, say) is
    /// started again on a new port, three tries in all.
    func start(timeout: Double = 20) async throws {
        var lastFailure: Failure?
        for _ in 0..<3 {
            port = try Self.freeLoopbackPort()
            try launch()
            do {
                try await waitReady(timeout: timeout)
                return
            } catch let failure as Failure {
                guard case .exitedEarly = failure else { throw failure }
                lastFailure = failure
            }
        }
        throw lastFailure!
    }

    private func launch() throws {
        guard FileManager.default.createFile(atPath: logURL.path, contents: nil) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: logURL.path])
        }
        let log = try FileHandle(forWritingTo: logURL)
        log.seekToEndOfFile()
        let process = Process()
        process.executableURL = binary
        process.arguments = [
            "serve",
            "--node-id", nodeID,
            "--data-dir", directory.appendingPathComponent("data").path,
            "--listen", "127.0.0.1:\(port)",
            "--admin-token", adminToken,
        ]
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = log
        process.standardError = log
        try process.run()
        self.process = process
    }

    private func waitReady(timeout: Double) async throws {
        let client = Client(baseURL: baseURL)
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            guard let process, process.isRunning else {
                throw Failure.exitedEarly(status: process?.terminationStatus ?? -1, log: log())
            }
            if case .ok = try? await client.readyz() { return }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        throw Failure.notReady(seconds: timeout, log: log())
    }

    /// SIGTERM, then SIGKILL if the node is still running after `grace` seconds.
    func stop(grace: Double = 10) {
        guard let process else { return }
        self.process = nil
        if process.isRunning {
            process.terminate()
            let deadline = Date().addingTimeInterval(grace)
            while process.isRunning && Date() < deadline { usleep(20_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        process.waitUntilExit()
    }

    /// Removes the data directory and log (after `stop()`).
    func removeFiles() {
        try? FileManager.default.removeItem(at: directory)
    }

    func log() -> String {
        (try? String(contentsOf: logURL, encoding: .utf8)) ?? "(no log at \(logURL.path))"
    }

    /// A port the kernel just handed out for 127.0.0.1 (bound, read back, released).
    static func freeLoopbackPort() throws -> Int {
        #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw Failure.noFreePort("socket: errno \(errno)") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                bind(fd, socketAddress, length) == 0 && getsockname(fd, socketAddress, &length) == 0
            }
        }
        guard bound else { throw Failure.noFreePort("bind/getsockname: errno \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
