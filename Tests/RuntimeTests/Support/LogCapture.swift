import Foundation
import Logging
import Synchronization

/// The last lines one node logged, kept in memory and printed when a test fails (STYLE: one
/// log per node, dumped on failure). `RUNTIME_TEST_LOG=1` also echoes every line to stderr.
final class LogCapture: Sendable {
    static let capacity = 3_000
    static let echo = ProcessInfo.processInfo.environment["RUNTIME_TEST_LOG"] != nil
    private let started = Date()
    private let lines = Mutex<(ring: [String], next: Int)>(([], 0))

    func append(_ line: String) {
        let stamped = String(format: "%8.3f ", Date().timeIntervalSince(started)) + line
        if Self.echo { FileHandle.standardError.write(Data((stamped + "\n").utf8)) }
        lines.withLock { state in
            if state.ring.count < Self.capacity {
                state.ring.append(stamped)
            } else {
                state.ring[state.next] = stamped
                state.next = (state.next + 1) % Self.capacity
            }
        }
    }

    /// Oldest first.
    var all: [String] {
        lines.withLock { state in Array(state.ring[state.next...] + state.ring[..<state.next]) }
    }

    /// A logger for `node` writing here (info and above; debug with `RUNTIME_TEST_LOG=debug`).
    func logger(node: String) -> Logger {
        var logger = Logger(label: "machdb.runtime.\(node)") { label in CaptureLogHandler(label: label, capture: self) }
        logger.logLevel = ProcessInfo.processInfo.environment["RUNTIME_TEST_LOG"] == "debug" ? .debug : .info
        logger[metadataKey: "node"] = "\(node)"
        return logger
    }
}

struct CaptureLogHandler: LogHandler {
    let label: String
    let capture: LogCapture
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        let fields = merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        capture.append("\(event.level) \(label): \(event.message) \(fields)")
    }
}
