import SocketIO

/// The body of a benchmark `bid`: `{"seq": n, "sentAt": ns, "emitter": k}`. `sentAt` is read off
/// `BenchClock`, so only clients of the same process can compute latencies from it.
struct BidPayload: Sendable, Equatable {
    static let eventName = "bid"

    var seq: Int
    var sentAt: Int64
    var emitter: Int

    var json: JSONValue {
        .object([
            "seq": .number(Double(seq)),
            "sentAt": .number(Double(sentAt)),
            "emitter": .number(Double(emitter)),
        ])
    }

    /// Reads the payload of a `bid` event's arguments, or nil when they are not one of ours.
    init?(eventArguments data: JSONValue?) {
        guard let data, data[0]?.stringValue == Self.eventName, let body = data[1],
            let seq = body["seq"]?.integerValue, let sentAt = body["sentAt"]?.integerValue,
            let emitter = body["emitter"]?.integerValue
        else { return nil }
        self.init(seq: Int(seq), sentAt: sentAt, emitter: Int(emitter))
    }

    init(seq: Int, sentAt: Int64, emitter: Int) {
        self.seq = seq
        self.sentAt = sentAt
        self.emitter = emitter
    }
}
