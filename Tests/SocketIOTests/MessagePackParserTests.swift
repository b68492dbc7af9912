import EngineIO
import NIOCore
import Testing
import TestSupport

@testable import SocketIO

/// `socket.io-msgpack-parser`'s format: each packet one binary message holding the map
/// `{type, data, id, nsp}`; the decoder's rules and fuzzing of it.
@Suite("MessagePack parser")
struct MessagePackParserTests {
    private let parser = MessagePackParser()

    private func bytes(_ packet: SocketIOPacket) -> [UInt8] {
        let messages = parser.encode(packet)
        guard messages.count == 1, case .binary(let buffer) = messages[0] else {
            Issue.record("expected one binary message, got \(messages)")
            return []
        }
        return Array(buffer.readableBytesView)
    }

    private func decode(_ bytes: [UInt8]) throws(SocketIODecodingError) -> SocketIOPacket? {
        var decoder = parser.makeDecoder(maxPayload: 1_000_000)
        return try decoder.decode(.binary(ByteBuffer(bytes: bytes)))
    }

    private func map(_ members: [(String, JSONValue)]) -> [UInt8] {
        MessagePack.encode(.object(members.map { JSONMember(key: $0.0, value: $0.1) }))
    }

    @Test("an event with an ack id is the map type, data, id, nsp in Node's order")
    func eventBytes() {
        // 84 a4"type" 02 a4"data" 92 a4"echo" a1"x" a2"id" 07 a3"nsp" a1"/"
        let expected: [UInt8] =
            [0x84, 0xA4] + Array("type".utf8) + [0x02, 0xA4] + Array("data".utf8) + [0x92, 0xA4] + Array("echo".utf8)
            + [0xA1] + Array("x".utf8) + [0xA2] + Array("id".utf8) + [0x07, 0xA3] + Array("nsp".utf8) + [0xA1] + Array("/".utf8)
        #expect(bytes(.event("echo", ["x"], namespace: "/", id: 7)) == expected)
    }

    @Test("binary data stays inline as bin, and the BINARY_ types are never used")
    func binaryInline() throws {
        let packet = SocketIOPacket(type: .binaryAck, namespace: "/admin", data: [.binary(ByteBuffer(bytes: [1, 2, 3]))], id: 4)
        let value = try MessagePack.decode(ByteBuffer(bytes: bytes(packet)))
        #expect(value == ["type": 3, "data": [.binary(ByteBuffer(bytes: [1, 2, 3]))], "id": 4, "nsp": "/admin"])
    }

    @Test("a CONNECT without data has no data key; python-socketio's data: nil is no data")
    func connectWithoutData() throws {
        #expect(try MessagePack.decode(ByteBuffer(bytes: bytes(SocketIOPacket(type: .connect, namespace: "/")))) == ["type": 0, "nsp": "/"])
        let decoded = try decode(map([("type", 0), ("data", .null), ("nsp", "/")]))
        #expect(decoded == SocketIOPacket(type: .connect, namespace: "/"))
    }

    @Test("what the encoder makes decodes to the same packet")
    func roundTrips() throws {
        let packets: [SocketIOPacket] = [
            SocketIOPacket(type: .connect, namespace: "/", data: ["token": "t"]),
            SocketIOPacket(type: .disconnect, namespace: "/chat"),
            .event("bid", [["price": 12.5, "ok": true, "none": .null]], namespace: "/", id: nil),
            SocketIOPacket(type: .ack, namespace: "/", data: [], id: 0),
            SocketIOPacket(type: .connectError, namespace: "/x", data: ["message": "no"]),
        ]
        for packet in packets {
            #expect(try decode(bytes(packet)) == packet)
        }
    }

    @Test("bad packets are refused with the reason", arguments: [
        ([0xC1], SocketIODecodingError.invalidPayload),  // not MessagePack
        ([0x92, 0x01, 0x02], .unknownPacketType),  // an array, not a map
    ])
    func badBytes(input: [UInt8], error: SocketIODecodingError) {
        #expect(throws: error) { try decode(input) }
    }

    @Test("packets that break the protocol's rules are refused")
    func invalidPackets() {
        let refused: [[(String, JSONValue)]] = [
            [("type", 5), ("data", ["e"]), ("nsp", "/")],  // BINARY_EVENT does not exist here
            [("type", 9), ("nsp", "/")],
            [("type", "2"), ("data", ["e"]), ("nsp", "/")],
            [("type", 2), ("data", ["e"])],  // no nsp
            [("type", 2), ("data", ["e"]), ("nsp", 7)],
            [("type", 2), ("data", ["e"]), ("nsp", "chat")],
            [("type", 2), ("data", "e"), ("nsp", "/")],
            [("type", 2), ("data", []), ("nsp", "/")],
            [("type", 2), ("data", ["connect"]), ("nsp", "/")],  // a reserved name
            [("type", 2), ("data", ["e"]), ("id", -1), ("nsp", "/")],
            [("type", 2), ("data", ["e"]), ("id", 1.5), ("nsp", "/")],
            [("type", 3), ("data", ["x"]), ("nsp", "/")],  // an ack without id
            [("type", 1), ("data", ["x"]), ("nsp", "/")],
            [("type", 4), ("nsp", "/")],
        ]
        for members in refused {
            #expect(throws: SocketIODecodingError.self, "\(members)") { try decode(map(members)) }
        }
    }

    @Test("a text message is refused")
    func textRefused() {
        var decoder = parser.makeDecoder(maxPayload: 1_000_000)
        #expect(throws: SocketIODecodingError.unexpectedText) { try decoder.decode(.text(#"2["e"]"#)) }
    }

    @Test("100,000 random and mutated inputs: no crash, and whatever decodes re-encodes to itself")
    func fuzz() throws {
        var random = SplitMix64(seed: 0x4D5F_5041_434B)
        let corpus: [[UInt8]] = (0..<200).map { _ in
            bytes(SocketIOFuzzTests.randomPacket(using: &random))
        }
        var decodedCount = 0
        for round in 0..<100_000 {
            let input: [UInt8]
            if round % 10 == 0 {
                input = random.bytes(count: Int.random(in: 0...40, using: &random))
            } else {
                input = SocketIOFuzzTests.mutate(corpus.randomElement(using: &random)!, using: &random)
            }
            guard let packet = try? decode(input) else { continue }
            decodedCount += 1
            // A packet the decoder accepted is a valid one, and its encoding decodes the same.
            #expect(SocketIOPacketDecoder.isValid(packet), "round \(round)")
            #expect(try decode(bytes(packet)) == packet, "round \(round): \(input)")
        }
        // The corpus entries themselves decode, and some mutants do: the test reached the decoder's far side.
        #expect(decodedCount > 1000, "only \(decodedCount) inputs decoded")
    }
}
