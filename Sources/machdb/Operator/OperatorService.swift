import API
import Curl
import Digest
import Foundation
import JSON
import Logging
import MicroHTTPD
import Sync
import Synchronization

/// The operator's HTTP routes and its provisioning policy: which recommendation starts or
/// removes which node, dedupe by id, `--max-nodes` (counted by the provisioner), the
/// leave-then-stop order of a removal, the split orchestration, and the decision log. Where
/// nodes run is the provisioner's business (`LocalProcesses`, `DockerContainers`; none with
/// `--provision log`).
///
/// Threads: `handle` runs on the server's I/O threads and only routes; hook deliveries are
/// decided one at a time on a single worker (so node-id and port choices never race), which
/// also answers them. A removal (leave, wait for the map, stop) and a split each run on a
/// thread of their own.
final class OperatorService: HTTPHandler, Sendable {
    static let maxBodyBytes = 1 << 20
    /// Decisions kept for `GET /decisions`.
    static let decisionCapacity = 200
    /// Longest wait for a leaving node to disappear from the cluster map before it is stopped.
    static let leaveTimeoutSeconds: Double = 60
    /// How long a removed node gets to stop (SIGTERM, then SIGKILL).
    static let stopGraceSeconds: Double = 30
    static let kinds: Set<String> = ["add_node", "remove_node", "replace_node", "bigger_leader", "split_shard", "surge"]

    let settings: OperatorSettings
    let provisioner: (any Provisioner)?
    let logger: Logger
    private let worker = WorkerPool(name: "machdb-operator", threads: 1, capacity: 256)
    private let state: Mutex<State>
    private var seenPath: String { settings.dataRoot + "/seen.json" }

    private struct State {
        var decisions: [OperatorDecision] = []
        var seen: SeenIDs
        var shuttingDown = false
    }

    init(settings: OperatorSettings, provisioner: (any Provisioner)?, logger: Logger) {
        self.settings = settings
        self.provisioner = provisioner
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
            responder.respond(json(.object([("nodes", .array(provisioner?.listing() ?? []))])))
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

        let decision = decide(id: id, seq: seq, kind: kind, reason: recommendation["reason"]?.stringValue ?? "", target: target)
        var answer = decision.record
        switch decision.plan {
        case .none:
            record(answer)
        case let .start(slot, level, joinURL):
            answer = launch(decision.record, slot: slot, level: level, joinURL: joinURL)
            record(answer)
        case let .remove(node, joinURL):
            record(answer)
            let decided = answer
            Thread.detachNewThread { [self] in remove(node: node, joinURL: joinURL, decided: decided) }
        case let .split(shard, at, joinURL, slots):
            record(answer)
            var started: [String] = []
            for slot in slots {
                let planned = OperatorDecision(id: id, seq: seq, kind: kind, action: "start", node: slot.node, port: slot.port,
                                               at: decision.record.at, detail: "for the new shard of the split, via \(joinURL)")
                let outcome = launch(planned, slot: slot, level: 1, joinURL: joinURL)
                record(outcome)
                if outcome.action == "started" { started.append(slot.node) }
            }
            let onto = started
            Thread.detachNewThread { [self] in split(shard: shard, at: at, joinURL: joinURL, onto: onto) }
        }
        var fields: [(String, JSON)] = [("accepted", true), ("id", .string(id)), ("action", .string(answer.action))]
        if let node = answer.node { fields.append(("node", .string(node))) }
        if let port = answer.port { fields.append(("port", .int(port))) }
        if let container = answer.container { fields.append(("container", .string(container))) }
        return json(.object(fields))
    }

    private enum Plan {
        case none
        case start(slot: NodeSlot, level: Int, joinURL: String)
        case remove(node: String, joinURL: String)
        case split(shard: Int, at: Int, joinURL: String, slots: [NodeSlot])
    }

    /// Nodes started for the new shard of a `split_shard` (a quorum of its own).
    static let splitNodes = 3

    /// Chooses what to do. Reserves the node id (and port) of a node to start, and marks a node
    /// to remove as leaving, so the next decision sees them.
    private func decide(id: String, seq: Int64, kind: String, reason: String, target: JSON)
        -> (record: OperatorDecision, plan: Plan)
    {
        let now = wallClockMilliseconds()
        func decision(_ action: String, node: String? = nil, port: Int? = nil, container: String? = nil, _ detail: String)
            -> OperatorDecision
        {
            OperatorDecision(id: id, seq: seq, kind: kind, action: action, node: node, port: port, container: container, at: now,
                             detail: detail)
        }
        let targetNode = target["node"]?.stringValue
        let joinURL = target["join_url"]?.stringValue.flatMap { $0.hasPrefix("http://") || $0.hasPrefix("https://") ? $0 : nil }
        guard Self.kinds.contains(kind) else {
            return (decision("skipped: unknown kind", node: targetNode, "kind \(kind) is not one this operator knows"), .none)
        }
        if kind == "surge" {  // informational: back pressure absorbed it; logged, nothing started
            return (decision("noted", node: nil, reason), .none)
        }
        guard let provisioner else {
            return (decision("logged", node: targetNode, "--provision log: \(reason)"), .none)
        }
        if kind != "remove_node" {
            // The seen ids are the operator's memory; a container's label is the daemon's.
            let existing = provisioner.provisioned(forRecommendation: id)
            if !existing.isEmpty {
                return (decision("skipped: already provisioned", node: existing.first,
                                 "nodes started for this recommendation exist already: \(existing.joined(separator: ","))"), .none)
            }
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
            var slots: [NodeSlot] = []
            var refusal: ProvisionRefusal?
            while slots.count < Self.splitNodes {
                switch provisioner.reserve() {
                case let .success(slot): slots.append(slot)
                case let .failure(why): refusal = why
                }
                if refusal != nil { break }
            }
            let onto = slots.isEmpty ? "no node could be started (\(refusal?.detail ?? "--max-nodes")), the new shard stays where it is"
                                     : "the new shard then moves onto \(slots.map(\.node).joined(separator: ","))"
            return (decision("splitting", "asking \(joinURL) to split shard \(shard) at bucket \(at); \(onto); \(reason)"),
                    .split(shard: shard, at: at, joinURL: joinURL, slots: slots))
        }
        switch kind {
        case "remove_node":
            guard let targetNode else { return (decision("skipped: no target node", "remove_node without target.node"), .none) }
            switch provisioner.claim(targetNode) {
            case .notOurs:
                return (decision("skipped: not provisioned by this operator", node: targetNode,
                                 "\(targetNode) is not a running node this operator started"), .none)
            case let .failed(detail):
                return (decision("failed", node: targetNode, detail), .none)
            case let .alreadyLeaving(state, port, container):
                return (decision("skipped: already leaving", node: targetNode, port: port, container: container,
                                 "\(targetNode) is \(state) already"), .none)
            case let .claimed(nodeJoinURL, port, container):
                let via = joinURL ?? nodeJoinURL
                return (decision("removing", node: targetNode, port: port, container: container,
                                 "asking \(via) to let \(targetNode) leave, then stopping it"),
                        .remove(node: targetNode, joinURL: via))
            }
        default:  // add_node, replace_node, bigger_leader: a new node
            guard let joinURL else {
                return (decision("skipped: no join_url", node: targetNode, "target.join_url (an http URL of the cluster) is required"), .none)
            }
            let requested = target["level"]?.intValue.map(Int.init) ?? 1
            let level = (1...5).contains(requested) ? requested : 1
            let slot: NodeSlot
            switch provisioner.reserve() {
            case let .success(reserved): slot = reserved
            case let .failure(refusal): return (decision(refusal.action, node: targetNode, refusal.detail), .none)
            }
            let detail = "level \(level) via \(joinURL)" + (requested == level ? "" : " (requested level \(requested) out of range)")
            return (decision("start", node: slot.node, port: slot.port, detail), .start(slot: slot, level: level, joinURL: joinURL))
        }
    }

    /// Starts the reserved node; returns the decision as it turned out (started, or the
    /// provisioner's refusal with its reason, the Docker daemon's message included).
    private func launch(_ planned: OperatorDecision, slot: NodeSlot, level: Int, joinURL: String) -> OperatorDecision {
        var outcome = planned
        switch provisioner?.start(slot, level: level, joinURL: joinURL, recommendation: planned.id)
            ?? .failure(.failed("no provisioner")) {
        case let .success(launch):
            outcome.action = "started"
            outcome.pid = launch.pid
            outcome.container = launch.container
            outcome.detail = planned.detail + "; " + launch.detail
        case let .failure(refusal):
            outcome.action = refusal.action
            outcome.detail = refusal.detail
        }
        return outcome
    }

    private func record(_ decision: OperatorDecision) {
        state.withLock { state in
            state.decisions.append(decision)
            if state.decisions.count > Self.decisionCapacity { state.decisions.removeFirst(state.decisions.count - Self.decisionCapacity) }
        }
        logger.info("decision", metadata: [
            "id": "\(decision.id)", "seq": "\(decision.seq.map(String.init) ?? "-")", "kind": "\(decision.kind)",
            "action": "\(decision.action)", "node": "\(decision.node ?? "-")", "port": "\(decision.port.map(String.init) ?? "-")",
            "container": "\(decision.container ?? "-")", "detail": "\(decision.detail)",
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

    // MARK: Splits and removals (their own threads)

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
    /// wait until the map no longer lists it (at most `leaveTimeoutSeconds`, less if the node
    /// stops by itself), then stop it (a container is also removed). The outcome is a decision
    /// of its own: `removed`, or `failed` with the reason.
    private func remove(node: String, joinURL: String, decided: OperatorDecision) {
        guard let provisioner else { return }
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
            if state.withLock({ $0.shuttingDown }) || !provisioner.isRunning(node) { break }
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
        var outcome = decided
        switch provisioner.stop(node, graceSeconds: Self.stopGraceSeconds) {
        case let .success(detail):
            outcome.action = "removed"
            outcome.detail = (gone ? "left the cluster map; " : "still in the cluster map, stopped anyway; ") + detail
        case let .failure(refusal):
            outcome.action = refusal.action
            outcome.detail = refusal.detail
        }
        record(outcome)
    }

    /// Refuses further provisioning (decisions still answer, as skipped).
    func beginShutdown() {
        state.withLock { $0.shuttingDown = true }
        provisioner?.close()
        worker.close()
    }

    /// At exit, after `beginShutdown()`: local nodes are stopped (SIGTERM, then SIGKILL after
    /// `graceSeconds`), containers stay; the seen ids are saved.
    func stopProvisioned(graceSeconds: Double) {
        provisioner?.shutdown(graceSeconds: graceSeconds)
        persistSeen()
    }
}
