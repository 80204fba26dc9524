import COpenSSL

/// HMAC-SHA256 (RFC 2104 with SHA-256) over libcrypto, plus the helpers a signature check needs.
///
/// Stateless and thread-safe: every call uses OpenSSL's one-shot `HMAC`, which keeps no state
/// between calls.
public enum HMACSHA256 {
    /// Length of a MAC in bytes.
    public static let byteCount = 32

    /// The 32-byte HMAC-SHA256 of `message` under `key` (any length, empty included).
    ///
    /// Traps only if libcrypto itself fails (out of memory, or SHA-256 unavailable), which no
    /// caller could recover from.
    public static func sign(key: [UInt8], message: [UInt8]) -> [UInt8] {
        var mac = [UInt8](repeating: 0, count: byteCount)
        var length: UInt32 = 0
        // libcrypto wants a non-NULL key pointer even for an empty key; an empty array may
        // have no base address, so point at a dummy byte with length 0 then.
        let placeholder: [UInt8] = [0]
        let produced = key.withUnsafeBufferPointer { keyBuffer in
            message.withUnsafeBufferPointer { messageBuffer in
                placeholder.withUnsafeBufferPointer { dummy in
                    mac.withUnsafeMutableBufferPointer { out in
                        HMAC(EVP_sha256(),
                             keyBuffer.baseAddress ?? dummy.baseAddress, Int32(keyBuffer.count),
                             messageBuffer.baseAddress ?? dummy.baseAddress, messageBuffer.count,
                             out.baseAddress, &length)
                    }
                }
            }
        }
        precondition(produced != nil && length == UInt32(byteCount), "libcrypto HMAC-SHA256 failed")
        return mac
    }

    /// `bytes` as lowercase hexadecimal, two digits per byte.
    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Bytes of a hexadecimal string (either case), or nil if its length is odd or it holds a
    /// non-hex character.
    public static func bytes(hex text: String) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(utf8.count / 2)
        var index = 0
        while index < utf8.count {
            guard let high = nibble(utf8[index]), let low = nibble(utf8[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }

    /// True when `a` and `b` hold the same bytes. The time taken depends on the lengths only,
    /// never on where the contents differ (libcrypto's `CRYPTO_memcmp`).
    ///
    /// Unequal lengths still run one comparison over the shorter length, so a caller cannot
    /// tell a length mismatch from a content mismatch by timing more than by the lengths it
    /// already knows.
    public static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        let common = min(a.count, b.count)
        let same: Int32
        if common == 0 {
            same = 0
        } else {
            same = a.withUnsafeBytes { left in
                b.withUnsafeBytes { right in CRYPTO_memcmp(left.baseAddress, right.baseAddress, common) }
            }
        }
        return same == 0 && a.count == b.count
    }

    private static func nibble(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
