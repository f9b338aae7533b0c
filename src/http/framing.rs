//! Well-framed answers whatever the request's headers.
//!
//! A request that carries `Upgrade` (any request can) makes the HTTP/1
//! layer write a streamed body unframed, to the end of the connection, so
//! that the protocol switched to can take over; when the answer is not a
//! switch (a page, an error, a refused WebSocket) but its headers still say
//! `Transfer-Encoding: chunked`, as a compressed or streamed body's do, a
//! client reads garbage. So any answer to such a request that is not `101
//! Switching Protocols` gets its body whole, with a `Content-Length`.

use actix_web::body::{BodySize, BoxBody, MessageBody, to_bytes_limited};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{ConnectionType, StatusCode, header};
use actix_web::middleware::Next;
use tracing::warn;

/// The largest body buffered (the largest real answer, the OpenAPI
/// document, is well under it); a bigger one ends its connection instead.
const MAX_BUFFERED: usize = 8 * 1024 * 1024;

/// For `App::wrap(from_fn(framing))`, outermost, so it sees the body as it
/// will be written (compressed).
pub async fn framing(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let upgrade = req.headers().contains_key(header::UPGRADE);
    let res = next.call(req).await?.map_into_boxed_body();
    if !upgrade
        || res.status() == StatusCode::SWITCHING_PROTOCOLS
        || !matches!(res.response().body().size(), BodySize::Stream)
    {
        return Ok(res);
    }
    let (req, res) = res.into_parts();
    let (mut head, body) = res.into_parts();
    let res = match to_bytes_limited(body, MAX_BUFFERED).await {
        Ok(Ok(bytes)) => {
            head.headers_mut().remove(header::TRANSFER_ENCODING);
            head.set_body(BoxBody::new(bytes))
        }
        _ => {
            warn!(
                path = req.path(),
                "An answer could not be framed; closing its connection."
            );
            let mut res = head.set_body(BoxBody::new(()));
            res.head_mut().set_connection_type(ConnectionType::Close);
            *res.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            res
        }
    };
    Ok(ServiceResponse::new(req, res))
}
