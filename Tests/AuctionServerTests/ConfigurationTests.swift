import Testing

@testable import AuctionServer

private let database = "postgres://app:secret@127.0.0.1:5433/auction"

@Test func defaultsFollowTheContract() throws {
    let configuration = try ServiceConfiguration.fromEnvironment(["DATABASE_URL": database])
    #expect(configuration.port == 3000)
    #expect(configuration.host == "127.0.0.1")
    #expect(configuration.accessTokenTTL == 900)
    #expect(configuration.sessionTTL == 1800)
    #expect(configuration.corsOrigins.contains("http://localhost:8080"))
    #expect(configuration.corsOrigins.contains("http://127.0.0.1:3001"))
    #expect(configuration.usesDevelopmentSecret)
    #expect(!configuration.cookieSecure)
    #expect(configuration.databaseURL == (try DatabaseURL(database)))
}

@Test func databaseURLIsRequiredAndParsed() throws {
    #expect(throws: ConfigurationError.self) { try ServiceConfiguration.fromEnvironment([:]) }
    #expect(throws: ConfigurationError.self) { try DatabaseURL("mysql://a@b/c") }
    #expect(throws: ConfigurationError.self) { try DatabaseURL("postgres://127.0.0.1/x") }
    let url = try DatabaseURL("postgres://us%40er:p%3Ass@db.local/shop")
    #expect(url.username == "us@er")
    #expect(url.password == "p:ss")
    #expect(url.port == 5432)
    #expect(url.database == "shop")
}

@Test func productionNeedsARealSecret() throws {
    #expect(throws: ConfigurationError.self) {
        try ServiceConfiguration.fromEnvironment(["DATABASE_URL": database, "APP_ENV": "production"])
    }
    #expect(throws: ConfigurationError.self) {
        try ServiceConfiguration.fromEnvironment(["DATABASE_URL": database, "APP_ENV": "production", "JWT_SECRET": "short"])
    }
    let configuration = try ServiceConfiguration.fromEnvironment([
        "DATABASE_URL": database, "APP_ENV": "production", "JWT_SECRET": String(repeating: "k", count: 32),
    ])
    #expect(configuration.cookieSecure)
    #expect(!configuration.usesDevelopmentSecret)
}

@Test func badNumbersAreRefusedWithTheVariableName() {
    do {
        _ = try ServiceConfiguration.fromEnvironment(["DATABASE_URL": database, "PORT": "eighty"])
        Issue.record("PORT=eighty was accepted")
    } catch {
        #expect("\(error)".contains("PORT"))
    }
}

@Test func originsComeFromTheList() throws {
    let configuration = try ServiceConfiguration.fromEnvironment(["DATABASE_URL": database, "CORS_ORIGINS": "https://a.example, https://b.example,"])
    #expect(configuration.corsOrigins == ["https://a.example", "https://b.example"])
}

@Test func instanceIDIsAShortLowercaseTag() throws {
    #expect(try ServiceConfiguration.fromEnvironment(["DATABASE_URL": database]).instanceID == nil)
    #expect(try ServiceConfiguration.fromEnvironment(["DATABASE_URL": database, "INSTANCE_ID": ""]).instanceID == nil)
    #expect(try ServiceConfiguration.fromEnvironment(["DATABASE_URL": database, "INSTANCE_ID": "a1"]).instanceID == "a1")
    #expect(try ServiceConfiguration.fromEnvironment(["DATABASE_URL": database, "INSTANCE_ID": "0123456789abcdef"]).instanceID == "0123456789abcdef")
    for bad in ["A1", "a.b", "a-b", "a_b", "0123456789abcdefg", "é", " a"] {
        do {
            _ = try ServiceConfiguration.fromEnvironment(["DATABASE_URL": database, "INSTANCE_ID": bad])
            Issue.record("INSTANCE_ID=\(bad) was accepted")
        } catch {
            #expect("\(error)".hasPrefix("INSTANCE_ID must be"), "\(error)")
        }
    }
}

@Test func theWriteWindowIsMillisecondsFromZeroToASecond() throws {
    #expect(try ServiceConfiguration.fromEnvironment(["DATABASE_URL": database]).writeWindowMilliseconds == 2)
    #expect(try ServiceConfiguration.fromEnvironment(["DATABASE_URL": database, "SOCKETIO_WRITE_WINDOW_MS": "20"]).writeWindowMilliseconds == 20)
    #expect(try ServiceConfiguration.fromEnvironment(["DATABASE_URL": database, "SOCKETIO_WRITE_WINDOW_MS": "0"]).writeWindowMilliseconds == 0)
    for bad in ["-1", "1001", "2.5", "soon"] {
        #expect(throws: ConfigurationError.self) {
            try ServiceConfiguration.fromEnvironment(["DATABASE_URL": database, "SOCKETIO_WRITE_WINDOW_MS": bad])
        }
    }
}
