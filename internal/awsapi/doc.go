// Package awsapi is the edge for AWS services: it verifies SigV4 signatures
// (what the headers claim before the body is read, within a bound of the
// bytes all requests in flight may hold, then the signature over the body),
// dispatches each request through one table of actions per service, decodes
// and validates the request against the service model, and writes results
// and errors the way AWS does. Every refused call is logged at INFO. Two
// protocols share it:
//
//   - JSON 1.1 (Edge): `POST /` dispatched on X-Amz-Target; errors as
//     `__type`, `message`, X-Amzn-ErrorType, x-amzn-RequestId.
//   - Query and EC2 Query (QueryEdge, query.go): a form with Action and
//     Version, routed by the credential scope's service; answers and errors
//     in XML, in each protocol's shape.
//
// Operations never write HTTP: they return a typed *Error (or any other error,
// which becomes a server fault) and this package maps it to the wire.
package awsapi
