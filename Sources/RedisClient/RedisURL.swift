import Foundation

/// `redis://[user[:password]@]host[:port][/db]`, or `rediss://…` for TLS. User and password are
/// URL-decoded (`%40` is `@`); a password alone is `redis://:password@host`.
public struct RedisURL: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var database: Int
    /// The ACL user (`AUTH user password`); nil with a password alone (`AUTH password`).
    public var username: String?
    public var password: String?
    /// `rediss://`: TLS, the server's certificate verified (see ``RedisTLS``).
    public var usesTLS: Bool

    public init(_ string: String) throws(RedisError) {
        let shape = "REDIS_URL must look like redis://[user[:password]@]host[:port][/db] (rediss:// for TLS)"
        guard let components = URLComponents(string: string), let scheme = components.scheme, scheme == "redis" || scheme == "rediss",
            let host = components.host, !host.isEmpty
        else { throw .invalidURL("\(shape), got '\(Self.redacted(string))'") }
        self.host = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        self.port = components.port ?? 6379
        let path = components.path.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        guard path.isEmpty || Int(path) != nil else { throw .invalidURL("the database in REDIS_URL must be a number, got '\(path)'") }
        self.database = Int(path) ?? 0
        self.usesTLS = scheme == "rediss"
        guard components.percentEncodedUser.map({ $0.removingPercentEncoding != nil }) ?? true,
            components.percentEncodedPassword.map({ $0.removingPercentEncoding != nil }) ?? true
        else { throw .invalidURL("the user or password in REDIS_URL is not valid percent-encoding") }
        let user = components.user.flatMap { $0.isEmpty ? nil : $0 }
        let password = components.password.flatMap { $0.isEmpty ? nil : $0 }
        guard user == nil || password != nil else {
            throw .invalidURL("REDIS_URL names the user '\(user ?? "")' without a password: redis://user:password@host")
        }
        self.username = user
        self.password = password
    }

    /// `host:port`, for messages (never the password).
    public var address: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// The URL with whatever comes before its last `@` after the scheme replaced by `***`, for
    /// messages: a URL too malformed to parse may still hold a password.
    static func redacted(_ string: String) -> String {
        guard let at = string.lastIndex(of: "@") else { return string }
        let scheme = string.range(of: "://").map { String(string[..<$0.upperBound]) } ?? ""
        return scheme + "***" + string[at...]
    }
}
