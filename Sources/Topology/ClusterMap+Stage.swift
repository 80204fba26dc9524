extension ClusterMap {
    /// The Mach stage: how many nodes are active.
    public var stage: Int { nodes.count { $0.state == .active } }

    /// "Mach " and the stage in Roman numerals ("Mach I", "Mach IV"); "Mach 0" for no active node.
    public var stageName: String { "Mach " + Self.roman(stage) }

    /// `number` in Roman numerals for 1...3999, in decimal otherwise.
    public static func roman(_ number: Int) -> String {
        guard (1...3999).contains(number) else { return String(number) }
        let symbols: [(Int, String)] = [
            (1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"),
            (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I"),
        ]
        var rest = number
        var text = ""
        for (value, symbol) in symbols {
            while rest >= value {
                text += symbol
                rest -= value
            }
        }
        return text
    }
}
