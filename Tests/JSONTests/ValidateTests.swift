import JSON
import RaftCore
import XCTest

/// `validate` must accept and reject exactly what `parse` does.
final class ValidateTests: XCTestCase {
    private func agree(_ text: [UInt8], file: StaticString = #filePath, line: UInt = #line) {
        let parsed: JSONError?
        do { _ = try JSON.parse(text, maxDepth: 8); parsed = nil } catch { parsed = error }
        let validated: JSONError?
        do { try JSON.validate(text, maxDepth: 8); validated = nil } catch { validated = error }
        XCTAssertEqual(parsed, validated, "\(String(decoding: text, as: UTF8.self).debugDescription)", file: file, line: line)
    }

    func testHandPickedCases() {
        let cases = [
            #"{"a":1,"b":[true,false,null],"c":{"d":"e"},"f":-0.5}"#, "1", "-0", "01", "1.", ".5", "1e5", "1E+2",
            "123456789012345", "1234567890123456", "12345678901234567890", "-", "--1", #""a\"b\\c\/d\b\f\n\r\t""#,
            #""\u0041""#, #""\u0000""#, #""\ud800""#, #""\x""#, "\"a\u{01}b\"", "\"é\"", #"{"a":1,"a":2}"#,
            #"{"a":1,"\u0061":2}"#, #"{"a":{"a":1},"b":{"a":2}}"#, "[1,2,]", "[,1]", "{,}", #"{"a" 1}"#, #"{"a":}"#,
            "[[[[[[[[1]]]]]]]]", "[[[[[[[[[1]]]]]]]]]", " \t\n\r1 ", "1 2", "[] x", "", " ", "tru", "nulll",
            #"{"k":"v"}"# + "\u{0}", "[\"\u{7f}\"]", #"[-1.25,0,0.0,100]"#, #"{"":0}"#, #"{"a":[{"a":[{"a":1}]}]}"#,
        ]
        for text in cases { agree(Array(text.utf8)) }
    }

    func testManyKeysAndHashCollisionsFallBackCorrectly() {
        var members = (0..<100).map { #""k\#($0)":\#($0)"# }
        agree(Array(("{" + members.joined(separator: ",") + "}").utf8))
        members.append(#""k7":1"#)
        agree(Array(("{" + members.joined(separator: ",") + "}").utf8))
    }

    /// Random carts, then random byte edits of them: both paths must always agree.
    func testRandomDocumentsAndMutations() {
        var rng = SplitMix64(seed: 42)
        let alphabet = Array(#"{}[]":,.-+eE0123456789 abtrufnl\"#.utf8) + [0x00, 0x1f, 0x7f, 0xc3, 0xa9, 0xff]
        for _ in 0..<4_000 {
            var doc = Array(cart(&rng).utf8)
            agree(doc)
            for _ in 0..<Int(rng.next() % 4) {
                let at = Int(rng.next() % UInt64(doc.count + 1))
                switch rng.next() % 3 {
                case 0 where at < doc.count: doc.remove(at: at)
                case 1: doc.insert(alphabet[Int(rng.next() % UInt64(alphabet.count))], at: at)
                default: if at < doc.count { doc[at] = alphabet[Int(rng.next() % UInt64(alphabet.count))] }
                }
            }
            agree(doc)
        }
    }

    private func cart(_ rng: inout SplitMix64) -> String {
        let items = (0..<Int(rng.next() % 4)).map { i in
            #"{"sku":"s\#(rng.next() % 1000)","qty":\#(rng.next() % 9),"price":\#(Double(rng.next() % 10_000) / 100)}"#
        }
        let note = rng.next() % 2 == 0 ? #","note":"line\nbreak \"quoted\"""# : ""
        return #"{"customer":"c\#(rng.next() % 100)","status":"open","items":[\#(items.joined(separator: ","))],"total":\#(rng.next() % 500)\#(note),"gift":\#(rng.next() % 2 == 0),"coupon":null}"#
    }
}
