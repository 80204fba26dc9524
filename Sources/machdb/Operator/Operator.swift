import ArgumentParser
import Curl
import Foundation
import Logging
import MicroHTTPD

/// `machdb operator`: a reference operator that closes the autoscaling loop (DESIGN §7). It
/// receives the Load Manager's signed recommendations on `POST /hook` and, with
/// `--provision local`, starts and stops `machdb serve` processes on this machine, or with
/// `--provision docker`, containers on a Docker daemon.
struct Operator: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "operator",
        abstract: "Reference operator: receive signed scaling recommendations and provision nodes (processes or containers).")

    /// What the operator does with a recommendation.
    enum Provision: String, ExpressibleByArgument, CaseIterable, Sendable {
        /// Start and stop `machdb serve` processes on this machine.
        case local
        /// Create, start, stop and remove containers through the Docker Engine API.
        case docker
        /// Only log the recommendation.
        case log
    }

    @Option(help: "Address to listen on, IPv4 host:port.") var listen = "127.0.0.1:7900"
    @Option(help: "HMAC-SHA256 secret shared with the nodes' --hook-secret (default: MACHDB_OPERATOR_SECRET).") var secret: String?
    @Option(help: "local: node processes on this machine; docker: containers on a Docker daemon; log: only log recommendations.")
    var provision: Provision = .log
    @Option(help: "First port tried for a provisioned node (the next free one is used). Local only.") var basePort = 7100
    @Option(help: "The machdb binary provisioned nodes run (default: this executable). Local only.") var binary: String?
    @Option(help: "Directory for the operator's own state (and, local, the nodes' data and logs).") var dataRoot = "./operator-data"
    @Option(help: "--cluster-token given to provisioned nodes.") var clusterToken: String?
    @Option(help: "--admin-token given to provisioned nodes, and used to ask the cluster to let a node leave.") var adminToken: String?
    @Option(help: "--hook-url given to provisioned nodes (with --secret as their --hook-secret), so they post to this operator too.")
    var hookURL: String?
    @Option(help: "Node id prefix of provisioned nodes (<prefix><k>).") var nodePrefix = "op"
    @Option(help: "Provisioned nodes running at once, at most (docker: managed containers on the network).") var maxNodes = 8
    @Option(name: .customLong("extra-arg"), parsing: .unconditionalSingleValue,
            help: "An extra argument for every provisioned `machdb serve` (repeat the flag for several).") var extraArgs: [String] = []
    @Option(help: "The Docker daemon's unix socket. Docker only.") var dockerSocket = "/var/run/docker.sock"
    @Option(help: "Image of provisioned containers (its entrypoint is machdb). Docker only.") var dockerImage = "machdb:latest"
    @Option(help: "User-defined network the cluster's containers share; containers are named <network>-<node id>. Docker only.")
    var dockerNetwork = "machdb"
    @Option(help: "trace, debug, info, notice, warning, error or critical.") var logLevel = "info"
    @Option(help: "PEM certificate (chain): receive the hook over HTTPS (with --tls-key).") var tlsCert: String?
    @Option(help: "PEM private key of --tls-cert.") var tlsKey: String?
    @Option(help: "PEM CA the operator trusts for its own HTTPS calls to the cluster (e.g. the cluster CA).") var tlsCa: String?

    func validate() throws {
        if (tlsCert == nil) != (tlsKey == nil) { throw ValidationError("--tls-cert and --tls-key go together") }
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
        if let hookURL, !(hookURL.hasPrefix("http://") || hookURL.hasPrefix("https://")) {
            throw ValidationError("--hook-url takes an http(s) URL")
        }
        if provision == .docker {
            guard DockerContainers.isValidName(dockerNetwork) else {
                throw ValidationError("--docker-network takes a network name: letters, digits, _ . - (first a letter or digit)")
            }
            guard !dockerImage.isEmpty, !dockerImage.contains(where: \.isWhitespace) else {
                throw ValidationError("--docker-image takes an image reference")
            }
            guard dockerSocket.hasPrefix("/") else { throw ValidationError("--docker-socket takes an absolute path") }
        }
    }

    func run() throws {
        ProcessSetup.start(logLevel: logLevel)
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
            adminToken: adminToken, hookURL: hookURL, nodePrefix: nodePrefix, maxNodes: maxNodes, extraArgs: extraArgs,
            dockerSocket: dockerSocket, dockerImage: dockerImage, dockerNetwork: dockerNetwork)
        let provisioner: (any Provisioner)?
        switch provision {
        case .log: provisioner = nil
        case .local: provisioner = LocalProcesses(settings: settings, logger: logger)
        case .docker:
            let containers = DockerContainers(settings: settings, logger: logger)
            containers.checkDaemon()
            provisioner = containers
        }
        let service = OperatorService(settings: settings, provisioner: provisioner, logger: logger)

        var serverConfiguration = ServerConfiguration()
        serverConfiguration.host = host
        serverConfiguration.port = port
        serverConfiguration.threads = 2
        serverConfiguration.connectionLimit = 1_000
        serverConfiguration.maxBodyBytes = OperatorService.maxBodyBytes
        serverConfiguration.tls = try ProcessSetup.serverTLS(certificate: tlsCert, key: tlsKey)
        if tlsCa != nil || tlsCert != nil {
            // Its calls to the cluster (leave, split, move) verify with the CA and show its certificate.
            ClientTLS.configure(ClientTLS(caFile: tlsCa, certificateFile: tlsCert, keyFile: tlsKey))
        }
        let server = try Server(configuration: serverConfiguration, handler: service)
        var metadata: Logger.Metadata = [
            "listen": "\(host):\(server.port)", "provision": "\(provision.rawValue)", "data_root": "\(root)", "max_nodes": "\(maxNodes)",
        ]
        switch provision {
        case .local: metadata["binary"] = "\(executable)"
        case .docker:
            metadata["docker_socket"] = "\(dockerSocket)"
            metadata["docker_image"] = "\(dockerImage)"
            metadata["docker_network"] = "\(dockerNetwork)"
        case .log: break
        }
        logger.info("machdb operator listening", metadata: metadata)

        let signal = Signals.wait()
        logger.info("operator shutting down", metadata: ["signal": "\(signal)"])
        server.quiesce()
        service.beginShutdown()
        let deadline = Date().addingTimeInterval(10)
        while server.inFlight > 0 && Date() < deadline { usleep(5_000) }
        service.stopProvisioned(graceSeconds: 30)
        while server.inFlight > 0 && Date() < deadline { usleep(5_000) }
        server.shutdown()
        logger.info("operator stopped")
    }
}

/// The operator's settings, from its flags.
struct OperatorSettings: Sendable {
    var secret: String
    var provision: Operator.Provision
    var basePort: Int = 7100
    var binary: String = ""
    var dataRoot: String
    var clusterToken: String?
    var adminToken: String?
    var hookURL: String?
    var nodePrefix: String = "op"
    var maxNodes: Int = 8
    var extraArgs: [String] = []
    var dockerSocket: String = "/var/run/docker.sock"
    var dockerImage: String = "machdb:latest"
    var dockerNetwork: String = "machdb"
}
