import JSON

/// One entry of `GET /containers/json`: what the operator reads of a container it may have made.
struct ContainerSummary: Sendable, Equatable {
    let id: String
    /// Without the leading "/".
    let name: String
    /// created, running, paused, restarting, removing, exited or dead.
    let state: String
    /// The daemon's words ("Up 3 minutes (healthy)", "Exited (0) 2 seconds ago").
    let status: String
    let image: String
    let labels: [String: String]
    /// Seconds since the epoch.
    let created: Int64

    /// Nil for an entry without an id.
    init?(json: JSON) {
        guard let id = json["Id"]?.stringValue, !id.isEmpty else { return nil }
        self.id = id
        let first = json["Names"]?.elements.first?.stringValue ?? ""
        name = first.hasPrefix("/") ? String(first.dropFirst()) : first
        state = json["State"]?.stringValue ?? ""
        status = json["Status"]?.stringValue ?? ""
        image = json["Image"]?.stringValue ?? ""
        var labels: [String: String] = [:]
        for (key, value) in json["Labels"]?.members ?? [] {
            if let text = value.stringValue { labels[key] = text }
        }
        self.labels = labels
        created = json["Created"]?.intValue ?? 0
    }

    /// Still running or about to (it counts against `--max-nodes`): not exited, dead or being removed.
    var isActive: Bool { !["exited", "dead", "removing"].contains(state) }

    var isRunning: Bool { state == "running" || state == "restarting" }

    /// The first 12 characters of the id, as `docker ps` shows it.
    var shortID: String { String(id.prefix(12)) }
}
