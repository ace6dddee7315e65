//! The responses every operation can give besides its own: documented once here so that
//! generated clients and schemathesis know every status the server may send.

use utoipa::openapi::{
    ContentBuilder, OpenApi, Ref, RefOr, Response, ResponseBuilder, path::Operation,
};

/// Adds the error responses that come from the layers and extractors rather than the
/// handler (each only where it can happen), without replacing a handler's own description.
pub fn add_common_responses(doc: &mut OpenApi) {
    for (path, item) in &mut doc.paths.paths {
        let api = path.starts_with("/v1/");
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            add(
                operation,
                "503",
                "Overloaded, or the database is unavailable; retry after `Retry-After` seconds",
            );
            if !api {
                continue;
            }
            add(operation, "400", "Invalid path, query or body");
            add(
                operation,
                "401",
                "Missing, malformed, expired or revoked token",
            );
            add(
                operation,
                "403",
                "The token lacks the scope for this action or queue",
            );
            if path.contains('{') {
                add(operation, "404", "No such queue, task or token");
            }
            if operation.request_body.is_some() {
                add(operation, "413", "Request body too large");
                add(operation, "415", "Content-Type is not `application/json`");
            }
        }
    }
}

fn add(operation: &mut Operation, status: &str, description: &str) {
    let error = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("ErrorBody")))
        .build();
    let response: Response = ResponseBuilder::new()
        .description(description)
        .content("application/json", error)
        .build();
    operation
        .responses
        .responses
        .entry(status.to_owned())
        .or_insert(RefOr::T(response));
}
