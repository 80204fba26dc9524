import Foundation
import JSON
import Logging
import Synchronization

/// `--provision docker`: provisioned nodes are containers on a Docker daemon (Engine API over
/// its unix socket), from `--docker-image`, on the user-defined network `--docker-network`,
/// named `<network>-<node id>` (the name other containers reach them by), each listening on
/// 8080 inside. Every container carries the labels `io.machdb.managed=true`,
/// `io.machdb.network`, `io.machdb.node`, `io.machdb.recommendation` and `io.machdb.join-url`:
/// the daemon, not the operator's memory, is the list of nodes, so a restarted operator finds
/// the containers it made, counts them against `--max-nodes` and can remove them. Containers
/// outlive the operator.
final class DockerContainers: Provisioner {
    static let managedLabel = "io.machdb.managed"
    static let networkLabel = "io.machdb.network"
    static let nodeLabel = "io.machdb.node"
    static let recommendationLabel = "io.machdb.recommendation"
    static let joinURLLabel = "io.machdb.join-url"
    /// Where `machdb serve` listens inside a container.
    static let port = 8080

    let settings: OperatorSettings
    let logger: Logger
    let engine: DockerEngine
    private let state: Mutex<State>
    /// Where the next node index is kept, so node ids are never reused.
    private let indexPath: String

    private struct State {
        /// Node ids reserved and not yet created.
        var reserved: Set<String> = []
        /// Nodes being removed.
        var leaving: Set<String> = []
        var nextIndex: Int
        var closed = false
    }

    init(settings: OperatorSettings, logger: Logger, engine: DockerEngine? = nil) {
        self.settings = settings
        self.logger = logger
        self.engine = engine ?? DockerEngine(socketPath: settings.dockerSocket)
        indexPath = settings.dataRoot + "/next-node-index"
        let stored = (try? String(contentsOfFile: indexPath, encoding: .utf8))
            .flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        state = Mutex(State(nextIndex: max(1, stored ?? 1)))
    }

    /// Docker's rule for container and network names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
    static func isValidName(_ name: String) -> Bool {
        func alphanumeric(_ scalar: Unicode.Scalar) -> Bool {
            ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar)
        }
        let scalars = Array(name.unicodeScalars)
        return scalars.count >= 2 && alphanumeric(scalars[0])
            && scalars.allSatisfy { alphanumeric($0) || $0 == "_" || $0 == "." || $0 == "-" }
    }

    /// Logs whether the daemon answers (the operator starts either way; each decision asks again).
    func checkDaemon() {
        do {
            let version = try engine.apiVersion()
            let managed = try managedContainers()
            logger.info("Docker daemon answers", metadata: [
                "api_version": "\(version)", "managed_containers": "\(managed.map(\.name).sorted().joined(separator: ","))",
            ])
        } catch {
            logger.warning("Docker daemon does not answer yet; every decision asks again", metadata: ["error": "\(error)"])
        }
    }

    func containerName(_ node: String) -> String { "\(settings.dockerNetwork)-\(node)" }

    /// The containers this operator's network holds that carry the managed label.
    func managedContainers() throws(DockerError) -> [ContainerSummary] {
        try engine.listContainers(labels: ["\(Self.managedLabel)=true", "\(Self.networkLabel)=\(settings.dockerNetwork)"])
    }

    /// What `POST /containers/create` gets for a node: `machdb serve --join ... --level ...`
    /// advertised at its container name, the tokens and hook in the environment (not on the
    /// command line), and the labels.
    func containerSpec(node: String, level: Int, joinURL: String, recommendation: String) -> ContainerSpec {
        let name = containerName(node)
        var environment: [(name: String, value: String)] = [("MACHDB_DATA_DIR", "/data")]
        if let token = settings.clusterToken { environment.append(("MACHDB_CLUSTER_TOKEN", token)) }
        if let token = settings.adminToken { environment.append(("MACHDB_ADMIN_TOKEN", token)) }
        if let hook = settings.hookURL {
            environment.append(("MACHDB_HOOK_URL", hook))
            environment.append(("MACHDB_HOOK_SECRET", settings.secret))
        }
        let command = ["serve", "--node-id", node, "--listen", "0.0.0.0:\(Self.port)", "--advertise", "http://\(name):\(Self.port)",
                       "--join", joinURL, "--level", String(level)] + settings.extraArgs
        return ContainerSpec(
            name: name, image: settings.dockerImage, command: command, environment: environment,
            labels: [
                Self.managedLabel: "true", Self.networkLabel: settings.dockerNetwork, Self.nodeLabel: node,
                Self.recommendationLabel: recommendation, Self.joinURLLabel: joinURL,
            ],
            network: settings.dockerNetwork)
    }

    /// The next node to start, given the managed containers and the ids reserved but not yet
    /// created: refused when active containers plus reservations reach `--max-nodes`; else
    /// `<prefix><k>` for the first k from `nextIndex` whose id and container name are both
    /// unused, and the index to try next time.
    static func chooseNode(containers: [ContainerSummary], reserved: Set<String>, nextIndex: Int, settings: OperatorSettings)
        -> Result<(node: String, nextIndex: Int), ProvisionRefusal>
    {
        let active = containers.filter(\.isActive).count + reserved.count
        guard active < settings.maxNodes else {
            return .failure(.maxNodes("\(settings.maxNodes) managed containers are running already on network \(settings.dockerNetwork)"))
        }
        let used = Set(containers.map { $0.labels[nodeLabel] ?? $0.name }).union(reserved)
        let names = Set(containers.map(\.name))
        var index = max(1, nextIndex)
        while used.contains("\(settings.nodePrefix)\(index)")
            || names.contains("\(settings.dockerNetwork)-\(settings.nodePrefix)\(index)") {
            index += 1
        }
        return .success(("\(settings.nodePrefix)\(index)", index + 1))
    }

    // MARK: Provisioner

    func reserve() -> Result<NodeSlot, ProvisionRefusal> {
        if state.withLock({ $0.closed }) {
            return .failure(ProvisionRefusal(action: "skipped: shutting down", detail: "the operator is shutting down"))
        }
        let containers: [ContainerSummary]
        do { containers = try managedContainers() } catch { return .failure(.failed("\(error)")) }
        let result: Result<(NodeSlot, Int), ProvisionRefusal> = state.withLock { state in
            Self.chooseNode(containers: containers, reserved: state.reserved, nextIndex: state.nextIndex, settings: settings)
                .map { choice in
                    state.nextIndex = choice.nextIndex
                    state.reserved.insert(choice.node)
                    return (NodeSlot(node: choice.node, port: nil), choice.nextIndex)
                }
        }
        switch result {
        case let .failure(refusal): return .failure(refusal)
        case let .success((slot, next)):
            // Node ids are not reused, even across operator restarts (a new container with an old
            // id would meet what the cluster remembers of the old one).
            do {
                try Data(String(next).utf8).write(to: URL(fileURLWithPath: indexPath), options: .atomic)
            } catch {
                logger.warning("cannot persist the next node index", metadata: ["path": "\(indexPath)", "error": "\(error)"])
            }
            return .success(slot)
        }
    }

    func start(_ slot: NodeSlot, level: Int, joinURL: String, recommendation: String) -> Result<Launch, ProvisionRefusal> {
        defer { _ = state.withLock { $0.reserved.remove(slot.node) } }
        let spec = containerSpec(node: slot.node, level: level, joinURL: joinURL, recommendation: recommendation)
        let id: String
        do {
            id = try engine.createContainer(spec)
        } catch {
            return .failure(.failed("\(error)"))
        }
        do {
            try engine.startContainer(id)
        } catch {
            try? engine.removeContainer(id)  // created but never ran: nothing to keep
            return .failure(.failed("\(error)"))
        }
        return .success(Launch(pid: nil, container: spec.name, detail: "container \(spec.name) (\(id.prefix(12))), image \(spec.image)"))
    }

    func provisioned(forRecommendation recommendation: String) -> [String] {
        let labels = ["\(Self.managedLabel)=true", "\(Self.networkLabel)=\(settings.dockerNetwork)",
                      "\(Self.recommendationLabel)=\(recommendation)"]
        return ((try? engine.listContainers(labels: labels)) ?? []).compactMap { $0.labels[Self.nodeLabel] }.sorted()
    }

    func claim(_ node: String) -> RemovalClaim {
        let containers: [ContainerSummary]
        do { containers = try managedContainers() } catch { return .failed("\(error)") }
        guard let container = containers.first(where: { $0.labels[Self.nodeLabel] == node }) else { return .notOurs }
        return state.withLock { state in
            guard state.leaving.insert(node).inserted else {
                return .alreadyLeaving(state: "leaving", port: nil, container: container.name)
            }
            return .claimed(joinURL: container.labels[Self.joinURLLabel] ?? "", port: nil, container: container.name)
        }
    }

    /// True also when the daemon does not answer: the removal keeps waiting (bounded) rather
    /// than stopping a node that may still be leaving.
    func isRunning(_ node: String) -> Bool {
        guard let containers = try? managedContainers() else { return true }
        return containers.first { $0.labels[Self.nodeLabel] == node }?.isRunning ?? false
    }

    func stop(_ node: String, graceSeconds: Double) -> Result<String, ProvisionRefusal> {
        defer { _ = state.withLock { $0.leaving.remove(node) } }
        do {
            let found = try managedContainers().filter { $0.labels[Self.nodeLabel] == node }
            guard !found.isEmpty else { return .success("no container left") }
            for container in found {
                try engine.stopContainer(container.id, graceSeconds: max(1, Int(graceSeconds.rounded(.up))))
                try engine.removeContainer(container.id)
            }
            return .success("container \(found.map(\.name).joined(separator: ",")) stopped and removed")
        } catch {
            return .failure(.failed("\(error)"))
        }
    }

    func close() {
        state.withLock { $0.closed = true }
    }

    func shutdown(graceSeconds: Double) {
        let running = (try? managedContainers().filter(\.isActive).map(\.name)) ?? []
        if !running.isEmpty {
            logger.info("managed containers stay running (a restarted operator finds them by label)",
                        metadata: ["containers": "\(running.sorted().joined(separator: ","))"])
        }
    }

    func listing() -> [JSON] {
        let containers: [ContainerSummary]
        do {
            containers = try managedContainers()
        } catch {
            logger.warning("cannot list the managed containers", metadata: ["error": "\(error)"])
            return []
        }
        return containers.sorted { ($0.created, $0.name) < ($1.created, $1.name) }.map { container in
            JSON.object([
                ("node", container.labels[Self.nodeLabel].map(JSON.string) ?? .null), ("container", .string(container.name)),
                ("id", .string(container.shortID)), ("state", .string(container.state)), ("status", .string(container.status)),
                ("image", .string(container.image)), ("url", .string("http://\(container.name):\(Self.port)")),
                ("join_url", container.labels[Self.joinURLLabel].map(JSON.string) ?? .null),
                ("recommendation", container.labels[Self.recommendationLabel].map(JSON.string) ?? .null),
                ("created", .int(container.created)),
            ])
        }
    }
}
