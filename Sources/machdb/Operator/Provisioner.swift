import JSON

/// Where the operator's nodes run. `OperatorService` holds the one provisioning policy (which
/// recommendation starts or removes which node, dedupe, the leave-then-stop order, the split
/// orchestration, the decision log); a provisioner only starts, finds and stops nodes:
/// `LocalProcesses` (`machdb serve` processes on this machine) or `DockerContainers` (containers
/// on a Docker daemon).
///
/// Threads: decisions call `reserve`, `start`, `provisioned` and `claim` from the operator's
/// single decision worker; `isRunning` and `stop` also run on removal threads; `listing` on
/// the HTTP threads. Implementations are safe from any thread.
protocol Provisioner: Sendable {
    /// Reserves a node id (and whatever else the node needs, such as a port) for a node about to
    /// start, so the next reservation sees it taken. Refused at `--max-nodes`, after `close()`,
    /// or when the backend cannot tell (a daemon error).
    func reserve() -> Result<NodeSlot, ProvisionRefusal>

    /// Starts the node reserved in `slot`: `machdb serve --join joinURL --level level`, labelled
    /// with `recommendation` where the backend can. The reservation becomes the node, or is
    /// dropped on failure.
    func start(_ slot: NodeSlot, level: Int, joinURL: String, recommendation: String) -> Result<Launch, ProvisionRefusal>

    /// Nodes this backend started for `recommendation` that still exist, found without the
    /// operator's memory (a container's label), so a recommendation is not acted on twice even
    /// when the seen ids were lost. Empty where the backend cannot tell.
    func provisioned(forRecommendation recommendation: String) -> [String]

    /// Marks `node` as leaving if it is one of this backend's and not leaving already.
    func claim(_ node: String) -> RemovalClaim

    /// Whether `node` still runs (a removal stops waiting for the map once it does not).
    func isRunning(_ node: String) -> Bool

    /// Stops `node` (SIGTERM, then SIGKILL after `graceSeconds`; a container is also removed,
    /// with its anonymous volumes). Returns what happened, for the decision log.
    func stop(_ node: String, graceSeconds: Double) -> Result<String, ProvisionRefusal>

    /// Refuses further reservations (the operator is shutting down).
    func close()

    /// At the operator's exit: local processes are stopped (they would be orphans); containers
    /// stay (they are the cluster, and a restarted operator finds them by label).
    func shutdown(graceSeconds: Double)

    /// `GET /nodes`: the nodes this backend runs.
    func listing() -> [JSON]
}

/// A node id held for a node about to start; `port` for a local process (a container always
/// listens on 8080 inside).
struct NodeSlot: Sendable, Equatable {
    let node: String
    let port: Int?
}

/// A node that started: what the decision records.
struct Launch: Sendable {
    var pid: Int32?
    var container: String?
    /// Appended to the decision's detail (where its log is, the container id).
    var detail: String
}

/// Why a backend did not reserve, start or stop a node: the decision's action and detail
/// (the Docker daemon's own message where it answered one).
struct ProvisionRefusal: Error, Sendable {
    let action: String
    let detail: String

    static func maxNodes(_ detail: String) -> ProvisionRefusal { ProvisionRefusal(action: "skipped: max nodes", detail: detail) }
    static func failed(_ detail: String) -> ProvisionRefusal { ProvisionRefusal(action: "failed", detail: detail) }
}

/// The answer to `Provisioner.claim`.
enum RemovalClaim: Sendable {
    /// Not a node this backend runs.
    case notOurs
    /// Ours, but already leaving or stopping.
    case alreadyLeaving(state: String, port: Int?, container: String?)
    /// Ours and now marked leaving; `joinURL` is the cluster it joined.
    case claimed(joinURL: String, port: Int?, container: String?)
    /// The backend cannot tell (the Docker daemon did not answer).
    case failed(String)
}
