/// Number formatting for reason sentences (no Foundation in a pure core).
enum Format {
    /// `value` rounded to `places` decimals with trailing zeros dropped: 3.0 → "3", 3.456 → "3.46".
    static func decimal(_ value: Double, places: Int = 2) -> String {
        guard value.isFinite else { return "\(value)" }
        var scale = 1.0
        for _ in 0..<places { scale *= 10 }
        let scaled = (abs(value) * scale).rounded()
        guard scaled < 1e15 else { return "\(value)" }
        let units = Int64(scaled)
        let whole = units / Int64(scale)
        var fraction = String(units % Int64(scale))
        fraction = String(repeating: "0", count: max(0, places - fraction.count)) + fraction
        while fraction.hasSuffix("0") { fraction.removeLast() }
        let sign = value < 0 && units != 0 ? "-" : ""
        return fraction.isEmpty ? "\(sign)\(whole)" : "\(sign)\(whole).\(fraction)"
    }

    /// A fraction as a percentage: 0.0213 → "2.13 %".
    static func percent(_ fraction: Double) -> String { "\(decimal(fraction * 100)) %" }

    /// Seconds with a unit: 3.456 → "3.46 s".
    static func seconds(_ value: Double) -> String { "\(decimal(value)) s" }

    /// Seconds with a unit and the decimals a small value needs: 3.456 → "3.46 s",
    /// 0.4123 → "0.412 s", 0.00234 → "0.0023 s".
    static func preciseSeconds(_ value: Double) -> String {
        "\(decimal(value, places: abs(value) >= 1 ? 2 : abs(value) >= 0.1 ? 3 : 4)) s"
    }
}
