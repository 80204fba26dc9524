import Foundation
import JSON
import Logging
import Sync
import Synchronization

/// `--provision local`: provisioned nodes are `machdb serve` processes on this machine, on
/// loopback ports from `--base-port`, with their data and logs under `--data-root`. Each child
/// has a reaper thread blocked in `waitpid`; the operator stops them all when it exits.
final class LocalProcesses: Provisioner {
    let settings: OperatorSettings
    let logger: Logger
    private let state = Mutex(State())

    private struct State {
        var children: [String: ProvisionedNode] = [:]
        var nextIndex = 1
        var closed = false
    }

    init(settings: OperatorSettings, logger: Logger) {
        self.settings = settings
        self.logger = logger
    }

    /// Reserves the id and port of a node to start (pid 0 until spawned).
    func reserve() -> Result<NodeSlot, ProvisionRefusal> {
        state.withLock { state in
            let noPort = ProvisionRefusal(action: "skipped: no free port", detail: "shutting down, or no free port from \(settings.basePort)")
            guard !state.closed else { return .failure(noPort) }
            guard state.children.values.filter(\.isAlive).count < settings.maxNodes else {
                return .failure(.maxNodes("\(settings.maxNodes) provisioned nodes are running already"))
            }
            let taken = Set(state.children.values.filter(\.isAlive).map(\.port))
            guard let port = ChildProcess.freePort(from: settings.basePort, excluding: taken) else { return .failure(noPort) }
            var index = state.nextIndex
            while state.children["\(settings.nodePrefix)\(index)"] != nil
                || FileManager.default.fileExists(atPath: "\(settings.dataRoot)/\(settings.nodePrefix)\(index)") {
                index += 1
            }
            state.nextIndex = index + 1
            let node = "\(settings.nodePrefix)\(index)"
            state.children[node] = ProvisionedNode(node: node, port: port, pid: 0, joinURL: "",
                                                   logPath: "\(settings.dataRoot)/\(node).log", startedAt: wallClockMilliseconds())
            return .success(NodeSlot(node: node, port: port))
        }
    }

    /// The `machdb serve` arguments of a local node.
    func arguments(node: String, port: Int, level: Int, joinURL: String) -> [String] {
        var arguments = ["serve", "--node-id", node, "--data-dir", "\(settings.dataRoot)/\(node)", "--listen", "127.0.0.1:\(port)",
                         "--join", joinURL, "--level", String(level)]
        if let token = settings.clusterToken { arguments += ["--cluster-token", token] }
        if let token = settings.adminToken { arguments += ["--admin-token", token] }
        if let hook = settings.hookURL { arguments += ["--hook-url", hook, "--hook-secret", settings.secret] }
        return arguments + settings.extraArgs
    }

    func start(_ slot: NodeSlot, level: Int, joinURL: String, recommendation: String) -> Result<Launch, ProvisionRefusal> {
        let node = slot.node, port = slot.port ?? settings.basePort
        let dataDirectory = "\(settings.dataRoot)/\(node)"
        let logPath = "\(settings.dataRoot)/\(node).log"
        do {
            try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
            // The child is configured by these arguments alone: no MACHDB_* variable leaks in.
            let environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("MACHDB_") }
            let pid = try ChildProcess.spawn(settings.binary, arguments(node: node, port: port, level: level, joinURL: joinURL),
                                             environment: environment, logPath: logPath)
            state.withLock { state in
                state.children[node] = ProvisionedNode(node: node, port: port, pid: pid, joinURL: joinURL, logPath: logPath,
                                                       startedAt: wallClockMilliseconds())
            }
            Thread.detachNewThread { [self] in reap(node: node, pid: pid) }
            return .success(Launch(pid: pid, container: nil, detail: "log \(logPath)"))
        } catch {
            _ = state.withLock { $0.children.removeValue(forKey: node) }
            return .failure(.failed("cannot start \(settings.binary): \(error)"))
        }
    }

    func provisioned(forRecommendation recommendation: String) -> [String] { [] }

    func claim(_ node: String) -> RemovalClaim {
        state.withLock { state in
            guard let child = state.children[node], child.isAlive, child.pid > 0 else { return .notOurs }
            guard child.state == .running else { return .alreadyLeaving(state: child.state.rawValue, port: child.port, container: nil) }
            state.children[node]?.state = .leaving
            return .claimed(joinURL: child.joinURL, port: child.port, container: nil)
        }
    }

    func isRunning(_ node: String) -> Bool {
        state.withLock { $0.children[node]?.isAlive == true }
    }

    func stop(_ node: String, graceSeconds: Double) -> Result<String, ProvisionRefusal> {
        stop(nodes: [node], graceSeconds: graceSeconds)
        let child = state.withLock { $0.children[node] }
        guard let child else { return .success("not running") }
        if child.isAlive { return .failure(.failed("pid \(child.pid) did not exit after SIGKILL")) }
        return .success("process \(child.pid) exited with \(child.exitCode.map(String.init) ?? "?")")
    }

    func close() {
        state.withLock { $0.closed = true }
    }

    /// Stops every live child (SIGTERM, then SIGKILL after `graceSeconds`). Call after
    /// `close()`: no node is reserved after that, and one being spawned at that moment is
    /// waited for (bounded) and stopped too.
    func shutdown(graceSeconds: Double) {
        let deadline = Date().addingTimeInterval(graceSeconds + 10)
        while true {
            let (spawned, reserved) = state.withLock { state in
                let alive = state.children.values.filter(\.isAlive)
                return (alive.filter { $0.pid > 0 }.map(\.node), alive.contains { $0.pid == 0 })
            }
            if !spawned.isEmpty {
                logger.info("stopping provisioned nodes", metadata: ["nodes": "\(spawned.sorted().joined(separator: ","))"])
                stop(nodes: spawned, graceSeconds: max(1, deadline.timeIntervalSinceNow - 10))
            }
            guard reserved || !spawned.isEmpty, Date() < deadline else { break }
            if reserved { usleep(20_000) }
        }
    }

    func listing() -> [JSON] {
        state.withLock { Array($0.children.values) }.sorted { $0.startedAt < $1.startedAt }.map(\.json)
    }

    // MARK: Children

    /// Waits for `pid` to exit (its own thread) and records how it ended.
    private func reap(node: String, pid: Int32) {
        let code = ChildProcess.wait(pid)
        state.withLock { state in
            if state.children[node]?.pid == pid {
                state.children[node]?.state = .exited
                state.children[node]?.exitCode = code
            }
        }
        logger.info("provisioned node exited", metadata: ["node": "\(node)", "pid": "\(pid)", "exit_code": "\(code)"])
    }

    /// SIGTERMs the given live children, waits up to `graceSeconds` for them, then SIGKILLs
    /// whatever is left and waits a little more.
    private func stop(nodes: [String], graceSeconds: Double) {
        let targets: [ProvisionedNode] = state.withLock { state in
            var targets: [ProvisionedNode] = []
            for node in nodes {
                guard let child = state.children[node], child.isAlive, child.pid > 0 else { continue }
                state.children[node]?.state = .stopping
                targets.append(child)
            }
            return targets
        }
        for child in targets { kill(child.pid, SIGTERM) }
        func allExited() -> Bool {
            state.withLock { state in targets.allSatisfy { state.children[$0.node]?.isAlive != true } }
        }
        let deadline = Date().addingTimeInterval(graceSeconds)
        while !allExited() && Date() < deadline { usleep(20_000) }
        let stubborn = state.withLock { state in targets.filter { state.children[$0.node]?.isAlive == true } }
        for child in stubborn {
            logger.warning("provisioned node ignored SIGTERM; killing it", metadata: ["node": "\(child.node)", "pid": "\(child.pid)"])
            kill(child.pid, SIGKILL)
        }
        let killDeadline = Date().addingTimeInterval(5)
        while !allExited() && Date() < killDeadline { usleep(20_000) }
    }
}

/// A `machdb serve` process the operator started.
struct ProvisionedNode: Sendable {
    enum State: String, Sendable { case running, leaving, stopping, exited }

    let node: String
    let port: Int
    let pid: Int32
    let joinURL: String
    let logPath: String
    let startedAt: Int64
    var state: State = .running
    /// Exit status once reaped: the exit code, or 128 + the signal that ended it.
    var exitCode: Int32?

    var isAlive: Bool { state != .exited }

    var json: JSON {
        .object([
            ("node", .string(node)), ("port", .int(port)), ("pid", .int(Int64(pid))), ("url", .string("http://127.0.0.1:\(port)")),
            ("join_url", .string(joinURL)), ("state", .string(state.rawValue)),
            ("exit_code", exitCode.map { .int(Int64($0)) } ?? .null), ("log", .string(logPath)),
            ("started_at", .int(startedAt)),
        ])
    }
}
