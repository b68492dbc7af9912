import NIOSSL

/// How a `rediss://` connection checks the server, and the client certificate it may show.
/// The server's certificate is always verified — against the system's roots, or against
/// `caFile` alone — and must cover the host of the URL (a name, or the address itself).
public struct RedisTLS: Sendable, Equatable {
    /// PEM file of the CA(s) that sign the server's certificate (`REDIS_TLS_CA_FILE`).
    public var caFile: String?
    /// PEM certificate and private key, for a Redis with `tls-auth-clients yes`
    /// (`REDIS_TLS_CERT_FILE`, `REDIS_TLS_KEY_FILE`).
    public var certificateFile: String?
    public var keyFile: String?

    public init(caFile: String? = nil, certificateFile: String? = nil, keyFile: String? = nil) {
        self.caFile = caFile
        self.certificateFile = certificateFile
        self.keyFile = keyFile
    }

    /// The context every connection of a client uses; the files are read here, once.
    public func makeContext() throws(RedisError) -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification = .fullVerification
        configuration.minimumTLSVersion = .tlsv12
        do {
            if let caFile {
                configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
            }
        } catch {
            throw .tls("cannot read the CA certificates in \(caFile ?? "") (\(error))")
        }
        switch (certificateFile, keyFile) {
        case (nil, nil):
            break
        case (let certificate?, let key?):
            do {
                configuration.certificateChain = try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) }
            } catch {
                throw .tls("cannot read the client certificate in \(certificate) (\(error))")
            }
            do {
                configuration.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
            } catch {
                throw .tls("cannot read the client key in \(key) (\(error))")
            }
        default:
            throw .tls("a client certificate needs both REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE")
        }
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw .tls("cannot set up TLS (\(error))")
        }
    }
}
