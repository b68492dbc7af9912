import NIOCore
import Testing

@testable import SocketIO
import TestSupport

/// Random and mutated inputs for the decoder, and random values through encode and decode.
/// Deterministic: a failure names its round, and the seed reproduces it.
@Suite("MessagePack fuzzing")
struct MessagePackFuzzTests {
    static let seed: UInt64 = 0x4D50_4B_0301
    static let rounds = 50_000

    /// The shared seeded generator (Tests/TestSupport).
    typealias Generator = SplitMix64

    // MARK: Values

    static func number(using random: inout Generator) -> Double {
        switch Int.random(in: 0..<7, using: &random) {
        case 0: return Double(Int.random(in: -300...300, using: &random))
        case 1:
            // Next to a power of two, where the integer formats change.
            let power = [5, 7, 8, 15, 16, 31, 32, 53, 63, 64].randomElement(using: &random)!
            let magnitude = Double(sign: .plus, exponent: power, significand: 1) + Double(Int.random(in: -1...1, using: &random))
            return Bool.random(using: &random) ? magnitude : -magnitude
        case 2: return Double(Int64.random(in: .min ... .max, using: &random))
        case 3: return Double(UInt64.random(in: .min ... .max, using: &random))
        case 4: return Double.random(in: -1e6...1e6, using: &random)
        case 5: return [.nan, .infinity, -.infinity, -0.0, .greatestFiniteMagnitude, .leastNonzeroMagnitude].randomElement(using: &random)!
        default: return Double(bitPattern: random.next())  // anything, NaNs included
        }
    }

    static func value(depth: Int, using random: inout Generator) -> JSONValue {
        switch Int.random(in: 0..<(depth > 0 ? 9 : 6), using: &random) {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &random))
        case 2, 3: return .number(number(using: &random))
        case 4: return .string(random.text(count: random.byteCount()))
        case 5: return .binary(ByteBuffer(bytes: random.bytes(count: random.byteCount())))
        case 6, 7:
            return .array((0..<random.elementCount()).map { _ in value(depth: depth - 1, using: &random) })
        default:
            // Unique keys: a repeated key would collapse on decoding, as in JavaScript.
            let members = (0..<random.elementCount()).map { index in
                let key = random.text(count: Int.random(in: 0...4, using: &random)) + "#\(index)"
                return JSONMember(key: key, value: value(depth: depth - 1, using: &random))
            }
            return .object(members)
        }
    }

    /// Equality, except that NaN equals NaN. (`-0` and `0` are equal already; notepack writes both as `00`.)
    static func equivalent(_ lhs: JSONValue, _ rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.number(let left), .number(let right)):
            return left == right || (left.isNaN && right.isNaN)
        case (.array(let left), .array(let right)):
            return left.count == right.count && zip(left, right).allSatisfy { equivalent($0, $1) }
        case (.object(let left), .object(let right)):
            return left.count == right.count
                && zip(left, right).allSatisfy { $0.key == $1.key && equivalent($0.value, $1.value) }
        default:
            return lhs == rhs
        }
    }

    // MARK: Inputs

    /// Byte runs that steer mutations towards the decoder's corners.
    static let tokens: [[UInt8]] = [
        [0x91], [0x81, 0xA0], [0x9F], [0x8F], [0xDC, 0x00, 0x10], [0xDE, 0x00, 0x02], [0xDD, 0xFF, 0xFF, 0xFF, 0xFF],
        [0xDF, 0x7F, 0xFF, 0xFF, 0xFF], [0xDB, 0xFF, 0xFF, 0xFF, 0xF0], [0xC6, 0x00, 0x00, 0x00, 0x04], [0xC4, 0x02],
        [0xD9, 0x20], [0xA3], [0xD6, 0xFF], [0xD7, 0xFF], [0xD7, 0x00], [0xC7, 0x0C, 0xFF], [0xD4, 0x00], [0xC7, 0x03, 0x00],
        [0xC9, 0x00, 0x00, 0x01, 0x00, 0x05], [0xD8, 0x01], [0xC1], [0xCA], [0xCB], [0xCF], [0xD3], [0xC0], [0xC3],
        [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xC3, 0x28], [0xFF], [0x7F], [0xEE, 0x6B, 0x28, 0x00],
    ]

    static let specMessages: [[UInt8]] = [
        MessagePackSpecVectorTests.exampleAHex, MessagePackSpecVectorTests.exampleBHex, MessagePackSpecVectorTests.exampleCHex,
        MessagePackSpecVectorTests.broadcastRequestHex, MessagePackSpecVectorTests.broadcastAckHex,
    ].map(MessagePackFixture.bytes)

    static func mutate(_ input: [UInt8], using random: inout Generator) -> [UInt8] {
        var bytes = input
        for _ in 0..<Int.random(in: 1...4, using: &random) {
            let position = bytes.isEmpty ? 0 : Int.random(in: 0..<bytes.count, using: &random)
            switch Int.random(in: 0..<7, using: &random) {
            case 0 where !bytes.isEmpty: bytes[position] ^= 1 << UInt8.random(in: 0..<8, using: &random)
            case 1 where !bytes.isEmpty: bytes[position] = UInt8(truncatingIfNeeded: random.next())
            case 2 where !bytes.isEmpty: bytes.remove(at: position)
            case 3, 4: bytes.insert(contentsOf: tokens.randomElement(using: &random)!, at: position)
            case 5 where !bytes.isEmpty:
                // Duplicate a slice, which builds nesting and repeated keys.
                let end = Int.random(in: position...bytes.count, using: &random)
                bytes.insert(contentsOf: bytes[position..<end], at: end)
            case 6 where !bytes.isEmpty: bytes.removeLast(Int.random(in: 0...bytes.count - position, using: &random))
            default: break
            }
        }
        return bytes
    }

    static func input(using random: inout Generator) -> [UInt8] {
        switch Int.random(in: 0..<4, using: &random) {
        case 0: return random.bytes(count: Int.random(in: 0...40, using: &random))
        case 1: return mutate(specMessages.randomElement(using: &random)!, using: &random)
        case 2: return mutate(MessagePack.encode(value(depth: 3, using: &random)), using: &random)
        default:
            return (0..<Int.random(in: 1...12, using: &random)).flatMap { _ in
                random.chance(3) ? random.bytes(count: Int.random(in: 1...4, using: &random)) : tokens.randomElement(using: &random)!
            }
        }
    }

    // MARK: Tests

    /// Whatever decodes must also survive being written and read again unchanged.
    @Test func randomAndMutatedInputsNeverCrash() {
        var random = Generator(seed: Self.seed)
        var decodedCount = 0
        for round in 0..<Self.rounds {
            let bytes = Self.input(using: &random)
            guard let value = try? MessagePackFixture.decode(bytes) else { continue }
            decodedCount += 1
            let encoded = MessagePack.encode(value)
            guard let again = try? MessagePackFixture.decode(encoded) else {
                Issue.record("round \(round): re-encoding of \(MessagePackFixture.hex(bytes)) does not decode")
                continue
            }
            #expect(Self.equivalent(again, value), "round \(round): \(MessagePackFixture.hex(bytes))")
            #expect(MessagePack.encode(again) == encoded, "round \(round): \(MessagePackFixture.hex(bytes))")
        }
        // Guards the generator: a fuzzer whose inputs never decode tests only the first byte.
        #expect(decodedCount > Self.rounds / 50)
    }

    @Test func randomValuesRoundTrip() throws {
        var random = Generator(seed: Self.seed ^ 0xF00D)
        for round in 0..<5_000 {
            let value = Self.value(depth: 4, using: &random)
            let bytes = MessagePack.encode(value)
            let decoded = try MessagePackFixture.decode(bytes)
            #expect(Self.equivalent(decoded, value), "round \(round): \(MessagePackFixture.hex(bytes))")
            #expect(MessagePack.encode(decoded) == bytes, "round \(round)")
        }
    }

    /// MessagePack is prefix-free: no proper prefix of a value is a value.
    @Test func everyProperPrefixOfARandomValueFails() {
        var random = Generator(seed: Self.seed ^ 0xBEEF)
        for round in 0..<300 {
            let bytes = MessagePack.encode(Self.value(depth: 2, using: &random))
            for end in 0..<bytes.count {
                #expect(throws: MessagePackError.self, "round \(round), prefix \(end)") {
                    try MessagePackFixture.decode(Array(bytes[..<end]))
                }
            }
        }
    }
}

extension SplitMix64 {
    mutating func chance(_ oneIn: Int) -> Bool {
        Int.random(in: 0..<oneIn, using: &self) == 0
    }

    /// Mostly short, sometimes just around the 31/32 and 255/256 byte boundaries of str and bin.
    mutating func byteCount() -> Int {
        switch Int.random(in: 0..<24, using: &self) {
        case 0: Int.random(in: 30...33, using: &self)
        case 1: Int.random(in: 254...257, using: &self)
        default: Int.random(in: 0...8, using: &self)
        }
    }

    /// Mostly short, sometimes around the 15/16 boundary of fixarray and fixmap.
    mutating func elementCount() -> Int {
        chance(16) ? Int.random(in: 14...17, using: &self) : Int.random(in: 0...4, using: &self)
    }
}
