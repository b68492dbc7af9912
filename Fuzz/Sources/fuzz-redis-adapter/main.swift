import FuzzSupport
import Logging
import NIOCore
import SocketIO

@testable import RedisClient
@testable import SocketIORedis

// What other servers publish on a namespace's Redis channels, as the Redis adapter receives it:
// broadcasts (msgpack), requests and responses (JSON or msgpack), through `RedisAdapter.receive`
// with a client that is not connected, so answers fail fast instead of reaching a Redis.
//
// The first input byte chooses the channel, the rest is the payload. Checked besides "no crash":
// the packet and broadcast options read from a message, written in the wire format and read
// again, are the same.

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutableRawPointer, _ argv: UnsafeMutableRawPointer) -> CInt { Seeds.writeIfAsked(seeds) }

let logger = Logger(label: "fuzz", factory: { _ in SwiftLogNoOpLogHandler() })
let redis = RedisClient(url: try! RedisURL("redis://127.0.0.1:1"), logger: logger)
let io = SocketIOServer(
    configuration: SocketIOConfiguration(adapterFactory: { RedisAdapter(namespace: $0, redis: redis, logger: logger) }),
    logger: logger
)
let adapter = io.sockets.adapter as! RedisAdapter

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = fuzzInput(data, count)
    guard let selector = bytes.first else { return 0 }
    let payload = ByteBuffer(bytes: bytes.dropFirst())
    let channels = adapter.channels
    let message: RedisPubSubMessage
    switch selector % 5 {
    case 0: message = RedisPubSubMessage(pattern: channels.pattern, channel: channels.broadcast, payload: payload)
    case 1: message = RedisPubSubMessage(pattern: channels.pattern, channel: channels.broadcast + "room#", payload: payload)
    case 2: message = RedisPubSubMessage(pattern: nil, channel: channels.request, payload: payload)
    case 3: message = RedisPubSubMessage(pattern: nil, channel: channels.response, payload: payload)
    default: message = RedisPubSubMessage(pattern: nil, channel: channels.ownResponse, payload: payload)
    }
    adapter.receive(message)

    // The same reading of the payload as the adapter's, for the round trips.
    let value: JSONValue?
    if selector % 5 >= 2, payload.readableBytesView.first == UInt8(ascii: "{") {
        value = try? JSONParser.parse(Array(payload.readableBytesView))
    } else {
        value = try? MessagePack.decode(payload)
    }
    guard let value else { return 0 }
    if let parts = value.arrayValue, parts.count >= 2 {
        checkPacket(parts[1])
        checkOptions(parts.count > 2 ? parts[2] : nil)
    }
    checkPacket(value["packet"])
    checkOptions(value["opts"])
    if let sockets = value["sockets"]?.arrayValue {
        for socket in sockets { _ = WireFormat.descriptor(socket) }
    }
    return 0
}

func checkPacket(_ value: JSONValue?) {
    guard let packet = WireFormat.socketPacket(value, namespace: "/") else { return }
    let written = WireFormat.packet(packet, namespace: "/")
    let again = WireFormat.socketPacket(written, namespace: "/")
    require(again == packet, "packet \(String(describing: value)) read as \(packet), written as \(written), read back as \(String(describing: again))")
}

func checkOptions(_ value: JSONValue?) {
    let options = WireFormat.broadcastOptions(value)
    let written = WireFormat.options(options)
    let again = WireFormat.broadcastOptions(written)
    require(again == options, "options \(String(describing: value)) read as \(options), written as \(written), read back as \(again)")
}

/// Selector byte (0 broadcast, 1 broadcast to a room, 2 request, 3 response, 4 own response),
/// then a payload: the spec vectors of MessagePackSpecVectorTests and the JSON requests and
/// responses of the adapter's wire format.
let seeds: [[UInt8]] =
    zip([0, 0, 1, 2, 3], WireVectors.all).map { [$0] + $1 }
    + [
        (2, #"{"uid":"Ab3xY_","requestId":"q1","type":0,"rooms":["r1"]}"#),
        (2, #"{"uid":"Ab3xY_","requestId":"q2","type":1}"#),
        (2, #"{"uid":"Ab3xY_","type":2,"opts":{"rooms":["a"],"except":[]},"rooms":["b",7]}"#),
        (2, #"{"uid":"Ab3xY_","type":3,"sid":"s1","room":"r"}"#),
        (2, #"{"uid":"Ab3xY_","type":4,"opts":{"rooms":[],"except":["x"]},"close":true}"#),
        (2, #"{"uid":"Ab3xY_","requestId":"q3","type":5,"opts":{"rooms":["r"],"except":[],"flags":{"volatile":true}}}"#),
        (2, #"{"uid":"Ab3xY_","requestId":"q4","type":6,"data":["hello",1]}"#),
        (2, #"{"uid":"Ab3xY_","requestId":"q5","type":7,"packet":{"type":2,"data":["ping"],"nsp":"/"},"opts":{"rooms":[],"except":[],"flags":{"timeout":1000}}}"#),
        (3, #"{"requestId":"q1","sockets":["s1","s2"]}"#),
        (3, #"{"requestId":"q2","rooms":["r1"]}"#),
        (3, #"{"type":8,"requestId":"q5","clientCount":3}"#),
        (4, #"{"requestId":"q6","sockets":[{"id":"s1","handshake":{"query":{"EIO":"4"},"auth":{}},"rooms":["s1"],"data":null}]}"#),
        (3, #"{"type":6,"requestId":"q4","data":"answer"}"#),
    ].map { [$0.0] + Array($0.1.utf8) }
