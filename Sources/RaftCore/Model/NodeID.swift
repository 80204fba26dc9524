/// Identifies one member of a Raft group. `0` is reserved and means "nobody" on the wire
/// (for example `HardState.vote == 0` means "voted for nobody in this term").
public typealias NodeID = UInt64
