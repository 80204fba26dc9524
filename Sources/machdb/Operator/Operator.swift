import API
import ArgumentParser
import Curl
import Digest
import Foundation
import JSON
import Logging
import MicroHTTPD
import Sync
import Synchronization

/// `machdb operator`: a reference operator that closes the autoscaling loop (DESIGN §7). It
/// receives the Load Manager's signed recommendations on `POST /hook` and, with
/// `--provision local`, starts and stops `machdb serve` processes on this machine.
struct Operator: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "operator",
        abstract: "Reference operator: receive signed scaling recommendations and provision local nodes.")

    /// What the operator does with a recommendation.
    enum Provision: String, ExpressibleByArgument, CaseIterable, Sendable {
        /// Start and stop `machdb serve` processes on this machine.
        case local
        /// Only log the recommendation.
        case log
    }

    @Option(help: "Address to listen on, IPv4 host:port.") var listen = "127.0.0.1:7900"
    @Option(help: "HMAC-SHA256 secret shared with the nodes' --hook-secret (default: MACHDB_OPERATOR_SECRET).") var secret: String?
    @Option(help: "local: start and stop node processes on this machine; log: only log recommendations.") var provision: Provision = .log
    @Option(help: "First port tried for a provisioned node (the next free one is used).") var basePort = 7100
    @Option(help: "The machdb binary provisioned nodes run (default: this executable).") var binary: String?
    @Option(help: "Directory for provisioned nodes' data and logs and the operator's own state.") var dataRoot = "./operator-data"
    @Option(help: "--cluster-token given to provisioned nodes.") var clusterToken: String?
    @Option(help: "--admin-token given to provisioned nodes, and used to ask the cluster to let a node leave.") var adminToken: String?
    @Option(help: "Node id prefix of provisioned nodes (<prefix><k>).") var nodePrefix = "op"
    @Option(help: "Provisioned nodes running at once, at most.") var maxNodes = 8
    @Option(name: .customLong("extra-arg"), parsing: .unconditionalSingleValue,
            help: "An extra argument for every provisioned `machdb serve` (repeat the flag for several).") var extraArgs: [String] = []
    @Option(help: "trace, debug, info, notice, warning, error or critical.") var logLevel = "info"

    func validate() throws {
        _ = try Serve.hostPort(listen)
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level: unknown level \(logLevel)") }
        guard (1...65_535).contains(basePort) else { throw ValidationError("--base-port must be 1...65535") }
        guard (0...1_000).contains(maxNodes) else { throw ValidationError("--max-nodes must be 0...1000") }
        guard !nodePrefix.isEmpty, nodePrefix.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else {
            throw ValidationError("--node-prefix takes letters, digits, - and _")
        }
        guard let secret = secret ?? ProcessInfo.processInfo.environment["MACHDB_OPERATOR_SECRET"], !secret.isEmpty else {
            throw ValidationError("--secret (or MACHDB_OPERATOR_SECRET) is required: the hook's HMAC secret")
        }
    }

    func run() throws {
        Signals.block()
        let threshold = Logger.Level(rawValue: logLevel)!
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = threshold
            return handler
        }
        let logger = Logger(label: "machdb.operator")
        let (host, port) = try Serve.hostPort(listen)
        let root = URL(fileURLWithPath: dataRoot).standardizedFileURL.path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let executable = binary.map { URL(fileURLWithPath: $0).standardizedFileURL.path } ?? ChildProcess.currentExecutable()
        if provision == .local, !FileManager.default.isExecutableFile(atPath: executable) {
            throw ValidationError("--binary: \(executable) is not an executable file")
        }
        let settings = OperatorSettings(
            secret: secret ?? ProcessInfo.processInfo.environment["MACHDB_OPERATOR_SECRET"] ?? "",
            provision: provision, basePort: basePort, binary: executable, dataRoot: root, clusterToken: clusterToken,
            adminToken: adminToken, nodePrefix: nodePrefix, maxNodes: maxNodes, extraArgs: extraArgs)
        let service = OperatorService(settings: settings, logger: logger)

        var serverConfiguration = ServerConfiguration()
        serverConfiguration.host = host
        serverConfiguration.port = port
        serverConfiguration.threads = 2
        serverConfiguration.connectionLimit = 1_000
        serverConfiguration.maxBodyBytes = OperatorService.maxBodyBytes
        let server = try Server(configuration: serverConfiguration, handler: service)
        logger.info("machdb operator listening", metadata: [
            "listen": "\(host):\(server.port)", "provision": "\(provision.rawValue)", "data_root": "\(root)",
            "binary": "\(executable)", "max_nodes": "\(maxNodes)",
        ])

        let signal = Signals.wait()
        logger.info("operator shutting down", metadata: ["signal": "\(signal)"])
        server.quiesce()
        service.beginShutdown()
        let deadline = Date().addingTimeInterval(10)
        while server.inFlight > 0 && Date() < deadline { usleep(5_000) }
        service.stopChildren(graceSeconds: 30)
        while server.inFlight > 0 && Date() < deadline { usleep(5_000) }
        server.shutdown()
        logger.info("operator stopped")
    }
}

/// The operator's settings, from its flags.
struct OperatorSettings: Sendable {
    var secret: String
    var provision: Operator.Provision
    var basePort: Int
    var binary: String
    var dataRoot: String
    var clusterToken: String?
    var adminToken: String?
    var nodePrefix: String
    var maxNodes: Int
    var extraArgs: [String]
}

// MARK: - Decisions and children

/// What the operator decided for one recommendation (`GET /decisions`).
struct OperatorDecision: Sendable {
    let id: String
    let seq: Int64?
    let kind: String
    let action: String
    var node: String?
    var port: Int?
    var pid: Int32?
    let at: Int64
    let detail: String

    var json: JSON {
        .object([
            ("id", .string(id)), ("seq", seq.map { .int($0) } ?? .null), ("kind", .string(kind)),
            ("action", .string(action)), ("node", node.map { .string($0) } ?? .null),
            ("port", port.map { .int($0) } ?? .null), ("pid", pid.map { .int(Int64($0)) } ?? .null),
            ("at", .int(at)), ("detail", .string(detail)),
        ])
    }
}

/// A `machdb serve` process this operator started.
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

/// The ids already acted on: a bounded FIFO set, persisted as `seen.json` so a restarted
/// operator still answers a redelivery as a duplicate.
struct SeenIDs {
    static let capacity = 10_000
    private(set) var order: [String] = []
    private var members: Set<String> = []

    init(ids: [String] = []) {
        for id in ids.suffix(Self.capacity) where !members.contains(id) {
            order.append(id)
            members.insert(id)
        }
    }

    func contains(_ id: String) -> Bool { members.contains(id) }

    /// Adds `id`, forgetting the oldest beyond `capacity`.
    mutating func insert(_ id: String) {
        guard members.insert(id).inserted else { return }
        order.append(id)
        if order.count > Self.capacity {
            let overflow = order.count - Self.capacity
            for old in order.prefix(overflow) { members.remove(old) }
            order.removeFirst(overflow)
        }
    }

    static func load(path: String) -> SeenIDs {
        guard let data = FileManager.default.contents(atPath: path), let json = try? JSON.parse(Array(data)) else { return SeenIDs() }
        return SeenIDs(ids: (json["ids"]?.elements ?? []).compactMap(\.stringValue))
    }

    /// Writes the set to `path` atomically (temporary file, then rename).
    func save(path: String) throws {
        let body = JSON.object([("ids", .array(order.map { .string($0) }))]).encoded()
        try Data(body).write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}

// MARK: - The HTTP service

/// The operator's HTTP routes and its provisioning logic.
///
/// Threads: `handle` runs on the server's I/O threads and only routes; hook deliveries are
/// decided one at a time on a single worker (so port and node-id choices never race), which
/// also answers them. A removal (leave, wait for the map, stop) runs on a thread of its own;
/// each child has a reaper thread blocked in `waitpid`.
final class OperatorService: HTTPHandler, Sendable {
    static let maxBodyBytes = 1 << 20
    /// Decisions kept for `GET /decisions`.
    static let decisionCapacity = 200
    /// Longest wait for a leaving node to disappear from the cluster map before it is stopped.
    static let leaveTimeoutSeconds: Double = 60
    static let kinds: Set<String> = ["add_node", "remove_node", "replace_node", "bigger_leader", "split_shard"]

    let settings: OperatorSettings
    let logger: Logger
    private let worker = WorkerPool(name: "machdb-operator", threads: 1, capacity: 256)
    private let state: Mutex<State>
    private var seenPath: String { settings.dataRoot + "/seen.json" }

    private struct State {
        var decisions: [OperatorDecision] = []
        var seen: SeenIDs
        var children: [String: ProvisionedNode] = [:]
        var nextIndex = 1
        var shuttingDown = false
    }

    init(settings: OperatorSettings, logger: Logger) {
        self.settings = settings
        self.logger = logger
        state = Mutex(State(seen: SeenIDs.load(path: settings.dataRoot + "/seen.json")))
    }

    func bodyTooLarge(_ request: Request, limit: Int) -> Response {
        Problem(.bodyTooLarge, "the body is larger than \(limit) bytes").response(instance: request.path)
    }

    func handle(_ request: Request, responder: Responder) {
        switch (request.method, request.path) {
        case ("POST", "/hook"), ("POST", "/"):
            let accepted = worker.submit { [self] in responder.respond(receive(request)) }
            if !accepted { responder.respond(Problem(.overloaded, "too many recommendations waiting").response(instance: request.path)) }
        case ("GET", "/healthz"):
            responder.respond(json(.object([("status", "ok"), ("provision", .string(settings.provision.rawValue))])))
        case ("GET", "/decisions"):
            let decisions = state.withLock { $0.decisions }
            responder.respond(json(.object([("decisions", .array(decisions.reversed().map(\.json)))])))
        case ("GET", "/nodes"):
            let children = state.withLock { Array($0.children.values) }.sorted { $0.startedAt < $1.startedAt }
            responder.respond(json(.object([("nodes", .array(children.map(\.json)))])))
        case (_, "/hook"), (_, "/"):
            responder.respond(Problem(.methodNotAllowed, "use POST", headers: [("Allow", "POST")]).response(instance: request.path))
        case (_, "/healthz"), (_, "/decisions"), (_, "/nodes"):
            responder.respond(Problem(.methodNotAllowed, "use GET", headers: [("Allow", "GET")]).response(instance: request.path))
        default:
            responder.respond(Problem(.notFound, "no route \(request.path)").response(instance: request.path))
        }
    }

    private func json(_ value: JSON) -> Response {
        Response(status: 200, contentType: "application/json", body: value.encoded())
    }

    // MARK: Receiving a recommendation (worker thread)

    /// Verifies, parses, dedupes and decides one delivery; returns the answer. The decision
    /// is recorded before the answer, so a 200 means it is in `/decisions`.
    ///
    /// The id is persisted as seen before acting: a crash in between loses that one
    /// recommendation (the Load Manager recommends again while the condition holds) rather
    /// than acting on it twice (two nodes for one recommendation).
    private func receive(_ request: Request) -> Response {
        guard SignatureHeader.verify(request.header("x-machdb-signature"), secret: settings.secret, body: request.body) else {
            logger.warning("hook delivery refused: missing or wrong signature", metadata: [
                "delivery": "\(request.header("x-machdb-delivery") ?? "-")", "bytes": "\(request.body.count)",
            ])
            return Problem(.unauthorized, "missing or wrong \(SignatureHeader.name)").response(instance: request.path)
        }
        let recommendation: JSON
        do {
            recommendation = try JSON.parse(request.body)
        } catch {
            return Problem(.invalidRequest, "the body is not JSON: \(error)").response(instance: request.path)
        }
        guard recommendation.kind == .object, let id = recommendation["id"]?.stringValue, !id.isEmpty, id.utf8.count <= 256,
              let kind = recommendation["kind"]?.stringValue, let seq = recommendation["seq"]?.intValue else {
            return Problem(.invalidRequest, "not a recommendation: id (string), seq (integer) and kind (string) are required")
                .response(instance: request.path)
        }
        let target = recommendation["target"] ?? .object([])
        guard target.kind == .object else {
            return Problem(.invalidRequest, "target must be an object").response(instance: request.path)
        }
        let duplicate = state.withLock { state in
            if state.seen.contains(id) { return true }
            state.seen.insert(id)
            return false
        }
        if duplicate {
            logger.info("duplicate recommendation ignored", metadata: ["id": "\(id)", "seq": "\(seq)", "kind": "\(kind)"])
            return json(.object([("duplicate", true), ("id", .string(id))]))
        }
        persistSeen()

        var decision = decide(id: id, seq: seq, kind: kind, reason: recommendation["reason"]?.stringValue ?? "", target: target)
        if case let .start(node, port, level, joinURL) = decision.plan {
            decision.record = start(decision.record, node: node, port: port, level: level, joinURL: joinURL)
        }
        record(decision.record)
        if case let .remove(node, joinURL) = decision.plan {
            Thread.detachNewThread { [self] in remove(node: node, joinURL: joinURL) }
        }
        if case let .split(shard, at, joinURL, nodes) = decision.plan {
            var started: [String] = []
            for (node, port) in nodes {
                let planned = OperatorDecision(id: id, seq: seq, kind: kind, action: "start", node: node, port: port, pid: nil,
                                               at: decision.record.at, detail: "for the new shard of the split, via \(joinURL)")
                let outcome = start(planned, node: node, port: port, level: 1, joinURL: joinURL)
                record(outcome)
                if outcome.action == "started" { started.append(node) }
            }
            let onto = started
            Thread.detachNewThread { [self] in split(shard: shard, at: at, joinURL: joinURL, onto: onto) }
        }
        var fields: [(String, JSON)] = [("accepted", true), ("id", .string(id)), ("action", .string(decision.record.action))]
        if let node = decision.record.node { fields.append(("node", .string(node))) }
        if let port = decision.record.port { fields.append(("port", .int(port))) }
        return json(.object(fields))
    }

    private enum Plan {
        case none
        case start(node: String, port: Int, level: Int, joinURL: String)
        case remove(node: String, joinURL: String)
        case split(shard: Int, at: Int, joinURL: String, nodes: [(node: String, port: Int)])
    }

    /// Nodes started for the new shard of a `split_shard` (a quorum of its own).
    static let splitNodes = 3

    /// Chooses what to do. Reserves the node id and port of a node to start, and marks a node to
    /// remove as leaving, so the next decision sees them.
    private func decide(id: String, seq: Int64, kind: String, reason: String, target: JSON)
        -> (record: OperatorDecision, plan: Plan)
    {
        let now = wallClockMilliseconds()
        func decision(_ action: String, node: String? = nil, port: Int? = nil, _ detail: String) -> OperatorDecision {
            OperatorDecision(id: id, seq: seq, kind: kind, action: action, node: node, port: port, pid: nil, at: now, detail: detail)
        }
        let targetNode = target["node"]?.stringValue
        let joinURL = target["join_url"]?.stringValue.flatMap { $0.hasPrefix("http://") || $0.hasPrefix("https://") ? $0 : nil }
        guard Self.kinds.contains(kind) else {
            return (decision("skipped: unknown kind", node: targetNode, "kind \(kind) is not one this operator knows"), .none)
        }
        guard settings.provision == .local else {
            return (decision("logged", node: targetNode, "--provision log: \(reason)"), .none)
        }
        if kind == "split_shard" {
            // Figure 7: nodes of its own for the new shard (up to `splitNodes`, within
            // --max-nodes), then the split, then the new shard moves onto them.
            guard let shard = target["shard"]?.intValue.flatMap({ Int(exactly: $0) }),
                  let at = target["at"]?.intValue.flatMap({ Int(exactly: $0) }) else {
                return (decision("skipped: no shard or boundary", "split_shard needs target.shard and target.at"), .none)
            }
            guard let joinURL else {
                return (decision("skipped: no join_url", "target.join_url (an http URL of the cluster) is required"), .none)
            }
            var nodes: [(node: String, port: Int)] = []
            while nodes.count < Self.splitNodes, let reserved = reserveNode(joinURL: joinURL, at: now), let reserved {
                nodes.append(reserved)
            }
            let onto = nodes.isEmpty ? "no node could be started (--max-nodes), the new shard stays where it is"
                                     : "the new shard then moves onto \(nodes.map(\.node).joined(separator: ","))"
            return (decision("splitting", "asking \(joinURL) to split shard \(shard) at bucket \(at); \(onto); \(reason)"),
                    .split(shard: shard, at: at, joinURL: joinURL, nodes: nodes))
        }
        switch kind {
        case "remove_node":
            guard let targetNode else { return (decision("skipped: no target node", "remove_node without target.node"), .none) }
            let found: (child: ProvisionedNode, wasRunning: Bool)? = state.withLock { state in
                guard let child = state.children[targetNode], child.isAlive, child.pid > 0 else { return nil }
                guard child.state == .running else { return (child, false) }
                state.children[targetNode]?.state = .leaving
                return (child, true)
            }
            guard let (child, wasRunning) = found else {
                return (decision("skipped: not provisioned by this operator", node: targetNode,
                                 "\(targetNode) is not a running node this operator started"), .none)
            }
            guard wasRunning else {
                return (decision("skipped: already leaving", node: targetNode, port: child.port,
                                 "\(targetNode) is \(child.state.rawValue) already"), .none)
            }
            let via = joinURL ?? child.joinURL
            return (decision("removing", node: targetNode, port: child.port, "asking \(via) to let \(targetNode) leave, then stopping it"),
                    .remove(node: targetNode, joinURL: via))
        default:  // add_node, replace_node, bigger_leader: a new node
            guard let joinURL else {
                return (decision("skipped: no join_url", node: targetNode, "target.join_url (an http URL of the cluster) is required"), .none)
            }
            let requested = target["level"]?.intValue.map(Int.init) ?? 1
            let level = (1...5).contains(requested) ? requested : 1
            let reservation = reserveNode(joinURL: joinURL, at: now)
            guard let reservation else {
                return (decision("skipped: max nodes", node: targetNode, "\(settings.maxNodes) provisioned nodes are running already"), .none)
            }
            guard let (node, port) = reservation else {
                return (decision("skipped: no free port", node: targetNode, "shutting down, or no free port from \(settings.basePort)"), .none)
            }
            let detail = "level \(level) via \(joinURL)" + (requested == level ? "" : " (requested level \(requested) out of range)")
            return (decision("start", node: node, port: port, detail), .start(node: node, port: port, level: level, joinURL: joinURL))
        }
    }

    /// Reserves the id and port of a node to start (pid 0 until spawned, so concurrent
    /// decisions see it): nil at `--max-nodes`, `.some(nil)` when shutting down or out of ports.
    private func reserveNode(joinURL: String, at now: Int64) -> (node: String, port: Int)?? {
        state.withLock { state in
            guard !state.shuttingDown else { return .some(nil) }
            guard state.children.values.filter(\.isAlive).count < settings.maxNodes else { return nil }
            let taken = Set(state.children.values.filter(\.isAlive).map(\.port))
            guard let port = ChildProcess.freePort(from: settings.basePort, excluding: taken) else { return .some(nil) }
            var index = state.nextIndex
            while state.children["\(settings.nodePrefix)\(index)"] != nil
                || FileManager.default.fileExists(atPath: "\(settings.dataRoot)/\(settings.nodePrefix)\(index)") {
                index += 1
            }
            state.nextIndex = index + 1
            let node = "\(settings.nodePrefix)\(index)"
            state.children[node] = ProvisionedNode(node: node, port: port, pid: 0, joinURL: joinURL,
                                                   logPath: "\(settings.dataRoot)/\(node).log", startedAt: now)
            return .some((node, port))
        }
    }

    /// Spawns the reserved node; returns the decision as it turned out (started or failed).
    private func start(_ planned: OperatorDecision, node: String, port: Int, level: Int, joinURL: String) -> OperatorDecision {
        let dataDirectory = "\(settings.dataRoot)/\(node)"
        var arguments = ["serve", "--node-id", node, "--data-dir", dataDirectory, "--listen", "127.0.0.1:\(port)",
                         "--join", joinURL, "--level", String(level)]
        if let token = settings.clusterToken { arguments += ["--cluster-token", token] }
        if let token = settings.adminToken { arguments += ["--admin-token", token] }
        arguments += settings.extraArgs
        let logPath = "\(settings.dataRoot)/\(node).log"
        do {
            try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
            // The child is configured by these arguments alone: no MACHDB_* variable leaks in.
            let environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("MACHDB_") }
            let pid = try ChildProcess.spawn(settings.binary, arguments, environment: environment, logPath: logPath)
            state.withLock { state in
                state.children[node] = ProvisionedNode(node: node, port: port, pid: pid, joinURL: joinURL, logPath: logPath,
                                                       startedAt: planned.at)
            }
            Thread.detachNewThread { [self] in reap(node: node, pid: pid) }
            return OperatorDecision(id: planned.id, seq: planned.seq, kind: planned.kind, action: "started", node: node,
                                    port: port, pid: pid, at: planned.at, detail: planned.detail + "; log \(logPath)")
        } catch {
            _ = state.withLock { $0.children.removeValue(forKey: node) }
            return OperatorDecision(id: planned.id, seq: planned.seq, kind: planned.kind, action: "failed", node: node, port: port,
                                    pid: nil, at: planned.at, detail: "cannot start \(settings.binary): \(error)")
        }
    }

    private func record(_ decision: OperatorDecision) {
        state.withLock { state in
            state.decisions.append(decision)
            if state.decisions.count > Self.decisionCapacity { state.decisions.removeFirst(state.decisions.count - Self.decisionCapacity) }
        }
        logger.info("decision", metadata: [
            "id": "\(decision.id)", "seq": "\(decision.seq.map(String.init) ?? "-")", "kind": "\(decision.kind)",
            "action": "\(decision.action)", "node": "\(decision.node ?? "-")", "port": "\(decision.port.map(String.init) ?? "-")",
            "detail": "\(decision.detail)",
        ])
    }

    private func persistSeen() {
        let seen = state.withLock { $0.seen }
        do {
            try seen.save(path: seenPath)
        } catch {
            logger.error("cannot persist the seen recommendation ids", metadata: ["path": "\(seenPath)", "error": "\(error)"])
        }
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

    /// `split_shard` (its own thread): waits until the nodes started for it are active in the
    /// cluster map (at most `joinTimeoutSeconds`), asks the cluster to split `shard` at bucket
    /// `at`, then to move the new shard onto those nodes (Figure 7). Every step is logged.
    private func split(shard: Int, at: Int, joinURL: String, onto nodes: [String]) {
        let base = joinURL.hasSuffix("/") ? String(joinURL.dropLast()) : joinURL
        var headers: [(name: String, value: String)] = [("Content-Type", "application/json")]
        if let token = settings.adminToken { headers.append(("Authorization", "Bearer \(token)")) }
        guard let client = try? HTTPClient() else { return logger.error("cannot create an HTTP client") }
        func post(_ path: String, _ body: JSON) -> ClientResponse? {
            try? client.perform(ClientRequest(method: "POST", url: base + path, headers: headers, body: body.encoded(),
                                              timeoutMilliseconds: 30_000))
        }
        if !nodes.isEmpty {
            let deadline = Date().addingTimeInterval(Self.joinTimeoutSeconds)
            var joined = false
            while Date() < deadline, !state.withLock({ $0.shuttingDown }) {
                if let answer = try? client.perform(ClientRequest(url: base + "/admin/v1/cluster", headers: headers, timeoutMilliseconds: 5_000)),
                   answer.status == 200, let map = try? JSON.parse(answer.body) {
                    let active = Set((map["nodes"]?.elements ?? []).filter { $0["state"]?.stringValue == "active" }
                        .compactMap { $0["id"]?.stringValue })
                    if nodes.allSatisfy(active.contains) { joined = true; break }
                }
                usleep(500_000)
            }
            logger.info(joined ? "the new shard's nodes joined" : "the new shard's nodes did not all join in time; splitting anyway",
                        metadata: ["nodes": "\(nodes)"])
        }
        guard let split = post("/admin/v1/shards/\(shard)/split", .object([("at", .int(at))])) else {
            return logger.warning("split request failed", metadata: ["shard": "\(shard)", "at": "\(at)"])
        }
        logger.info("asked the cluster to split a shard", metadata: [
            "shard": "\(shard)", "at": "\(at)", "status": "\(split.status)", "answer": "\(split.text.prefix(300))",
        ])
        guard split.status == 202, !nodes.isEmpty else { return }
        let newShard = (try? JSON.parse(split.body))?["new_shard"]?.intValue.map(Int.init) ?? at
        for _ in 0..<20 {  // the new shard's entry reaches the map within a few rounds
            guard let move = post("/admin/v1/shards/\(newShard)/move", .object([("to", .array(nodes.map(JSON.string)))])) else { break }
            logger.info("asked the cluster to move the new shard", metadata: [
                "shard": "\(newShard)", "to": "\(nodes)", "status": "\(move.status)", "answer": "\(move.text.prefix(300))",
            ])
            if move.status != 404 && move.status < 500 { return }
            usleep(500_000)
        }
    }

    /// How long `split_shard` waits for the nodes it started to join before splitting.
    static let joinTimeoutSeconds: TimeInterval = 120

    /// The slow part of `remove_node` (its own thread): ask the cluster to let `node` leave,
    /// wait until the map no longer lists it (at most `leaveTimeoutSeconds`), then stop it.
    private func remove(node: String, joinURL: String) {
        let base = joinURL.hasSuffix("/") ? String(joinURL.dropLast()) : joinURL
        var headers: [(name: String, value: String)] = []
        if let token = settings.adminToken { headers.append(("Authorization", "Bearer \(token)")) }
        let client = try? HTTPClient()
        do {
            guard let client else { throw CtlError(message: "cannot create an HTTP client") }
            let response = try client.perform(ClientRequest(method: "POST", url: "\(base)/admin/v1/nodes/\(node)/leave",
                                                            headers: headers, timeoutMilliseconds: 10_000))
            logger.info("asked the cluster to let a node leave", metadata: [
                "node": "\(node)", "status": "\(response.status)", "answer": "\(response.text.prefix(200))",
            ])
        } catch {
            logger.warning("leave request failed; the node is stopped after the timeout", metadata: ["node": "\(node)", "error": "\(error)"])
        }
        let deadline = Date().addingTimeInterval(Self.leaveTimeoutSeconds)
        var gone = false
        while Date() < deadline {
            if state.withLock({ $0.children[node]?.isAlive != true || $0.shuttingDown }) { break }
            if let client, let response = try? client.perform(ClientRequest(url: "\(base)/admin/v1/cluster", headers: headers,
                                                                             timeoutMilliseconds: 5_000)),
               response.status == 200, let map = try? JSON.parse(response.body) {
                if !(map["nodes"]?.elements ?? []).contains(where: { $0["id"]?.stringValue == node }) {
                    gone = true
                    break
                }
            }
            usleep(500_000)
        }
        if !gone { logger.warning("node still in the cluster map; stopping it anyway", metadata: ["node": "\(node)"]) }
        stop(nodes: [node], graceSeconds: 30)
        logger.info("provisioned node removed", metadata: ["node": "\(node)", "left_map": "\(gone)"])
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

    /// Refuses further provisioning (decisions still answer, as skipped).
    func beginShutdown() {
        state.withLock { $0.shuttingDown = true }
        worker.close()
    }

    /// Stops every live child (SIGTERM, then SIGKILL after `graceSeconds`). Call after
    /// `beginShutdown()`: no node is reserved after that, and one being spawned at that moment
    /// is waited for (bounded) and stopped too.
    func stopChildren(graceSeconds: Double) {
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
        persistSeen()
    }
}

// MARK: - Processes

/// Starting and reaping child processes with posix_spawn (no Foundation `Process`: the
/// operator blocks SIGTERM/SIGINT for `sigwait`, and children must not inherit that mask).
enum ChildProcess {
    struct SpawnError: Error, CustomStringConvertible {
        let message: String
        var description: String { message }
    }

    /// This executable's path.
    static func currentExecutable() -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        if count > 0 { return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self) }
        return URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path
    }

    /// Starts `path` with `arguments`: stdin from /dev/null, stdout and stderr appended to
    /// `logPath`, an empty signal mask and default handlers for TERM, INT and PIPE, no other
    /// inherited descriptors. Returns the pid; the caller must reap it (`wait`).
    static func spawn(_ path: String, _ arguments: [String], environment: [String: String], logPath: String) throws -> Int32 {
        let log = open(logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard log >= 0 else { throw SpawnError(message: "cannot open \(logPath): \(String(cString: strerror(errno)))") }
        defer { close(log) }
        let header = "\n===== \(Date()) \(([path] + arguments).joined(separator: " "))\n"
        _ = header.withCString { write(log, $0, strlen($0)) }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, log, 1)
        posix_spawn_file_actions_adddup2(&actions, log, 2)
        if let closeFrom = closeFromAction { _ = closeFrom(&actions, 3) }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attributes, &mask)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGTERM, SIGINT, SIGPIPE] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let code = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        guard code == 0 else { throw SpawnError(message: "posix_spawn \(path): \(String(cString: strerror(code)))") }
        return pid
    }

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34+; declared only under
    /// _GNU_SOURCE, which Swift's Glibc module does not set): closes every descriptor from 3 up
    /// in the child, so it inherits none of ours (the listening socket, client connections)
    /// whether or not they were opened close-on-exec. Nil on an older libc.
    private static let closeFromAction: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32)? = {
        guard let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32).self)
    }()

    /// Blocks until `pid` exits; returns its exit code, or 128 + the signal that killed it.
    static func wait(_ pid: Int32) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { return -1 }
        }
        let signal = status & 0x7F
        return signal == 0 ? (status >> 8) & 0xFF : 128 + signal
    }

    /// The first port from `start` that is not in `excluding` and can be bound on 127.0.0.1
    /// right now, or nil.
    static func freePort(from start: Int, excluding: Set<Int>) -> Int? {
        var port = start
        while port <= 65_535 {
            if !excluding.contains(port) && canBind(port) { return port }
            port += 1
        }
        return nil
    }

    private static func canBind(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}
