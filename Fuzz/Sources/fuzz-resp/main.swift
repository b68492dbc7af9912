import FuzzSupport
import NIOCore
import NIOEmbedded

@testable import RedisClient

// Bytes from Redis as the client consumes them: hiredis's reader behind `RESPReader`, and
// `RedisChannelHandler` matching replies to requests and routing pub/sub pushes.
//
// Checked besides "no crash": the stream cut into pieces reads as the same replies and fails at
// the same place; replies written back as RESP read as the same replies; and in the handler every
// push reaches the subscriber, every other reply answers the oldest request (error replies as
// `RedisError.server`), and every request is answered or failed once, also when the stream breaks.

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutableRawPointer, _ argv: UnsafeMutableRawPointer) -> CInt { Seeds.writeIfAsked(seeds) }

/// Requests waiting when the bytes arrive; enough for many inputs, few enough that some run out.
let requestCount = 4

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = fuzzInput(data, count)
    let whole = read([bytes[...]])
    let cut = read(pieces(of: bytes, seed: bytes.first ?? 0))
    require(cut.replies == whole.replies && cut.failed == whole.failed, "\(bytes) reads as \(whole), in pieces as \(cut)")

    var written: [UInt8] = []
    for reply in whole.replies { write(reply, into: &written) }
    let again = read([written[...]])
    require(again.replies == whole.replies && !again.failed, "\(bytes) read as \(whole.replies), written as \(written), read back as \(again)")

    // A subscriber connection for inputs of even length, a command connection for odd ones.
    checkHandler(bytes, replies: whole.replies, failed: whole.failed, subscriber: bytes.count % 2 == 0)
    return 0
}

/// Feeds the pieces one after another, taking every complete reply after each.
func read(_ pieces: [ArraySlice<UInt8>]) -> (replies: [RESPValue], failed: Bool) {
    let reader = RESPReader()
    var replies: [RESPValue] = []
    do {
        for piece in pieces {
            try reader.feed(ByteBuffer(bytes: piece))
            while let reply = try reader.next() { replies.append(reply) }
        }
        return (replies, false)
    } catch {
        return (replies, true)
    }
}

func write(_ value: RESPValue, into bytes: inout [UInt8]) {
    func line(_ type: Character, _ text: String) { bytes += Array("\(type)\(text)\r\n".utf8) }
    switch value {
    case .simpleString(let text): line("+", text)
    case .error(let text): line("-", text)
    case .integer(let number): line(":", String(number))
    case .bulk(nil): line("$", "-1")
    case .bulk(let payload?):
        line("$", String(payload.readableBytes))
        bytes += Array(payload.readableBytesView) + [0x0D, 0x0A]
    case .array(nil): line("*", "-1")
    case .array(let items?):
        line("*", String(items.count))
        for item in items { write(item, into: &bytes) }
    }
}

/// A pub/sub push as Redis sends it to a subscriber: `message` or `pmessage` with a bulk payload.
func push(_ reply: RESPValue) -> RedisPubSubMessage? {
    guard case .array(let items?) = reply else { return nil }
    switch (items.first?.string, items.count) {
    case ("message", 3):
        guard let channel = items[1].string, case .bulk(let payload?) = items[2] else { return nil }
        return RedisPubSubMessage(pattern: nil, channel: channel, payload: payload)
    case ("pmessage", 4):
        guard let pattern = items[1].string, let channel = items[2].string, case .bulk(let payload?) = items[3] else { return nil }
        return RedisPubSubMessage(pattern: pattern, channel: channel, payload: payload)
    default:
        return nil
    }
}

final class Outcomes: @unchecked Sendable {
    var messages: [RedisPubSubMessage] = []
    var results: [Int: Result<RESPValue, any Error>] = [:]
}

func checkHandler(_ bytes: [UInt8], replies: [RESPValue], failed: Bool, subscriber: Bool) {
    // The embedded loop runs every callback on this thread, inline.
    let outcomes = Outcomes()
    let onMessage: RedisClient.MessageHandler = { outcomes.messages.append($0) }
    let channel = EmbeddedChannel(handler: RedisChannelHandler(onMessage: subscriber ? onMessage : nil))
    for index in 0..<requestCount {
        let promise = channel.eventLoop.makePromise(of: RESPValue.self)
        promise.futureResult.whenComplete { result in
            let earlier = outcomes.results.updateValue(result, forKey: index)
            require(earlier == nil, "request \(index) completed twice")
        }
        channel.write(RedisRequest(arguments: [Array("PING".utf8)], promise: promise), promise: nil)
    }
    let answeredBeforeBytes = outcomes.results.count
    try? channel.writeInbound(ByteBuffer(bytes: bytes))
    _ = try? channel.finish(acceptAlreadyClosed: true)

    let pushes = subscriber ? replies.compactMap(push) : []
    let answers = subscriber ? replies.filter { push($0) == nil } : replies
    require(answeredBeforeBytes == 0, "requests answered before any byte arrived")
    require(
        outcomes.messages.map { [$0.pattern, $0.channel, String(buffer: $0.payload)] } == pushes.map { [$0.pattern, $0.channel, String(buffer: $0.payload)] },
        "\(bytes): pushes \(pushes), delivered \(outcomes.messages)")
    require(outcomes.results.count == requestCount, "\(bytes): \(outcomes.results.count) of \(requestCount) requests completed")
    for index in 0..<requestCount {
        let result = outcomes.results[index]!
        if index < answers.count {
            switch (answers[index], result) {
            case (.error(let text), .failure(RedisError.server(let message))):
                require(text == message, "\(bytes): request \(index) failed with \(message), the reply was \(text)")
            case (let answer, .success(let value)):
                require(answer == value, "\(bytes): request \(index) got \(value), its reply is \(answer)")
            default:
                require(false, "\(bytes): request \(index) got \(result), its reply is \(answers[index])")
            }
        } else {
            guard case .failure(let error) = result, let redisError = error as? RedisError else {
                require(false, "\(bytes): request \(index) without a reply got \(result)")
                return
            }
            // A broken stream closes the connection; its requests may learn either fact.
            switch redisError {
            case .protocolError: require(failed, "\(bytes): request \(index) failed with \(redisError), the stream is valid")
            case .connectionClosed: break
            default: require(false, "\(bytes): request \(index) failed with \(redisError)")
            }
        }
    }
}

/// The replies of RedisClientWithoutServerTests and what a subscriber connection reads.
let seeds: [[UInt8]] = [
    "+OK\r\n-ERR bad\r\n:42\r\n$3\r\na\0b\r\n$-1\r\n*2\r\n:1\r\n*-1\r\n$5\r\nhel", "lo\r\n", "?garbage\r\n", "+PONG\r\n",
    "*3\r\n$9\r\nsubscribe\r\n$5\r\nnews1\r\n:1\r\n*3\r\n$7\r\nmessage\r\n$5\r\nnews1\r\n$5\r\nhello\r\n",
    "*4\r\n$8\r\npmessage\r\n$13\r\nsocket.io#/#*\r\n$12\r\nsocket.io#/#\r\n$4\r\nab\0c\r\n",
    "*3\r\n$7\r\nmessage\r\n$20\r\nsocket.io-request#/#\r\n$2\r\n{}\r\n",
    "*2\r\n$20\r\nsocket.io-request#/#\r\n:2\r\n", ":-9223372036854775808\r\n", ":+12\r\n", "$0\r\n\r\n",
    "*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:7\r\n", "-MOVED 3999 127.0.0.1:6381\r\n", "*0\r\n",
    "*3\r\n+message\r\n+c\r\n$1\r\nx\r\n", "+a\rb\r\n", "$2\r\nab", "*2\r\n:1\r\n",
].map { Array($0.utf8) }
