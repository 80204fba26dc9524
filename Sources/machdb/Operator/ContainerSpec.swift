import JSON

/// The body of `POST /containers/create` for one container: its image, command, environment and
/// labels, on one user-defined network (where the container's name resolves for the others),
/// never restarted by the daemon (the operator decides replacements).
struct ContainerSpec: Sendable, Equatable {
    var name: String
    var image: String
    /// Arguments after the image's entrypoint (`Cmd`).
    var command: [String]
    /// `NAME=value` pairs, in this order.
    var environment: [(name: String, value: String)]
    /// Written sorted by key.
    var labels: [String: String]
    var network: String

    var json: JSON {
        .object([
            ("Image", .string(image)),
            ("Hostname", .string(name)),
            ("Cmd", .array(command.map(JSON.string))),
            ("Env", .array(environment.map { .string("\($0.name)=\($0.value)") })),
            ("Labels", .object(labels.sorted { $0.key < $1.key }.map { ($0.key, JSON.string($0.value)) })),
            ("HostConfig", .object([
                ("NetworkMode", .string(network)),
                ("RestartPolicy", .object([("Name", "no")])),
            ])),
            ("NetworkingConfig", .object([
                ("EndpointsConfig", .object([(network, .object([]))])),
            ])),
        ])
    }

    static func == (a: ContainerSpec, b: ContainerSpec) -> Bool {
        a.name == b.name && a.image == b.image && a.command == b.command && a.labels == b.labels && a.network == b.network
            && a.environment.map(\.name) == b.environment.map(\.name) && a.environment.map(\.value) == b.environment.map(\.value)
    }
}
