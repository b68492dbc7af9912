import EngineIO
import NIOCore
import Testing
import TestSupport

@testable import SocketIO

/// Random and mutated inputs for the Socket.IO packet decoder and the JSON parser.
/// Deterministic: every reported failure names its seed and round, so it reproduces.
@Suite("Socket.IO decoding fuzzing")
struct SocketIOFuzzTests {
    static let seed: UInt64 = 0x50C_4E71_0F12
    static let rounds = 100_000

    // MARK: Inputs

    static let specTexts = [
        "0", #"0/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}"#, #"4{"message":"Not authorized"}"#, #"2["foo"]"#,
        #"2/admin,["bar"]"#, #"51-["baz",{"_placeholder":true,"num":0}]"#,
        #"52-/admin,["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#, #"212["foo"]"#,
        #"3/admin,13["bar"]"#, #"61-15["bar",{"_placeholder":true,"num":0}]"#, "1", "1/admin,", "0/custom",
    ]

    /// Bytes that steer mutations towards the grammar's corners.
    static let tokens: [[UInt8]] = [
        "0", "1", "2", "3", "4", "5", "6", "9", "-", ",", "/", "[", "]", "{", "}", "\"", ":", "\\", "\\u", "\\ud83d",
        "e", "E", ".", "+", " ", "null", "true", "1e999", "_placeholder", "num", "1000", "1001", "\u{1E}", "é", "😀",
    ].map { Array($0.utf8) } + [[0x00], [0x1F], [0x7F], [0xFF], [0xC3], [0xED, 0xA0, 0x80]]

    /// A random valid packet, binary values included.
    static func randomPacket(using random: inout SplitMix64) -> SocketIOPacket {
        let namespace = Bool.random(using: &random) ? "/" : "/" + random.text(count: Int.random(in: 0...6, using: &random)) { $0 != "," }
        let id: Int? = Bool.random(using: &random) ? Int.random(in: 0...999_999, using: &random) : nil
        func argument() -> JSONValue {
            if Int.random(in: 0..<4, using: &random) == 0 {
                return .binary(ByteBuffer(bytes: random.bytes(count: Int.random(in: 0...8, using: &random))))
            }
            return RandomJSON.value(depth: 3, using: &random)
        }
        let packet: SocketIOPacket
        switch Int.random(in: 0..<6, using: &random) {
        case 0:
            let data: JSONValue? = Bool.random(using: &random) ? ["token": .string(random.text(count: 5))] : nil
            packet = SocketIOPacket(type: .connect, namespace: namespace, data: data)
        case 1:
            packet = SocketIOPacket(type: .disconnect, namespace: namespace)
        case 2:
            packet = SocketIOPacket(type: .connectError, namespace: namespace, data: ["message": .string(random.text(count: 6))])
        case 3:
            packet = SocketIOPacket(type: .ack, namespace: namespace, data: .array((0..<Int.random(in: 0...3, using: &random)).map { _ in argument() }), id: id ?? 0)
        default:
            let name = "ev" + random.text(count: Int.random(in: 0...4, using: &random))
            packet = .event(name, (0..<Int.random(in: 0...3, using: &random)).map { _ in argument() }, namespace: namespace, id: id)
        }
        return packet
    }

    /// The packet a decoder gives back for the encoding of `packet`: binary values make an
    /// event or ack a binary one.
    static func decodedForm(of packet: SocketIOPacket) -> SocketIOPacket {
        var decoded = packet
        if packet.data?.containsBinary == true {
            if packet.type == .event { decoded.type = .binaryEvent }
            if packet.type == .ack { decoded.type = .binaryAck }
        }
        return decoded
    }

    static func mutate(_ input: [UInt8], using random: inout SplitMix64) -> [UInt8] {
        var bytes = input
        for _ in 0..<Int.random(in: 1...4, using: &random) {
            let position = bytes.isEmpty ? 0 : Int.random(in: 0..<bytes.count, using: &random)
            switch Int.random(in: 0..<8, using: &random) {
            case 0 where !bytes.isEmpty: bytes[position] ^= 1 << UInt8.random(in: 0..<8, using: &random)
            case 1 where !bytes.isEmpty: bytes[position] = UInt8.random(in: 0...255, using: &random)
            case 2 where !bytes.isEmpty: bytes.remove(at: position)
            case 3: bytes.insert(UInt8.random(in: 0x20...0x7E, using: &random), at: position)
            case 4, 5: bytes.insert(contentsOf: tokens.randomElement(using: &random)!, at: position)
            case 6 where !bytes.isEmpty:
                // Duplicate a slice, which builds nesting and repeated members.
                let end = Int.random(in: position...bytes.count, using: &random)
                bytes.insert(contentsOf: bytes[position..<end], at: end)
            case 7 where !bytes.isEmpty: bytes.removeLast(Int.random(in: 0...bytes.count - position, using: &random))
            default: break
            }
        }
        return bytes
    }

    static func randomASCII(using random: inout SplitMix64) -> [UInt8] {
        let alphabet = Array("0123456-/,[]{}\":abcnum_placeholdertrue ".utf8)
        return (0..<Int.random(in: 0...30, using: &random)).map { _ in alphabet.randomElement(using: &random)! }
    }

    /// What JSON.stringify makes of a value: non-finite numbers become null.
    static func stringified(_ value: JSONValue) -> JSONValue {
        switch value {
        case .number(let number) where !number.isFinite: return .null
        case .array(let items): return .array(items.map(stringified))
        case .object(let members): return .object(members.map { JSONMember(key: $0.key, value: stringified($0.value)) })
        default: return value
        }
    }

    static func containsNonFinite(_ value: JSONValue) -> Bool { stringified(value) != value }

    /// Encodes and decodes `packet` on a fresh decoder.
    static func reencoded(_ packet: SocketIOPacket) throws(SocketIODecodingError) -> SocketIOPacket? {
        var decoder = SocketIOPacketDecoder()
        let messages = SocketIOPacketEncoder.encode(packet)
        for message in messages.dropLast() {
            if try decoder.decode(message) != nil { return nil }  // completed too early
        }
        return try decoder.decode(messages.last!)
    }

    // MARK: Packet decoder

    /// What the shared decoder made of one message.
    enum Outcome: Equatable {
        case rejected
        case awaitingAttachments
        case decoded(SocketIOPacket)
    }

    @Test func packetDecoderNeverCrashesAndDecodedPacketsRoundTrip() {
        var random = SplitMix64(seed: Self.seed)
        // Each valid entry keeps the packet it was encoded from (the spec texts have none here;
        // the decoder's unit tests spell theirs out).
        let corpus: [(messages: [EngineMessage], source: SocketIOPacket?)] =
            Self.specTexts.map { ([.text($0)], nil) }
            + (0..<300).map { _ in
                let packet = Self.randomPacket(using: &random)
                return (SocketIOPacketEncoder.encode(packet), packet)
            }

        var decoder = SocketIOPacketDecoder()
        // Between packets: nothing fed yet, or the last message completed a packet or was rejected.
        var betweenPackets = true
        var fed = 0
        var decoded = 0
        var errors = 0
        var lossy = 0
        var failures = 0
        var validDecodedExactly = 0

        @discardableResult
        func feed(_ message: EngineMessage, round: Int) -> Outcome {
            fed += 1
            let packet: SocketIOPacket?
            do {
                packet = try decoder.decode(message)
            } catch {
                errors += 1
                decoder = SocketIOPacketDecoder()
                betweenPackets = true
                return .rejected
            }
            guard let packet else {
                betweenPackets = false
                return .awaitingAttachments
            }
            betweenPackets = true
            decoded += 1
            // JSON.stringify writes non-finite numbers as null, so those come back as null
            // (and an event named by such a number is no longer a valid event).
            let lossless = !(packet.data.map(Self.containsNonFinite) ?? false)
            var expected = packet
            expected.data = packet.data.map(Self.stringified)
            do {
                let again = try Self.reencoded(packet)
                if again != expected {
                    failures += 1
                    Issue.record("seed \(Self.seed) round \(round): \(message) decoded to \(packet), re-encoded and decoded to \(String(describing: again))")
                }
            } catch {
                if lossless {
                    failures += 1
                    Issue.record("seed \(Self.seed) round \(round): \(message) decoded to \(packet), its encoding fails with \(error)")
                } else {
                    lossy += 1
                }
            }
            return .decoded(packet)
        }

        for round in 0..<Self.rounds where failures < 10 {
            switch round % 10 {
            case 0, 1, 2, 3, 4:
                // A mutated text, then the original attachments, a few more or a few less.
                let original = corpus.randomElement(using: &random)!.messages
                guard case .text(let text) = original[0] else { continue }
                let mutated = Self.mutate(Array(text.utf8), using: &random)
                feed(.text(String(decoding: mutated, as: UTF8.self)), round: round)
                var attachments = Array(original.dropFirst())
                switch Int.random(in: 0..<4, using: &random) {
                case 0 where !attachments.isEmpty: attachments.removeLast()
                case 1: attachments.append(.binary(ByteBuffer(bytes: random.bytes(count: 3))))
                default: break
                }
                for attachment in attachments { feed(attachment, round: round) }
            case 5:
                // Valid messages unchanged: the success path must stay well travelled, and a
                // decoder between packets gives back exactly the packet they were encoded from,
                // whatever garbage it recovered from before.
                let (messages, source) = corpus.randomElement(using: &random)!
                let wasBetweenPackets = betweenPackets
                let outcomes = messages.map { feed($0, round: round) }
                guard wasBetweenPackets, let source else { continue }
                let expected = Self.decodedForm(of: source)
                let attachmentsAwaited = outcomes.dropLast().allSatisfy { $0 == .awaitingAttachments }
                if attachmentsAwaited && outcomes.last == .decoded(expected) {
                    validDecodedExactly += 1
                } else {
                    failures += 1
                    Issue.record("seed \(Self.seed) round \(round): \(messages), encoded from \(expected), decoded as \(outcomes)")
                }
            case 6:
                feed(.text(String(decoding: Self.randomASCII(using: &random), as: UTF8.self)), round: round)
            case 7:
                feed(.text(String(decoding: random.bytes(count: Int.random(in: 0...24, using: &random)), as: UTF8.self)), round: round)
            case 8:
                // A binary message out of the blue, or as a missing attachment.
                feed(.binary(ByteBuffer(bytes: random.bytes(count: Int.random(in: 0...16, using: &random)))), round: round)
            default:
                // A binary header with random attachment count and placeholders, then random binaries.
                let count = Int.random(in: 0...4, using: &random)
                let nums = (0..<Int.random(in: 0...3, using: &random)).map { _ in Int.random(in: -1...4, using: &random) }
                let placeholders = nums.map { #",{"_placeholder":true,"num":\#($0)}"# }.joined()
                let type = Bool.random(using: &random) ? "5" : "6"
                let id = type == "6" ? "7" : ""
                feed(.text(#"\#(type)\#(count)-\#(id)["x"\#(placeholders)]"#), round: round)
                for _ in 0..<Int.random(in: 0...5, using: &random) {
                    feed(.binary(ByteBuffer(bytes: random.bytes(count: 2))), round: round)
                }
            }
        }

        #expect(failures == 0)
        // About a tenth of the rounds feed a generated valid packet, most of them to a decoder
        // between packets; each must have come back exactly, not merely self-consistently.
        #expect(validDecodedExactly > Self.rounds / 20, "valid packets decoded exactly: \(validDecodedExactly)")
        // Both outcomes must be well represented, or the checks above prove little.
        #expect(decoded > Self.rounds / 10, "decoded \(decoded) of \(fed)")
        #expect(errors > Self.rounds / 10, "errors \(errors) of \(fed)")
        #expect(lossy < decoded / 100)
    }

    // MARK: JSON parser

    @Test func jsonParserNeverCrashesAndParsedValuesRoundTrip() {
        var random = SplitMix64(seed: Self.seed &+ 1)
        // Each generated entry keeps the value it was written from.
        var corpus: [(text: [UInt8], source: JSONValue?)] = [
            #"{"sid":"oSO0OpakMV_3jnilAAAA"}"#, #"["baz",{"_placeholder":true,"num":0}]"#, #"[1,-0.5,1e+21,1e-7,true,null]"#,
            #""\ud83d\ude00\n\u0000""#, #"{"a":{"b":[[],{}]}}"#, "0", "-1.5e-3",
        ].map { (Array($0.utf8), nil) }
        corpus += (0..<300).map { _ in
            let value = RandomJSON.value(depth: 3, using: &random)
            return (Array(value.jsonText.utf8), value)
        }

        var parsed = 0
        var failures = 0
        var validParsedExactly = 0
        for round in 0..<Self.rounds where failures < 10 {
            let input: [UInt8]
            switch round % 8 {
            case 0: input = random.bytes(count: Int.random(in: 0...24, using: &random))
            case 1: input = Self.randomASCII(using: &random)
            case 2 where round % 64 == 2:
                let depth = Int.random(in: JSONParser.maximumDepth - 2...JSONParser.maximumDepth + 2, using: &random)
                input = Array((String(repeating: "[", count: depth) + String(repeating: "]", count: depth)).utf8)
            case 3:
                let (text, source) = corpus.randomElement(using: &random)!
                input = text
                // A valid text parses to the value it was written from, not merely to one that
                // writes and parses back the same.
                if let source {
                    let value = try? JSONParser.parse(text)
                    if value == source {
                        validParsedExactly += 1
                    } else {
                        failures += 1
                        Issue.record("seed \(Self.seed &+ 1) round \(round): \(String(decoding: text, as: UTF8.self)) written from \(source), parsed to \(String(describing: value))")
                    }
                }
            default: input = Self.mutate(corpus.randomElement(using: &random)!.text, using: &random)
            }
            guard let value = try? JSONParser.parse(input) else { continue }
            parsed += 1
            let text = value.jsonText
            let again = try? JSONParser.parse(text)
            if again != Self.stringified(value) || again?.jsonText != text {
                failures += 1
                Issue.record("seed \(Self.seed &+ 1) round \(round): \(input) parsed to \(value), re-parsed \(text) to \(String(describing: again))")
            }
        }
        #expect(failures == 0)
        #expect(parsed > Self.rounds / 10, "parsed \(parsed)")
        // An eighth of the rounds is an unmutated entry, nearly all of them generated ones.
        #expect(validParsedExactly > Self.rounds / 10, "valid texts parsed exactly: \(validParsedExactly)")
    }
}
