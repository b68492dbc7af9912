/// Settings of the streams adapter, with the defaults of Node's
/// `@socket.io/redis-streams-adapter` 0.3.
public struct StreamsAdapterConfiguration: Sendable {
    /// The stream's key, or with `streamCount` > 1 the prefix of the keys `<name>-<i>`.
    public var streamName: String
    /// How many streams the namespaces are spread over (each namespace on one, by Node's hash).
    public var streamCount: Int
    /// The prefix of the pub/sub channels of requests and responses.
    public var channelPrefix: String
    /// `SPUBLISH`/`SSUBSCRIBE` (Redis 7 sharded pub/sub) for requests and responses.
    public var useShardedPubSub: Bool
    /// `XADD … MAXLEN ~ maxLen`: how far back a reconnecting client's offset can reach.
    public var maxLen: Int
    /// Entries per `XREAD`.
    public var readCount: Int
    /// `XREAD … BLOCK` (Node's `blockTimeInMs`).
    public var blockTime: Duration
    /// The key prefix of connection state recovery sessions.
    public var sessionKeyPrefix: String
    /// Always JSON in stream entries, without looking for binary.
    public var onlyPlaintext: Bool
    /// How long requests to other servers (fetchSockets, serverSideEmit acks) wait.
    public var requestsTimeout: Duration
    /// Not in Node: how long an in-order broadcast (``SocketIO/Adapter/broadcastInOrder(_:options:)``)
    /// keeps retrying its append while Redis is away before it is delivered to this server's
    /// sockets only. Its caller waits meanwhile, so nothing it sends later overtakes it.
    public var appendRetryLimit: Duration

    public init(
        streamName: String = "socket.io",
        streamCount: Int = 1,
        channelPrefix: String = "socket.io",
        useShardedPubSub: Bool = false,
        maxLen: Int = 10_000,
        readCount: Int = 100,
        blockTime: Duration = .seconds(5),
        sessionKeyPrefix: String = "sio:session:",
        onlyPlaintext: Bool = false,
        requestsTimeout: Duration = .seconds(5),
        appendRetryLimit: Duration = .seconds(10)
    ) {
        self.streamName = streamName
        self.streamCount = max(streamCount, 1)
        self.channelPrefix = channelPrefix
        self.useShardedPubSub = useShardedPubSub
        self.maxLen = maxLen
        self.readCount = readCount
        self.blockTime = blockTime
        self.sessionKeyPrefix = sessionKeyPrefix
        self.onlyPlaintext = onlyPlaintext
        self.requestsTimeout = requestsTimeout
        self.appendRetryLimit = appendRetryLimit
    }

    /// The stream of a namespace: Node's `hashCode` (Java's, over UTF-16 code units, wrapped to
    /// 32 bits) modulo the count, keeping JavaScript's sign — a negative hash names a stream
    /// `<name>--<i>`, as Node's does.
    public func streamKey(of namespace: String) -> String {
        guard streamCount > 1 else { return streamName }
        var hash: Int32 = 0
        for unit in namespace.utf16 { hash = hash &* 31 &+ Int32(unit) }
        return "\(streamName)-\(Int(hash) % streamCount)"
    }
}
