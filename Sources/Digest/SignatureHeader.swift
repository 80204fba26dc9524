/// The `X-Machdb-Signature` header that authenticates an operator-hook request:
/// `sha256=<64 lowercase hex digits of HMAC-SHA256(secret, raw body)>`.
///
/// The MAC covers the body bytes exactly as sent: a receiver must verify the raw bytes it
/// read, before parsing or re-encoding them.
public enum SignatureHeader {
    /// The header's name.
    public static let name = "X-Machdb-Signature"
    /// The scheme prefix of the value.
    public static let prefix = "sha256="

    /// The header value for `body` signed with `secret` (its UTF-8 bytes are the HMAC key).
    public static func value(secret: String, body: [UInt8]) -> String {
        prefix + HMACSHA256.hex(HMACSHA256.sign(key: Array(secret.utf8), message: body))
    }

    /// True when `header` is a valid signature of `body` under `secret`.
    ///
    /// Accepts exactly `sha256=` (lowercase) followed by 64 hex digits; surrounding spaces and
    /// tabs are ignored. The digits may be upper- or lowercase: case carries no information,
    /// and senders (shell tools, other languages) differ, so refusing uppercase would only break
    /// honest clients. The MAC is compared in constant time. A missing, malformed or wrong
    /// header is false.
    public static func verify(_ header: String?, secret: String, body: [UInt8]) -> Bool {
        guard let header else { return false }
        let trimmed = trim(header)
        guard trimmed.hasPrefix(prefix) else { return false }
        let digits = String(trimmed.dropFirst(prefix.count))
        guard digits.utf8.count == HMACSHA256.byteCount * 2, let given = HMACSHA256.bytes(hex: digits) else { return false }
        let expected = HMACSHA256.sign(key: Array(secret.utf8), message: body)
        return HMACSHA256.constantTimeEqual(given, expected)
    }

    private static func trim(_ text: String) -> Substring {
        var slice = text[...]
        while let first = slice.first, first == " " || first == "\t" { slice = slice.dropFirst() }
        while let last = slice.last, last == " " || last == "\t" { slice = slice.dropLast() }
        return slice
    }
}
