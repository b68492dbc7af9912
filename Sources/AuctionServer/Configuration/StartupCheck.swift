import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import RedisClient

/// What the commands check before they start, so that a misconfiguration is one line naming
/// the cause and the fix (a ``ConfigurationError``), not an instance that starts and answers
/// 503, nor a library's multi-line error.
public enum StartupCheck {
    /// PostgreSQL accepts `url`'s credentials and database. A server that is not up yet (refused,
    /// unreachable, starting up) is waited for, up to `wait`; a refusal of the login or of the
    /// database fails at once, since waiting cannot change it.
    public static func database(_ url: DatabaseURL, wait: Duration, logger: Logger) async throws(ConfigurationError) {
        let clock = ContinuousClock()
        let deadline = clock.now + wait
        var configuration = PostgresConnection.Configuration(
            host: url.host, port: url.port, username: url.username, password: url.password, database: url.database, tls: .disable
        )
        configuration.options.connectTimeout = .seconds(2)
        let server = "PostgreSQL at \(url.host):\(url.port)"
        var lastProblem = "no answer"
        repeat {
            do {
                let connection = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: logger)
                try? await connection.close()
                return
            } catch let error as PSQLError {
                if let refusal = refusal(error, url) { throw ConfigurationError(description: "\(server) refused us: \(refusal)") }
                lastProblem = problem(error)
            } catch {
                lastProblem = cause(error)
            }
            logger.debug("waiting for PostgreSQL", metadata: ["server": "\(url.host):\(url.port)", "problem": "\(lastProblem)"])
            try? await Task.sleep(for: .milliseconds(250))
        } while clock.now < deadline
        throw ConfigurationError(
            description: "\(server) did not accept a connection within \(wait.components.seconds) s (\(lastProblem)): start it, fix the host and port in DATABASE_URL, or wait longer with DATABASE_WAIT (seconds)"
        )
    }

    /// Why PostgreSQL will not have us whatever we wait for, with the fix; nil when it may be
    /// merely not up yet.
    static func refusal(_ error: PSQLError, _ url: DatabaseURL) -> String? {
        switch error.code {
        case .server:
            let state = error.serverInfo?[.sqlState] ?? ""
            let message = error.serverInfo?[.message] ?? "an error"
            switch state {
            case "57P03": return nil  // cannot_connect_now: starting up or shutting down
            case "28P01", "28000": return "\(message) (SQLSTATE \(state)): fix the user and password in DATABASE_URL"
            case "3D000": return "\(message) (SQLSTATE \(state)): create database \(url.database), or fix its name in DATABASE_URL"
            default: return "\(message) (SQLSTATE \(state)): fix DATABASE_URL or the server"
            }
        case .authMechanismRequiresPassword:
            return "it asks for a password and DATABASE_URL has none: add it (postgres://user:pass@host:port/db)"
        case .unsupportedAuthMechanism, .saslError:
            return "its authentication method is not one we speak (\(oneLine("\(error)"))): allow scram-sha-256, md5 or trust for this user"
        case .sslUnsupported:
            return "it wants TLS, which this version does not use for PostgreSQL: allow plain connections from this host"
        default:
            return nil
        }
    }

    /// A connection failure in a few words (`connection refused`, `connect timeout`).
    static func problem(_ error: PSQLError) -> String {
        error.underlying.map(cause) ?? oneLine("\(error.code)")
    }

    static func cause(_ error: any Error) -> String {
        if let io = error as? IOError { return String(cString: strerror(io.errnoCode)).lowercased() }
        if let connect = error as? NIOConnectionError, let first = connect.connectionErrors.first?.error { return cause(first) }
        if let channel = error as? ChannelError, case .connectTimeout = channel { return "connect timeout" }
        return oneLine("\(error)")
    }

    /// `REDIS_URL` as one this version can use, and a Redis that takes our password and TLS
    /// settings. A Redis that is merely down is not a start-up failure: an instance runs through
    /// Redis outages (`/readyz` says so) and reconnects by itself. A refused password, a Redis
    /// that demands one, and a certificate that does not verify are: retrying cannot fix them.
    public static func redis(_ configuration: ServiceConfiguration, logger: Logger) async throws(ConfigurationError) {
        var quiet = logger
        quiet.logLevel = .critical
        let made: RedisClient?
        do {
            made = try configuration.makeRedisClient(logger: quiet)
        } catch {
            throw ConfigurationError(description: "\(Self.describe(error)): fix REDIS_URL (redis://[user:password@]host:port[/db], rediss:// for TLS)")
        }
        guard let client = made else { return }
        let url = client.url
        let place = client.isCluster ? "the Redis Cluster (from \(url.address))" : "Redis at \(url.address)"
        let failure: RedisError? = await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await client.run() }
            defer {
                client.stop()
                group.cancelAll()
            }
            let clock = ContinuousClock()
            let deadline = clock.now + .seconds(2)
            while !client.isHealthy, clock.now < deadline {
                switch client.lastFailure {
                case .authenticationFailed?, .tls?: return client.lastFailure
                default: try? await Task.sleep(for: .milliseconds(20))
                }
            }
            return client.isHealthy ? nil : client.lastFailure
        }
        switch failure {
        case .authenticationFailed(let message)?:
            let fix =
                message.hasPrefix("NOAUTH")
                ? "put its password in REDIS_URL (redis://:password@host:port, or redis://user:password@host:port for an ACL user)"
                : "fix the user or password in REDIS_URL (URL-encoded: %40 for @, %3A for :)"
            throw ConfigurationError(description: "\(place) refused the connection (\(oneLine(message))): \(fix)")
        case .tls(let message)?:
            throw ConfigurationError(
                description: "TLS with \(place) failed (\(oneLine(message))): set REDIS_TLS_CA_FILE to the CA that signed its certificate, check the certificate covers \(url.host), and REDIS_TLS_CERT_FILE / REDIS_TLS_KEY_FILE if it asks for a client certificate"
            )
        default:
            return
        }
    }

    /// `host:port` can be listened on: not taken by another process, an address of this
    /// machine. Checked by binding and closing at once, so the failure is one line before the
    /// service starts rather than errors logged by every service of its group.
    public static func listen(host: String, port: Int) async throws(ConfigurationError) {
        do {
            let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
                .bind(host: host, port: port)
                .get()
            try? await channel.close()
        } catch let error as IOError where error.errnoCode == EADDRINUSE {
            throw ConfigurationError(description: "port \(port) on \(host) is already in use: stop the other process, or choose another PORT")
        } catch {
            throw ConfigurationError(description: "cannot listen on \(host):\(port) (\(cause(error))): fix HOST (an address of this machine, e.g. 127.0.0.1 or 0.0.0.0) or PORT")
        }
    }

    static func describe(_ error: RedisError) -> String {
        if case .invalidURL(let message) = error { return message }
        return "\(error)"
    }

    static func oneLine(_ text: String) -> String {
        text.split(whereSeparator: \.isNewline).joined(separator: " ")
    }
}
