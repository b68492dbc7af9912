import Hummingbird

/// `GET /openapi.json`: the OpenAPI 3.1 document of the REST API (`OpenAPIDocument`).
enum OpenAPIRoutes {
    static func register(on router: Router<AppRequestContext>) {
        router.get("/openapi.json") { _, _ in JSONResponse.raw(OpenAPIDocument.json) }
    }
}
