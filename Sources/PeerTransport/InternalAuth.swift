/// Authentication of node-to-node requests by the cluster token.
///
/// Rule: with a cluster token configured, a request is accepted only with
/// `Authorization: Bearer <token>` (scheme case-insensitive, token compared in constant time).
/// With no cluster token configured (nil or empty), a request is accepted only when it carries
/// NO `Authorization` header: peers of a tokenless node send none, so a header there means a
/// misconfigured cluster (or an admin or client token sent to an internal route) and is
/// refused loudly rather than ignored. A refused request is answered 401.
public enum InternalAuth {
    public static func check(authorizationHeader: String?, clusterToken: String?) -> Bool {
        guard let clusterToken, !clusterToken.isEmpty else { return authorizationHeader == nil }
        guard let header = authorizationHeader, let presented = bearerToken(header) else { return false }
        return constantTimeEqual(Array(presented.utf8), Array(clusterToken.utf8))
    }

    /// The header value a sender puts in `Authorization`, or nil when no token is configured.
    public static func headerValue(clusterToken: String?) -> String? {
        guard let clusterToken, !clusterToken.isEmpty else { return nil }
        return "Bearer \(clusterToken)"
    }

    /// A usable token: 1...512 visible ASCII characters (no spaces or controls, so it survives
    /// an HTTP header unchanged).
    public static func isValidToken(_ token: String) -> Bool {
        let bytes = token.utf8
        return (1...512).contains(bytes.count) && bytes.allSatisfy { (0x21...0x7E).contains($0) }
    }

    /// The credentials after a `Bearer` scheme, or nil for another scheme or none.
    static func bearerToken(_ header: String) -> Substring? {
        let value = header.drop { $0 == " " || $0 == "\t" }
        guard let space = value.firstIndex(where: { $0 == " " || $0 == "\t" }),
              value[..<space].lowercased() == "bearer" else { return nil }
        var token = value[space...].drop { $0 == " " || $0 == "\t" }
        while let last = token.last, last == " " || last == "\t" { token = token.dropLast() }
        return token.isEmpty ? nil : token
    }

    /// Compares in time that depends only on `expected`'s length, never on where the inputs
    /// differ. Also used for the admin token.
    public static func constantTimeEqual(_ presented: [UInt8], _ expected: [UInt8]) -> Bool {
        var difference: UInt8 = presented.count == expected.count ? 0 : 1
        for index in 0..<expected.count {
            let byte = index < presented.count ? presented[index] : 0
            difference |= byte ^ expected[index]
        }
        return difference == 0
    }
}
