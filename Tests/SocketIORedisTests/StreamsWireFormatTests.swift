import Foundation
import NIOCore
import RedisClient
import SocketIO
import Testing

@testable import SocketIORedis

/// The streams adapter's pieces that have a byte-exact form in the spec
/// (`socketio-connection-recovery-and-streams-adapter.md`, Part B).
@Suite("Streams adapter wire format")
struct StreamsWireFormatTests {
    /// B9: Java's hashCode over UTF-16 units, JavaScript's `%` (the sign kept).
    @Test func namespacesHashToNodesStreams() {
        let four = StreamsAdapterConfiguration(streamCount: 4)
        #expect(four.streamKey(of: "/") == "socket.io-3")
        let two = StreamsAdapterConfiguration(streamCount: 2)
        #expect(two.streamKey(of: "/notifications") == "socket.io--1")
        #expect(StreamsAdapterConfiguration().streamKey(of: "/anything") == "socket.io")
    }

    /// B8.1: a room broadcast's `data` field.
    @Test func roomBroadcastIsJSON() {
        let packet = SocketIOPacket.event("bid", [["amount": 120, "user": "u7"]], namespace: "/")
        let data = StreamsRedisAdapter.broadcastData(packet, options: BroadcastOptions(rooms: ["item:42"]))
        let field = StreamsRedisAdapter.entryData(data, type: .broadcast, onlyPlaintext: false)
        #expect(String(decoding: field, as: UTF8.self)
            == #"{"packet":{"type":2,"data":["bid",{"amount":120,"user":"u7"}]},"opts":{"rooms":["item:42"],"except":[],"flags":{}}}"#)
    }

    /// B8.2: binary makes it base64 of msgpack, byte for byte Node's.
    @Test func binaryBroadcastIsBase64MessagePack() throws {
        let packet = SocketIOPacket.event("photo", [.binary(ByteBuffer(bytes: [1, 2, 3] as [UInt8]))], namespace: "/")
        let data = StreamsRedisAdapter.broadcastData(packet, options: BroadcastOptions(rooms: ["item:42"]))
        let field = StreamsRedisAdapter.entryData(data, type: .broadcast, onlyPlaintext: false)
        #expect(String(decoding: field, as: UTF8.self) == "gqZwYWNrZXSCpHR5cGUCpGRhdGGSpXBob3RvxAMBAgOkb3B0c4Olcm9vbXORp2l0ZW06NDKmZXhjZXB0kKVmbGFnc4A=")
        #expect(try StreamsRedisAdapter.decodeEntryData(field) == data)
    }

    @Test func garbageDataIsAnError() {
        #expect(throws: (any Error).self) { try StreamsRedisAdapter.decodeEntryData(Array("not base64!!".utf8)) }
        #expect(throws: (any Error).self) { try StreamsRedisAdapter.decodeEntryData(Array("{broken".utf8)) }
        #expect(throws: (any Error).self) { try StreamsRedisAdapter.decodeEntryData(Array("AAAA".utf8)) }
    }

    /// B8.4: a session Node stored.
    @Test func nodesSessionDecodes() throws {
        let stored = "hKNzaWS0VlhOMGJUWjVvVk5xYm1WdkFBQUKjcGlktFV4N1pwUTJfa1NtVDRyTmlBQUFDpXJvb21zkrRWWE4wYlRaNW9WTnFibVZ2QUFBQqdpdGVtOjQypGRhdGGBpnVzZXJJZAc="
        let session = try #require(StreamsRedisAdapter.decodeSession(ByteBuffer(string: stored)))
        #expect(session.id == "VXN0bTZ5oVNqbmVvAAAB")
        #expect(session.pid == "Ux7ZpQ2_kSmT4rNiAAAC")
        #expect(session.rooms == ["VXN0bTZ5oVNqbmVvAAAB", "item:42"])
        #expect(session.data == ["userId": 7])
        #expect(StreamsRedisAdapter.decodeSession(ByteBuffer(string: "bm90IG1zZ3BhY2s=")) == nil)
        #expect(StreamsRedisAdapter.decodeSession(ByteBuffer(string: "%%%")) == nil)
    }

    @Test(arguments: [("1782398120000-0", "1782398120000-1"), ("5-18446744073709551615", "6-0"), ("0-0", "0-1")])
    func entryIDsAdvance(id: String, next: String) throws {
        #expect(try #require(StreamEntryID(id)).next.description == next)
    }

    @Test(arguments: ["", "abc", "1-2-3", "-1", "1-", "-", "1.5-0", "+1-0", "1-0 ", "١-٠", String(repeating: "9", count: 70) + "-0", "99999999999999999999999-0"])
    func offsetsThatAreNotEntryIDs(text: String) {
        #expect(StreamEntryID(text) == nil)
    }

    @Test func xreadRepliesParse() {
        func bulk(_ text: String) -> RESPValue { .bulk(ByteBuffer(string: text)) }
        let entry = RESPValue.array([bulk("1-0"), .array([bulk("uid"), bulk("a"), bulk("nsp"), bulk("/"), bulk("type"), bulk("3")])])
        let reply = RESPValue.array([.array([bulk("socket.io"), .array([entry, .integer(5)])])])
        let entries = StreamEntry.entries(ofRead: reply)
        #expect(entries.map(\.id) == ["1-0"])
        #expect(entries.first?.field("nsp") == Array("/".utf8))
        #expect(entries.first?.field("data") == nil)
        #expect(StreamEntry.entries(ofRead: .array(nil)).isEmpty)
    }

    @Test func roomFilterIsNodes() {
        #expect(BroadcastOptions().reaches(rooms: ["a"]))
        #expect(BroadcastOptions(rooms: ["a", "b"]).reaches(rooms: ["b"]))
        #expect(!BroadcastOptions(rooms: ["a"]).reaches(rooms: ["b"]))
        #expect(!BroadcastOptions(except: ["x"]).reaches(rooms: ["a", "x"]))
    }
}
