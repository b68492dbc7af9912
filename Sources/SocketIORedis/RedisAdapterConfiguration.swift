/// Settings of the Redis adapter, with the defaults of Node's `@socket.io/redis-adapter`.
public struct RedisAdapterConfiguration: Sendable {
    /// The channel prefix (`key` in Node), `socket.io` by default.
    public var key: String
    /// How long requests to other servers (fetchSockets, serverSideEmit acks) wait.
    public var requestsTimeout: Duration

    public init(key: String = "socket.io", requestsTimeout: Duration = .seconds(5)) {
        self.key = key
        self.requestsTimeout = requestsTimeout
    }
}

/// The request and response type codes of the classic Redis adapter.
enum RequestType: Int {
    case sockets = 0
    case allRooms = 1
    case remoteJoin = 2
    case remoteLeave = 3
    case remoteDisconnect = 4
    case remoteFetch = 5
    case serverSideEmit = 6
    case broadcast = 7
    case broadcastClientCount = 8
    case broadcastAck = 9
}

/// The channels of one namespace (see the wire format, §1).
struct AdapterChannels: Sendable {
    let broadcast: String
    let pattern: String
    let request: String
    let response: String
    let ownResponse: String

    init(key: String, namespace: String, uid: String) {
        broadcast = "\(key)#\(namespace)#"
        pattern = broadcast + "*"
        request = "\(key)-request#\(namespace)#"
        response = "\(key)-response#\(namespace)#"
        ownResponse = response + uid + "#"
    }

    /// `K#N#ROOM#` for exactly one room, `K#N#` otherwise.
    func broadcastChannel(rooms: Set<String>) -> String {
        rooms.count == 1 ? broadcast + rooms.first! + "#" : broadcast
    }
}

enum AdapterUID {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")

    /// Six URL-safe characters (never "emitter", never a channel metacharacter).
    static func make() -> String {
        var generator = SystemRandomNumberGenerator()
        return String((0..<6).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] })
    }
}
