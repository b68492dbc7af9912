import Foundation
import Testing
import TestSupport

@testable import EngineIO

@Suite("Base64")
struct Base64Tests {
    /// RFC 4648, section 10.
    @Test(arguments: [
        ("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy"),
    ])
    func rfc4648TestVectors(plain: String, encoded: String) {
        #expect(Base64.encode(Array(plain.utf8)) == encoded)
        #expect(Base64.decode(encoded) == Array(plain.utf8))
    }

    @Test func engineIOSpecExample() {
        #expect(Base64.encode([1, 2, 3, 4]) == "AQIDBA==")
        #expect(Base64.decode("AQIDBA==") == [1, 2, 3, 4])
    }

    @Test func usesTheStandardAlphabetWithPlusAndSlash() {
        #expect(Base64.encode([0xFB, 0xFF, 0xBF]) == "+/+/")
        #expect(Base64.decode("+/+/") == [0xFB, 0xFF, 0xBF])
        // The URL-safe alphabet is not accepted.
        #expect(Base64.decode("-_-_") == nil)
    }

    @Test func everyByteValueRoundTrips() {
        let all = (0...255).map { UInt8($0) }
        let encoded = Base64.encode(all)
        #expect(encoded == Data(all).base64EncodedString())
        #expect(Base64.decode(encoded) == all)
    }

    @Test func roundTripsAndMatchesFoundationForLengths0Through64() {
        var random = SplitMix64(seed: 64)
        for length in 0...64 {
            for _ in 0..<8 {
                let input = random.bytes(count: length)
                let encoded = Base64.encode(input)
                #expect(encoded.utf8.count == (length + 2) / 3 * 4, "length \(length)")
                #expect(encoded == Data(input).base64EncodedString(), "length \(length)")
                #expect(Base64.decode(encoded) == input, "length \(length)")
            }
        }
    }

    @Test func encodesAnyByteCollection() {
        let bytes: [UInt8] = [0x66, 0x6F, 0x6F, 0x62]
        #expect(Base64.encode(bytes[1...]) == "b29i")
        #expect(Base64.encode(Data(bytes)) == "Zm9vYg==")
    }

    @Test(arguments: [
        "A", "AB", "ABC", "ABCDE",  // length not a multiple of four
        "====", "A===", "=AAA", "AB=C",  // misplaced padding
        "AQ==AQ==", "AQI=AQID",  // padding before the last quartet
        "AQID!A==", "A\u{E9}=", " AQI", "AQI\n", "AQIDBA=\n",  // characters outside the alphabet
        "AQIDBA==\u{0}", "Zm9v\r\n",
    ])
    func rejectsMalformedInput(input: String) {
        #expect(Base64.decode(input) == nil)
    }

    @Test func rejectsEveryByteOutsideTheAlphabet() {
        let alphabet = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=".utf8)
        for byte in UInt8.min...0x7F where !alphabet.contains(byte) {
            let text = String(decoding: [0x41, 0x41, byte, 0x41], as: UTF8.self)
            #expect(Base64.decode(text) == nil, "byte \(byte)")
        }
    }
}
