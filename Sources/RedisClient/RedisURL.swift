import Foundation

/// `redis://host:port[/db]`
public struct RedisURL: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var database: Int

    public init(_ string: String) throws(RedisError) {
        guard let components = URLComponents(string: string), components.scheme == "redis",
            let host = components.host, !host.isEmpty
        else { throw .invalidURL("REDIS_URL must look like redis://host:port[/db], got '\(string)'") }
        self.host = host
        self.port = components.port ?? 6379
        let path = components.path.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        guard path.isEmpty || Int(path) != nil else { throw .invalidURL("the database in REDIS_URL must be a number, got '\(path)'") }
        self.database = Int(path) ?? 0
    }
}
