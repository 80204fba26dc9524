extension Round {
    /// Rules 3 and 4: the writer, the primary LM, the Read Replicas and every node's roles.
    mutating func assignRoles() {
        if let leader {
            writer = leader.id
        } else if let kept = previous.shards.first?.writer, nodes.contains(where: { $0.id == kept && $0.state != .failed }) {
            writer = kept
        } else {
            writer = nil
        }
        let others = nodes.filter { $0.state == .active && $0.id != writer }
        primaryLoadManager = others.last?.id ?? writer
        replicas = Array(
            others.filter { $0.id != primaryLoadManager && canServeReads($0.id) }.prefix(maxReplicas).map(\.id))
        let slotsFull = replicas.count == maxReplicas
        for index in nodes.indices {
            let node = nodes[index]
            var roles: [NodeRole] = []
            if node.id == writer {
                roles.append(.writer)
                if replicas.isEmpty { roles.append(.replica) }
            } else if replicas.contains(node.id) {
                roles.append(.replica)
            } else if node.state == .active, slotsFull {
                roles.append(.loadManager)
            }
            if node.id == primaryLoadManager { roles.append(.loadManager) }
            nodes[index].roles = NodeRole.canonical(roles)
            nodes[index].primaryLoadManager = node.id == primaryLoadManager
        }
    }

    /// Rule 4 eligibility for Read Replica (besides being active and not the writer).
    func canServeReads(_ id: String) -> Bool {
        let seen = observation(id)
        return seen.membership == .voter && seen.caughtUp
    }
}
