//! The Lambda side of the handler: a function-URL request in, a response out, one JSON log
//! line per request on stdout (which CloudWatch keeps).

use imgflex_core::VIEWER_URL_HEADER;
use lambda_http::{Body, Error, Request, Response};

use crate::service::Service;
use crate::store::Store;

pub async fn respond<S: Store + Clone>(
    service: &Service<S>,
    request: Request,
) -> Result<Response<Body>, Error> {
    let viewer_url = request
        .headers()
        .get(VIEWER_URL_HEADER)
        .and_then(|v| v.to_str().ok());
    let reply = service
        .handle(request.method().as_str(), request.uri().path(), viewer_url)
        .await?;
    println!("{}", serde_json::to_string(&reply.log)?);
    let mut response = Response::builder().status(reply.status);
    for (name, value) in &reply.headers {
        response = response.header(*name, value);
    }
    let body = if reply.body.is_empty() {
        Body::Empty
    } else {
        Body::Binary(reply.body)
    };
    Ok(response.body(body)?)
}
