extension ConfState {
    /// Checks that `change` is valid against this configuration; the leader calls this
    /// before proposing, so that applying the committed change is a pure function.
    public func validate(_ change: ConfChange) throws(RaftError) {
        let id = change.nodeID
        guard id != 0 else { throw .invalidConfChange("node id 0 is reserved") }
        switch change.kind {
        case .addVoter:
            guard !isVoter(id) else { throw .invalidConfChange("\(id) is already a voter") }
            guard change.attributes.isValid else { throw .invalidConfChange("level must be 1...5") }
        case .addLearner:
            guard !isMember(id) else { throw .invalidConfChange("\(id) is already a member") }
            guard change.attributes.isValid else { throw .invalidConfChange("level must be 1...5") }
        case .remove:
            guard isMember(id) else { throw .invalidConfChange("\(id) is not a member") }
            guard !(isVoter(id) && voters.count == 1) else {
                throw .invalidConfChange("cannot remove the last voter")
            }
        case .promote:
            guard isLearner(id) else { throw .invalidConfChange("\(id) is not a learner") }
        case .updateAttributes:
            guard isMember(id) else { throw .invalidConfChange("\(id) is not a member") }
            guard change.attributes.isValid else { throw .invalidConfChange("level must be 1...5") }
        }
    }

    /// The configuration after `change`; an invalid change leaves it unchanged (every
    /// member applies the same committed entries, so every member ignores it alike).
    public func applying(_ change: ConfChange) -> ConfState {
        do { try validate(change) } catch { return self }
        let id = change.nodeID
        var voters = self.voters
        var learners = self.learners
        var attributes = self.attributes
        switch change.kind {
        case .addVoter:
            learners.removeAll { $0 == id }
            voters.append(id)
            attributes[id] = change.attributes
        case .addLearner:
            learners.append(id)
            attributes[id] = change.attributes
        case .remove:
            voters.removeAll { $0 == id }
            learners.removeAll { $0 == id }
            attributes[id] = nil
        case .promote:
            learners.removeAll { $0 == id }
            voters.append(id)
        case .updateAttributes:
            attributes[id] = change.attributes
        }
        return ConfState(voters: voters, learners: learners, attributes: attributes)
    }

    /// The log that bootstraps a new group with this configuration: one `.confChange` entry
    /// per member at term 1, indexes `1...n`. Every founding member writes these entries and
    /// `HardState(term: 1, vote: 0, commit: n)` to its empty storage before creating its
    /// `RawNode`; members joining later start empty and receive them (or a snapshot).
    public func bootstrapEntries() -> [Entry] {
        var entries: [Entry] = []
        var index: UInt64 = 0
        for id in voters {
            index += 1
            let change = ConfChange.addVoter(id, attributes(of: id))
            entries.append(Entry(term: 1, index: index, kind: .confChange, data: change.encoded()))
        }
        for id in learners {
            index += 1
            let change = ConfChange.addLearner(id, attributes(of: id))
            entries.append(Entry(term: 1, index: index, kind: .confChange, data: change.encoded()))
        }
        return entries
    }
}
